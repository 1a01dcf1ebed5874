"""A correction session: the round loop of ALC / A²LC, kept in an output folder.

The folder (:mod:`~a2lc_napari.engine.session_folder`) holds everything, so
a session stopped at any moment resumes where it stopped. A round goes
through three phases, driven step by step: :meth:`Session.prepare_round`
(train θ, predict, rank: phase ``"query"``), one :meth:`Session.answer` per
query, :meth:`Session.finish_round` (LCM, metrics, log: next round).

Every change to the labels is an event of one journal
(:class:`~a2lc_napari.engine.journal.Journal`), saved with the pixels it
changed, so that :meth:`Session.undo` and :meth:`Session.redo` follow the
order in which the person acted, across images. Labels are written before
the state that records them, and both atomically: a kill loses at most the
event being written. The input dataset folder is never written to.
"""
from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from . import acquisition as acq
from .annotator import simulated_answer
from .config import LCMConfig, SessionConfig
from .dataset import Dataset, open_dataset
from .errors import DatasetError
from .export import export_labels
from .io import read_label, write_json, write_label
from .journal import Journal
from .label_changes import LabelChange, read_changes
from . import lcm_proposal
from .lcm import select_updates, train_lcm
from .methods import METHODS, query_ranking
from .metrics import class_iou, class_pixels, confusion, mean_iou
from .inference import summarize_dataset
from .model import train_segmenter
from .progress import Progress, Steps
from .query_stats import hit_rate, wrong_share
from .region_cache import make_region_cache
from .region_classifier import summary_probabilities
from .regions import region_values
from .session_folder import SessionFolder
from .session_lock import WriterLock, lock_session
from .state import (
    FORMAT,
    AnswerChange,
    Event,
    LCMProposal,
    LCMUpdate,
    Query,
    RoundRecord,
    SessionState,
    state_from_json,
    state_to_json,
)

#: Images whose current labels a session keeps in memory.
CACHED_LABELS = 4


