"""The pixels a journal event changed, kept so that undo can restore them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import write_npz


@dataclass(frozen=True)
class LabelChange:
    """Pixels of one image that changed.

    Attributes
    ----------
    index : (n,) int64
        Flat pixel indices into the (H, W) labels.
    before, after : (n,) uint8
        Their labels before and after the change.
    """

    index: np.ndarray
    before: np.ndarray
    after: np.ndarray

    @classmethod
    def between(cls, old: np.ndarray, new: np.ndarray) -> "LabelChange":
        """The change from labels ``old`` to ``new`` (both (H, W) uint8)."""
        index = np.flatnonzero(old != new)
        return cls(index, old.ravel()[index], new.ravel()[index])

    def __bool__(self) -> bool:
        return bool(self.index.size)

    def applied(self, labels: np.ndarray, reverse: bool = False) -> np.ndarray:
        """``labels`` with the change made (or, ``reverse``, taken back).

        Only pixels that still hold the value the change left them with are
        touched, so that a later change to a pixel is never lost.
        """
        src, dst = (self.after, self.before) if reverse else (self.before, self.after)
        out = labels.copy()
        flat = out.reshape(-1)
        keep = flat[self.index] == src
        flat[self.index[keep]] = dst[keep]
        return out

    def restricted(self, mask: np.ndarray) -> "LabelChange":
        """Only the pixels inside ``mask`` (H, W) bool."""
        keep = mask.ravel()[self.index]
        return LabelChange(self.index[keep], self.before[keep], self.after[keep])


def write_changes(path: Path, changes: dict[str, LabelChange]) -> None:
    """Save ``{image name: change}`` to one ``.npz`` file (atomically)."""
    arrays = {"names": np.array(list(changes), dtype=str)}
    for i, c in enumerate(changes.values()):
        arrays.update({f"index_{i}": c.index, f"before_{i}": c.before, f"after_{i}": c.after})
    write_npz(path, **arrays)


def read_changes(path: Path) -> dict[str, LabelChange]:
    if not Path(path).exists():
        return {}
    with np.load(path, allow_pickle=False) as f:
        return {str(name): LabelChange(f[f"index_{i}"], f[f"before_{i}"], f[f"after_{i}"])
                for i, name in enumerate(f["names"])}
