"""The LCM in a session's round: what it reads from the session, the paper's
variant beside ours (:mod:`~a2lc_napari.engine.lcm_proposal`), the label
changes its updates make, and the person's review of them.

Both variants follow one rule for the regions they may change: neither a
manual region (answered, painted or accepted) nor one the person rejected
this round.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from . import lcm_checks, lcm_proposal
from .classes import ClassSet
from .answers import new_manual
from .config import LCMConfig, SessionConfig
from .journal import Journal
from .io import read_json
from .label_changes import LabelChange, read_changes
from .lcm import select_updates, train_lcm
from .lcm_precision import paper_held_out
from .region_summary import RegionSummary, majority, region_keys
from .regions import region_values
from .rounds import manual_mask, region_mask
from .session_folder import SessionFolder
from .state import (Event, LCMProposal, LCMUpdate, Query, RegionKey, SessionState,
                    review_waits)


@dataclass(frozen=True)
class LCMInputs:
    """What the LCM reads of a session, copied at one moment: the answered
    queries, the manual regions (``{image: [region]}``) and the rejected
    ``(image, region)`` pairs."""

    answered: list[Query]
    manual: dict[str, list[int]]
    rejected: set[tuple[str, int]]

    @classmethod
    def copy_of(cls, state: SessionState) -> "LCMInputs":
        """A copy of ``state``'s (the caller holds the session's lock)."""
        return cls([replace(q) for q in state.answered()],
                   {k: list(v) for k, v in state.manual.items()},
                   {tuple(p) for p in state.lcm_rejected})


#: Why our LCM changes nothing while none of its proposals was checked.
UNCHECKED = ("None of its proposals has been checked yet, and it changes nothing before "
             "you check a few. The checks are a round's last queries, drawn from what it "
             "would change once the round's other queries are answered: it spreads your "
             "corrections (answers that changed a label) to regions like them, and so far "
             "it has had no such change it was sure enough of then.")


def propose_round(summary: RegionSummary, inputs: LCMInputs, names: list[str],
                  classes: ClassSet, round_: int, config: SessionConfig,
                  folder: SessionFolder, heed_checks: bool = True) -> LCMProposal:
    """The LCM's proposal in round ``round_`` (``summary``: its regions),
    ours or, with ``config.lcm.paper``, the paper's; earlier rounds' answers
    are read from ``folder``. ``heed_checks``: our LCM changes nothing
    where the checks so far show it falls short (those of its strictest
    gate's proposals judged apart), nor while no check of its proposals was
    answered, this round or before, where rounds keep room for them
    (:func:`checks_due`)."""
    eligible = ~(manual_mask(summary, inputs.manual, names)  # this round's queries too
                 | region_mask(summary, inputs.rejected, names))
    tau = config.tau_for(round_)
    seed = config.seed * 1000 + round_
    ignore = classes.ignore_index
    if config.lcm.paper:
        proposal = paper_estimate(summary, inputs.answered, classes, tau, config.lcm, seed)
        proposal.updates = lcm_updates(summary, inputs.answered, eligible, names,
                                       classes.num_classes, ignore, tau, config.lcm, seed)
        return proposal
    checks = [*past_checks(folder, round_),
              *((q.check, q.answer, q.strict) for q in inputs.answered)]
    checked, strict_checked = ((0, 0), None) if not heed_checks else (
        lcm_checks.tally(((c, a) for c, a, strict in checks if strict == kind), ignore)
        for kind in (False, True))
    if heed_checks and checks_due(config, lcm=True) and not (checked[0] or strict_checked[0]):
        return LCMProposal(reason=UNCHECKED)
    current = plurality_label(summary.label_hist, ignore)
    this_round = tuple(np.array([getattr(q, f) for q in inputs.answered], dtype=np.int64)
                       for f in ("row", "label", "answer"))
    current[this_round[0]] = this_round[2]
    return lcm_proposal.propose(
        summary, current, eligible, this_round,
        past_examples(folder, round_, ignore, config.lcm), names,
        classes.num_classes, ignore, tau, config.lcm, checked=checked,
        strict_checked=strict_checked, seed=seed)


def checks_due(config: SessionConfig, lcm: bool) -> int:
    """How many of a round's ``config.budget`` queries are kept for the
    checks of our LCM (``lcm``: the method runs one): a quarter, at least
    ``config.lcm.checks`` and at most half; none with the paper's LCM."""
    if not lcm or config.lcm.paper:
        return 0
    return min(max(config.lcm.checks, config.budget // 4), config.budget // 2)


def round_checks(summary: RegionSummary, queries: list[Query], inputs: LCMInputs,
                 names: list[str], classes: ClassSet, round_: int, config: SessionConfig,
                 folder: SessionFolder, room: int) -> list[Query]:
    """Checks of our LCM to ask after ``queries``: a random sample of what
    it proposes from the answers so far, this round's (``inputs``) among
    them (:func:`~a2lc_napari.engine.lcm_checks.draw_checks`), one for every
    ``1 / config.lcm.checks_share`` changes, at least ``config.lcm.checks``
    and at most ``room``: the more it would change, the surer the checks.
    Proposals of its strictest gate (too few answers confirmed a label) are
    checked alike, their checks marked ``strict``."""
    # Not held back by earlier checks: new ones may show it has improved.
    proposal = propose_round(summary, inputs, names, classes, round_, config, folder,
                             heed_checks=False)
    proposed = proposal.updates
    index = {key: row for row, key in enumerate(summary.keys())}
    rows = np.array([index[region_keys(names.index(u.image), u.region)] for u in proposed],
                    dtype=np.int64)
    labels = summary.majority_label(classes.ignore_index)[rows]
    count = min(room, max(config.lcm.checks, math.ceil(config.lcm.checks_share * len(proposed))))
    return lcm_checks.draw_checks(queries, proposed, rows, labels, count,
                                  seed=config.seed * 1000 + round_, strict=proposal.strict)


def past_checks(folder: SessionFolder, round_: int
                ) -> Iterator[tuple[int | None, int | None, bool]]:
    """``(check, answer, strict)`` of every query of the rounds before
    ``round_`` (from their logs in ``folder``; no check in a log written
    before checks, none strict before strict checks)."""
    for r in range(1, round_):
        for q in read_json(folder.log(r))["queries"]:
            yield q.get("check"), q["answer"], q.get("strict", False)


def paper_estimate(summary: RegionSummary, answered: list[Query], classes: ClassSet,
                   tau: float, config: LCMConfig, seed: int) -> LCMProposal:
    """How sure the paper's LCM is at ``tau``: its changes to this round's
    answers, each held out of its training
    (:func:`~a2lc_napari.engine.lcm_precision.paper_held_out`), as a
    proposal without updates."""
    answered = [q for q in answered if q.answer != classes.ignore_index]
    rows, old, answers = (np.array([getattr(q, f) for q in answered], dtype=np.int64)
                          for f in ("row", "label", "answer"))
    gate = paper_held_out(summary.mean_prob[rows], old, answers, classes.num_classes, config,
                          tau, seed)
    return lcm_proposal.held_out_report(gate)


def past_examples(folder: SessionFolder, round_: int, ignore_index: int, config: LCMConfig
                  ) -> Iterator[lcm_proposal.Examples]:
    """The answers of every round before ``round_``, with their regions'
    features then (from the rounds' logs and summaries in ``folder``)."""
    for r in range(1, round_):
        log = read_json(folder.log(r))
        queries = [q for q in log["queries"] if q["answer"] is not None]
        yield lcm_proposal.examples(
            RegionSummary.load(folder.summary(r)),
            *(np.array([q[f] for q in queries], dtype=np.int64)
              for f in ("row", "label", "answer")),
            ignore_index, config)


def plurality_label(hist: np.ndarray, ignore_index: int) -> np.ndarray:
    """(R,) int64 most frequent value per row of a (R, K + 1) label histogram,
    ignore (the last column) voting too: the LCM's region label, so that a
    region mostly unlabelled counts as unlabelled and the LCM may fill it.
    Ties go to the lowest class."""
    out = hist.argmax(axis=1)
    out[out == hist.shape[1] - 1] = ignore_index
    return out


def lcm_updates(summary: RegionSummary, answered: list[Query], eligible: np.ndarray,
                names: list[str], num_classes: int, ignore_index: int, tau: float,
                config: LCMConfig, seed: int) -> list[LCMUpdate]:
    """The paper's LCM, STEP 1 + STEP 2 on the answered queries: the updates to write.

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
    gt = None if summary.gt_hist is None else majority(summary.gt_hist, ignore_index)
    return [LCMUpdate.of_row(summary, r, names, current[r], upd.predicted[r],
                             upd.confidence[r], gt)
            for r in np.flatnonzero(upd.update)]


def lcm_label_changes(updates: Iterable[LCMUpdate], labels: Callable[[str], np.ndarray],
                      regions: Callable[[str], np.ndarray],
                      before: Callable[[str], np.ndarray] | None = None
                      ) -> dict[str, LabelChange]:
    """The label changes of the images ``updates`` touch: each region written
    whole with its new class or, given ``before(image)`` ((H, W) uint8), given
    back its pixels there. ``labels(image)``: the current labels (a copy),
    ``regions(image)``: the region map."""
    updates = list(updates)
    changes = {}
    for image in sorted({u.image for u in updates}):  # not a set's hash order
        here = [u for u in updates if u.image == image]
        new, region_map = labels(image), regions(image)
        if before is not None:
            mask = np.isin(region_map, [u.region for u in here])
            new[mask] = before(image)[mask]
        else:
            values = region_values(region_map, [u.region for u in here], [u.new for u in here])
            new[values >= 0] = values[values >= 0]
        changes[image] = LabelChange.between(labels(image), new)
    return changes


def record_lcm_apply(journal: Journal, regions: Callable[[str], np.ndarray],
                     proposal: LCMProposal) -> list[LCMUpdate]:
    """Write the ``proposal``'s updates at the end of the round (one journal
    event); the updates written. A round stopped after writing them finds
    them again. The caller holds the session's lock."""
    state = journal.state
    last = state.journal[-1] if state.journal else None
    if last is not None and last.kind == "lcm_apply" and last.round == state.round:
        return last.changes  # applied before a stop; resumed here
    # Re-checked now: a region edited by hand meanwhile stays the person's.
    updates = [u for u in proposal.updates if u.region not in state.manual.get(u.image, ())]
    # Answers of a finished round are final: undo reaches back to here.
    state.undo_stack.clear()
    if updates or state.lcm_applied:
        journal.record("lcm_apply", lcm_label_changes(updates, journal.store.labels, regions),
                       changes=updates, applied_added=updates,
                       applied_removed=list(state.lcm_applied))
    return updates


def record_lcm_review(journal: Journal, regions: Callable[[str], np.ndarray],
                      changes: list[LCMUpdate], accept: bool) -> Event | None:
    """Record the person's review of LCM ``changes`` (None when there is none).

    Accepted, the regions take the new class (at once, if not applied yet)
    and become manual. Rejected, they are never proposed or applied again
    this round (rejected while the next model trains: the next round), and
    those already applied get back the pixels they had before. Refused
    while the round is being finished (phase ``"lcm"``).
    """
    if not changes:
        return None
    state, store = journal.state, journal.store
    if state.phase == "lcm":  # its changes are being applied, then the round logged
        raise RuntimeError(review_waits(state.round))
    applied = [u for u in changes if u in state.lcm_applied]
    if accept:
        return journal.record(
            "lcm_accept", lcm_label_changes([u for u in changes if u not in applied],
                                            store.labels, regions),
            changes=changes, applied_removed=applied,
            manual_added=new_manual((u.key for u in changes), state.manual))

    def before(image: str) -> np.ndarray:
        return _labels_before_lcm(store.labels(image), image, state.journal, journal.folder)
    return journal.record(
        "lcm_reject", lcm_label_changes(applied, store.labels, regions, before),
        changes=changes, applied_removed=applied,
        rejected_added=[RegionKey(*u.key) for u in changes if u.key not in state.lcm_rejected])


def _labels_before_lcm(labels: np.ndarray, image: str, journal: list[Event],
                       folder: SessionFolder) -> np.ndarray:
    """(H, W) uint8 ``labels`` of ``image`` with the last LCM application of
    the ``journal`` taken back (other later changes kept)."""
    apply = next(e for e in reversed(journal) if e.kind == "lcm_apply" and not e.undone)
    change = read_changes(folder.journal(apply.seq)).get(image)
    return labels if change is None else change.applied(labels, reverse=True)
