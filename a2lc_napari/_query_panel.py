"""The query panel: the question, the classes to answer with, and navigation."""
from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from ._class_list import KEYS_HELP, ClassList
from .engine.classes import ClassSet


class QueryPanel(QGroupBox):
    """Asks one query at a time. Emits :attr:`answered` (a class id or the
    ignore value), :attr:`moved` (-1 previous, +1 skip), :attr:`undo_requested`
    (True undo, False redo) and :attr:`finish_requested`."""

    answered = Signal(int)
    moved = Signal(int)
    undo_requested = Signal(bool)
    finish_requested = Signal()

    def __init__(self, parent=None):
        super().__init__("Query", parent)
        self.question = QLabel("Choose a dataset and press Start / resume.")
        self.question.setWordWrap(True)
        self.class_list = ClassList()
        self.class_list.setMinimumHeight(160)
        self.class_list.answered.connect(self.answered)
        self.class_list.moved.connect(self.moved)
        self.class_list.undo_requested.connect(self.undo_requested)
        buttons = QHBoxLayout()
        for text, slot in (("◀ Previous", lambda: self.moved.emit(-1)),
                           ("Skip ▶", lambda: self.moved.emit(+1)),
                           ("Undo", lambda: self.undo_requested.emit(True)),
                           ("Redo", lambda: self.undo_requested.emit(False)),
                           ("Finish round", self.finish_requested.emit)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        keys = QLabel(KEYS_HELP)
        keys.setWordWrap(True)
        box = QVBoxLayout(self)
        box.addWidget(self.question)
        box.addWidget(self.class_list)
        box.addLayout(buttons)
        box.addWidget(keys)
        self.setEnabled(False)

    def set_classes(self, classes: ClassSet) -> None:
        self.class_list.set_classes(classes)

    def ask(self, text: str, selected: int) -> None:
        """Show a question (rich text) with class ``selected`` preselected, and
        take the keyboard focus so that the keys answer it."""
        self.question.setText(text)
        self.class_list.select_class(selected)
        self.set_active(True)

    def say(self, text: str) -> None:
        """Show a message instead of a question; nothing can be answered."""
        self.question.setText(text)
        self.set_active(False)

    def set_active(self, active: bool) -> None:
        self.setEnabled(active)
        if active:
            self.class_list.setFocus()
