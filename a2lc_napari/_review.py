"""The LCM review: every change the LCM proposes or applied, on all images.

One row per change: image, old → new class, confidence, and whether it is
proposed (this round, not yet written) or applied (written at the end of
the last round); the image cell's tooltip names the region, which the
viewer shows when its row is current. The person walks the rows with the
arrow keys (the viewer follows), and accepts or rejects one change, every
change of one old → new pair, every change on one image, or all of them
(each among the changes of its status).
"""
from __future__ import annotations

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (QAbstractItemView, QGridLayout, QGroupBox, QHeaderView, QLabel,
                            QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout)

from ._query_view import label_name
from .engine.classes import ClassSet

COLUMNS = ("image", "old → new", "conf.", "status")
HEADER_TIPS = ("The image, and the region's number in its tooltip",
               "The region's label now → the LCM's class for it",
               "The LCM's confidence in its class. It orders the changes; it is not the "
               "chance that a change is right: how many are expected right is said above "
               "the table", "Proposed this round, or applied "
               "at the end of the last one (still yours to reject)")

#: Said while the LCM runs again on answers its proposals shown are older than.
UPDATING = "Updating with your latest answers and decisions…"

#: The image column's width is its names' up to this (px); longer names are
#: elided in the middle. Every other column is always as wide as its contents.
#: Narrow, so that the dock leaves the canvas room on a laptop's screen.
IMAGE_MAX_WIDTH = 110

#: (button text, which changes, accept?)
DECISIONS = (("Accept", "one", True), ("Reject", "one", False),
             ("Accept this pair", "pair", True), ("Reject this pair", "pair", False),
             ("Accept this image", "image", True), ("Reject this image", "image", False),
             ("Accept all", "all", True), ("Reject all", "all", False))


def same_as(change, scope: str):
    """A test for the changes of ``scope`` ("one", "pair", "image", "all") as
    ``change``."""
    if scope == "all":  # every one of its status: a round's applied changes taken back
        return lambda c: True
    if scope == "pair":
        return lambda c: (c.old, c.new) == (change.old, change.new)
    if scope == "image":
        return lambda c: c.image == change.image
    return lambda c: c == change


def how_sure(proposal, target: float | None) -> str:
    """What the person reads of how sure the LCM is of its proposal (an
    ``LCMProposal``, or None before the first), at ``target`` precision
    (None: the session's fixed τ)."""
    if proposal is None:
        return ""
    if proposal.tau is None:  # with the engine's reason: why, and what would let it
        return " ".join([f"The LCM proposes nothing this round: the answers so far cannot "
                         f"vouch that {100 * target:.0f}% of its changes would be right."]
                        + ([proposal.reason] if proposal.reason else []))
    if proposal.strict:
        return " ".join(filter(None, (
            f"Too few answers confirmed a label to estimate how many of its changes would "
            f"be right, so this round the LCM proposes only its surest ones (confidence ≥ "
            f"{proposal.tau:g}, beside the answers).", checked(proposal),
            vouched(proposal))))
    if proposal.estimated_precision is None:
        return (f"This round the LCM proposes changes at confidence ≥ {proposal.tau:g}, "
                f"but it would have changed none of the answers held out of its training: "
                f"nothing vouches for its proposals.")
    n = proposal.held_out_changes
    right = round(proposal.estimated_precision * n / 100)
    # Not "of its proposals": those answers were picked as they looked wrong.
    expects = (f"Of the {n} answers it would have changed at confidence ≥ {proposal.tau:g}, "
               f"held out of its training, {'all' if right == n else right} came out right: "
               f"{proposal.estimated_precision:.0f}%, at least "
               f"{proposal.lower_precision:.0f}% with 90% confidence. They were asked because "
               f"they looked wrong, not drawn from its proposals, which may be right less "
               f"often.")
    return " ".join(filter(None, (expects, vouched(proposal), checked(proposal))))


def checked(proposal) -> str:
    """What the person's checks of the LCM's proposals said, in a sentence;
    empty before the first."""
    if not proposal.checks:
        return ""
    return (f"Of its proposals you checked as queries, {proposal.checks_right} of "
            f"{proposal.checks} were right.")


