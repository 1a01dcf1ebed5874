"""Showing queries and images on the canvas, their images read ahead.

The view keeps which query the panel asks (:attr:`QueryView.query_index`)
and says when the canvas no longer shows it (see ``_on_screen.py``).
"""
from __future__ import annotations

from qtpy.QtCore import QObject, QTimer, Signal

from ._on_screen import where_text
from .engine.classes import ClassSet


def label_name(label: int, classes: ClassSet) -> str:
    """A label's name in a question: its class's, or "unlabelled" (the ignore value)."""
    return classes.name_of(label) if 0 <= label < classes.num_classes else "unlabelled"


def question(what: str, label: int, classes: ClassSet, asked: int | None = None) -> str:
    """The question (rich text) about a ``what`` ("region") labelled ``label``:
    whether it is that class or, unlabelled (the ignore value), which class it is.
    ``asked``: the label it had when the round asked about it, said where it
    has changed since (painted over)."""
    was = ("" if asked is None or asked == label else
           f" (it was <b>{label_name(asked, classes)}</b> when asked)")
    if 0 <= label < classes.num_classes:
        return f"is this {what} <b>{classes.name_of(label)}</b>?{was}"
    # "Is this region ignore?" read as a question about ignoring it.
    return (f"this {what} is <b>unlabelled</b>: which class is it? "
            f"(Enter leaves it unlabelled: unsure or none of these){was}")


