"""The query panel: the question, the classes to answer with, and navigation."""
from __future__ import annotations

from qtpy.QtCore import QEvent, Qt, QTimer, Signal
from qtpy.QtWidgets import (QAbstractItemView, QGroupBox, QHBoxLayout, QLabel, QPushButton,
                            QScrollArea, QVBoxLayout)

from ._class_list import KEYS_HELP, ClassList
from ._image_browser import ImageBrowser
from .engine.classes import ClassSet


#: What the panel says while no session is open.
INVITATION = "Choose a dataset and press Start / resume."
#: ... and while one is being opened.
OPENING = "Opening the session: how far it is shows above."


class QueryPanel(QGroupBox):
    """Asks one query at a time; shows any image (:attr:`browser`). Emits
    :attr:`answered` (a class id or the ignore value), :attr:`moved` (-1
    previous, +1 skip), :attr:`undo_requested` (True undo, False redo),
    :attr:`finish_requested` and :attr:`recalled`
    (the question was clicked: show its query again, keys to the panel)."""

    answered = Signal(int)
    moved = Signal(int)
    undo_requested = Signal(bool)
    finish_requested = Signal()
    recalled = Signal()

    def __init__(self, parent=None):
        super().__init__("Query", parent)
        self.question = QLabel(INVITATION)
        self.question.setWordWrap(True)
        self.question.setCursor(Qt.PointingHandCursor)
        self.question.installEventFilter(self)
        # Once the layout holds a new question, the dock scrolls to it; the
        # panel's own timer, so none fires once the panel is gone.
        self._sight = QTimer(self)
        self._sight.setSingleShot(True)
        self._sight.setInterval(0)
        self._sight.timeout.connect(self._bring_into_sight)
        # ... and again while the layout settles around it (a row appears, the
        # settings fold): once done, the question may lie out of sight again.
        self._in_sight_wanted = False
        self._sight_on = None  # kept in sight instead: the round's apply question, the review
        self.installEventFilter(self)
        # Which image the query is on, and whether the canvas shows it.
        self.where = QLabel("")
        self.where.setWordWrap(True)
        self.browser = ImageBrowser()  # on while a session is open, asking or not
        self.browser.recall_requested.connect(self.recalled)
        self.class_list = ClassList()
        self.class_list.setMinimumHeight(160)
        self.class_list.answered.connect(self.answered)
        self.class_list.moved.connect(self.moved)
        self.class_list.undo_requested.connect(self.undo_requested)
        buttons = QHBoxLayout()
        # What answers the query, off while none can be answered; Undo and
        # Redo stay on once a session is open (they work while a step runs).
        self._answering = [self.class_list]
        for text, slot in (("◀ Previous", lambda: self.moved.emit(-1)),
                           ("Skip ▶", lambda: self.moved.emit(+1)),
                           ("Undo", lambda: self.undo_requested.emit(True)),
                           ("Redo", lambda: self.undo_requested.emit(False)),
                           ("Finish round", self.finish_requested.emit)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
            self.finish_button = button  # the last: Tab reaches it from the review
            if text not in ("Undo", "Redo"):
                self._answering.append(button)
        keys = QLabel(KEYS_HELP)
        keys.setWordWrap(True)
        box = QVBoxLayout(self)
        box.addWidget(self.question)
        box.addWidget(self.where)
        box.addWidget(self.browser)
        box.addWidget(self.class_list)
        box.addLayout(buttons)
        box.addWidget(keys)
        self.setEnabled(False)

    def set_classes(self, classes: ClassSet) -> None:
        self.class_list.set_classes(classes)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if watched is self.question and event.type() == QEvent.MouseButtonPress:
            self.recalled.emit()
            return True
        if (watched in (self, self._sight_on) and event.type() in (QEvent.Resize, QEvent.Move)
                and self._in_sight_wanted):
            self._sight.start()
        return super().eventFilter(watched, event)

    def ask(self, text: str, selected: int | None, where: str, take_keys: bool = True) -> None:
        """Show a question (rich text) about the image ``where`` says, with
        class ``selected`` preselected (None: the one selected stays), and
        (``take_keys``) take the keyboard focus so that the keys answer it,
        and scroll to it."""
        self.question.setText(text)
        self.where.setText(where)
        if selected is not None:
            self.class_list.select_class(selected)
        self.set_active(True, take_keys)
        if take_keys:
            self.keep_in_sight(None)

    def keep_in_sight(self, widget) -> None:
        """Scroll the dock to ``widget`` (below the panel: the round's apply
        question, the review of the LCM's changes; None: the question), and
        keep it in sight while the layout settles, until the next question."""
        if self._sight_on is not None:
            self._sight_on.removeEventFilter(self)
        self._sight_on = widget
        if widget is not None:
            widget.installEventFilter(self)
        self._in_sight_wanted = True
        self._sight.start()

    def reword(self, text: str, selected: int | None) -> None:
        """Change the question's text, with class ``selected`` preselected
        (None: the one selected stays), without taking the focus."""
        self.question.setText(text)
        if selected is not None:
            self.class_list.select_class(selected)

    def _bring_into_sight(self) -> None:
        """Scroll the dock (where it scrolls: a small window) to the question
        and the selected class, so that the class Enter would answer with is
        in sight; or to what :meth:`keep_in_sight` was given."""
        area = self.parentWidget()
        while area is not None and not isinstance(area, QScrollArea):
            area = area.parentWidget()
        if area is None or area.widget() is None:
            return
        target = self._sight_on
        if target is not None:  # the widget, and its current row if it has rows
            if target.isVisible():
                area.ensureWidgetVisible(target, 0, 0)
                if isinstance(target, QAbstractItemView) and target.currentIndex().isValid():
                    _row_in_sight(area, target, target.currentIndex())
            return
        index = self.class_list.currentIndex()
        if not index.isValid():
            return
        area.ensureWidgetVisible(self.question, 0, 0)
        _row_in_sight(area, self.class_list, index)

    def invite(self) -> None:
        """No session is open (none yet, or one failed to open): the panel
        invites a Start, and nothing in it acts."""
        self.say(INVITATION)
        self.setEnabled(False)

    def say(self, text: str) -> None:
        """Show a message instead of a question; nothing can be answered."""
        self.question.setText(text)
        self.where.setText("")
        self.set_active(False)
        self._in_sight_wanted = False

    def show_elsewhere(self, where: str, shown: str | None, keys_elsewhere: bool = False
                       ) -> None:
        """Say where the query is, and (``shown``) that the canvas shows
        something else now, which keys and clicks bring back before answering;
        ``keys_elsewhere``: the review has the keys, so only a click or Esc do."""
        keys = ("), and the review has the keys: Esc on the canvas" if keys_elsewhere
                else "): Enter, Esc on the canvas")
        self.where.setText(where if shown is None else
                           f"{where}<br><b>⚠ Not on the canvas</b> (it shows {shown}{keys} "
                           "or a click on the question shows the query again; then answer.")

    def set_active(self, active: bool, take_keys: bool = True) -> None:
        """Whether the query can be answered now (a session is open); an
        active panel takes the keys unless not ``take_keys``."""
        self.setEnabled(True)
        for widget in self._answering:
            widget.setEnabled(active)
        if active and take_keys:
            self.class_list.setFocus()


def _row_in_sight(area: QScrollArea, view: QAbstractItemView, index) -> None:
    """Scroll ``view`` to row ``index``, then the dock's ``area`` to that row."""
    view.scrollTo(index)
    row = view.visualRect(index)
    centre = view.viewport().mapTo(area.widget(), row.center())
    area.ensureVisible(centre.x(), centre.y(), 0, row.height())
