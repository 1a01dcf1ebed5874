"""The dock widget: a labeling session on a dataset, one query at a time.

It composes small parts, each with one concern:

    SettingsForm     the settings, as a SessionConfig          (_settings.py)
    QueryPanel       the question, the classes, navigation     (_query_panel.py)
    ReviewPanel      the LCM's changes, accepted or rejected   (_review.py)
    RoundSummary     what each round changed                   (_summary.py)
    SessionRunner    the session, its workers, the busy state  (_runner.py)
    LayerPresenter   the layers, the only code naming them     (_layers.py)
    QueryView        showing queries and images, read ahead    (_query_view.py)
    CanvasSync       the canvas and the disk in step, undo     (_canvas_sync.py)
    RoundFlow        train and rank, ask, finish, again        (_round_flow.py)

An answer is taken only while the canvas shows its query (``answer``
checks :meth:`QueryView.query_on_screen`; see ``_on_screen.py``).

Every change to the labels is an event of the session's journal, so Ctrl+Z
(on the panel or on napari's canvas) takes back the last one wherever it
was, and shows that image (and query) again.
"""
from __future__ import annotations

import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from napari.utils.notifications import show_error
from qtpy.QtCore import QEvent, Qt, QTimer, Signal
from qtpy.QtWidgets import (QMessageBox, QPushButton, QScrollArea,
                            QVBoxLayout, QWidget)

from ._busy_bar import BusyBar
from ._export import ask_export
from ._canvas_sync import CanvasSync
from ._layers import LayerPresenter, warm_up
from ._on_screen import EscapeKey, KeysKept, canvases
from ._query_panel import OPENING, QueryPanel
from ._query_view import QueryView
from ._review import ReviewPanel, how_sure, plural
from ._round_flow import RoundFlow
from ._runner import SessionRunner, keep_long_lived, open_session
from ._settings import SettingsForm
from ._summary import RoundSummary
from .engine.export import EXPORT_FORMATS, format_problem
from .engine.state import DECISION_EVENTS, review_waits

if TYPE_CHECKING:  # the engine loads torch: it is imported in a worker
    from .engine.session import Session


# Per viewer, the folders and settings of the session whose panel was
# closed last: the next panel opened there offers them, to resume.
_closed_sessions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def step_text(event) -> str:
    """What a journal event (:class:`~a2lc_napari.engine.state.Event`) did, in
    words, for the status line after an undo or a redo."""
    changes = plural(len(event.changes), "LCM change")
    if event.kind in ("answer", "unanswer"):
        return (f"the answer to query {event.query + 1} of round {event.round}"
                if event.query is not None else "an answer")
    return {"hand_edit": f"a stroke on {', '.join(event.images)}",
            "lcm_apply": f"{changes} applied at the end of round {event.round}",
            "lcm_accept": f"the acceptance of {changes}",
            "lcm_reject": f"the rejection of {changes}"}[event.kind]


