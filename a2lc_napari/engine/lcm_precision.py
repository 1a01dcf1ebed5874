"""How often the LCM's changes are right, estimated from the answers
themselves, and the threshold τ chosen from that estimate.

The answers are labelled data: each answered region has the label it had
before (``old``), and its true class (the answer). Held out of the LCM's
training (k-fold cross-validation), such a region is one the LCM would
change when :func:`~a2lc_napari.engine.lcm.decide` supports a class ``ĉ ≠
old`` at confidence ≥ τ, and the change is right when ``ĉ`` is the answer.
A held-out region whose old label was already right (the answer confirmed
it) can only be changed wrongly: these are the false alarms that matter
most, since most regions the LCM may touch have right labels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta

from .config import LCMConfig
from .lcm import decide, select_updates, train_lcm


@dataclass
class HeldOut:
    """The LCM's decisions on held-out answered regions.

    Attributes
    ----------
    confidence : (n,) float64
        ``max p`` of the LCM trained without the region.
    change : (n,) bool
        It would change the region (before τ and the reach).
    right : (n,) bool
        ... to the answered class.
    reach : (n,) float64
        The reach it needs for that (:class:`~a2lc_napari.engine.lcm.Decisions`).
    """

    confidence: np.ndarray
    change: np.ndarray
    right: np.ndarray
    reach: np.ndarray


@dataclass
class Gate:
    """τ and the reach chosen for a round, and the held-out evidence behind them.

    Attributes
    ----------
    tau : float or None
        None: the LCM changes nothing.
    reach : float
    right, changes : int
        Of the held-out changes at (τ, reach), the right ones and all.
    strict : bool
        The strictest τ and reach, taken because too few answers confirmed
        a label to estimate a precision: only checks of its own proposals
        may vouch for it (:func:`~a2lc_napari.engine.lcm_checks.heed`).
    """

    tau: float | None = None
    reach: float = np.inf
    right: int = 0
    changes: int = 0
    strict: bool = False

    @property
    def precision(self) -> float | None:
        """Estimated precision, right / changes (None without changes)."""
        return self.right / self.changes if self.changes else None

    def lower_bound(self, confidence: float = 0.9) -> float | None:
        """The precision that the held-out changes vouch for at
        ``confidence``: the one-sided Clopper-Pearson bound (exact binomial;
        ``(1 - confidence) ** (1 / n)`` when all n were right). Few
        held-out changes make it low: 8 right of 8 vouch for 75%."""
        if not self.changes:
            return None
        if not self.right:
            return 0.0
        return float(beta.ppf(1 - confidence, self.right, self.changes - self.right + 1))


def held_out_decisions(features: np.ndarray, old: np.ndarray, answers: np.ndarray,
                       num_classes: int, config: LCMConfig,
                       model_class: np.ndarray | None = None, seed: int = 0) -> HeldOut:
    """k-fold cross-validation of :func:`~a2lc_napari.engine.lcm.decide` over
    the answered regions.

    Parameters
    ----------
    features : (n, F) float32
        Features of the answered regions.
    old : (n,) int
        Their labels before the answer (ignore allowed).
    answers : (n,) int
        Their answered classes (no ignore).
    model_class : (n,) int, optional
        The segmentation model's class per region, for J4.

    Returns
    -------
    HeldOut
        Each region decided by an LCM trained on the other folds.
    """
    n = len(answers)
    conf, reach = np.zeros(n), np.full(n, np.inf)
    change = np.zeros(n, bool)
    right = np.zeros(n, bool)
    folds = min(config.folds, n)
    if folds < 2:
        return HeldOut(conf, change, right, reach)
    fold = np.random.default_rng(seed).permutation(n) % folds
    for f in range(folds):
        test, train = fold == f, fold != f
        d = decide(features[train], old[train], answers[train], features[test], old[test],
                   num_classes, config,
                   None if model_class is None else model_class[test], seed=seed + f)
        conf[test], change[test], reach[test] = d.confidence, d.supported, d.reach
        right[test] = d.supported & (d.predicted == answers[test])
    return HeldOut(conf, change, right, reach)


def paper_held_out(mean_prob: np.ndarray, old: np.ndarray, answers: np.ndarray,
                   num_classes: int, config: LCMConfig, tau: float, seed: int = 0) -> Gate:
    """How often the paper's LCM (J1-J3 at ``tau``) changes answered
    regions rightly, each judged by an MLP trained on the other folds.

    What the widget says before applying the paper's LCM: how many of its
    changes these held-out answers vouch for.

    Parameters
    ----------
    mean_prob : (n, K) float32
        Mean probabilities of this round's answered regions (its features).
    old : (n,) int
        Their labels before the answer (ignore allowed).
    answers : (n,) int
        Their answered classes (no ignore).

    Returns
    -------
    Gate
        At ``tau``: the held-out changes and the right ones (none with
        fewer than 2 answers).
    """
    n = len(answers)
    folds = min(config.folds, n)
    right = changes = 0
    fold = np.random.default_rng(seed).permutation(n) % max(folds, 1)
    for f in range(folds if folds >= 2 else 0):
        test, train = fold == f, fold != f
        mlp = train_lcm(mean_prob[train], answers[train], num_classes, config, seed=seed + f)
        u = select_updates(mlp, mean_prob[test], old[test], np.ones(test.sum(), bool),
                           np.bincount(answers[train], minlength=num_classes), tau,
                           config.alpha)
        changes += int(u.update.sum())
        right += int((u.update & (u.predicted == answers[test])).sum())
    return Gate(tau, np.inf, right, changes)


def precision_curve(held: HeldOut, thresholds,
                    reach: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Estimated precision and its support at each threshold, at ``reach``.

    Returns
    -------
    precision : (T,) float64
        Right changes / changes among held-out regions with confidence ≥
        the threshold; NaN where there is none.
    support : (T,) int64
        Those changes.
    """
    t = np.asarray(thresholds, dtype=np.float64)[:, None]
    above = (held.confidence[None, :] >= t) & (held.reach <= reach)[None, :]
    support = (above & held.change[None, :]).sum(axis=1)
    right = (above & held.right[None, :]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(support > 0, right / support, np.nan)
    return precision, support


def choose_tau(thresholds, precision: np.ndarray, support: np.ndarray, target: float,
               min_support: int) -> tuple[float | None, float | None]:
    """The lowest threshold whose estimated precision reaches ``target``
    on at least ``min_support`` held-out changes.

    Returns
    -------
    tau : float or None
        None where no threshold qualifies: the LCM then changes nothing.
    estimate : float or None
        The estimated precision at ``tau``.
    """
    ok = (support >= min_support) & (np.nan_to_num(precision, nan=-1.0) >= target)
    if not ok.any():
        return None, None
    i = int(np.flatnonzero(ok)[0])
    return float(thresholds[i]), float(precision[i])


def choose_gate(held: HeldOut, thresholds, reaches, target: float,
                min_support: int) -> Gate:
    """τ and the reach with the most right held-out changes at a precision
    of at least ``target``: at each reach the lowest qualifying threshold
    (:func:`choose_tau`), the smaller reach on a tie.

    Returns
    -------
    Gate
        ``tau`` None where no pair qualifies (the LCM then changes nothing),
        with the first of ``reaches``.
    """
    best = Gate(reach=reaches[0])
    for reach in reaches:
        precision, support = precision_curve(held, thresholds, reach)
        tau, estimate = choose_tau(thresholds, precision, support, target, min_support)
        if tau is not None:
            changes = int(support[list(thresholds).index(tau)])
            right = round(estimate * changes)
            if right > best.right:
                best = Gate(tau, reach, right, changes)
    return best


def threshold_for(features: np.ndarray, old: np.ndarray, answers: np.ndarray,
                  num_classes: int, config: LCMConfig, fixed_tau: float,
                  model_class: np.ndarray | None = None,
                  seed: int = 0) -> Gate:
    """τ and the reach for this round, and the held-out evidence for them,
    from the answers.

    With ``config.target_precision``: :func:`choose_gate` over
    ``config.thresholds`` and ``config.reaches``; while fewer than
    ``config.min_support`` answers confirmed their old label (held-out
    changes are then mostly right corrections of wrong labels, and say
    little of the candidates, most of which are right), the strictest
    threshold and reach, marked ``strict``, for checks to vouch for. Otherwise
    ``fixed_tau`` at the strictest reach. Arguments as in
    :func:`held_out_decisions`.

    Returns
    -------
    Gate
    """
    if config.target_precision is not None and \
            np.count_nonzero(np.asarray(old) == np.asarray(answers)) < config.min_support:
        # Too few answers confirmed their label: nothing has tried how often
        # the LCM would change a right label, and most candidates have one.
        return Gate(tau=config.thresholds[-1], reach=config.reaches[0], strict=True)
    held = held_out_decisions(features, old, answers, num_classes, config, model_class, seed)
    if config.target_precision is None:
        reach = config.reaches[0]
        precision, support = precision_curve(held, (fixed_tau,), reach)
        changes = int(support[0])
        return Gate(fixed_tau, reach, round(float(precision[0]) * changes) if changes else 0,
                    changes)
    return choose_gate(held, config.thresholds, config.reaches, config.target_precision,
                       config.min_support)
