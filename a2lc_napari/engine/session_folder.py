"""The layout of a session folder: every path a session reads or writes.

::

    OUT/session.json            the typed state (rewritten atomically after every event)
    OUT/labels/NAME.png         current labels, palette PNGs in the dataset's colours
    OUT/regions/NAME.npy        generated regions (SLIC or SAM), made once at creation
    OUT/model.pt                the latest model θ
    OUT/log/round_NN.json       every query, answer, LCM update and review of round NN
    OUT/metrics.json            data mIoU and counts per round (with ground truth)
    OUT/work/round_NN_regions.npz   per-round region summaries
    OUT/work/journal/NNNNNN.npz     the pixels each journal event changed (for undo)
    OUT/work/images/                what each round needs of each image (image_cache)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SessionFolder:
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "session.json"

    @property
    def labels_dir(self) -> Path:
        return self.root / "labels"

    def labels(self, name: str) -> Path:
        return self.labels_dir / f"{name}.png"

    @property
    def regions_dir(self) -> Path:
        return self.root / "regions"

    @property
    def model(self) -> Path:
        return self.root / "model.pt"

    def log(self, round_: int) -> Path:
        return self.root / "log" / f"round_{round_:02d}.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    def summary(self, round_: int) -> Path:
        return self.root / "work" / f"round_{round_:02d}_regions.npz"

    @property
    def images_dir(self) -> Path:
        return self.root / "work" / "images"

    def journal(self, seq: int) -> Path:
        return self.root / "work" / "journal" / f"{seq:06d}.npz"


def saved_path(path) -> str | None:
    """A folder as ``session.json`` names it: absolute, ``~`` expanded (None stays None)."""
    return None if path is None else str(Path(path).expanduser().resolve())