class CorrectionWidget(QWidget):
    """Walks a person through the queries of a correction session.

    Signals: :attr:`query_shown` (query index) once a query is drawn and
    can be answered, :attr:`idle` when no step, LCM or image read runs.
    """

    idle = Signal()

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.runner = SessionRunner(self)
        self.presenter: LayerPresenter | None = None
        self.proposal = None  # the LCM's latest proposal this round
        keep_long_lived()  # napari's own objects, before the session adds its own
        self._build()
        self.runner.busy_changed.connect(self._on_busy)
        self.runner.progress.connect(self._busy.show_progress)
        self.runner.failed.connect(self._on_error)
        self.runner.stopped.connect(self._on_failure)
        self.runner.lcm_proposed.connect(self._on_proposal)
        self.runner.lcm_asked.connect(self.review.mark_updating)
        self.runner.change_written.connect(self._clear_status)
        self._idle_timer = QTimer(self, interval=100)
        self._idle_timer.timeout.connect(self._check_idle)
        # napari's window deletes its docks without closing them: let the
        # session go then, so that a new viewer in this process can open it.
        self.destroyed.connect(self.runner.cleanup)
        self.viewer.layers.events.inserted.connect(self._adopt_dataset)
        if self.viewer in _closed_sessions:
            # The session this viewer's panel closed, not a dataset that was
            # opened over it meanwhile (only one opened from now on replaces it).
            self.settings.offer_session(*_closed_sessions.pop(self.viewer))
        else:
            for layer in self.viewer.layers:
                self._adopt_dataset(layer)

    # ---- building ----------------------------------------------------------------

    def _build(self) -> None:
        self.settings = SettingsForm()
        self.panel = QueryPanel()
        self.review = ReviewPanel()
        self.review.setVisible(False)
        self.summary = RoundSummary()
        self.summary.setVisible(False)  # no empty chart before a session
        self.view = QueryView(self.runner, self.panel, self._reviewing, self)
        self.sync = CanvasSync(self.runner, self)
        self.flow = RoundFlow(self.runner, self.panel, self.view, self.sync, self.summary,
                              self.review, self.settings.review_above,
                              lambda: self.proposal, self)
        self.confirm, self.confirm_text = self.flow.confirm, self.flow.confirm_text
        self._wire()

        busy = BusyBar()
        self.status, self.progress = busy.status, busy.progress
        self.cancel_button = busy.cancel_button
        self.cancel_button.clicked.connect(self.runner.cancel)
        self.flow.said.connect(busy.say)
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
        self._busy = busy
        outer.addWidget(scroll)
        # Keys alone: Tab from the review table (whose own Tab walks no
        # cells) goes to Finish round, which ends a round after Review first.
        QWidget.setTabOrder(self.review.table, self.panel.finish_button)

    def _wire(self) -> None:
        """The signals between the parts."""
        self.settings.start.changed.connect(self.start)
        self.panel.answered.connect(self.flow.answer)
        self.flow.failed.connect(self._on_error)
        self.panel.moved.connect(self.view.move)
        self.panel.undo_requested.connect(lambda undo: self.undo() if undo else self.redo())
        self.panel.finish_requested.connect(self.flow.finish_early)
        self.panel.recalled.connect(self.view.recall)
        self._escape = EscapeKey(self.view.recall, self)
        self._keys_kept = KeysKept(self)
        self.review.selected.connect(self.show_change)
        self.review.decided.connect(self.decide)
        self.view.labels_added.connect(lambda layer: layer.events.paint.connect(
            self.sync.on_paint))
        self.view.image_shown.connect(self._on_image_shown)
        self.view.unreadable.connect(self._on_unreadable)
        self.panel.browser.chosen.connect(self.browse)
        self.sync.stepped.connect(self._stepped)
        self.sync.relabelled.connect(self.view.relabelled)
        self.flow.proposal_reset.connect(self._reset_proposal)
        self.flow.review_changed.connect(self._show_review)

    def _reviewing(self) -> bool:
        """Whether the review of the LCM's changes has the keys (A, R, ↑/↓)."""
        return self.window().focusWidget() is self.review.table

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
        """Disconnect from the viewer, stop the workers and close the session
        (the panel closes). The session's layers leave the viewer: a stroke or
        Ctrl+Z on them would reach a session no longer open. Start / resume
        in a new panel goes on where it was."""
        if self.runner.closed:
            return
        self._idle_timer.stop()
        self._fit_timer.stop()
        self.view.stop()
        self.viewer.scene.camera.events.disconnect(self.view.camera_moved)
        self.viewer.layers.events.disconnect(self.view.layers_changed)
        self._content.removeEventFilter(self)
        self._escape.deleteLater()  # and with it, its watch on the canvas
        self._keys_kept.stop()
        self._keys_kept.deleteLater()
        self.viewer.layers.events.inserted.disconnect(self._adopt_dataset)
        self.settings.review_above.changed.disconnect(self._keep_panel_settings)
        session = self.session
        if session is not None:
            _closed_sessions[self.viewer] = (session.dataset.root, session.out,
                                             session.dataset.labels_dir, session.config)
        self.runner.cleanup()
        if self.presenter is not None:
            self.presenter.close()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.cleanup()
        super().closeEvent(event)

    def event(self, event) -> bool:
        # The dock's × (napari's remove_dock_widget) takes the panel out of
        # its dock, neither closing nor deleting it: it ends here.
        if event.type() == QEvent.ParentChange and self.parent() is None:
            try:
                self.cleanup()
            except Exception as e:  # noqa: BLE001 (say it; Qt's event handler cannot)
                show_error(f"Closing the session failed: {e}")
        return super().event(event)

    # ---- state -------------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        return self.runner.session

    @property
    def busy(self) -> bool:
        """A long step runs: the queries cannot be answered meanwhile."""
        return self.runner.busy

    @property
    def query_index(self) -> int | None:
        """The query the panel asks, answerable; None while none is."""
        return self.view.query_index

    @property
    def query_shown(self):
        """Signal (query index) once a query is drawn and can be answered."""
        return self.view.query_shown

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
        self._busy.set_busy(busy)
        self.settings.start.enabled = not busy
        if busy and self.session is not None:
            self.panel.set_active(False)
        self._idle_timer.start()

    def _clear_status(self) -> None:
        """A new change: the status line no longer speaks of an earlier one
        (an undo, an export); while a step runs it says how far that is."""
        self._busy.say("")

    def _on_error(self, message: str) -> None:
        """A step failed: a napari notification (the message alone: the
        workers no longer raise their errors again, with a traceback, in the
        main thread), and the widget goes on where it can."""
        message = self._explained(message)
        show_error(message)
        self._on_failure(message)

    def _explained(self, message: str) -> str:
        """``message``, and what to do where a folder the session reads is
        gone (moved or deleted while it was open): each file of it would
        fail alike."""
        if self.session is not None:
            for what, folder in self.session.dataset.inputs.items():
                if not Path(folder).exists():
                    return (f"{message}. {what[0].upper()}{what[1:]} {folder} is gone: put "
                            "it back there, then press Start / resume (the session's own "
                            "labels are safe).")
        return message

    def _on_failure(self, message: str) -> None:
        """A step failed or was stopped: say so, and ask the query again."""
        self.status.setText(message)
        if self.session is None:  # it did not open
            self.panel.invite()
            return
        if self.session.phase == "query":
            self._ask_again(keep_class=False)
        elif not self.busy:  # no longer "training the model…"
            self.panel.say(message)

    def _ask_again(self, keep_class: bool = True) -> None:
        """A step that asked nothing (an export, a failure) turned the panel
        off while it ran: the round's query can be answered again."""
        self.show_query(self.view.wanted if self.view.wanted is not None else 0, keep_class)

    # ---- the session ---------------------------------------------------------------

    def start(self) -> None:
        """Open the session of the chosen folders (resume) or start one."""
        if self.busy:
            return
        if self.session is not None:
            self.flow.next_step()
            return
        try:
            dataset, session_dir, labels_dir = self.settings.folders()
            config = self.settings.config()
        except ValueError as e:  # said beside the button too: a toast may be covered
            show_error(str(e))
            self.status.setText(f"Nothing started: {e}")
            return
        parent = session_dir.expanduser().absolute().parent
        if not parent.exists() and QMessageBox.question(
                self, "Start", f"{session_dir} does not exist, nor does the folder it would "
                f"be made in, {parent}. Create them and start the session there?",
                QMessageBox.Yes | QMessageBox.No, QMessageBox.No) != QMessageBox.Yes:
            self.status.setText("Nothing started: choose the session folder.")
            return  # a mistyped path gets no folders
        self.panel.say(OPENING)
        self.runner.run(open_session(session_dir, dataset, config, labels_dir),
                        self._on_started,
                        "Opening the session",
                        on_closed=lambda session: session.close())  # the panel closed

    def _on_started(self, session: Session) -> None:
        self.runner.session = session
        differing = self.settings.show_config(  # a resumed session's own
            session.config, session.panel_settings())
        self._keep_panel_settings()  # a new session's are the form's
        self.settings.review_above.changed.connect(self._keep_panel_settings)
        self.settings.lock()
        self.presenter = LayerPresenter(self.viewer, session.dataset.classes, session.method,
                                        undo=self.undo, redo=self.redo)
        self.view.presenter = self.sync.presenter = self.flow.presenter = self.presenter
        for canvas in canvases(self.window()):
            canvas.installEventFilter(self._escape)
            canvas.installEventFilter(self._keys_kept)
        self.viewer.scene.camera.events.connect(self.view.camera_moved)
        self.viewer.layers.events.connect(self.view.layers_changed)
        self.runner.beside(warm_up, session.dataset.classes, self.presenter.specs,
                           then=lambda _: self.presenter.prepare())
        self.panel.set_classes(session.dataset.classes)
        self.panel.browser.set_images(session.dataset.names)
        self.review.setVisible(session.method.lcm)
        self.flow.show_history()
        # In the status line, not a napari notification: closing, one hands
        # the keyboard focus to the canvas, and the answer keys stop working.
        # What the person did not ask for stays in front of the training that
        # may follow, until the first change.
        kept = (f"It keeps its own settings, not the form's: {'; '.join(differing)}."
                if differing else "")
        moved = session.moved_note()
        left_out = session.dataset.left_out_note()  # begins with a count
        left_out = f"{left_out}." if left_out else ""
        self._busy.say(" ".join(filter(None, (
            f"Session in {session.out}: round {session.round}.", kept, moved, left_out))),
            keep=bool(kept or moved or left_out))
        self.panel.say("Adding the images and labels to napari…")
        # Training once the layers are added: beside it, napari takes twice
        # as long to add each one, and the canvas freezes meanwhile.
        self.presenter.when_ready(self.flow.next_step)

    def _keep_panel_settings(self) -> None:
        """The review limit, changed while the session runs, is the session's
        the next time it opens."""
        if self.session is not None and not self.session.read_only:
            self.session.save_panel_settings(self.settings.panel_settings())

    # ---- showing images and queries (QueryView) -------------------------------------

    def show_query(self, index: int, keep_class: bool = False) -> None:
        """Show query ``index`` (:meth:`QueryView.show_query`)."""
        self.view.show_query(index, keep_class)

    def show_image(self, name: str, then=None) -> None:
        """Show image ``name``, then call ``then()`` (:meth:`QueryView.show_image`)."""
        self.view.show_image(name, then)

    def browse(self, name: str) -> None:
        """Show image ``name`` whole, chosen from the panel's list of images."""
        self.view.show_image(name, self.presenter.fit)

    def query_on_screen(self) -> bool:
        """Whether the canvas shows the panel's query (:meth:`QueryView.query_on_screen`)."""
        return self.view.query_on_screen()

    def finish_round(self, confirmed: bool = False) -> None:
        """Apply the LCM, measure and log the round (:meth:`RoundFlow.finish_round`)."""
        self.flow.finish_round(confirmed)

    # ---- answering -------------------------------------------------------------------

    def answer(self, cls: int) -> None:
        """Answer the shown query with ``cls`` (:meth:`RoundFlow.answer`)."""
        self.flow.answer(cls)

    def undo(self) -> None:
        """Take back the session's last change, wherever it was, and show it."""
        self.sync.undo()

    def redo(self) -> None:
        self.sync.redo()

    def _stepped(self, event, undo: bool) -> None:
        if event is None:
            finished = self.session.round - 1  # its answers are final, undone no more
            self._busy.say(
                "Nothing to redo." if not undo else "Nothing to undo." if finished < 1 else
                f"Nothing to undo in round {self.session.round}: the rounds finished "
                f"(up to round {finished}) are final.")
            return
        self._busy.say(f"{'Undone' if undo else 'Redone'}: {step_text(event)}.")
        self._proposed_again(event, undo)
        redone = not undo and event.kind in DECISION_EVENTS
        if redone:  # decided again: the row after it current, as after the decision
            self.review.leaving(event.changes[0])
        self.sync.changed(event.images)
        self._show_review()
        if event.query is not None and self.session.phase == "query" and not self.busy:
            self.show_query(event.query)  # (while the checks are chosen: asked after them)
        elif event.changes and not redone:  # a decision undone, or a round's LCM
            # changes: the first, the review's current row too, so that A and R
            # act on the change shown
            self.review.select(event.changes[0], quiet=True)
            self.show_change(event.changes[0])
        elif event.images and self.presenter.name not in event.images:
            self.show_image(event.images[0])

    # ---- the LCM review -------------------------------------------------------------

    def _proposed_again(self, event, undo: bool) -> None:
        """A decision on this round's proposals undone: they are proposed
        again (redone: decided again)."""
        if event.kind in DECISION_EVENTS and event.round == self.session.round:
            self._set_proposed([c for c in event.changes if c not in event.applied_removed],
                               proposed=undo)

    def _set_proposed(self, changes: list, proposed: bool) -> None:
        """``changes`` back in the LCM's proposal (``proposed``) or out of it
        (decided), at once, not once the LCM re-runs."""
        if self.proposal is None:
            return
        keys = {c.key for c in changes}  # the LCM may have re-run since: by region
        kept = [u for u in self.proposal.updates if u.key not in keys]
        self.proposal.updates = kept + changes if proposed else kept
        self.flow.proposal_changed(self.proposal)

    def _reset_proposal(self) -> None:
        self.proposal = None

    def _on_proposal(self, proposal) -> None:
        self.proposal = proposal
        self._show_review()
        self.flow.proposal_changed(proposal)

    def _show_review(self) -> None:
        session = self.session
        if not session.method.lcm:
            return
        proposed = self.proposal.updates if self.proposal is not None else []
        self.review.show_changes(session.dataset.classes, proposed, session.lcm_applied,
                                 how_sure(self.proposal, session.config.lcm.target_precision),
                                 updating=self.proposal is not None
                                 and not session.is_current(self.proposal))
        self._draw_changes()

    def _draw_changes(self) -> None:
        if self.presenter is not None and self.presenter.name is not None:
            self.presenter.show_changes(self.review.changes, self.review.current())

    def _on_unreadable(self, message: str) -> None:
        """An image asked for could not be read: say why, and list the image
        the canvas still shows. The query, if any, stays as it was."""
        message = self._explained(message)
        show_error(message)
        self.status.setText(message)
        if self.presenter is not None and self.presenter.name is not None:
            self.panel.browser.shown(self.presenter.name)

    def _on_image_shown(self) -> None:
        """The canvas shows another image: its LCM changes drawn, its name in the list."""
        self._draw_changes()
        self.panel.browser.shown(self.presenter.name)

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
        """Accept or reject LCM changes (one journal event), also while the
        next model trains; not while a round is being finished."""
        if not changes:
            return
        session = self.session
        if not session.can_review:
            self._busy.say(review_waits(session.round))
            return
        selected = self.review.current()
        if selected is not None and selected.image != self.presenter.name:
            # Decided on what the canvas shows: the first press shows the change.
            self.show_change(selected)
            self._busy.say(f"The canvas showed another image: the change on "
                           f"{selected.image} is shown now; decide again.")
            return
        self.runner.write(session.accept_lcm if accept else session.reject_lcm, changes,
                          then=lambda event: self._decided(event, changes, accept))

    def _decided(self, event, changes: list, accept: bool) -> None:
        if event is None:
            return
        self._set_proposed(changes, proposed=False)
        self.sync.changed(event.images)
        self._show_review()
        self._busy.say(f"{'Accepted' if accept else 'Rejected'} "
                       f"{plural(len(changes), 'LCM change')}.")

    # ---- export ---------------------------------------------------------------------------

    def _ask_export(self) -> None:
        if self.session is None:
            show_error("Start a session first.")
            return
        classes = self.session.dataset.classes
        choice = ask_export(self, lambda folder, format: self.session.check_export(
            folder, format, overwrite=True),
            {f: why for f in EXPORT_FORMATS if (why := format_problem(f, classes))})
        if choice is None:  # not a word left saying an earlier export was this one
            self.status.setText("Nothing exported.")
            self._back_to_query()
        else:
            self.export(*choice)

    def export(self, folder: Path, format: str = "palette", overwrite: bool = False) -> None:
        """Write the corrected labels to ``folder`` in ``format`` (one of the
        engine's ``EXPORT_FORMATS``) in a worker. A folder that is not empty
        is refused unless ``overwrite``."""
        folder = Path(folder)
        if not overwrite and folder.is_dir() and any(folder.iterdir()):
            show_error(f"{folder} is not empty; choose an empty folder.")
            self._back_to_query()
            return
        self.runner.run(self.session.export(folder, format=format, overwrite=overwrite),
                        lambda out: self._exported(f"Exported the labels ({format}) to {out}"),
                        "Exporting")

    def _exported(self, message: str) -> None:
        self.status.setText(message)
        self._back_to_query()

    def _back_to_query(self) -> None:
        """After an export, done or not: the round's query takes the keys
        again (the focus was left on the export's button)."""
        if self.session is not None and self.session.phase == "query" and not self.busy:
            self._ask_again()