def _locked(method):
    """Run a method under the session's lock: the napari widget saves hand
    edits from its main thread while a worker thread runs a round step."""
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
        self._summary: acq.RegionSummary | None = None
        self._lock = threading.RLock()
        self._writer = writer
        # The labels of the last images read or written: one answer reads
        # its image's labels several times, and a PNG decode is slow at
        # Cityscapes size. This session is its folder's only writer.
        self._labels: OrderedDict[str, np.ndarray] = OrderedDict()
        self._labels_lock = threading.Lock()

    @property
    def _journal(self) -> Journal:
        # Made at each use: a journal kept here would hold the session in a
        # reference cycle, and a session dropped would keep its folder locked.
        return Journal(self.state, self.folder, self.labels, self._write_labels, self._save)

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
        """Start a session in ``out`` (must not hold one): make every image's
        regions, copy the pseudo-labels. Raises
        :class:`~a2lc_napari.engine.session_lock.SessionInUse` at once when
        another writer holds ``out``. The regions are made on ``executor`` if given."""
        folder = SessionFolder(Path(out))
        if folder.root.resolve().is_relative_to(dataset.root.resolve()):
            raise DatasetError(folder.root, "is inside the dataset folder, which is never "
                               "written to")
        writer = lock_session(folder.root)
        try:
            return (yield from cls._create(folder, dataset, config, writer, executor))
        except BaseException:  # a refusal, a failure, or a step generator closed early
            writer.release()
            raise

    @classmethod
    def _create(cls, folder: SessionFolder, dataset: Dataset, config: SessionConfig,
                writer: WriterLock, executor: Executor | None) -> Steps["Session"]:
        if folder.state.exists():
            raise DatasetError(folder.root, "already holds a session; open it to resume, "
                               "or choose another output folder")
        # Generated regions live in the session, so that open() finds the same ones.
        # They are made here, once: SAM takes seconds to minutes per image.
        dataset.use_regions(config.regions)
        yield from make_region_cache(dataset, folder.regions_dir, executor)
        names = dataset.names
        for i, name in enumerate(names):
            write_label(folder.labels(name), dataset.labels(name), dataset.classes)
            yield Progress(i + 1, len(names), "Copying pseudo-labels")
        state = SessionState(dataset=str(dataset.root.resolve()),
                             labels_dir=_str_or_none(dataset.labels_dir),
                             config=config)
        session = cls(folder.root, dataset, config, state, writer)
        stats = yield from session._label_metrics()
        state.history.append(RoundRecord(round=0, queries=0, manual_changes=0, hand_pixels=0,
                                         lcm_changes=0, lcm_correct=0, **stats))
        session._save()
        return session

    @classmethod
    def open(cls, out: Path, read_only: bool = False) -> "Session":
        """Reopen the session in ``out`` where it stopped, as its writer, or
        ``read_only``: that takes no lock, and every write is refused.

        Raises :class:`~a2lc_napari.engine.session_lock.SessionInUse` at
        once when another writer holds ``out`` (unless ``read_only``).
        """
        folder = SessionFolder(Path(out))
        if read_only or not folder.state.exists():  # reading says what is missing
            return cls._read(folder, writer=None)
        writer = lock_session(folder.root)
        try:
            session = cls._read(folder, writer)
            session._journal.roll_back_unrecorded()
            return session
        except BaseException:
            writer.release()
            raise

    @classmethod
    def _read(cls, folder: SessionFolder, writer: WriterLock | None) -> "Session":
        path = folder.state
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise DatasetError(path, "missing: this folder holds no session") from None
        except json.JSONDecodeError as e:
            raise DatasetError(path, f"is corrupt ({e})") from None
        if data.get("format") != FORMAT:
            raise DatasetError(path, f"has format {data.get('format')}; this version reads "
                               f"format {FORMAT}: finish it with the version that made it, "
                               "or start a new session")
        try:
            state = state_from_json(data)
        except (KeyError, TypeError, ValueError) as e:
            raise DatasetError(path, f"is malformed ({e})") from None
        config = state.config
        dataset = open_dataset(state.dataset, labels_dir=state.labels_dir,
                               region_cache=folder.regions_dir,
                               background_is_ignore=config.background_is_ignore)
        dataset.use_regions(config.regions)
        return cls(folder.root, dataset, config, state, writer)

    # ---- state ----------------------------------------------------------------

    @property
    def round(self) -> int:
        return self.state.round

    @property
    def phase(self) -> str:
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
        yet accepted or rejected."""
        return list(self.state.lcm_applied)

    def next_query(self) -> Query | None:
        """The first unanswered query of this round, or None."""
        return next((q for q in self.state.queries if q.answer is None), None)

    def labels(self, name: str) -> np.ndarray:
        """(H, W) uint8 current labels of an image (a copy)."""
        with self._labels_lock:
            labels = self._labels.get(name)
            if labels is not None:
                self._labels.move_to_end(name)
                return labels.copy()
        labels = read_label(self.folder.labels(name))
        self._keep_labels(name, labels)
        return labels.copy()

    def _keep_labels(self, name: str, labels: np.ndarray) -> None:
        with self._labels_lock:
            self._labels[name] = labels
            self._labels.move_to_end(name)
            while len(self._labels) > CACHED_LABELS:
                self._labels.popitem(last=False)

    def _write_labels(self, name: str, labels: np.ndarray) -> None:
        write_label(self.folder.labels(name), labels, self.dataset.classes)
        self._keep_labels(name, labels)

    def is_manual(self, image: str, region: int) -> bool:
        return region in self.state.manual.get(image, ())

    def round_log(self, round_: int) -> dict:
        """The log of a finished round: its queries, LCM updates, reviews and metrics."""
        return json.loads(self.folder.log(round_).read_text())

    @_locked
    def _save(self) -> None:
        write_json(self.folder.state, state_to_json(self.state))

    def _manual_mask(self, summary: acq.RegionSummary, manual: dict[str, list[int]]
                     ) -> np.ndarray:
        name_index = {n: i for i, n in enumerate(self.dataset.names)}
        image = [name_index[n] for n, ids in manual.items() for _ in ids]
        ids = [r for ids in manual.values() for r in ids]
        return np.isin(summary.keys(), acq.region_keys(np.array(image, dtype=np.int64),
                                                        np.array(ids, dtype=np.int64)))

    @property
    def summary(self) -> acq.RegionSummary:
        """This round's per-region summaries (after :meth:`prepare_round`)."""
        if self._summary is None:
            self._summary = acq.RegionSummary.load(self.folder.summary(self.round))
        return self._summary

    # ---- changes to the labels, undoable (kept by the journal) -----------------------

    def _diff(self, name: str, new: np.ndarray) -> LabelChange:
        """The change from image ``name``'s labels on disk to ``new`` (H, W)."""
        return LabelChange.between(self.labels(name), np.asarray(new, dtype=np.uint8))

    def _new_manual(self, pairs: Iterable[tuple[str, int]]) -> list[list]:
        """The ``[image, region]`` pairs not yet manual, each once."""
        out = []
        for image, region in pairs:
            if region != 0 and not self.is_manual(image, region) and [image, region] not in out:
                out.append([image, int(region)])
        return out

    @property
    def can_undo(self) -> bool:
        return self._journal.can_undo

    @property
    def can_redo(self) -> bool:
        return self._journal.can_redo

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
        segmenter = yield from train_segmenter(
            lambda n: (ds.image(n), self.labels(n)), ds.names, ds.classes.num_classes,
            ds.classes.ignore_index, cfg.model, seed=cfg.seed * 1000 + self.round)
        segmenter.save(self.folder.model)
        summary = yield from summarize_dataset(self.folder.model, cfg.model.device, ds,
                                               self.folder.labels,
                                               self.method.ranking == "sim", executor)
        ranking = query_ranking(self.method, cfg.confidence)
        if ranking == "doubt":
            summary.oof_prob = summary_probabilities(summary, ds.classes.num_classes,
                                                     ds.classes.ignore_index,
                                                     seed=cfg.seed * 1000 + self.round)
        summary.save(self.folder.summary(self.round))
        with self._lock:
            self._summary = summary
            queries = pick_queries(summary, self._manual_mask(summary, self.state.manual),
                                   self.method, cfg.budget, ds.names, ds.classes.ignore_index,
                                   ranking)
            self.state.queries, self.state.phase = queries, "query"
            self.state.lcm_rejected = []
            self._save()

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
        pixels are wrong all the same). Either way the region becomes manual.
        """
        if self.phase != "query":
            raise RuntimeError("no queries are open")
        self._check_classes(answers.values(), "answer")
        rewrite = set(rewrite)
        queries = self.state.queries
        ignore, k = self.dataset.classes.ignore_index, self.dataset.classes.num_classes
        by_image: dict[str, list[int]] = {}
        for i in answers:
            by_image.setdefault(queries[i].image, []).append(i)
        changes, deltas = {}, []
        for image, indices in by_image.items():  # one image's labels in memory at a time
            labels, regions = self.labels(image), self.dataset.regions(image)
            for i in indices:
                q, cls = queries[i], answers[i]
                mask = regions == q.region
                hist = class_pixels(labels[mask], k, ignore)[None]
                rewrites = bool(cls != acq.majority(hist, ignore)[0] or i in rewrite)
                deltas.append(AnswerChange(i, q.answer, q.rewrite, int(cls), rewrites))
                if rewrites:
                    labels[mask] = cls
            changes[image] = self._diff(image, labels)
        return self._journal.record("answer", changes, answers=deltas,
                                    manual_added=self._new_manual(
                                        (queries[i].image, queries[i].region) for i in answers))

    @_locked
    @_writes
    def unanswer(self, index: int) -> Event | None:
        """Take back the answer to query ``index`` alone: its region gets back
        the pixels it had before that answer (where nothing changed them
        since). Prefer :meth:`undo`, which follows the order of events."""
        if self.phase != "query":
            raise RuntimeError("no queries are open")
        q = self.state.queries[index]
        if q.answer is None:
            return None
        # This round's answers to it since it was last unanswered, newest first.
        answers = []
        for e in reversed(self.state.journal):
            rows = [a for a in e.answers if a.index == index]
            if e.round != self.round or (rows and e.kind == "unanswer"):
                break
            if rows and not e.undone:
                answers.append(e)
        mask = self.dataset.regions(q.image) == q.region
        labels = self.labels(q.image)
        for e in answers:
            change = read_changes(self.folder.journal(e.seq)).get(q.image)
            if change is not None:
                labels = change.restricted(mask).applied(labels, reverse=True)
        key = [q.image, q.region]
        made_manual = any(key in e.manual_added for e in answers)
        return self._journal.record("unanswer", {q.image: self._diff(q.image, labels)},
                                    answers=[AnswerChange(index, q.answer, q.rewrite, None, False)],
                                    manual_removed=[key] if made_manual else [])

    def _check_classes(self, values: Iterable[int], what: str) -> None:
        """Refuse values that are neither a class id nor the ignore value."""
        ignore, k = self.dataset.classes.ignore_index, self.dataset.classes.num_classes
        bad = sorted({int(v) for v in values if not (0 <= v < k or v == ignore)})
        if bad:
            raise ValueError(f"{what} {', '.join(map(str, bad))}: neither a class id "
                             f"(0-{k - 1}) nor ignore ({ignore}); nothing was saved")

    @_locked
    @_writes
    def edit_labels(self, name: str, labels: np.ndarray) -> int:
        """Save labels of image ``name`` edited by hand (painting, filling).

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
        changed = labels != old
        count = int(changed.sum())
        if not count:
            return 0
        self._check_classes(np.unique(labels[changed]), f"labels painted on {name}:")
        touched = np.unique(self.dataset.regions(name)[changed])
        self.state.hand_pixels += count
        self._journal.record("hand_edit", {name: self._diff(name, labels)},
                             manual_added=self._new_manual((name, int(r)) for r in touched))
        return count

    # ---- the LCM -----------------------------------------------------------------

    def _lcm_inputs(self) -> tuple[list[Query], dict[str, list[int]], set]:
        """A consistent copy of what the LCM reads: answered queries, manual
        regions, rejected regions."""
        with self._lock:
            return ([replace(q) for q in self.state.answered()],
                    {k: list(v) for k, v in self.state.manual.items()},
                    {tuple(p) for p in self.state.lcm_rejected})

    def propose_lcm(self) -> LCMProposal:
        """The LCM updates that the answers so far would make, written nowhere.

        Safe to call from another thread while answers go on: it works on a
        copy taken under the lock. Empty for methods without the LCM.
        """
        if not self.method.lcm:
            return LCMProposal()
        return self._lcm_proposal(*self._lcm_inputs())

    def _lcm_proposal(self, answered: list[Query], manual: dict[str, list[int]],
                      rejected: set) -> LCMProposal:
        s, classes = self.summary, self.dataset.classes
        eligible = ~self._manual_mask(s, manual)  # this round's queries are manual by now
        tau = self.config.tau_for(self.round)
        seed = self.config.seed * 1000 + self.round
        if self.config.lcm.paper:
            updates = lcm_updates(s, answered, eligible, self.dataset.names,
                                  classes.num_classes, classes.ignore_index, tau,
                                  self.config.lcm, seed=seed)
            return LCMProposal([u for u in updates if u.key not in rejected], tau=tau)
        current = plurality_label(s.label_hist, classes.ignore_index)
        this_round = tuple(np.array([getattr(q, f) for q in answered], dtype=np.int64)
                           for f in ("row", "label", "answer"))
        current[this_round[0]] = this_round[2]
        eligible &= ~np.isin(s.keys(), [acq.region_keys(self.dataset.names.index(i), r)
                                        for i, r in rejected])
        return lcm_proposal.propose(
            s, current, eligible, this_round, self._past_examples(), self.dataset.names,
            classes.num_classes, classes.ignore_index, tau, self.config.lcm, seed=seed)

    def _past_examples(self):
        """The answers of every earlier round, with their regions' features then."""
        for r in range(1, self.round):
            queries = [q for q in self.round_log(r)["queries"] if q["answer"] is not None]
            yield lcm_proposal.examples(
                acq.RegionSummary.load(self.folder.summary(r)),
                *(np.array([q[f] for q in queries], dtype=np.int64)
                  for f in ("row", "label", "answer")),
                self.dataset.classes.ignore_index, self.config.lcm)

    @_locked
    @_writes
    def reject_lcm(self, changes: Iterable[LCMUpdate]) -> Event | None:
        """The person rejects LCM changes: never proposed again for those
        regions in this round; changes already applied are taken back (the
        regions get back the pixels they had before)."""
        changes = list(changes)
        if not changes:
            return None
        applied = [u for u in changes if u in self.state.lcm_applied]
        return self._journal.record("lcm_reject", self._lcm_changes(applied, reverse=True),
                                    changes=changes, applied_removed=applied,
                                    rejected_added=[list(u.key) for u in changes
                                                    if list(u.key) not in self.state.lcm_rejected])

    @_locked
    @_writes
    def accept_lcm(self, changes: Iterable[LCMUpdate]) -> Event | None:
        """The person confirms LCM changes: the regions take the new class (at
        once, if not applied yet) and become manual."""
        changes = list(changes)
        if not changes:
            return None
        applied = [u for u in changes if u in self.state.lcm_applied]
        return self._journal.record("lcm_accept",
                                    self._lcm_changes([u for u in changes if u not in applied]),
                                    changes=changes, applied_removed=applied,
                                    manual_added=self._new_manual(u.key for u in changes))

    def _lcm_changes(self, updates: list[LCMUpdate], reverse: bool = False
                     ) -> dict[str, LabelChange]:
        """The label changes of the images ``updates`` touch: each region
        written whole with its new class, or (``reverse``) given back the
        pixels it had before the LCM's change."""
        changes = {}
        for image in {u.image for u in updates}:
            here = [u for u in updates if u.image == image]
            labels = self.labels(image)
            regions = self.dataset.regions(image)
            if reverse:
                before = self._pixels_before_lcm(image)
                mask = np.isin(regions, [u.region for u in here])
                labels[mask] = before[mask]
            else:
                new = region_values(regions, [u.region for u in here], [u.new for u in here])
                labels[new >= 0] = new[new >= 0]
            changes[image] = self._diff(image, labels)
        return changes

    def _pixels_before_lcm(self, image: str) -> np.ndarray:
        """(H, W) uint8 labels of ``image`` with the last round's LCM
        application taken back (other later changes kept)."""
        apply = next(e for e in reversed(self.state.journal)
                     if e.kind == "lcm_apply" and not e.undone)
        change = read_changes(self.folder.journal(apply.seq)).get(image)
        labels = self.labels(image)
        return labels if change is None else change.applied(labels, reverse=True)

    @_writes
    def finish_round(self) -> Steps[RoundRecord]:
        """Run the LCM (A²LC, LCM methods), log the round, measure, move on.

        From its start the answers are frozen (phase ``"lcm"``); hand edits
        may go on, and a region edited while the LCM runs is left to the
        person. Returns the round's record (also appended to :attr:`history`).
        """
        with self._lock:
            if self.phase == "query":
                # Unanswered (skipped) queries stay as they are, and stay askable.
                self.state.phase = "lcm"
                self._save()
            if self.phase != "lcm":
                raise RuntimeError(f"round {self.round} has not been prepared")
        proposal = self.propose_lcm()
        yield Progress(1, 2, "Running the LCM")
        with self._lock:
            last = self.state.journal[-1] if self.state.journal else None
            if last is not None and last.kind == "lcm_apply" and last.round == self.round:
                updates = last.changes  # applied before a stop; resumed here
            else:
                # Re-checked now: a region edited by hand meanwhile stays the person's.
                updates = [u for u in proposal.updates if not self.is_manual(*u.key)]
                # Answers of a finished round are final: undo reaches back to here.
                self.state.undo_stack.clear()
                if updates or self.state.lcm_applied:
                    self._journal.record("lcm_apply", self._lcm_changes(updates),
                                         changes=updates, applied_added=updates,
                                         applied_removed=self.lcm_applied)
        yield Progress(2, 2, "Applying LCM updates")

        answered = self.state.answered()
        corrections = sum(q.rewrite for q in answered)
        wrong = self._wrong_share()
        record = RoundRecord(
            round=self.round, queries=len(answered),
            manual_changes=corrections,
            hand_pixels=self.state.hand_pixels, lcm_changes=len(updates),
            lcm_correct=sum(bool(u.correct) for u in updates),
            lcm_rejected=len(self.state.lcm_rejected),
            lcm_tau=proposal.tau, lcm_reach=proposal.reach,
            lcm_estimated_precision=proposal.estimated_precision,
            lcm_held_out_changes=proposal.held_out_changes,
            lcm_lower_precision=proposal.lower_precision,
            wrong_share=_rounded(wrong),
            hit_rate=_rounded(hit_rate(corrections, len(answered), wrong)),
            **(yield from self._label_metrics()))
        if self.dataset.has_gt and updates:
            record.lcm_precision = round(100 * record.lcm_correct / len(updates), 2)
        write_json(self.folder.log(self.round), {
            "round": self.round, "method": self.config.method,
            "tau": proposal.tau, "reach": proposal.reach,
            "estimated_precision": proposal.estimated_precision,
            "held_out_changes": proposal.held_out_changes,
            "lower_precision": proposal.lower_precision,
            "queries": [asdict(q) for q in self.state.queries],
            "lcm_updates": [asdict(u) for u in updates],
            "lcm_rejected": self.state.lcm_rejected, "metrics": asdict(record)})
        with self._lock:
            self.state.history.append(record)
            self.state.round += 1
            self.state.phase, self.state.queries, self.state.hand_pixels = "train", [], 0
            self._summary = None
            self._save()
        if self.dataset.has_gt:
            write_json(self.folder.metrics, {"method": self.config.method,
                                             "rounds": [asdict(h) for h in self.history]})
        return record

    # ---- measuring and exporting -------------------------------------------------

    def _wrong_share(self) -> float | None:
        """Percentage of wrong regions among those this round could query."""
        with self._lock:
            exclude = self._manual_mask(self.summary, self.state.manual)
            exclude[[q.row for q in self.state.queries]] = False
        return wrong_share(self.summary, exclude)

    def _label_metrics(self) -> Steps[dict]:
        """Pixels per class of the current labels and, with ground truth, their
        data mIoU and per-class IoU."""
        classes = self.dataset.classes
        conf = np.zeros((classes.num_classes + 1, classes.num_classes), dtype=np.int64)
        pixels = np.zeros(classes.num_classes + 1, dtype=np.int64)  # last: ignore
        for i, name in enumerate(self.dataset.names):
            labels = self.labels(name)
            pixels += class_pixels(labels, classes.num_classes, classes.ignore_index)
            if self.dataset.has_gt:
                conf += confusion(labels, self.dataset.gt(name), classes.num_classes,
                                  classes.ignore_index)
            yield Progress(i + 1, len(self.dataset.names), "Measuring labels")
        out = {"class_pixels": pixels[:-1].tolist(), "ignore_pixels": int(pixels[-1])}
        if self.dataset.has_gt:
            iou = class_iou(conf)
            out.update(data_miou=round(mean_iou(conf), 3),
                       class_iou={n: None if np.isnan(v) else round(float(v) * 100, 3)
                                  for n, v in zip(classes.names, iou)})
        return out

    def export(self, folder: Path, format: str = "palette", overwrite: bool = False,
               images: str = "copy") -> Steps[Path]:
        """Write the current labels to ``folder`` in one of
        :data:`~a2lc_napari.engine.export.EXPORT_FORMATS`, with a ``README``
        of where they came from (:func:`~a2lc_napari.engine.export.export_labels`).
        ``folder`` must be empty unless ``overwrite``, and outside the dataset
        and the session folders. ``images``: copy the images, or link to them."""
        folder = Path(folder).expanduser().resolve()
        if folder.is_relative_to(self.out.resolve()):
            raise DatasetError(folder, "is inside the session folder; choose a folder "
                               "outside it")
        ds, done = self.dataset, self.history[1:]
        answered = self.state.answered()
        provenance = {
            "dataset": ds.root, "pseudo-labels": ds.labels_dir or "the dataset's own",
            "session": self.out.resolve(), "method": self.config.method,
            "rounds finished": len(done),
            "queries answered": sum(r.queries for r in done) + len(answered),
            "labels changed by answers": (sum(r.manual_changes for r in done)
                                          + sum(q.rewrite for q in answered)),
            "pixels painted by hand": (sum(r.hand_pixels for r in done)
                                       + self.state.hand_pixels),
            "regions changed by the LCM": sum(r.lcm_changes for r in done)}
        return (yield from export_labels(
            folder, ds.names, self.labels, ds.classes, ds.root, format, overwrite,
            image_of=ds.image_path, images=images, provenance=provenance))


