"""The journal of a session: every change to the labels, undoable in order.

Each change is an :class:`~a2lc_napari.engine.state.Event` that holds its
effects on the state as deltas, with the pixels it changed kept in the
session folder's journal files, so that undo and redo follow the order in
which the person acted, across images. The pixels go to disk first (the
journal file, then the labels), the state last: a kill loses at most the
event being written, and :meth:`Journal.roll_back_unrecorded` takes back
the pixels of an event whose state was never saved.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .label_changes import LabelChange, read_changes, write_changes
from .label_store import LabelStore
from .session_folder import SessionFolder
from .state import Event, EventKind, SessionState


class Journal:
    """Records events on a session's state and labels, and undoes and redoes them.

    It works on ``state`` in place, writes the labels through ``store``,
    and ``save()`` writes the state. It holds no reference to the session
    (a cycle would keep a dropped session's folder locked). The caller
    holds the session's lock.
    """

    def __init__(self, state: SessionState, folder: SessionFolder, store: LabelStore,
                 save: Callable[[], None]):
        self.state, self.folder, self.store = state, folder, store
        self._save = save

    def record(self, kind: EventKind, pixels: dict[str, LabelChange] | None = None,
               **deltas) -> Event:
        """Make the label changes ``pixels`` (``{image: change}``), add the event that
        made them, apply its ``deltas`` to the state and save."""
        seq = len(self.state.journal)
        changes = {name: c for name, c in (pixels or {}).items() if c}
        if changes:
            write_changes(self.folder.journal(seq), changes)
            for name, change in changes.items():
                self.store.write(name, change.applied(self.store.labels(name)))
        event = Event(seq=seq, kind=kind, round=self.state.round, images=tuple(changes),
                      **deltas)
        self._apply_deltas(event, reverse=False)
        self.state.journal.append(event)
        self.state.undo_stack.append(seq)
        self.state.redo_stack.clear()
        self._save()
        return event

    def painted(self, image: str, round_: int) -> np.ndarray:
        """(n,) int64 flat pixel indices of ``image`` that strokes of round
        ``round_`` changed and that are not undone."""
        parts = [read_changes(self.folder.journal(e.seq))[image].index
                 for e in self.state.journal
                 if e.kind == "hand_edit" and e.round == round_ and not e.undone
                 and image in e.images]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def answered(self, image: str, index: int, round_: int) -> list[LabelChange]:
        """The pixels of ``image`` that the answers to query ``index`` of
        round ``round_`` changed and that are not undone, an answer's change
        at a time, oldest first (each may hold other queries' regions too)."""
        return [read_changes(self.folder.journal(e.seq))[image] for e in self.state.journal
                if e.round == round_ and not e.undone and image in e.images
                and any(a.index == index for a in e.answers)]

    def roll_back_unrecorded(self) -> None:
        """Take back the pixels of an event that a kill stopped before its
        state was saved (its journal file exists, its event does not)."""
        path = self.folder.journal(len(self.state.journal))
        for name, change in read_changes(path).items():
            self.store.write(name, change.applied(self.store.labels(name), reverse=True))
        path.unlink(missing_ok=True)

    def undo(self) -> Event | None:
        """Take back the last change; None when there is nothing to undo."""
        return self._step(self.state.undo_stack, self.state.redo_stack, reverse=True)

    def redo(self) -> Event | None:
        """Make the last undone change again; None when there is none."""
        return self._step(self.state.redo_stack, self.state.undo_stack, reverse=False)

    def _undoable(self, stack: list[int]) -> bool:
        if not stack:
            return False
        event = self.state.journal[stack[-1]]
        # Answers change the queries: only while the round takes answers.
        return not event.answers or (event.round == self.state.round
                                     and self.state.phase == "query")

    def _step(self, source: list[int], target: list[int], reverse: bool) -> Event | None:
        if not self._undoable(source):
            return None
        event = self.state.journal[source.pop()]
        changes = read_changes(self.folder.journal(event.seq))
        for name, change in changes.items():
            self.store.write(name, change.applied(self.store.labels(name), reverse=reverse))
        if event.kind == "hand_edit" and event.round == self.state.round:
            # the round's painted pixels count the strokes in place only
            painted = sum(c.index.size for c in changes.values())
            self.state.hand_pixels += -painted if reverse else painted
        self._apply_deltas(event, reverse=reverse)
        event.undone = reverse
        target.append(event.seq)
        self._save()
        return event

    def _apply_deltas(self, event: Event, reverse: bool) -> None:
        """Make (or take back) an event's effects on the state, not its pixels."""
        state = self.state
        for change in event.answers:
            q = state.queries[change.index]
            q.answer, q.rewrite = change.before if reverse else change.after
        made, unmade = event.manual_added, event.manual_removed
        if reverse:
            made, unmade = unmade, made
        for image, region in unmade:
            state.manual[image].remove(region)
        for image, region in made:
            state.manual.setdefault(image, []).append(region)
        for pair in event.rejected_added:
            state.lcm_rejected.remove(pair) if reverse else state.lcm_rejected.append(pair)
        added, removed = event.applied_added, event.applied_removed
        if reverse:
            added, removed = removed, added
        state.lcm_applied = [u for u in state.lcm_applied if u not in removed] + list(added)
