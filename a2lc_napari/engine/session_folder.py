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

from .errors import DatasetError


@dataclass(frozen=True)
class SessionFolder:
    root: Path

    def __post_init__(self):
        # Absolute: worker processes, or a cluster's machines, read its files
        # from folders of their own.
        object.__setattr__(self, "root", Path(self.root).expanduser().absolute())

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

    @property
    def panel(self) -> Path:
        """What the person set in napari's panel for this session, beside its config."""
        return self.root / "panel.json"

    def summary(self, round_: int) -> Path:
        return self.root / "work" / f"round_{round_:02d}_regions.npz"

    @property
    def images_dir(self) -> Path:
        return self.root / "work" / "images"

    def journal(self, seq: int) -> Path:
        return self.root / "work" / "journal" / f"{seq:06d}.npz"

    def check_new(self) -> None:
        """Raise DatasetError unless a new session may be made here: no
        folder yet, or one holding nothing a session does not write (a
        session begun and stopped before its state was saved may be)."""
        if self.root.exists() and not self.root.is_dir():
            raise DatasetError(self.root, "is a file, not a folder")
        if not self.root.is_dir():
            return
        own = {p.relative_to(self.root).parts[0] for p in (
            self.state, self.labels_dir, self.regions_dir, self.model, self.log(0),
            self.metrics, self.panel, self.summary(0))}
        # hidden: its lock, files being written
        foreign = sorted(p.name for p in self.root.iterdir()
                         if p.name not in own and not p.name.startswith("."))
        if foreign:  # a session writes labels/, regions/… there
            raise DatasetError(self.root, f"holds files that are not a session's ({foreign[0]}"
                               f"{' and more' if len(foreign) > 1 else ''}); choose an "
                               "empty folder, or a session's to resume it")


def saved_path(path) -> str | None:
    """A folder as ``session.json`` names it: absolute, ``~`` expanded (None stays None)."""
    return None if path is None else str(Path(path).expanduser().resolve())
