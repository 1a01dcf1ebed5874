"""Keeping the canvas and the disk in step.

Every change to the labels (an answer, a stroke, undo or redo, a review)
is written by the session runner's writer thread, in order; the canvas
shows a stroke at once, and redraws the images a change rewrote once no
other change waits to be written (redrawing earlier would take back a
stroke the layer already shows).
"""
from __future__ import annotations

from napari.utils.notifications import show_error
from qtpy.QtCore import QObject, QTimer, Signal


class CanvasSync(QObject):
    """Hands the canvas's strokes to the session and redraws what changes wrote.

    ``presenter`` (the :class:`~a2lc_napari._layers.LayerPresenter`) is set
    once a session is open. Signal :attr:`stepped` (event or None, True for
    undo) once an undo or redo is written; :attr:`relabelled` once a change
    is written, the canvas redrawn where it can be.
    """

    stepped = Signal(object, bool)
    relabelled = Signal()

    def __init__(self, runner, parent=None):
        super().__init__(parent)
        self.runner = runner
        self.presenter = None
        self._stale: set[str] = set()  # images changed on disk, not yet redrawn
        self._edit_pending = False  # a stroke waits to be handed to the session

    @property
    def session(self):
        return self.runner.session

    def changed(self, images) -> None:
        """A change was written: redraw the images it changed once no other
        change (a stroke the layer already shows) waits to be written, and
        re-run the LCM."""
        self._stale |= set(images)
        if not self.runner.writing and not self._edit_pending:
            self._reload(self._stale)
            self._stale = set()
        self.relabelled.emit()
        self.runner.propose_lcm()

    def _reload(self, images) -> None:
        """Images whose labels changed on disk: the shown one is redrawn, the
        others read again when next shown."""
        images = set(images)
        shown = self.presenter.name
        # The shown image's view keeps its place: the labels layer holds its
        # very labels array, so set_labels (and any stroke) changes both.
        self.runner.views.forget(images - {shown})
        if shown in images:
            self.presenter.set_labels(self.session.labels(shown))

    def on_paint(self, _event=None) -> None:
        """A paint stroke or fill: the session keeps it as a hand edit.

        Saved from the event loop, because a single ``Labels.paint`` call
        announces its change before writing it."""
        if not self.presenter.editing and self.session is not None:
            name = self.presenter.name
            self._edit_pending = True
            QTimer.singleShot(0, lambda: self._save_hand_edit(name))

    def _save_hand_edit(self, name: str) -> None:
        self._edit_pending = False
        if name != self.presenter.name:
            return
        # Only the stroke's pixels: the canvas may still show labels from
        # before a change written meanwhile, which the stroke must not undo.
        painted = self.presenter.take_painted()
        if not painted.any():
            return
        self.runner.write(self.session.edit_labels, name,
                          self.presenter.labels_layer.data.copy(), painted,
                          then=lambda _pixels: self.changed([]),
                          failed=lambda message: self._edit_refused(name, message))

    def _edit_refused(self, name: str, message: str) -> None:
        show_error(message)
        self.changed([name])  # back to the labels on disk

    def undo(self) -> None:
        """Take back the session's last change, wherever it was."""
        self._step(undo=True)

    def redo(self) -> None:
        self._step(undo=False)

    def _step(self, undo: bool) -> None:
        # Also while a step runs: the session's lock orders the two, and the
        # journal keeps a round's answers from being taken back once it ends.
        if self.session is None:
            return
        self.runner.write(self.session.undo if undo else self.session.redo,
                          then=lambda event: self.stepped.emit(event, undo))
