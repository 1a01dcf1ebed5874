"""A session's current labels: palette PNGs in its folder, the last few kept in memory.

One answer reads its image's labels several times, and a PNG decode is
slow at Cityscapes size, so the labels of the last images read or written
stay in memory. The session is its folder's only writer, so the copy in
memory is the one on disk.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .classes import ClassSet
from .io import check_label_values, read_label, write_label
from .session_folder import SessionFolder

#: Images whose current labels a session keeps in memory.
CACHED_LABELS = 4


def read_session_label(path: Path, classes: ClassSet) -> np.ndarray:
    """(H, W) uint8 labels of a session's label file, refused (named) where
    they hold a value of no class: a file a person may have edited by hand."""
    labels = read_label(path)
    check_label_values(labels, path, classes)
    return labels


class LabelStore:
    """The current labels of a session's images, read and written by name.

    Thread-safe: the step worker, the writer and the LCM worker read it at
    the same time; only the session's writer thread writes.
    """

    def __init__(self, folder: SessionFolder, classes: ClassSet):
        self.folder, self.classes = folder, classes
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._writes: dict[str, int] = {}  # per image, how many writes so far
        self._lock = threading.Lock()

    def labels(self, name: str) -> np.ndarray:
        """(H, W) uint8 current labels of image ``name`` (a copy)."""
        with self._lock:
            labels = self._cache.get(name)
            if labels is not None:
                self._cache.move_to_end(name)
                return labels.copy()
            writes = self._writes.get(name, 0)
        # Outside the lock: decodes are slow.
        labels = read_session_label(self.folder.labels(name), self.classes)
        with self._lock:
            # Kept unless written meanwhile: the labels read may be the older ones.
            if self._writes.get(name, 0) == writes:
                self._keep(name, labels)
        return labels.copy()

    def write(self, name: str, labels: np.ndarray) -> None:
        """Write (H, W) uint8 labels of image ``name``, atomically."""
        write_label(self.folder.labels(name), labels, self.classes)
        with self._lock:
            self._writes[name] = self._writes.get(name, 0) + 1
            self._keep(name, labels)

    def _keep(self, name: str, labels: np.ndarray) -> None:
        """Keep ``labels`` in memory (the caller holds the lock)."""
        self._cache[name] = labels
        self._cache.move_to_end(name)
        while len(self._cache) > CACHED_LABELS:
            self._cache.popitem(last=False)
