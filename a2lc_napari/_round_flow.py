"""The round flow: train and rank, ask the queries, then the checks of the
LCM, finish with the LCM, again.

Each long step runs in the session runner's step worker; the flow takes
the next one when a step ends, and before the LCM changes more regions
than the settings allow without a look, it asks (:attr:`RoundFlow.confirm`).
"""
from __future__ import annotations

from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

from ._query_view import label_name
from ._review import plural, vouched
from ._summary import class_chart

#: After the round's last answer, how long the round waits before it ends
#: (ms): its end cannot be undone, and a slip on that answer still can be.
ROUND_END_WAIT_MS = 3000


class RoundFlow(QObject):
    """Takes the session from round to round.

    ``presenter`` is set once a session is open; ``proposed()`` gives the
    LCM's proposal now (None before the first). Signals: :attr:`proposal_reset`
    (a round opens or ends: the LCM's proposal is no longer current),
    :attr:`review_changed` (the LCM's changes to show again), :attr:`failed`
    (an answer could not be written: the message), :attr:`said` (what an
    answer recorded, or what a round's end did, in words for the status
    line, and whether it stays in sight through the steps that follow: the
    round's last answer, the round's end).
    """

    proposal_reset = Signal()
    review_changed = Signal()
    failed = Signal(str)
    said = Signal(str, bool)

    def __init__(self, runner, panel, view, sync, summary, review, review_above, proposed,
                 parent=None):
        super().__init__(parent)
        self.runner, self.panel, self.view, self.sync = runner, panel, view, sync
        self.summary, self.review = summary, review
        self.review_above, self.proposed = review_above, proposed
        self.presenter = None
        self._answering: set[int] = set()  # queries whose answers are being written
        self.confirm = QWidget()  # "apply N LCM changes?" before a round ends
        self.confirm_text = QLabel()
        self.confirm_text.setWordWrap(True)
        apply_all, review_first = QPushButton("Apply them"), QPushButton("Review first")
        review_first.setAutoDefault(True)  # Enter presses it once it has the keys
        self._confirm_early = False  # the confirm came from "Finish round"
        self._confirm_count = 0  # the changes it says the LCM will make
        self._agreed = 0  # ... when the person pressed Apply them
        self._reviewing = False  # "Review first" pressed: Finish round applies them
        self._confirm_buttons = (apply_all, review_first)
        apply_all.clicked.connect(self._apply_all)
        review_first.clicked.connect(self._review_first)
        row = QHBoxLayout(self.confirm)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.confirm_text, 1)
        row.addWidget(apply_all)
        row.addWidget(review_first)
        self.confirm.setVisible(False)
        self._chart_drawing = self._chart_again = False  # one chart at a time
        summary.ink_changed.connect(self.draw_chart)
        self._ending = QTimer(self, singleShot=True)  # the wait after the last answer
        self._ending.timeout.connect(self._end_now)

    @property
    def session(self):
        return self.runner.session

    def show_history(self) -> None:
        """The round table and the class chart (drawn in a worker)."""
        self.summary.setVisible(True)
        history = list(self.session.history)
        self.summary.show_table(history, self.session.method.lcm)
        self.draw_chart()

    def draw_chart(self) -> None:
        """The class chart of the rounds so far, in the panel's ink, drawn in a
        worker; nothing before a round has finished. One chart at a time
        (each holds one of the threads napari's workers share): a chart
        asked for meanwhile is drawn once the one in hand is done, from the
        rounds and the ink of then."""
        if self.runner.closed or self.session is None or not self.session.history:
            return
        if self._chart_drawing:
            self._chart_again = True
            return
        self._chart_drawing, self._chart_again = True, False
        self.runner.beside(class_chart, list(self.session.history),
                           self.session.dataset.classes, self.summary.ink(),
                           then=self._show_chart)

    def _show_chart(self, rgba) -> None:
        self._chart_drawing = False
        if self._chart_again:
            self.draw_chart()  # the rounds or the ink changed meanwhile
        elif rgba is not None:  # else drawing it failed, and the status line says so
            self.summary.show_chart(rgba)

    def next_step(self) -> None:
        """Take the session's next step: train and rank, ask, or finish a round."""
        if self.runner.busy:  # Start / resume pressed while the layers were being added
            return
        session = self.session
        phase, round_ = session.phase, session.round
        if phase == "train":
            self.view.query_index = None
            if self.presenter.name is not None:
                self.presenter.hide_query()
            self.panel.say(f"Round {round_}: training the model on the current labels "
                           "and ranking the regions…")
            if self.presenter.name is None:  # the canvas shows an image meanwhile, not black
                self.view.show_image(session.dataset.names[0])
            self.runner.run(session.prepare_round(), self._on_prepared,
                            f"Preparing round {round_}")
        elif phase == "query":
            self._on_prepared(None)
        else:
            self.finish_round(confirmed=True)

    def _on_prepared(self, _) -> None:
        session = self.session
        self.proposal_reset.emit()
        if session.next_query() is None and session.checks_due:  # resumed with all answered
            self._ask_checks()
            return
        self.view.show_query((session.next_query() or session.queries[0]).index)
        self.runner.propose_lcm()
        self.review_changed.emit()
        if session.next_query() is None:  # resumed with all answered, checks too
            self.finish_round()  # as after the last answer: its end, or the question first

    def answer(self, cls: int) -> None:
        """Answer the shown query with class ``cls`` and show the next one at
        once; the answer is written meanwhile. Once the last one is written,
        ask the round's checks of the LCM, then finish the round."""
        view = self.view
        if not view.can_answer():
            return
        if not view.query_on_screen():  # the first key brings it back, the next answers
            view.recall()
            return
        session, index = self.session, view.query_index
        if session.queries[index].answer == cls and index not in self._answering:
            self._after_answers()  # the same answer again: nothing to write or undo
        else:
            self._answering.add(index)
            self.runner.write(session.answer, {index: cls},
                              then=lambda event: self._answered(index, event),
                              failed=lambda message: self._answer_failed(index, message))
        queries, n = session.queries, len(session.queries)
        left = [(index + k) % n for k in range(1, n)
                if queries[(index + k) % n].answer is None
                and (index + k) % n not in self._answering]
        if left:
            view.show_query(left[0])
        # else the round ends once the answers are written (_answered)

    def _answered(self, index: int, event) -> None:
        self._answering.discard(index)
        # What was recorded, in words: a key pressed by mistake shows at once.
        q, classes = self.session.queries[index], self.session.dataset.classes
        kept = "as it was" if q.answer == q.label else f"was {label_name(q.label, classes)}"
        self.said.emit(f"Answered query {index + 1} of round {event.round}: "
                       f"{label_name(q.answer, classes)} ({kept}).", self._all_answered())
        self.sync.changed(event.images)
        self._after_answers()

    def _all_answered(self) -> bool:
        """The round's queries are all answered, and the answers written."""
        return not self._answering and self.session.next_query() is None

    def _after_answers(self) -> None:
        """Once the round's answers are all written: its checks, or its end."""
        if self._all_answered():
            if self.session.checks_due:
                self._ask_checks()
            else:
                self._end_soon()

    def _end_soon(self) -> None:
        """Finish the round once :data:`ROUND_END_WAIT_MS` have passed; an
        answer taken back meanwhile keeps it open (:meth:`finish_round`)."""
        if not ROUND_END_WAIT_MS:
            self.finish_round()
            return
        round_ = self.session.round
        self.view.hide_query()
        # The panel keeps the keys: Ctrl+Z there still takes the answer back.
        self.panel.reword(f"Round {round_}: every query is answered. The round ends in "
                          f"{ROUND_END_WAIT_MS / 1000:g} s, for good; until then Ctrl+Z "
                          "takes its last answer back.", None)
        self._ending.start(ROUND_END_WAIT_MS)

    def _end_now(self) -> None:
        if self.runner.closed:
            return
        if self.runner.busy:  # a step the person started meanwhile (an export)
            self._ending.start(ROUND_END_WAIT_MS)
        else:
            self.finish_round()

    def _ask_checks(self) -> None:
        """Add the round's last queries, those that check the LCM, and show
        the first; finish the round where none could be added."""
        if self.runner.busy:
            return
        if self.runner.writing:  # after the answers still being written
            self.runner.after_writes(self._ask_checks)
            return
        session = self.session
        self.panel.say(f"Round {session.round}: choosing its last {session.checks_due} "
                       "queries, checks of what the LCM would change…")
        self.runner.run(session.ask_checks(), self._on_checks,
                        f"Choosing round {session.round}'s checks")

    def _on_checks(self, added) -> None:
        reopened = self.session.next_query()  # an answer taken back meanwhile
        if added or reopened is not None:
            self.view.show_query(added[0].index if added else reopened.index)
            self.runner.propose_lcm()
        else:
            self.finish_round()

    def _answer_failed(self, index: int, message: str) -> None:
        self._answering.discard(index)
        self.view.wanted = index
        self.failed.emit(message)

    def finish_round(self, confirmed: bool = False, shown: int | None = None,
                     early: bool = False) -> None:
        """Apply the LCM, measure and log the round, then prepare the next one.

        Above the settings' limit of LCM changes, first say how many and let
        the person review them or apply them (``confirmed``); ``shown``: the
        query to show meanwhile, where none is shown (the LCM's count hid it).
        Unless ``early`` (the person's "Finish round"), a query whose answer
        was taken back meanwhile keeps the round open: it is shown again."""
        self._ending.stop()  # ends now, or asks first
        session = self.session
        if self.runner.busy or session is None:
            return
        if self.runner.writing:  # after the answers and strokes still being written
            self.runner.after_writes(lambda: self.finish_round(confirmed, shown, early))
            return
        if self.runner.lcm_busy:
            # Counted from every answer, the last ones included: the round
            # applies what the LCM proposes from all of them. No answer meanwhile.
            shown = self.view.query_index if self.view.query_index is not None else shown
            self.view.hide_query()
            self.panel.say(f"Round {session.round}: counting the LCM's changes with the "
                           "last answers…")
            self.runner.after_lcm(lambda: self.finish_round(confirmed, shown, early))
            return
        reopened = session.next_query() if session.phase == "query" else None
        if reopened is not None and not early:  # undone while the round was ending
            self.confirm.setVisible(False)
            self._reviewing = False
            self.view.show_query(reopened.index)
            return
        proposal = self.proposed()
        count = len(proposal.updates) if proposal is not None else 0
        if self._reviewing and early:
            confirmed = True  # Finish round, pressed after Review first
            self.panel.setFocus()  # reviewed: the next round's query takes the keys
        elif confirmed and not self.confirm.isHidden() and count != self._agreed:
            confirmed = False  # answers since changed the count: asked again, with it
        if not confirmed and session.phase == "query" and count > self.review_above.value:
            self._reviewing = False  # asked again, with the count as it is now
            self._say_count(proposal)
            self.confirm.setVisible(True)
            self._confirm_early = early
            if self.view.query_index is None:
                # The panel answerable again (its Finish round too, after Review
                # first): the query shown before the count, else the round's last.
                self.view.show_query(shown if shown is not None else
                                     session.queries[-1].index, keep_class=True)
            self.panel.keep_in_sight(self.confirm)  # the round waits for it
            if not early:  # the last answer's keys go to the safer choice
                self._confirm_buttons[1].setFocus()
            return
        self.confirm.setVisible(False)
        self._reviewing = False
        self.view.hide_query()
        self.panel.say(f"Round {session.round}: applying the LCM…")
        self.runner.run(session.finish_round(), self._on_finished,
                        f"Finishing round {session.round}")

    def _apply_all(self) -> None:
        self._agreed = self._confirm_count
        self.finish_round(confirmed=True, early=self._confirm_early)

    def _say_count(self, proposal) -> None:
        """The confirm's question: how many regions ``proposal`` changes, how sure."""
        self._confirm_count = len(proposal.updates)
        for button in self._confirm_buttons:
            button.setVisible(True)
        unsure = proposal.lower_precision is None or proposal.lower_precision < 50
        self.confirm_text.setText(" ".join(filter(None, (
            f"The LCM will change {plural(self._confirm_count, 'region')} at the end of "
            "this round.", vouched(proposal),
            "Many may be wrong: review them first." if unsure else ""))))

    def proposal_changed(self, proposal) -> None:
        """A new proposal (answers given or changes decided meanwhile): the
        confirm, where asked, says its count, or what is left to review."""
        if self.confirm.isHidden() or proposal is None:
            return
        if self._reviewing:
            self._say_review(len(proposal.updates))
        else:
            self._say_count(proposal)

    def finish_early(self) -> None:
        """"Finish round": with queries not yet answered, first ask whether
        to finish (a finished round cannot be undone)."""
        session = self.session
        if self.runner.busy or session is None or session.phase != "query":
            return
        left = sum(q.answer is None for q in session.queries) + session.checks_due
        total = len(session.queries) + session.checks_due
        if left and QMessageBox.question(
                self.panel, "Finish round",
                f"{left} of round {session.round}'s {total} queries "
                f"{'is' if left == 1 else 'are'} not answered yet. Finish the round "
                "now? A finished round cannot be undone.",
                QMessageBox.Yes | QMessageBox.No, QMessageBox.No) != QMessageBox.Yes:
            self.view.recall()  # the keys back to the query, not on Finish round
            return
        self.finish_round(early=True)

    def _review_first(self) -> None:
        """The review takes the keys; the confirm says how the round then ends."""
        self._reviewing = True
        for button in self._confirm_buttons:
            button.setVisible(False)
        self._say_review(self._confirm_count)
        self.review.table.setFocus()
        self.panel.keep_in_sight(self.review.table)
        if self.review.changes:
            self.review.table.setCurrentCell(0, 0)

    def _say_review(self, left: int) -> None:
        """The confirm while the changes are reviewed: ``left`` still to decide."""
        self.confirm_text.setText(
            "Review the LCM's changes in the table below: A accepts one, R rejects it. "
            "Then Finish round (Tab from the table) applies those not rejected." if left else
            "Every change the LCM proposed is decided: Finish round (Tab from the table) "
            "ends the round.")

    def _on_finished(self, record) -> None:
        corrected = (f"Round {record.round} ended: {plural(record.manual_changes, 'answer')} "
                     "of yours changed a label")
        accepted = (f", and {record.lcm_accepted} more you accepted in the review"
                    if record.lcm_accepted else "")
        self.said.emit(f"{corrected}, the LCM changed {plural(record.lcm_changes, 'region')}"
                       f"{accepted}." if self.session.method.lcm else f"{corrected}.", True)
        self.proposal_reset.emit()
        self.sync.changed(self.session.dataset.names)  # the LCM may have changed any
        self.show_history()
        self.review_changed.emit()
        self.next_step()
