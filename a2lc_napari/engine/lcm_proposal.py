"""Our LCM on a session's answers: every answer so far as training data,
τ chosen from the precision estimated on held-out answers, the updates.

An answer of an earlier round is taken with the features its region had in
that round, before the answer reached the model's training labels: the
model trained since has learnt the answer there, so today's features would
make held-out answers look easier than the regions the LCM changes.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .config import LCMConfig
from .lcm import decide, lcm_features
from .lcm_checks import heed
from .lcm_precision import Gate, threshold_for
from .region_summary import RegionSummary, majority
from .state import LCMProposal, LCMUpdate


@dataclass
class Examples:
    """Answered regions as the LCM's training data.

    Attributes
    ----------
    features : (n, F) float32
    old : (n,) int64
        Label before the answer (ignore allowed).
    answers : (n,) int64
        The answered class (never ignore).
    model_class : (n,) int64
        The segmentation model's class for the region when it was answered.
    """

    features: np.ndarray
    old: np.ndarray
    answers: np.ndarray
    model_class: np.ndarray

    @classmethod
    def concatenate(cls, parts: Sequence["Examples"]) -> "Examples":
        return cls(*(np.concatenate([getattr(p, f) for p in parts])
                     for f in ("features", "old", "answers", "model_class")))


def region_features(summary: RegionSummary, config: LCMConfig) -> np.ndarray:
    """(R, F) float32 :func:`~a2lc_napari.engine.lcm.lcm_features` of a round's regions."""
    return lcm_features(summary.mean_prob, summary.appearance if config.appearance else None)


def examples(summary: RegionSummary, rows: np.ndarray, old: np.ndarray,
             answers: np.ndarray, ignore_index: int, config: LCMConfig,
             features: np.ndarray | None = None) -> Examples:
    """The answered rows ``rows`` (n,) of a round's ``summary`` as
    :class:`Examples`; answers "ignore" are left out. ``features``: that
    round's :func:`region_features`, when already computed."""
    rows, old, answers = (np.asarray(a, dtype=np.int64) for a in (rows, old, answers))
    keep = answers != ignore_index
    rows = rows[keep]
    if features is None:
        features = region_features(summary, config)
    return Examples(features[rows], old[keep], answers[keep],
                    summary.mean_prob[rows].argmax(axis=1).astype(np.int64))


def silence_reason(old: np.ndarray, answers: np.ndarray, config: LCMConfig) -> str:
    """Why the LCM chose no τ, in plain words, and what would let it.

    ``old`` and ``answers`` (n,) are the answered regions' labels before
    the answer and their answers, every round's (answers "ignore" left out).
    """
    if len(answers) < 2:
        return "No answer gave a class yet: the LCM learns from the answers."
    confirmed = int(np.count_nonzero(np.asarray(old) == np.asarray(answers)))
    target = 100 * (config.target_precision or 0)
    if confirmed < config.min_support:
        return (f"Only {confirmed} of the {len(answers)} answers so far confirmed a "
                f"label, and {config.min_support} are needed to see how often the LCM "
                f"would change a right one. Answering more queries lets it propose.")
    return (f"Among the answers held out of its training, no confidence threshold "
            f"made at least {target:.0f}% of its changes right on {config.min_support} "
            f"or more of them. More answers, on regions like those it would change, "
            f"let it propose.")


def held_out_report(gate: Gate, **fields) -> LCMProposal:
    """An :class:`LCMProposal` (no updates yet) at ``gate``'s τ, with the
    held-out evidence in percent; ``fields``: its other fields."""
    lower = gate.lower_bound()
    return LCMProposal(
        tau=gate.tau, held_out_changes=gate.changes,
        estimated_precision=None if gate.precision is None else round(100 * gate.precision, 2),
        lower_precision=None if lower is None else round(100 * lower, 2), **fields)


def propose(summary: RegionSummary, current: np.ndarray, eligible: np.ndarray,
            this_round: tuple[np.ndarray, np.ndarray, np.ndarray],
            past: Iterable[Examples], names: Sequence[str], num_classes: int,
            ignore_index: int, fixed_tau: float, config: LCMConfig,
            checked: tuple[int, int] = (0, 0),
            strict_checked: tuple[int, int] | None = (0, 0), seed: int = 0) -> LCMProposal:
    """What our LCM changes this round, with τ and the estimated precision.

    Parameters
    ----------
    summary : RegionSummary
        This round's regions.
    current : (R,) int
        Their current labels (answered regions: their answer).
    eligible : (R,) bool
        Regions that may change.
    this_round : (rows, old, answers), each (n,) int
        This round's answered queries.
    past : iterable of Examples
        The answers of earlier rounds (:func:`examples` of each round).
    fixed_tau : float
        τ when ``config.target_precision`` is None.
    checked : (checks, right)
        The answered checks of its proposals so far
        (:func:`~a2lc_napari.engine.lcm_checks.tally`). Where they show a
        precision below the target (:func:`~a2lc_napari.engine.lcm_checks.below_target`),
        it changes nothing (:func:`~a2lc_napari.engine.lcm_checks.heed`).
    strict_checked : (checks, right) or None
        The answered checks of its strictest gate's proposals so far, which
        alone vouch for that gate, taken while too few answers confirmed a
        label; None: not heeded.

    Returns
    -------
    LCMProposal
        ``tau`` None (and no update) where no threshold reaches the target
        precision or the checks show it falls short; ``reach`` the
        neighbour gate's; ``estimated_precision`` and ``lower_precision`` in
        percent. At the strictest gate (``strict``): no estimate, and
        ``checks``, ``checks_right`` and ``lower_precision`` those of its
        own checks.
    """
    features = region_features(summary, config)
    train = Examples.concatenate([examples(summary, *this_round, ignore_index, config,
                                           features), *past])
    if len(train.answers) < 2:
        return LCMProposal(reason=silence_reason(train.old, train.answers, config))
    gate = threshold_for(train.features, train.old, train.answers, num_classes, config,
                         fixed_tau, train.model_class, seed=seed)
    gate, reason = heed(gate, checked, config.target_precision, strict_checked)
    if gate.tau is None and (reason is None or gate.strict):
        reason = " ".join(filter(None, (silence_reason(train.old, train.answers, config),
                                        reason)))
    if gate.strict:  # judged by its own checks alone, reported so
        checks, right = strict_checked or (0, 0)
        lower = Gate(right=right, changes=checks).lower_bound()
        proposal = LCMProposal(tau=gate.tau, reach=gate.reach, reason=reason, checks=checks,
                               checks_right=right, strict=True,
                               lower_precision=None if lower is None else round(100 * lower, 2))
    else:
        proposal = held_out_report(gate, reach=gate.reach, reason=reason, checks=checked[0],
                                   checks_right=checked[1])
    if gate.tau is None or not eligible.any():
        return proposal
    rows = np.flatnonzero(eligible)
    d = decide(train.features, train.old, train.answers, features[rows], current[rows],
               num_classes, config, summary.mean_prob[rows].argmax(axis=1), seed=seed)
    gt = None if summary.gt_hist is None else majority(summary.gt_hist, ignore_index)
    proposal.updates = [LCMUpdate.of_row(summary, rows[j], names, current[rows[j]],
                                         d.predicted[j], d.confidence[j], gt)
                        for j in np.flatnonzero(d.changes(gate.tau, gate.reach))]
    return proposal
