"""Undo histories of the labels layer, one per image, with answers tagged.

The widget shows one image at a time in a single napari Labels layer, whose
undo history napari keeps in the layer itself. To give every image its own
history, :class:`ImageHistories` swaps the layer's history deques when the
image changes (napari has no public API for this), and remembers which
history items are answers, so that undoing one can tell the session.
"""
from __future__ import annotations

from collections import deque

import numpy as np


class ImageHistories:
    """Per-image undo/redo histories of one Labels layer."""

    def __init__(self):
        self._stored: dict[str, tuple[deque, deque]] = {}
        self._tags: dict[int, object] = {}  # id(history item) -> tag

    def switch(self, layer, old: str | None, new: str) -> None:
        """Keep ``layer``'s history as image ``old``'s and load image ``new``'s."""
        if old is not None:
            self._stored[old] = (layer._undo_history, layer._redo_history)
        layer._reset_history()
        if new in self._stored:
            layer._undo_history, layer._redo_history = self._stored.pop(new)

    def edit(self, layer, indices: tuple, values, tag=None):
        """Change pixels of ``layer`` as one undoable step, tagged with ``tag``.

        Returns False when nothing changed (and nothing entered the history).
        """
        before = len(layer._undo_history)
        with layer.block_history():
            layer.data_setitem(indices, values)
        if len(layer._undo_history) == before:
            return False
        if tag is not None:
            self._tags[id(layer._undo_history[-1])] = tag
        return True

    def push(self, layer, name: str, indices: tuple, before: np.ndarray,
             after: np.ndarray) -> None:
        """Add a change already made to image ``name`` (not shown) to its history."""
        limit = layer._history_limit
        undo, _ = self._stored.setdefault(name, (deque(maxlen=limit), deque(maxlen=limit)))
        undo.append([(indices, before, after)])

    def step(self, layer, undo: bool):
        """napari's undo (or redo) on ``layer``. Returns ``(changed, tag)``:
        whether there was a step to take, and the tag of the step taken."""
        source, target = ((layer._undo_history, layer._redo_history) if undo else
                          (layer._redo_history, layer._undo_history))
        if not source:
            return False, None
        tag = self._tags.pop(id(source[-1]), None)
        layer.undo() if undo else layer.redo()
        if tag is not None:
            self._tags[id(target[-1])] = tag
        return True, tag