def vouched(proposal) -> str:
    """How many of ``proposal``'s changes the held-out answers vouch for
    (its lower precision bound times their number), in a sentence; empty
    without changes."""
    count = len(proposal.updates)
    if not count:
        return ""
    if proposal.lower_precision is None and proposal.strict:
        return "No check vouches for them yet."
    sure = int((proposal.lower_precision or 0) * count / 100)
    if proposal.strict:  # checks are drawn from the proposals themselves
        return (f"Your checks vouch for {f'at least {sure}' if sure else 'none'} of its "
                f"{plural(count, 'proposal')}.")
    if not sure:
        return (f"The answers held out of its training vouch for none of its "
                f"{plural(count, 'proposal')}.")
    return (f"Were its proposals like those answers, at least {sure} of its "
            f"{plural(count, 'proposal')} would be right.")


def plural(n: int, word: str) -> str:
    """"1 region", "2 regions"."""
    return f"{n} {word}{'' if n == 1 else 's'}"


class _Sorted(QTableWidgetItem):
    """A cell that sorts by ``value`` (a number, a tuple), not by its text."""

    def __init__(self, value, text: str):
        super().__init__(text)
        self.value = value

    def __lt__(self, other):  # noqa: D105
        return self.value < other.value


class ReviewPanel(QGroupBox):
    """The table of the LCM's changes. Emits :attr:`selected` with the change
    of the current row, and :attr:`decided` with ``(changes, accept)``."""

    selected = Signal(object)
    decided = Signal(list, bool)

    def __init__(self, parent=None):
        super().__init__("LCM review", parent)
        self.summary = QLabel("The LCM's changes appear here.")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for col, tip in enumerate(HEADER_TIPS):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table, as keys alone need
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.AscendingOrder)  # by image, the first one first
        self.table.verticalHeader().setVisible(False)
        # Every column in sight, none cut: the table is as wide as its columns
        # (the dock follows), but for the image names, which share what is left.
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.setTextElideMode(Qt.ElideMiddle)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.setMinimumHeight(140)
        self.table.currentCellChanged.connect(lambda *_: self._emit_selected())
        self.table.cellClicked.connect(lambda *_: self._emit_selected())  # the current one too
        self.table.keyPressEvent = self._table_key
        buttons = QGridLayout()
        self._buttons = []  # off while there is nothing to decide
        for i, (text, scope, accept) in enumerate(DECISIONS):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, s=scope, a=accept: self.decide(s, a))
            button.setEnabled(False)
            buttons.addWidget(button, i // 2, i % 2)
            self._buttons.append(button)
        box = QVBoxLayout(self)
        box.addWidget(self.summary)
        box.addWidget(self.table)
        box.addLayout(buttons)
        self.changes: list = []
        self._said = ""  # the summary, but for UPDATING
        self._applied: set = set()  # the changes applied at the last round's end, to review
        self._classes: ClassSet | None = None
        self._next: list = []  # after a decision, the rows that followed it, nearest first
        self._wanted = None  # a change to make current once the table holds it (select)

    def show_changes(self, classes: ClassSet, proposed: list, applied: list,
                     sure: str = "", updating: bool = False) -> None:
        """Fill the table: changes ``proposed`` this round, and ``applied``
        at the end of the last one (still to review); ``sure``: how sure
        the LCM is (:func:`how_sure`); ``updating``: the proposal is older
        than the answers (:meth:`mark_updating`)."""
        current = self.current() if self._wanted is None else self._wanted
        self._classes = classes
        self.changes = [*applied, *proposed]
        self._applied = set(applied)
        held = set(self.changes)  # membership tests in constant time: thousands of rows
        table = self.table
        table.blockSignals(True)
        table.setSortingEnabled(False)
        # Emptied first: Qt looks up each item it replaces among all of the
        # table's, so refilling rows in place takes time quadratic in the rows
        # (minutes for a thousand changes; an undo refills the same rows).
        table.setRowCount(0)
        table.setRowCount(len(self.changes))
        for row, c in enumerate(self.changes):
            status = "applied" if row < len(applied) else "proposed"
            # By image, and within an image by region, whatever order they came in.
            pair = f"{label_name(c.old, classes)} → {label_name(c.new, classes)}"
            cells = (_Sorted((c.image, c.region), c.image), QTableWidgetItem(pair),
                     _Sorted(c.confidence, f"{c.confidence:.3f}"), QTableWidgetItem(status))
            cells[0].setData(Qt.UserRole, row)
            cells[0].setToolTip(f"{c.image}, region {c.region}")
            for col, cell in enumerate(cells):
                table.setItem(row, col, cell)
        table.setSortingEnabled(True)
        self._fit_columns()
        # The same change stays current, quietly (the viewer stays where it is);
        # a decided one gives its place to the row that followed it, shown.
        following = next((c for c in self._next if c in held), None)
        if current not in held and following is not None:
            self._next = []
            table.blockSignals(False)
            self.select(following)
        else:
            self.select(current if current in held else None)
            table.blockSignals(False)
        counts = (f"{len(applied)} applied {'change' if len(applied) == 1 else 'changes'} "
                  f"to review, {len(proposed)} proposed. ↑/↓ walk them, A accepts, "
                  "R rejects." if self.changes else "No LCM changes to review.")
        self._said = f"{counts} {sure}".strip()
        self.summary.setText(self._said)
        if updating:
            self.mark_updating()
        for button in self._buttons:
            button.setEnabled(bool(self.changes))

    def mark_updating(self) -> None:
        """Say that the proposals shown are older than the latest answers:
        answers that come quicker than the LCM runs are in none yet."""
        if self.changes:
            self.summary.setText(f"{self._said} {UPDATING}")

    def _fit_columns(self) -> None:
        """The table at least as wide as its columns need (the image names' up
        to :data:`IMAGE_MAX_WIDTH`)."""
        table, header = self.table, self.table.horizontalHeader()
        needed = [max(table.sizeHintForColumn(c), header.sectionSizeHint(c))
                  for c in range(len(COLUMNS))]
        slack = 2 * table.fontMetrics().averageCharWidth()  # napari's style pads items
        table.setMinimumWidth(min(needed[0], IMAGE_MAX_WIDTH) + slack + sum(needed[1:])
                              + 2 * table.frameWidth()
                              + table.verticalScrollBar().sizeHint().width())

    def current(self):
        """The change of the current row, or None."""
        row = self.table.currentRow()
        if row < 0 or self.table.item(row, 0) is None:
            return None
        return self.changes[self.table.item(row, 0).data(Qt.UserRole)]

    def _in_order(self) -> list:
        """The changes in the table's order (as sorted)."""
        return [self.changes[self.table.item(row, 0).data(Qt.UserRole)]
                for row in range(self.table.rowCount())]

    def select(self, change, quiet: bool = False) -> None:
        """Make ``change`` the current row (None: no row); ``quiet``: without
        emitting :attr:`selected` (the caller shows it). A change the table
        does not hold yet (the LCM's next proposal will) leaves no row
        current, and becomes current once a refill brings it."""
        order = self._in_order()
        self._wanted = None if change in order else change
        blocked = self.table.blockSignals(quiet or self.table.signalsBlocked())
        self.table.setCurrentCell(order.index(change) if change in order else -1, 0)
        self.table.blockSignals(blocked)

    def decide(self, scope: str, accept: bool) -> None:
        """Accept or reject the current change, or all of its pair or image
        among the changes of its status (applied, or proposed)."""
        change = self.current()
        if change is not None:
            self.leaving(change)
            applied = change in self._applied
            self.decided.emit([c for c in self.changes if same_as(change, scope)(c)
                               and (c in self._applied) == applied], accept)

    def leaving(self, change) -> None:
        """``change`` is about to leave the table (decided, or a decision
        redone): where it was current, the row that followed it becomes
        current, and is shown, once the table is refilled without it."""
        if change == self.current():
            order = self._in_order()
            row = order.index(change)
            self._next = [*order[row + 1:], *order[:row][::-1]]

    def _emit_selected(self) -> None:
        if self.current() is not None:
            self._wanted = None  # the person chose another
            self.selected.emit(self.current())

    def _table_key(self, event) -> None:
        key = event.key()
        plain = event.modifiers() == Qt.NoModifier  # Ctrl+A, Shift+R: no decision
        if key in (Qt.Key_Return, Qt.Key_Enter):
            self._emit_selected()
        elif key == Qt.Key_A and plain:
            self.decide("one", True)
        elif key == Qt.Key_R and plain:
            self.decide("one", False)
        else:
            QTableWidget.keyPressEvent(self.table, event)
