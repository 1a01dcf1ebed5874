"""The dock widget: a labeling session on a dataset, one query at a time.

It composes small parts, each with one concern:

    SettingsForm     the settings, as a SessionConfig          (_settings.py)
    QueryPanel       the question, the classes, navigation     (_query_panel.py)
    ReviewPanel      the LCM's changes, accepted or rejected   (_review.py)
    RoundSummary     what each round changed                   (_summary.py)
    SessionRunner    the session, its workers, the busy state  (_runner.py)
    LayerPresenter   the layers, the only code naming them     (_layers.py)

An answer is taken only while the canvas shows its query (``answer``
checks :meth:`LayerPresenter.shows`; see ``_on_screen.py``).

Every change to the labels is an event of the session's journal, so Ctrl+Z
(on the panel or on napari's canvas) takes back the last one wherever it
was, and shows that image (and query) again.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from napari.utils.notifications import show_error
from qtpy.QtCore import QEvent, Qt, QTimer, Signal
from qtpy.QtWidgets import (QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea,
                            QVBoxLayout, QWidget)

from ._export import ExportDialog, confirm_export
from ._layers import LayerPresenter, warm_up
from ._on_screen import EscapeKey, canvases, where_text
from ._query_panel import QueryPanel
from ._review import ReviewPanel, how_sure
from ._runner import SessionRunner, keep_long_lived, open_session
from ._settings import SettingsForm
from ._summary import RoundSummary, class_chart

if TYPE_CHECKING:  # the engine loads torch: it is imported in a worker
    from .engine.session import Session


def plural(n: int, word: str) -> str:
    """"1 region", "2 regions"."""
    return f"{n} {word}{'' if n == 1 else 's'}"


class CorrectionWidget(QWidget):
    """Walks a person through the queries of a correction session.

    Signals: :attr:`query_shown` (query index) once a query is drawn and
    can be answered, :attr:`idle` when no step, LCM or image read runs.
    """

    query_shown = Signal(int)
    idle = Signal()

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.runner = SessionRunner(self)
        self.presenter: LayerPresenter | None = None
        self.query_index: int | None = None  # the query shown, answerable
        self._wanted: int | None = None  # the query to show once its image is read
        self.proposal = None  # the LCM's latest proposal this round
        self._answering: set[int] = set()  # queries whose answers are being written
        self._stale: set[str] = set()  # images changed on disk, not yet redrawn
        self._edit_pending = False  # a stroke waits to be handed to the session
        keep_long_lived()  # napari's own objects, before the session adds its own
        self._build()
        self.runner.busy_changed.connect(self._on_busy)
        self.runner.progress.connect(self._show_progress)
        self.runner.failed.connect(self._on_error)
        self.runner.stopped.connect(self._on_failure)
        self.runner.lcm_proposed.connect(self._on_proposal)
        self._idle_timer = QTimer(self, interval=100)
        self._idle_timer.timeout.connect(self._check_idle)
        # napari's window deletes its docks without closing them: let the
        # session go then, so that a new viewer in this process can open it.
        self.destroyed.connect(self.runner.cleanup)
        self.viewer.layers.events.inserted.connect(self._adopt_dataset)
        for layer in self.viewer.layers:
            self._adopt_dataset(layer)

    # ---- building ----------------------------------------------------------------

    def _build(self) -> None:
        self.settings = SettingsForm()
        self.settings.start.changed.connect(self.start)
        self.panel = QueryPanel()
        self.panel.answered.connect(self.answer)
        self.panel.moved.connect(self.move)
        self.panel.undo_requested.connect(lambda undo: self.undo() if undo else self.redo())
        self.panel.finish_requested.connect(self.finish_round)
        self.panel.recalled.connect(self.recall)
        self._escape = EscapeKey(self.recall, self)
        # Whether the canvas still shows the query, once the camera settles.
        self._screen_timer = QTimer(self, singleShot=True, interval=50)
        self._screen_timer.timeout.connect(self._check_screen)
        self._camera_moved = lambda _event=None: self._screen_timer.start()
        self.review = ReviewPanel()
        self.review.selected.connect(self.show_change)
        self.review.decided.connect(self.decide)
        self.review.setVisible(False)

        self.confirm = QWidget()  # "apply N LCM changes?" before a round ends
        self.confirm_text = QLabel()
        self.confirm_text.setWordWrap(True)
        apply_all, review_first = QPushButton("Apply them"), QPushButton("Review first")
        apply_all.clicked.connect(lambda: self.finish_round(confirmed=True))
        review_first.clicked.connect(self._review_first)
        row = QHBoxLayout(self.confirm)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.confirm_text, 1)
        row.addWidget(apply_all)
        row.addWidget(review_first)
        self.confirm.setVisible(False)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.runner.cancel)
        self.cancel_button.setEnabled(False)
        # What runs, its progress and Cancel: pinned at the top of the dock,
        # above what scrolls, so that they are in sight whatever the screen.
        busy = QWidget()
        progress = QHBoxLayout()
        progress.addWidget(self.progress)
        progress.addWidget(self.cancel_button)
        busy_box = QVBoxLayout(busy)
        busy_box.setContentsMargins(6, 6, 6, 0)
        busy_box.addWidget(self.status)
        busy_box.addLayout(progress)
        self.summary = RoundSummary()
        self.summary.setVisible(False)  # no empty chart before a session
        export = QPushButton("Export labels…")
        export.clicked.connect(self._ask_export)

        # In a scroll area: on a small screen the dock scrolls rather than
        # squeezing the class list under its buttons.
        content = QWidget()
        layout = QVBoxLayout(content)
        for w in (self.settings.native, self.panel, self.confirm, self.review):
            layout.addWidget(w)
        layout.addWidget(self.summary)
        layout.addWidget(export)
        layout.addStretch()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        # Parts shown later (the review table) may need more width than the
        # dock has: scroll to them rather than clip them.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        scroll.setWidget(content)
        self._content, self._scroll = content, scroll
        self._fit_width()
        # Refit whenever what the dock shows changes size: the round table and
        # the review appear later, and a label knows its width only once laid out.
        self._fit_timer = QTimer(self, singleShot=True, interval=0)
        self._fit_timer.timeout.connect(self._fit_width)
        content.installEventFilter(self)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(busy)
        outer.addWidget(scroll)

    def _fit_width(self) -> None:
        """The dock at least as wide as what it shows, so that nothing is cut
        off on the right (the round table, the review appear later)."""
        self.setMinimumWidth(self._content.minimumSizeHint().width()
                             + self._scroll.verticalScrollBar().sizeHint().width()
                             + 2 * self._scroll.frameWidth())

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if watched is self._content and event.type() == QEvent.LayoutRequest:
            self._fit_timer.start()
        return super().eventFilter(watched, event)

    def _adopt_dataset(self, event_or_layer) -> None:
        """A dataset opened by this plugin's reader becomes the one to correct."""
        layer = getattr(event_or_layer, "value", event_or_layer)
        path = layer.metadata.get("a2lc_dataset")
        if path and self.session is None:
            self.settings.offer_dataset(path)

    def cleanup(self) -> None:
        """Disconnect from the viewer and stop the workers (the dock closes)."""
        self._idle_timer.stop()
        self._fit_timer.stop()
        self._screen_timer.stop()
        self.viewer.scene.camera.events.disconnect(self._camera_moved)
        self._content.removeEventFilter(self)
        self.viewer.layers.events.inserted.disconnect(self._adopt_dataset)
        self.runner.cleanup()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.cleanup()
        super().closeEvent(event)

    # ---- state -------------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        return self.runner.session

    @property
    def busy(self) -> bool:
        """A long step runs: the queries cannot be answered meanwhile."""
        return self.runner.busy

    @property
    def image_name(self) -> str | None:
        """The image shown."""
        return None if self.presenter is None else self.presenter.name

    @property
    def labels_layer(self):
        return self.presenter.labels_layer

    def _check_idle(self) -> None:
        if self.runner.idle:
            self._idle_timer.stop()
            self.idle.emit()

    def _on_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.settings.start.enabled = not busy
        if busy:
            self.panel.set_active(False)
        else:
            self.progress.setRange(0, 1)  # a step without a total left it "busy"
            self.progress.reset()
            self.status.setText("")
        self._idle_timer.start()

    def _show_progress(self, what: str, done: int, total: int) -> None:
        self.status.setText(f"{what}…")
        self.progress.setMaximum(total)
        self.progress.setValue(done)

    def _on_error(self, message: str) -> None:
        """A step failed: a napari notification (the message alone: the
        workers no longer raise their errors again, with a traceback, in the
        main thread), and the widget goes on where it can."""
        show_error(message)
        self._on_failure(message)

    def _on_failure(self, message: str) -> None:
        """A step failed or was stopped: say so, and ask the query again."""
        self.status.setText(message)
        if self.session is None:
            return
        if self.session.phase == "query":
            self.show_query(self._wanted if self._wanted is not None else 0)
        elif not self.busy:  # no longer "training the model…"
            self.panel.say(message)

    # ---- the session ---------------------------------------------------------------

    def start(self) -> None:
        """Open the session of the chosen folders (resume) or start one."""
        if self.busy:
            return
        if self.session is not None:
            self._continue()
            return
        try:
            dataset, session_dir = self.settings.folders()
            config = self.settings.config()
        except ValueError as e:
            show_error(str(e))
            return
        self.runner.run(open_session(session_dir, dataset, config), self._on_started,
                        "Opening the session")

    def _on_started(self, session: Session) -> None:
        self.runner.session = session
        self.settings.show_config(session.config)
        self.settings.lock()
        self.presenter = LayerPresenter(self.viewer, session.dataset.classes, session.method,
                                        undo=self.undo, redo=self.redo)
        for canvas in canvases(self.window()):
            canvas.installEventFilter(self._escape)
        self.viewer.scene.camera.events.connect(self._camera_moved)
        self.runner.beside(warm_up, session.dataset.classes, self.presenter.specs,
                           then=lambda _: self.presenter.prepare())
        self.panel.set_classes(session.dataset.classes)
        self.review.setVisible(session.method.lcm)
        self._show_history()
        # In the status line, not a napari notification: closing, one hands
        # the keyboard focus to the canvas, and the answer keys stop working.
        self.status.setText(f"Session in {session.out}: round {session.round}")
        # Training once the layers are added: beside it, napari takes twice
        # as long to add each one, and the canvas freezes meanwhile.
        self.presenter.when_ready(self._continue)

    def _show_history(self) -> None:
        self.summary.setVisible(True)
        history = list(self.session.history)
        self.summary.show_table(history)
        self.runner.beside(class_chart, history, self.session.dataset.classes,
                           then=self._show_chart)

    def _show_chart(self, rgba) -> None:
        if rgba is not None:  # else drawing it failed, and the status line says so
            self.summary.show_chart(rgba)

    def _continue(self) -> None:
        """Take the session's next step: train and rank, ask, or finish a round."""
        if self.busy:  # Start / resume pressed while the layers were being added
            return
        phase, round_ = self.session.phase, self.session.round
        if phase == "train":
            self.query_index = None
            if self.presenter.name is not None:
                self.presenter.hide_query()
            self.panel.say(f"Round {round_}: training the model on the current labels "
                           "and ranking the regions…")
            if self.presenter.name is None:  # the canvas shows an image meanwhile, not black
                self.show_image(self.session.dataset.names[0])
            self.runner.run(self.session.prepare_round(), self._on_prepared,
                            f"Preparing round {round_}")
        elif phase == "query":
            self._on_prepared(None)
        else:
            self.finish_round(confirmed=True)

    def _on_prepared(self, _) -> None:
        q = self.session.next_query() or self.session.queries[0]
        self.proposal = None
        self.show_query(q.index)
        self.runner.propose_lcm()
        self._show_review()

    def finish_round(self, confirmed: bool = False) -> None:
        """Apply the LCM, measure and log the round, then prepare the next one.

        Above the settings' limit of LCM changes, first say how many and let
        the person review them or apply them (``confirmed``)."""
        session = self.session
        if self.busy or session is None:
            return
        if self.runner.writing:  # after the answers and strokes still being written
            self.runner.after_writes(lambda: self.finish_round(confirmed))
            return
        count = len(self.proposal.updates) if self.proposal is not None else 0
        if not confirmed and session.phase == "query" and count > self.settings.review_above.value:
            self.confirm_text.setText(f"The LCM will change {plural(count, 'region')} "
                                      "at the end of this round.")
            self.confirm.setVisible(True)
            return
        self.confirm.setVisible(False)
        self.query_index = self._wanted = None
        self.presenter.hide_query()
        self.panel.say(f"Round {session.round}: applying the LCM…")
        self.runner.run(session.finish_round(), self._on_finished,
                        f"Finishing round {session.round}")

    def _review_first(self) -> None:
        self.confirm.setVisible(False)
        self.review.table.setFocus()
        if self.review.changes:
            self.review.table.setCurrentCell(0, 0)

    def _on_finished(self, _record) -> None:
        self.proposal = None
        self._changed(self.session.dataset.names)  # the LCM may have changed any
        self._show_history()
        self._show_review()
        self._continue()

    # ---- showing images and queries --------------------------------------------------

    def show_query(self, index: int, keep_class: bool = False) -> None:
        """Show query ``index``: its image (read ahead when possible), its
        region outlined, centred and zoomed; the panel takes the focus, its
        class chosen anew unless ``keep_class``."""
        session = self.session
        q = session.queries[index]
        self._wanted = index
        if q.image != self.presenter.name:
            self.query_index = None
            self.panel.set_active(False)
        self._read(q.image, lambda view: self._show_query_on(index, view, keep_class))

    def _show_query_on(self, index: int, view, keep_class: bool = False) -> None:
        session = self.session
        if self._wanted != index or session.phase != "query":
            return  # another query was asked for meanwhile
        q = session.queries[index]
        self._show_view(view)
        self.presenter.show_query(q.region, q.pixel)
        self.query_index = index
        classes = session.dataset.classes
        what = "region" if session.method.region_query else "region (pixel under the cross)"
        answered = ("" if q.answer is None else
                    f" — answered <b>{classes.name_of(q.answer)}</b>")
        self.panel.ask(f"Round {session.round} · Query {index + 1} / {len(session.queries)}: "
                       f"is this {what} <b>{classes.name_of(q.label)}</b>?{answered}",
                       None if keep_class else q.label if q.answer is None else q.answer,
                       where_text(session.dataset.names, q.image))
        self.runner.views.prefetch(session, self._upcoming_images(index))
        self.query_shown.emit(index)

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
            if then is not None:
                then()
        self._read(name, shown)

    def _read(self, name: str, then) -> None:
        """``then(view)`` with image ``name`` read, once the layers exist."""
        self.runner.views.get(self.session, name,
                              lambda view: self.presenter.when_ready(lambda: then(view)))

    def _show_view(self, view) -> None:
        if view.name == self.presenter.name:
            return
        if self.presenter.show_image(view):  # a new labels layer: its strokes are the session's
            self.presenter.labels_layer.events.paint.connect(self._on_paint)
        self._draw_changes()
        self._screen_timer.start()

    # ---- the query on screen (see _on_screen.py) -----------------------------------

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
            shown = ("another part of the image" if self.presenter.name == q.image
                     else f"image {self.presenter.name}")
        self.panel.show_elsewhere(where_text(self.session.dataset.names, q.image), shown)

    def recall(self) -> None:
        """Esc on the canvas, a click on the question: the query shown again
        if the canvas moved away from it, and the keys back to the panel."""
        if not self._can_answer():
            return
        if not self.query_on_screen():
            self.show_query(self.query_index, keep_class=True)
        self.panel.set_active(True)

    # ---- answering -------------------------------------------------------------------

    def _can_answer(self) -> bool:
        return (not self.busy and self.session is not None
                and self.session.phase == "query" and self.query_index is not None)

    def answer(self, cls: int) -> None:
        """Answer the shown query with class ``cls`` and show the next one at
        once; the answer is written meanwhile. Once the last one is written,
        finish the round."""
        if not self._can_answer():
            return
        if not self.query_on_screen():  # the first key brings it back, the next answers
            self.recall()
            return
        session, index = self.session, self.query_index
        self._answering.add(index)
        self.runner.write(session.answer, {index: cls},
                          then=lambda event: self._answered(index, event),
                          failed=lambda message: self._answer_failed(index, message))
        queries, n = session.queries, len(session.queries)
        left = [(index + k) % n for k in range(1, n)
                if queries[(index + k) % n].answer is None
                and (index + k) % n not in self._answering]
        if left:
            self.show_query(left[0])
        # else the round ends once the answers are written (_answered)

    def _answered(self, index: int, event) -> None:
        self._answering.discard(index)
        self._changed(event.images)
        if not self._answering and self.session.next_query() is None:
            self.finish_round()

    def _answer_failed(self, index: int, message: str) -> None:
        self._answering.discard(index)
        self._wanted = index
        self._on_error(message)

    def move(self, step: int) -> None:
        """Show the previous (-1) or next (+1) query without answering."""
        if self._can_answer():
            self.show_query((self.query_index + step) % len(self.session.queries))

    def _changed(self, images) -> None:
        """A change was written: redraw the images it changed once no other
        change (a stroke the layer already shows) waits to be written, and
        re-run the LCM."""
        self._stale |= set(images)
        if not self.runner.writing and not self._edit_pending:
            self._reload(self._stale)
            self._stale = set()
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

    def _on_paint(self, _event=None) -> None:
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
        self.runner.write(self.session.edit_labels, name, self.labels_layer.data.copy(),
                          then=lambda _pixels: self._changed([]),
                          failed=lambda message: self._edit_refused(name, message))

    def _edit_refused(self, name: str, message: str) -> None:
        show_error(message)
        self._changed([name])  # back to the labels on disk

    def undo(self) -> None:
        """Take back the session's last change, wherever it was, and show it."""
        self._step(undo=True)

    def redo(self) -> None:
        self._step(undo=False)

    def _step(self, undo: bool) -> None:
        if self.session is None or self.busy:
            return
        self.runner.write(self.session.undo if undo else self.session.redo,
                          then=lambda event: self._stepped(event, undo))

    def _stepped(self, event, undo: bool) -> None:
        self.status.setText("" if event is not None else
                            "Nothing to undo." if undo else "Nothing to redo.")
        if event is None:
            return
        self._changed(event.images)
        self._show_review()
        if event.query is not None and self.session.phase == "query":
            self.show_query(event.query)
        elif event.images and self.presenter.name not in event.images:
            self.show_image(event.images[0])

    # ---- the LCM review -------------------------------------------------------------

    def _on_proposal(self, proposal) -> None:
        self.proposal = proposal
        self._show_review()

    def _show_review(self) -> None:
        session = self.session
        if not session.method.lcm:
            return
        proposed = self.proposal.updates if self.proposal is not None else []
        self.review.show_changes(session.dataset.classes, proposed, session.lcm_applied,
                                 how_sure(self.proposal, session.config.lcm.target_precision))
        self._draw_changes()

    def _draw_changes(self) -> None:
        if self.presenter is not None and self.presenter.name is not None:
            self.presenter.show_changes(self.review.changes, self.review.current())

    def show_change(self, change) -> None:
        """Show an LCM change: its image, its region outlined, centred and zoomed."""
        def zoom():
            self.presenter.show_changes(self.review.changes, change)
            self.presenter.centre_on(change.region)
        if change.image == self.presenter.name:
            zoom()
        else:
            self.show_image(change.image, zoom)

    def decide(self, changes: list, accept: bool) -> None:
        """Accept or reject LCM changes (one journal event)."""
        if self.busy or not changes:
            return
        session = self.session
        self.runner.write(session.accept_lcm if accept else session.reject_lcm, changes,
                          then=lambda event: self._decided(event, changes, accept))

    def _decided(self, event, changes: list, accept: bool) -> None:
        if event is None:
            return
        if self.proposal is not None:  # decided: no longer proposed
            self.proposal.updates = [u for u in self.proposal.updates if u not in changes]
        self._changed(event.images)
        self._show_review()
        self.status.setText(f"{'Accepted' if accept else 'Rejected'} "
                            f"{plural(len(changes), 'LCM change')}.")

    # ---- export ---------------------------------------------------------------------------

    def _ask_export(self) -> None:
        """The export dialog: folder and format, then whatever needs asking."""
        if self.session is None:
            show_error("Start a session first.")
            return
        dialog = ExportDialog(self)
        if not dialog.exec_():
            return
        folder, format = dialog.choice()
        if folder is None:
            show_error("Choose a folder to export the labels to.")
            return
        try:
            overwrite = confirm_export(self, folder)
        except ValueError as e:
            show_error(str(e))
            return
        if overwrite is not None:
            self.export(folder, format, overwrite)

    def export(self, folder: Path, format: str = "palette", overwrite: bool = False) -> None:
        """Write the corrected labels to ``folder`` in ``format`` (one of the
        engine's ``EXPORT_FORMATS``) in a worker. A folder that is not empty
        is refused unless ``overwrite``."""
        folder = Path(folder)
        if not overwrite and folder.is_dir() and any(folder.iterdir()):
            show_error(f"{folder} is not empty; choose an empty folder.")
            return
        self.runner.run(self.session.export(folder, format=format, overwrite=overwrite),
                        lambda out: self.status.setText(
                            f"Exported the labels ({format}) to {out}"),
                        "Exporting")
