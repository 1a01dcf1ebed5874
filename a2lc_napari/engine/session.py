"""A correction session: the round loop of ALC / A²LC, kept in an output folder.

The folder (:mod:`~a2lc_napari.engine.session_folder`) holds everything, so
a session stopped at any moment resumes where it stopped. A round goes
through three phases, driven step by step: :meth:`Session.prepare_round`
(train θ, predict, rank: phase ``"query"``), one :meth:`Session.answer` per
query, then :meth:`Session.ask_checks` (a few more queries that check the
LCM) and their answers, :meth:`Session.finish_round` (LCM, metrics, log:
next round).

Every change to the labels is an event of one journal
(:class:`~a2lc_napari.engine.journal.Journal`), saved with the pixels it
changed, so that :meth:`Session.undo` and :meth:`Session.redo` follow the
order in which the person acted, across images. Labels are written before
the state that records them, and both atomically: a kill loses at most the
event being written. The input dataset folder is never written to.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from .annotator import simulated_answer
from .answers import answer_changes, check_classes, new_manual
from .config import SessionConfig
from .dataset import Dataset
from .errors import DatasetError
from .export import check_export, export_labels
from .image_cache import ImageCache
from .io import outside_inputs, read_json, remove_unfinished_writes, write_json
from .journal import Journal
from .label_pruning import judge_labels, without
from .label_store import LabelStore
from .label_changes import LabelChange
from .lcm_round import (LCMInputs, checks_due, propose_round, record_lcm_apply,
                        record_lcm_review, round_checks)
from .methods import METHODS, OUT_OF_FOLD_RANKINGS, query_ranking
from .model import train_segmenter
from .progress import Progress, Steps
from .region_summary import RegionSummary
from .rounds import (accepted_proposals, label_metrics, manual_mask, pick_queries,
                     queryable_wrong_share, round_log, round_record, session_totals,
                     summarize_regions)
from .session_folder import SessionFolder
from .session_files import make_session_files, read_session_files
from .session_lock import WriterLock, lock_session
from .state import (Event, LCMProposal, LCMUpdate, Phase, Query, RoundRecord,
                    SessionState, state_to_json)


def _locked(method):
    """Run a method under the session's lock: the step worker, the writer
    thread and the LCM worker call one session at the same time."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return run


