"""What the person answers is what they see.

The panel accepts an answer only while the canvas shows that query's image
with its outline (:meth:`LayerPresenter.shows`, checked by the widget's
``answer``, the one door to the session's answers). What the widget itself
moves (the next query, undo or redo of an answer, a round's end, a resume)
it moves back to the query; what the person moves (a review row, the canvas's
own pan and zoom, an undo that shows another image) stays where they put it,
and the first answer key then brings the query back instead of answering.
Esc on the canvas, or a click on the question, does the same and gives the
keys back to the panel.
"""
from __future__ import annotations

from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import QApplication, QWidget


def where_text(names, image: str) -> str:
    """"Image 12 / 40: name", the query's image and its place in the dataset's ``names``."""
    return f"Image {list(names).index(image) + 1} / {len(names)}: <b>{image}</b>"


def is_canvas(widget: QWidget | None) -> bool:
    """Whether ``widget`` is a napari canvas: vispy's Qt widget (known by its
    class, as napari offers no public handle on it)."""
    return type(widget).__name__.startswith("CanvasBackend")


def canvases(window: QWidget) -> list[QWidget]:
    """napari's canvases in ``window``."""
    return [w for w in window.findChildren(QWidget) if is_canvas(w)]


class EscapeKey(QObject):
    """Calls ``then()`` when Esc is pressed on a widget it watches, and lets
    the key go on (napari's labels layer also ends a polygon with it)."""

    def __init__(self, then, parent=None):
        super().__init__(parent)
        self.then = then

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.KeyPress and event.key() == Qt.Key_Escape:
            self.then()
        return False


class KeysKept(QObject):
    """Gives the keys back where a closing napari notification took them
    from ``panel``: it focuses its parent, the canvas, where the answer keys
    would switch napari's tools instead (the focus it takes is the
    program's, no click's, Tab's or Esc's; nothing else in napari gives the
    canvas focus so). A click, Tab or Esc on the canvas moves them on
    purpose, and they stay there."""

    def __init__(self, panel: QWidget):
        super().__init__(panel)
        self.panel = panel
        self._last = None  # the widget of the panel that had the keys last
        self._reason = None  # of the last focus a watched canvas took
        QApplication.instance().focusChanged.connect(self._moved)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.FocusIn:
            self._reason = event.reason()
        return False

    def _moved(self, old, new) -> None:
        # Qt sends the focus events first, then this signal.
        reason, self._reason = self._reason, None
        if new is not None and self.panel.isAncestorOf(new):
            self._last = new
        elif reason == Qt.OtherFocusReason and is_canvas(new) and old is not None \
                and (self.panel.isAncestorOf(old) or _in_notification(old)) \
                and self._last is not None and self._last.isVisible() \
                and self._last.isEnabled():
            self._last.setFocus()

    def stop(self) -> None:
        QApplication.instance().focusChanged.disconnect(self._moved)


def _in_notification(widget: QWidget) -> bool:
    """Whether ``widget`` is part of a napari notification (its close button)."""
    while widget is not None:
        if type(widget).__name__ == "NapariQtNotification":
            return True
        widget = widget.parentWidget()
    return False
