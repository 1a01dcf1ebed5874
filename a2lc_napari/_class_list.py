"""The query panel's class list, and the keys that answer a query.

The keys act only while the panel has the keyboard focus, so none of them
clashes with napari's own bindings on the canvas (where the number keys
switch tools, for example).
"""
from __future__ import annotations

import time

import numpy as np
from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import QListWidget, QListWidgetItem

from .engine.classes import ClassSet

#: Seconds between key presses that still extend a typed class name.
TYPE_AHEAD_PAUSE = 1.0

KEYS_HELP = ("Enter: accept the selected class · 1-9, 0: pick class · type a name "
             "to select it (its first letter again: the next such class) · ←/→: previous/skip · "
             "Ctrl+Z / Ctrl+Shift+Z: undo/redo")


def _swatch(rgb) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(*rgb))
    return QIcon(pixmap)


class ClassList(QListWidget):
    """Classes to answer with, numbered 1-9, 0 for the first ten (the keys),
    and "ignore" last; each also shows its label id, the number napari's
    brush shows for it (the keys start at 1, the ids at 0). Emits
    :attr:`answered` with a class id (or the ignore value), :attr:`moved`
    with -1 (previous) or +1 (skip), and
    :attr:`undo_requested` with True (undo) or False (redo)."""

    answered = Signal(int)
    moved = Signal(int)
    undo_requested = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._values: list[int] = []
        self._names: list[str] = []
        self._typed, self._typed_at = "", 0.0
        self.itemClicked.connect(lambda item: self.answered.emit(self._values[self.row(item)]))

    def set_classes(self, classes: ClassSet) -> None:
        self.clear()
        self._values = [*range(classes.num_classes), classes.ignore_index]
        self._names = [*classes.names, "ignore (unsure / none of these)"]
        colors = [*classes.colors, (255, 255, 255)]
        for i, (name, rgb, value) in enumerate(zip(self._names, colors, self._values)):
            # No key for "ignore": answered by Enter, a click or its name only.
            key = str((i + 1) % 10) if i < min(10, classes.num_classes) else " "
            self.addItem(QListWidgetItem(_swatch(rgb), f"{key}  {name}  · label {value}"))

    def select_class(self, value: int) -> None:
        self._typed = ""  # a name typed for the query before does not go on
        if value in self._values:
            self.setCurrentRow(self._values.index(value))

    def selected_class(self) -> int | None:
        row = self.currentRow()
        return self._values[row] if row >= 0 else None

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        key, text = event.key(), event.text()
        if key == Qt.Key_Z and event.modifiers() & Qt.ControlModifier:
            self.undo_requested.emit(not event.modifiers() & Qt.ShiftModifier)
        elif key in (Qt.Key_Return, Qt.Key_Enter):
            if self.selected_class() is not None:
                self.answered.emit(self.selected_class())
        elif key in (Qt.Key_Left, Qt.Key_PageUp):
            self.moved.emit(-1)
        elif key in (Qt.Key_Right, Qt.Key_PageDown):
            self.moved.emit(+1)
        elif text.isdigit():
            row = (int(text) - 1) % 10
            if row < len(self._values) - 1:
                self.answered.emit(self._values[row])
        elif text.isprintable() and text:
            # Qt's own search would take a space to the rows past the 10th
            # (their key column is blank): a space goes on a typed name only.
            if text.strip() or self._typing():
                self._type_ahead(text)
        else:
            super().keyPressEvent(event)

    def _typing(self) -> bool:
        """Whether a key now goes on the name typed before it."""
        return time.monotonic() - self._typed_at < TYPE_AHEAD_PAUSE

    def _type_ahead(self, text: str) -> None:
        """Select the first class whose name begins with what was typed. One
        letter, typed once or again and again, where the class selected or no
        name begins with what was typed, goes on to the next class whose name
        begins with that letter, round to the first (as Qt's lists and file
        managers do)."""
        self._typed = (self._typed if self._typing() else "") + text
        self._typed_at = time.monotonic()
        names = np.char.lower(np.array(self._names))
        typed = self._typed.lower()
        match = np.flatnonzero(np.char.startswith(names, typed))
        row = self.currentRow()
        if len(set(typed)) == 1 and (len(typed) == 1 and row in match or not match.size):
            match = np.flatnonzero(np.char.startswith(names, typed[0]))
            match = np.roll(match, -int(np.searchsorted(match, row, "right")))
        if match.size:
            self.setCurrentRow(int(match[0]))