class QueryView(QObject):
    """Shows queries and images, reading their images ahead of time.

    ``presenter`` (the :class:`~a2lc_napari._layers.LayerPresenter`) is set
    once a session is open. Signals: :attr:`query_shown` (query index) once
    a query is drawn and can be answered, :attr:`image_shown` when the canvas
    shows another image (the LCM's changes to draw on it),
    :attr:`labels_added` (the new labels layer: its strokes are the
    session's), :attr:`unreadable` (a message) when an image asked for
    cannot be read.
    """

    query_shown = Signal(int)
    image_shown = Signal()
    unreadable = Signal(str)
    labels_added = Signal(object)

    def __init__(self, runner, panel, keys_elsewhere=lambda: False, parent=None):
        super().__init__(parent)
        self.runner, self.panel = runner, panel
        # Whether another part of the dock has the keys (the review): a query
        # then waits there, off the canvas, until the person recalls it.
        self.keys_elsewhere = keys_elsewhere
        self.presenter = None
        self.query_index: int | None = None  # the query shown, answerable
        self._shown: tuple[int, int] | None = None  # (query, the label its question names)
        self.wanted: int | None = None  # the query to show once its image is read
        # Whether the canvas still shows the query, once the camera settles.
        self._screen_timer = QTimer(self, singleShot=True, interval=50)
        self._screen_timer.timeout.connect(self._check_screen)

    @property
    def session(self):
        return self.runner.session

    def camera_moved(self, _event=None) -> None:
        self._screen_timer.start()

    def layers_changed(self, event) -> None:
        """A layer added, removed, moved, shown or hidden may cover the query or not."""
        if event.type in ("inserted", "removed", "moved", "visible", "opacity"):
            self._screen_timer.start()

    def stop(self) -> None:
        self._screen_timer.stop()

    def show_query(self, index: int, keep_class: bool = False, recalled: bool = False) -> None:
        """Show query ``index``: its image (read ahead when possible), its
        region outlined, centred and zoomed; the panel takes the focus, its
        class chosen anew unless ``keep_class``. While :attr:`keys_elsewhere`
        (the person reviews the LCM's changes), a query the person has not
        ``recalled`` waits in the panel instead: the canvas and the keys stay
        where they are, and the panel says how to answer it."""
        q = self.session.queries[index]
        self.wanted = index
        waits = not recalled and self.keys_elsewhere()
        if q.image != self.presenter.name:
            self.query_index = None
            self.panel.set_active(False)
        self._read(q.image, lambda view: self._show_query_on(index, view, keep_class, waits))

    def _show_query_on(self, index: int, view, keep_class: bool, waits: bool) -> None:
        session = self.session
        if self.wanted != index or session.phase != "query":
            return  # another query was asked for meanwhile
        q = session.queries[index]
        label = q.label  # as asked; once shown, as the canvas has it
        if not waits:
            self._show_view(view)
            self.presenter.show_query(q.region, q.pixel)
            label = self.presenter.label_of(q.region)  # painted over since, maybe
        self.query_index = index
        # The class the person picked stays, unless the label beside it changed.
        kept = keep_class and self._shown == (index, label)
        self._shown = (index, label)
        self.panel.ask(self._question(q, label), None if kept else label,
                       where_text(session.dataset.names, q.image), take_keys=not waits)
        self.runner.views.prefetch(session, self._upcoming_images(index))
        if waits:
            self._check_screen()
        else:
            self.query_shown.emit(index)

    def _question(self, q, label: int) -> str:
        """The panel's question about query ``q``, whose region the canvas
        shows labelled ``label``: an unanswered query's names ``label``, an
        answered one's is the question asked, with its answer, and ``label``
        where painting has made it differ from the answer."""
        session = self.session
        classes = session.dataset.classes
        what = "region" if session.method.region_query else "region (pixel under the cross)"
        count = len(session.queries) + session.checks_due
        if q.answer is None:
            asked = question(what, label, classes, q.label)
        else:
            asked = (f"{question(what, q.label, classes)} — answered "
                     f"<b>{label_name(q.answer, classes)}</b>"
                     + ("" if label == q.answer else
                        f" (painted <b>{label_name(label, classes)}</b> since)"))
        # The round's checks are chosen from these answers: → does not reach them yet.
        later = (f" (queries {len(session.queries) + 1}–{count} come once these are "
                 "answered)" if session.checks_due else "")
        return f"Round {session.round} · Query {q.index + 1} / {count}{later}: {asked}"

    def relabelled(self) -> None:
        """The labels on the canvas changed (a stroke, a fill, an undo) or its
        image is shown again: where the query's region now shows another
        label, its question says so, and Enter answers with that label."""
        if not self.can_answer() or self.presenter is None:
            return
        q = self.session.queries[self.query_index]
        if self.presenter.name != q.image:
            return
        label = self.presenter.label_of(q.region)
        if (q.index, label) != self._shown:
            self._shown = (q.index, label)
            self.panel.reword(self._question(q, label), label)

    def _upcoming_images(self, index: int) -> list[str]:
        """The images of the next two unanswered queries and of the previous one."""
        queries = self.session.queries
        n = len(queries)
        ahead = [queries[(index + k) % n] for k in range(1, n)]
        names = [q.image for q in ahead if q.answer is None][:2]
        return [*names, queries[(index - 1) % n].image]

    def show_image(self, name: str, then=None) -> None:
        """Show image ``name`` (read in a worker unless read ahead), then call ``then()``."""
        def shown(view):
            self._show_view(view)  # with the LCM's changes and the selected one's caption
            self.relabelled()  # the query's image, changed while another was shown
            if then is not None:
                then()
        self._read(name, shown)

    def _read(self, name: str, then) -> None:
        """``then(view)`` with image ``name`` read, once the layers exist;
        :attr:`unreadable` where it cannot be read."""
        self.runner.views.get(self.session, name,
                              lambda view: self.presenter.when_ready(lambda: then(view)),
                              self.unreadable.emit)

    def _show_view(self, view) -> None:
        if view.name == self.presenter.name:
            return
        if self.presenter.show_image(view):  # a new labels layer
            self.labels_added.emit(self.presenter.labels_layer)
        self.image_shown.emit()
        self._screen_timer.start()

    def hide_query(self) -> None:
        """No query answerable, none wanted, no outline (a round ends)."""
        self.query_index = self.wanted = None
        self.presenter.hide_query()

    # ---- the query on screen (see _on_screen.py) -----------------------------------

    def can_answer(self) -> bool:
        """Whether the panel's query takes an answer: no step runs, the round asks."""
        return (not self.runner.busy and self.session is not None
                and self.session.phase == "query" and self.query_index is not None)

    def query_on_screen(self) -> bool:
        """Whether the canvas shows the panel's query: its image, its outline,
        its region in view. Answers are accepted only then."""
        if self.query_index is None or self.presenter is None:
            return False
        q = self.session.queries[self.query_index]
        return self.presenter.shows(q.image, q.region)

    def _check_screen(self) -> None:
        """Tell the person when the canvas no longer shows the query."""
        if self.query_index is None or self.session is None:
            return
        q = self.session.queries[self.query_index]
        shown = None
        if not self.query_on_screen():
            covering = [layer.name for layer in self.presenter.covering()]
            if self.presenter.name != q.image:
                shown = f"image {self.presenter.name}"
            elif covering:
                shown = f"{', '.join(covering)} over it"
            else:
                shown = "another part of the image"
        self.panel.show_elsewhere(where_text(self.session.dataset.names, q.image), shown,
                                  self.keys_elsewhere())

    def recall(self) -> None:
        """Esc on the canvas, a click on the question: the query shown again
        if the canvas moved away from it, and the keys back to the panel."""
        if not self.can_answer():
            return
        if not self.query_on_screen():
            self.presenter.uncover()
            self.show_query(self.query_index, keep_class=True, recalled=True)
        self.panel.set_active(True)

    def move(self, step: int) -> None:
        """Show the previous (-1) or next (+1) query without answering."""
        if self.can_answer():
            self.show_query((self.query_index + step) % len(self.session.queries))