# ---- the pure steps of a round ---------------------------------------------------------

def pick_queries(summary: acq.RegionSummary, manual: np.ndarray, method, budget: int,
                 names: list[str], ignore_index: int, ranking: str | None = None
                 ) -> list[Query]:
    """The round's queries: the ``budget`` best-ranked regions not in
    ``manual`` (R,) bool, best first, by ``ranking`` (default: the method's)."""
    score = acq.region_scores(summary, ranking or method.ranking, manual)
    current = summary.majority_label(ignore_index)
    return [Query(index=j, image=names[summary.image[r]], region=int(summary.ids[r]),
                  row=int(r), label=int(current[r]), score=float(score[r]),
                  pixel=None if method.region_query else tuple(summary.pixel[r].tolist()))
            for j, r in enumerate(acq.rank(score, manual)[:budget])]


def plurality_label(hist: np.ndarray, ignore_index: int) -> np.ndarray:
    """(R,) int64 most frequent value per row of a (R, K + 1) label histogram,
    ignore (the last column) voting too: the LCM's region label, so that a
    region mostly unlabelled counts as unlabelled and the LCM may fill it.
    Ties go to the lowest class."""
    out = hist.argmax(axis=1)
    out[out == hist.shape[1] - 1] = ignore_index
    return out


def lcm_updates(summary: acq.RegionSummary, answered: list[Query], eligible: np.ndarray,
                names: list[str], num_classes: int, ignore_index: int, tau: float,
                config: LCMConfig, seed: int) -> list[LCMUpdate]:
    """LCM STEP 1 + STEP 2 on the answered queries: the updates to write.

    ``eligible`` (R,) bool marks the regions that may change.
    """
    rows = np.array([q.row for q in answered], dtype=np.int64)
    answers = np.array([q.answer for q in answered], dtype=np.int64)
    # An answered region holds its answer now (rewritten or confirmed).
    current = plurality_label(summary.label_hist, ignore_index)
    current[rows] = answers
    valid = answers != ignore_index
    if not valid.any():
        return []
    mlp = train_lcm(summary.mean_prob[rows[valid]], answers[valid], num_classes, config,
                    seed=seed)
    upd = select_updates(mlp, summary.mean_prob, current, eligible,
                         np.bincount(answers[valid], minlength=num_classes), tau,
                         config.alpha)
    gt = None if summary.gt_hist is None else acq.majority(summary.gt_hist, ignore_index)
    return [LCMUpdate(image=names[summary.image[r]], region=int(summary.ids[r]),
                      old=int(current[r]), new=int(upd.predicted[r]),
                      confidence=float(upd.confidence[r]),
                      correct=None if gt is None else bool(gt[r] == upd.predicted[r]))
            for r in np.flatnonzero(upd.update)]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _str_or_none(path) -> str | None:
    return None if path is None else str(Path(path).expanduser().resolve())


