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
from qtpy.QtWidgets import QWidget


def where_text(names, image: str) -> str:
    """"Image 12 / 40: name", the query's image and its place in the dataset's ``names``."""
    return f"Image {list(names).index(image) + 1} / {len(names)}: <b>{image}</b>"


def canvases(window: QWidget) -> list[QWidget]:
    """napari's canvases in ``window``: vispy's Qt widgets (found by their
    class, as napari offers no public handle on them)."""
    return [w for w in window.findChildren(QWidget)
            if type(w).__name__.startswith("CanvasBackend")]


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