def _writes(method):
    """Refuse a method that writes to the folder on a session opened read-only."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        if self.read_only:
            raise RuntimeError(f"the session in {self.out} is open read-only (or "
                               "closed): it writes nothing")
        return method(self, *args, **kwargs)
    return run


class Session:
    """An output folder and the state of its correction rounds.

    Use :meth:`create` for a new session and :meth:`open` to resume one. A
    session that writes holds its folder's writer lock
    (:mod:`~a2lc_napari.engine.session_lock`) until :meth:`close`, the end
    of a ``with`` block or the end of the process: a folder has one writer.
    """

    def __init__(self, out: Path, dataset: Dataset, config: SessionConfig,
                 state: SessionState, writer: WriterLock | None = None):
        self.folder = SessionFolder(Path(out))
        self.dataset, self.config, self.state = dataset, config, state
        self.method = METHODS[config.method]
        self._summary: RegionSummary | None = None
        # The last LCM proposal, with the round and inputs it was made from.
        self._proposed: tuple[int, LCMInputs, LCMProposal] | None = None
        self._lock = threading.RLock()
        self._writer = writer
        # Folders followed to their new place as the session opened: old → new.
        self.moved: dict[str, str] = {}
        self._store = LabelStore(self.folder, dataset.classes)
        # Saves through a function of the folder and state, not a method: a
        # journal holding the session would keep a dropped session's folder locked.
        self._journal = Journal(state, self.folder, self._store,
                                functools.partial(_save_state, self.folder, state))

    @property
    def out(self) -> Path:
        return self.folder.root

    @property
    def read_only(self) -> bool:
        """Whether this session only reads: opened so, or closed."""
        return self._writer is None

    def close(self) -> None:
        """Let another writer in; this session writes nothing afterwards."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- creating and opening -------------------------------------------------

    @classmethod
    def create(cls, out: Path, dataset: Dataset, config: SessionConfig,
               executor: Executor | None = None) -> Steps["Session"]:
        """Start a session in ``out`` (must hold no session, nor files a
        session does not write): make every image's regions (on ``executor`` if given), copy
        the pseudo-labels. Raises
        :class:`~a2lc_napari.engine.session_lock.SessionInUse` at once when
        another writer holds ``out``."""
        folder = SessionFolder(Path(out))
        dataset.use_regions(config.regions)
        outside_inputs(folder.root, dataset.inputs)
        folder.check_new()
        writer = lock_session(folder.root)
        try:
            remove_unfinished_writes(folder.root)  # of a creation killed before its state was saved
            state = yield from make_session_files(folder, dataset, config, executor)
            session = cls(folder.root, dataset, config, state, writer)
            session._save()
            return session
        except BaseException:  # a refusal, a failure, or a step generator closed early
            writer.release()
            raise

    @classmethod
    def open(cls, out: Path, read_only: bool = False,
             named: tuple[Path, Path | None] | None = None) -> "Session":
        """Reopen the session in ``out`` where it stopped, as its writer, or
        ``read_only``: that takes no lock, and every write is refused.

        ``named``, the dataset folder and labels folder (or None) the person
        names: where a folder the session recorded is gone and the one named
        holds its images, the session follows it there, says so in
        :attr:`moved`, and saves the new place with its next change (a
        command refused after opening it, for other settings, changes
        nothing; read only, it reads from there this time, and saves nothing).

        Raises :class:`~a2lc_napari.engine.session_lock.SessionInUse` at
        once when another writer holds ``out`` (unless ``read_only``).
        """
        folder = SessionFolder(Path(out))
        if read_only or not folder.state.exists():  # reading says what is missing
            return cls._read(folder, writer=None, named=named)
        writer = lock_session(folder.root)
        try:
            remove_unfinished_writes(folder.root)  # of a writer killed mid-write
            session = cls._read(folder, writer, named)
            session._journal.roll_back_unrecorded()
            return session
        except BaseException:
            writer.release()
            raise

    def moved_note(self) -> str:
        """What :attr:`moved` followed, in words ("" where nothing moved)."""
        return " ".join(f"{old} is gone: the session reads those files from {new} now."
                        for old, new in self.moved.items())

    @classmethod
    def _read(cls, folder: SessionFolder, writer: WriterLock | None,
              named: tuple[Path, Path | None] | None = None) -> "Session":
        dataset, state, moved = read_session_files(folder, named, writer is not None)
        session = cls(folder.root, dataset, state.config, state, writer)
        session.moved = moved
        return session

    # ---- state ----------------------------------------------------------------

    @property
    def round(self) -> int:
        return self.state.round

    @property
    def phase(self) -> Phase:
        """``"train"``, ``"query"`` or ``"lcm"``."""
        return self.state.phase

    @property
    def history(self) -> list[RoundRecord]:
        return self.state.history

    @property
    def queries(self) -> list[Query]:
        return list(self.state.queries)

    @property
    def lcm_applied(self) -> list[LCMUpdate]:
        """The LCM's changes of the last finished round still in place and not
        yet accepted or rejected: a region answered since holds its answer."""
        return [u for u in self.state.lcm_applied if not self.is_manual(u.image, u.region)]

    @property
    def can_review(self) -> bool:
        """Whether the LCM's changes can be accepted or rejected now: not
        while the round is being finished (its changes applied, the round
        logged); again from the next model's training on."""
        return self.phase != "lcm"

    @property
    def checks_due(self) -> int:
        """Queries kept for the end of this round, that :meth:`ask_checks` adds."""
        return self.state.checks_due

    def next_query(self) -> Query | None:
        """The first unanswered query of this round, or None."""
        return next((q for q in self.state.queries if q.answer is None), None)

    def labels(self, name: str) -> np.ndarray:
        """(H, W) uint8 current labels of an image (a copy)."""
        return self._store.labels(name)

    def is_manual(self, image: str, region: int) -> bool:
        return region in self.state.manual.get(image, ())

    def panel_settings(self) -> dict:
        """What the person set in napari's panel for this session that is no
        part of its config and may change while it runs, as
        :meth:`save_panel_settings` kept it (``{"review_above": 2}``); {}
        where nothing was kept."""
        return read_json(self.folder.panel) if self.folder.panel.exists() else {}

    @_writes
    def save_panel_settings(self, settings: dict) -> None:
        """Keep ``settings`` for :meth:`panel_settings` (a file of its own:
        the panel writes it, never a worker)."""
        write_json(self.folder.panel, settings)

    def round_log(self, round_: int) -> dict:
        """The log of a finished round: its queries, LCM updates, reviews and metrics."""
        return read_json(self.folder.log(round_))

    @_locked
    def _save(self) -> None:
        _save_state(self.folder, self.state)

    @property
    def summary(self) -> RegionSummary:
        """This round's per-region summaries (after :meth:`prepare_round`)."""
        if self._summary is None:
            self._summary = RegionSummary.load(self.folder.summary(self.round))
        return self._summary

    # ---- changes to the labels, undoable (kept by the journal) -----------------------

    @_locked
    @_writes
    def undo(self) -> Event | None:
        """Take back the last change, on whatever image it was; None when
        there is nothing to undo. Undo reaches back to the LCM's changes at
        the end of the last round: answers of finished rounds are final."""
        return self._journal.undo()

    @_locked
    @_writes
    def redo(self) -> Event | None:
        """Make the last undone change again; None when there is none."""
        return self._journal.redo()

    # ---- one round ------------------------------------------------------------

    @_writes
    def prepare_round(self, executor: Executor | None = None) -> Steps[None]:
        """Train θ on the current labels, summarise every region (on
        ``executor`` if given), pick the queries."""
        if self.phase != "train":
            raise RuntimeError(f"round {self.round} is already prepared")
        ds, cfg = self.dataset, self.config
        ign, seed = ds.classes.ignore_index, cfg.seed * 1000 + self.round
        images = ImageCache(self.folder.images_dir, cfg.model.max_side)
        ranking = query_ranking(self.method, cfg.confidence, self.round)
        oof_prob, left_out = None, {}
        if cfg.model.prune and ranking in OUT_OF_FOLD_RANKINGS:
            oof_prob, left_out = yield from judge_labels(ds, images, self.labels,
                                                         self.state.manual, seed, executor)

        def training_pair(name):
            labels = self.labels(name)
            if len(left_out.get(name, ())):
                labels = without(labels, ds.regions(name), left_out[name], ign)
            return images.network_image(ds, name), labels

        segmenter = yield from train_segmenter(training_pair, ds.names, ds.classes.num_classes,
                                               ign, cfg.model, seed=seed)
        segmenter.save(self.folder.model)
        summary = yield from summarize_regions(self.folder.model, cfg.model.device, ds, images,
                                               self.folder.labels, ranking, seed, executor,
                                               oof_prob)
        summary.save(self.folder.summary(self.round))
        due = checks_due(cfg, self.method.lcm)
        with self._lock:
            self._summary = summary
            self.state.queries = pick_queries(
                summary, manual_mask(summary, self.state.manual, ds.names), self.method,
                cfg.budget - due, ds.names, ds.classes.ignore_index, ranking)
            self.state.checks_due, self.state.phase = due, "query"
            self._save()

    @_writes
    def ask_checks(self) -> Steps[list[Query]]:
        """Once the round's queries are answered, add :attr:`checks_due`
        more: checks of the LCM, a random sample of the changes it proposes
        from the answers so far, this round's among them, as many as it
        proposes enough for (:func:`~a2lc_napari.engine.lcm_round.round_checks`),
        then the next regions of the ranking. Before its changes are made,
        the checks' answers show whether it may make them.

        Returns the queries added: none while a query is open, or once added.
        """
        with self._lock:
            if self.phase != "query" or not self.checks_due or self.next_query() is not None:
                return []
            inputs = LCMInputs.copy_of(self.state)
        ds, cfg = self.dataset, self.config
        yield Progress(0, 1, "Choosing queries that check the LCM")
        checks = round_checks(self.summary, self.queries, inputs, ds.names, ds.classes,
                              self.round, cfg, self.folder, self.checks_due)
        with self._lock:
            queries = self.state.queries
            # a region painted meanwhile is the person's
            added = [q for q in checks if not self.is_manual(q.image, q.region)]
            if len(added) < self.checks_due:
                taken = manual_mask(self.summary, self.state.manual, ds.names)
                taken[[q.row for q in [*queries, *added]]] = True
                added += pick_queries(self.summary, taken, self.method,
                                      self.checks_due - len(added), ds.names,
                                      ds.classes.ignore_index,
                                      query_ranking(self.method, cfg.confidence, self.round))
            added = [replace(q, index=len(queries) + i) for i, q in enumerate(added)]
            self.state.queries = [*queries, *added]
            self.state.checks_due = 0
            self._save()
        yield Progress(1, 1, "Choosing queries that check the LCM")
        return added

    def simulated_answer(self, query: Query) -> tuple[int, bool]:
        """The ground truth's answer to ``query`` and whether it rewrites the
        region (:func:`~a2lc_napari.engine.annotator.simulated_answer`)."""
        gt = self.dataset.gt(query.image)
        if gt is None:
            raise RuntimeError("the simulated annotator needs ground truth")
        mask = self.dataset.regions(query.image) == query.region
        classes = self.dataset.classes
        return simulated_answer(self.labels(query.image)[mask], gt[mask], query.label,
                                classes.num_classes, classes.ignore_index,
                                None if query.pixel is None else int(gt[query.pixel]))

    @_locked
    @_writes
    def answer(self, answers: dict[int, int], rewrite: Iterable[int] = ()) -> Event:
        """Record answers ``{query index: class (or ignore)}``; answering a
        query again replaces its answer.

        A region whose answer differs from its majority label is written
        whole with the answer; one whose answer is its majority label (the
        proposed class, until answered otherwise) is confirmed and keeps its
        pixels, unless its index is in ``rewrite`` (the annotator says its
        pixels are wrong all the same). Either way the region becomes manual,
        and pixels painted this round keep the stroke's labels.
        """
        if self.phase != "query":
            raise RuntimeError("no queries are open")
        check_classes(answers.values(), self.dataset.classes, "answer")
        queries = self.state.queries
        changes, deltas = answer_changes(
            answers, set(rewrite), queries, self.labels, self.dataset.regions,
            self.dataset.classes, lambda image: self._journal.painted(image, self.round),
            lambda image, index: self._journal.answered(image, index, self.round))
        return self._journal.record("answer", changes, answers=deltas,
                                    manual_added=new_manual(
                                        ((queries[i].image, queries[i].region) for i in answers),
                                        self.state.manual))

    @_locked
    @_writes
    def edit_labels(self, name: str, labels: np.ndarray, where: np.ndarray | None = None) -> int:
        """Save labels of image ``name`` edited by hand (painting, filling).

        ``labels``: (H, W) the image's labels as edited. ``where``: (H, W)
        bool, the pixels edited, or None for every pixel that differs from
        the session's labels. The other pixels keep the session's labels, so
        a stroke painted over labels from before a change written meanwhile
        (the LCM's at a round's end) does not take that change back.

        Every region holding an edited pixel becomes manual: it is never
        queried or changed by the LCM again. Values that are neither a class
        nor ignore are refused (ValueError, nothing saved). Returns the
        number of pixels that changed.
        """
        labels = np.asarray(labels)
        old = self.labels(name)
        if labels.shape != old.shape:
            raise ValueError(f"labels of {name} have shape {labels.shape}, "
                             f"expected {old.shape}")
        if where is not None:
            labels = np.where(where, labels, old)
        changed = labels != old
        count = int(changed.sum())
        if not count:
            return 0
        check_classes(np.unique(labels[changed]), self.dataset.classes,
                      f"labels painted on {name}:")
        touched = np.unique(self.dataset.regions(name)[changed])
        self.state.hand_pixels += count
        self._journal.record("hand_edit", {name: LabelChange.between(old, labels.astype(np.uint8))},
                             manual_added=new_manual(((name, int(r)) for r in touched),
                                                     self.state.manual))
        return count

    # ---- the LCM -----------------------------------------------------------------

    def propose_lcm(self) -> LCMProposal:
        """The LCM updates that the answers so far would make, written nowhere.

        Safe to call from another thread while answers go on: it works on a
        copy taken under the lock. Empty for methods without the LCM.
        """
        if not self.method.lcm:
            return LCMProposal()
        with self._lock:
            round_, inputs = self.round, LCMInputs.copy_of(self.state)
        proposal = propose_round(self.summary, inputs, self.dataset.names,
                                 self.dataset.classes, round_, self.config, self.folder)
        with self._lock:
            self._proposed = (round_, inputs, proposal)
        return proposal

    def _still_current(self) -> LCMProposal | None:
        """:meth:`propose_lcm`'s last proposal where it was made from this
        round's answers, hand edits and rejections as they are now, else None."""
        with self._lock:
            now = (self.round, LCMInputs.copy_of(self.state))
            if self._proposed is not None and self._proposed[:2] == now:
                return self._proposed[2]
        return None

    def is_current(self, proposal: LCMProposal) -> bool:
        """Whether ``proposal`` is :meth:`propose_lcm`'s last one and was made
        from the session as it is now. One made while the person decided on
        a change would offer that change again."""
        return self._still_current() is proposal

    def _current_proposal(self) -> LCMProposal:
        """The last proposal where it is still current (the widget's live
        preview), else a new one: the LCM is not run twice on the same
        inputs."""
        current = self._still_current()
        return current if current is not None else self.propose_lcm()

    @_locked
    @_writes
    def reject_lcm(self, changes: Iterable[LCMUpdate]) -> Event | None:
        """The person rejects LCM changes: never proposed again for those
        regions in this round (rejected while the next model trains: in the
        next round); changes already applied are taken back (the regions get
        back the pixels they had before). Refused while the round is being
        finished (:attr:`can_review`)."""
        return record_lcm_review(self._journal, self.dataset.regions, list(changes),
                                 accept=False)

    @_locked
    @_writes
    def accept_lcm(self, changes: Iterable[LCMUpdate]) -> Event | None:
        """The person confirms LCM changes: the regions take the new class (at
        once, if not applied yet) and become manual. Refused while the round
        is being finished (:attr:`can_review`)."""
        return record_lcm_review(self._journal, self.dataset.regions, list(changes),
                                 accept=True)

    @_writes
    def finish_round(self) -> Steps[RoundRecord]:
        """Run the LCM (A²LC, LCM methods), log the round, measure, move on.

        From its start the answers are frozen (phase ``"lcm"``); hand edits
        may go on, and a region edited while the LCM runs is left to the
        person. Returns the round's record (also appended to :attr:`history`).
        """
        self._freeze_answers()
        proposal = self._current_proposal()
        yield Progress(1, 2, "Running the LCM")
        updates = self._apply_lcm(proposal)
        yield Progress(2, 2, "Applying LCM updates")
        with self._lock:
            wrong = queryable_wrong_share(self.summary, self.state, self.dataset.names)
        accepted = accepted_proposals(self.state.journal, self.round)
        record = round_record(self.state, proposal, updates, accepted, wrong,
                              (yield from label_metrics(self.dataset, self.labels)),
                              self.dataset.has_gt)
        write_json(self.folder.log(self.round),
                   round_log(self.state, proposal, updates, accepted, record))
        self._next_round(record)
        return record

    def _freeze_answers(self) -> None:
        """Phase ``"lcm"``: this round takes no more answers."""
        with self._lock:
            if self.phase == "query":
                # Unanswered (skipped) queries stay as they are, and stay askable.
                self.state.phase = "lcm"
                self._save()
            if self.phase != "lcm":
                raise RuntimeError(f"round {self.round} has not been prepared")

    def _apply_lcm(self, proposal: LCMProposal) -> list[LCMUpdate]:
        with self._lock:
            return record_lcm_apply(self._journal, self.dataset.regions, proposal)

    def _next_round(self, record: RoundRecord) -> None:
        """Keep the finished round's ``record``, open the next round's training."""
        with self._lock:
            self.state.history.append(record)
            self.state.round += 1
            self.state.phase, self.state.queries, self.state.hand_pixels = "train", [], 0
            # Rejections from here on, while the next model trains, are the next round's.
            self.state.lcm_rejected = []
            self._summary, self._proposed = None, None
            self._save()
        if self.dataset.has_gt:
            write_json(self.folder.metrics, {"method": self.config.method,
                                             "rounds": [asdict(h) for h in self.history]})

    # ---- measuring and exporting -------------------------------------------------

    def check_export(self, folder: Path, format: str = "palette",
                     overwrite: bool = False) -> Path:
        """The resolved ``folder``, if :meth:`export` may write there in
        ``format``: outside the session folder and what the labels came from
        (the dataset, the pseudo-labels' folder, the region files), empty unless
        ``overwrite``, and a format that holds the classes. Raises DatasetError."""
        return check_export(self._outside_session(folder), self.dataset.classes,
                            self.dataset.inputs, format, overwrite)

    def _outside_session(self, folder: Path) -> Path:
        """``folder`` resolved, if it lies outside the session folder and does
        not hold it (an export writes sub-folders, and files of the names it
        chooses); else DatasetError."""
        folder, out = Path(folder).expanduser().resolve(), self.out.resolve()
        if folder.is_relative_to(out):
            raise DatasetError(folder, "is inside the session folder; choose a folder "
                               "outside it")
        if out.is_relative_to(folder):
            raise DatasetError(folder, f"holds the session folder {out}; choose a folder "
                               "that does not hold it")
        return folder

    def export(self, folder: Path, format: str = "palette", overwrite: bool = False,
               images: str = "copy") -> Steps[Path]:
        """Write the current labels to ``folder`` in one of
        :data:`~a2lc_napari.engine.export.EXPORT_FORMATS`, with a ``README``
        of where they came from (:func:`~a2lc_napari.engine.export.export_labels`).
        ``folder`` must be empty unless ``overwrite``, and outside the dataset
        and the session folders. ``images``: copy the images, or link to them."""
        folder = self._outside_session(folder)  # export_labels checks the rest
        ds = self.dataset
        provenance = {
            "dataset": ds.root, "pseudo-labels": ds.labels_dir or "the dataset's own",
            "session": self.out.resolve(), "method": self.config.method,
            **session_totals(self.state)}
        return (yield from export_labels(
            folder, ds.names, self.labels, ds.classes, self.dataset.inputs, format, overwrite,
            image_of=ds.image_path, images=images, provenance=provenance))


def _save_state(folder: SessionFolder, state: SessionState) -> None:
    write_json(folder.state, state_to_json(state))