def start_session(out: Path, dataset: Path, config: SessionConfig,
                  labels_dir: Path | None = None,
                  executor: Executor | None = None) -> Steps[Session]:
    """Resume the session in ``out``, or check the dataset and create one
    (the per-image checks and regions on ``executor`` if given).

    A session in ``out`` keeps its own settings (``config`` only serves a new
    one); a session on another dataset or label folder is refused.
    """
    out = Path(out).expanduser()
    if SessionFolder(out).state.exists():
        session = Session.open(out)
        root = Path(dataset).expanduser().resolve()
        labels = _str_or_none(labels_dir)
        if (session.dataset.root, _str_or_none(session.dataset.labels_dir)) != (root, labels):
            session.close()
            raise DatasetError(session.folder.state,
                               f"holds a session on {session.dataset.root}"
                               f"{'' if labels is None else ' with other labels'}, not on "
                               f"{root}; choose another session folder")
        return session
    if out.is_dir():  # another writer creating a session here: refused before the checks
        lock_session(out).release()
    data = open_dataset(dataset, labels_dir=labels_dir,
                        background_is_ignore=config.background_is_ignore)
    yield from data.check(executor)
    return (yield from Session.create(out, data, config, executor))


def simulate(session: Session, rounds: int, on_round=None,
             executor: Executor | None = None) -> Steps[list[RoundRecord]]:
    """Run rounds up to ``rounds`` with the simulated annotator; resumes
    wherever the session stands. ``on_round(record)`` is called as each
    round ends; each round's images run on ``executor`` if given. Returns
    the history."""
    while session.round <= rounds:
        if session.phase == "train":
            yield from session.prepare_round(executor)
        if session.phase == "query":
            answers, rewrite = {}, []
            for q in session.queries:
                if q.answer is None:
                    answers[q.index], rewrites = session.simulated_answer(q)
                    if rewrites:
                        rewrite.append(q.index)
            if answers:
                session.answer(answers, rewrite)
        record = yield from session.finish_round()
        if on_round is not None:
            on_round(record)
    return session.history
