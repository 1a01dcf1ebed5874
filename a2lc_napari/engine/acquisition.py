"""The acquisition scores of ALC and A²LC (ALGORITHM.md) over a round's
:class:`~a2lc_napari.engine.region_summary.RegionSummary`, and the ranking
they give."""
from __future__ import annotations

import numpy as np

from .region_summary import RegionSummary


def abc_class_weights(counts: np.ndarray) -> np.ndarray:
    """ABC's adaptive class weights ``w(c) = ŵ(c) ** KL³``.

    Parameters
    ----------
    counts : (K,) int
        Pixels per current label class ``n(c)`` (ignore not counted).

    Returns
    -------
    (K,) float64
        ``ŵ(c) = min n / n(c)`` raised to the cube of the KL divergence of
        the class distribution from uniform over the k present classes;
        0 for classes with no pixel.
    """
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    w = np.zeros_like(counts)
    if not present.any():
        return w
    n = counts[present]
    share = n / n.sum()
    kl = float(np.sum(share * np.log(share * present.sum())))
    w[present] = (n.min() / n) ** (kl ** 3)
    return w


def class_counts(summary: RegionSummary, exclude: np.ndarray | None = None) -> np.ndarray:
    """(K,) int64 pixels per current class over regions not in ``exclude`` (R,) bool."""
    hist = summary.label_hist[:, :-1]
    if exclude is not None:
        hist = hist[~exclude]
    return hist.sum(axis=0)


def label_doubt(prob: np.ndarray, label_hist: np.ndarray) -> np.ndarray:
    """(R,) float64 mean of ``a_CIL`` over each region when ``f`` is one
    vector per region, ``prob`` (R, K).

    A pixel labelled c has ``a_CIL = 1 - prob[m, c]``; an ignore pixel
    has no label that could be right, so its doubt is 1. ``label_hist``
    (R, K + 1) counts the current labels per region, ignore last. A region
    whose pixels all carry one label c scores ``1 - prob[m, c]``: confident
    learning's self-confidence, turned into doubt.
    """
    prob = np.asarray(prob, dtype=np.float64)
    doubt = (label_hist[:, :-1] * (1.0 - prob)).sum(axis=1) + label_hist[:, -1]
    return doubt / np.maximum(label_hist.sum(axis=1), 1)


def doubt_places(doubt: np.ndarray, size: np.ndarray,
                 exclude: np.ndarray | None = None) -> np.ndarray:
    """(R,) float64 score that ranks regions by ``doubt`` (R,) (their
    :func:`label_doubt`), highest first, and equal doubts by ``size`` (R,),
    the larger region first: ``-place`` (0 the best), ``-inf`` for regions
    in ``exclude``.

    Every region with no labelled pixel has doubt 1: without the sizes, a
    one-pixel sliver left between masks would be asked before a large
    unlabelled region, a question no person can answer from what they see,
    and one that sets nearly nothing right.
    """
    order = rank(doubt, exclude, ties=size)
    out = np.full(len(doubt), -np.inf)
    out[order] = -np.arange(len(order), dtype=np.float64)
    return out


def taking_turns(first: np.ndarray, second: np.ndarray,
                 exclude: np.ndarray | None = None) -> np.ndarray:
    """(R,) float64 score whose ranking takes turns between two scores.

    The best region by ``first``, then the best by ``second``, then the
    second best by ``first``, and so on, each region taken once. A region
    at place ``i`` by ``first`` and ``j`` by ``second`` (0 the best, among
    regions not in ``exclude``) scores ``-min(2 i, 2 j + 1)``; excluded
    regions score ``-inf``.

    Parameters
    ----------
    first, second : (R,) float
        Scores, highest best; ties keep dataset order, as in :func:`rank`.
    exclude : (R,) bool, optional
    """
    out = np.full(len(first), -np.inf)
    best = np.full(len(first), np.inf)
    for turn, score in enumerate((first, second)):
        order = rank(np.asarray(score, dtype=np.float64), exclude)
        best[order] = np.minimum(best[order], 2 * np.arange(len(order)) + turn)
    keep = np.isfinite(best)
    out[keep] = -best[keep]
    return out


def region_scores(summary: RegionSummary, ranking: str,
                  exclude: np.ndarray | None = None) -> np.ndarray:
    """(R,) float64 acquisition score: ``"sim"`` (ALC's a_SIM), ``"abc"``
    (A²LC's a_ABC, class counts taken over regions not in ``exclude``),
    ``"doubt"`` (:func:`doubt_places`: by :func:`label_doubt` of
    ``summary.oof_prob``, equal doubts by size),
    ``"abc_doubt"`` (a_ABC times :func:`label_doubt`: the pixels' ``a_CIL``
    weighted by how much a model that never saw the image doubts the
    region's label) or
    ``"turns"`` (:func:`taking_turns` between the doubt, first, and that
    product, among regions not in ``exclude``)."""
    if ranking == "sim":
        return summary.sim
    if ranking == "doubt":
        return doubt_places(label_doubt(summary.oof_prob, summary.label_hist), summary.size,
                            exclude)
    if ranking in ("abc", "abc_doubt", "turns"):
        score = summary.abc_score(abc_class_weights(class_counts(summary, exclude)))
        if ranking == "abc":
            return score
        doubt = label_doubt(summary.oof_prob, summary.label_hist)
        if ranking == "abc_doubt":
            return score * doubt
        return taking_turns(doubt_places(doubt, summary.size, exclude), score * doubt, exclude)
    raise ValueError(f"unknown ranking {ranking!r}")


def rank(score: np.ndarray, exclude: np.ndarray | None = None,
         ties: np.ndarray | None = None) -> np.ndarray:
    """Row indices by descending score, leaving out rows where ``exclude``
    is True; equal scores by descending ``ties`` (R,) where given, then in
    dataset order (stable)."""
    order = (np.argsort(-score, kind="stable") if ties is None
             else np.lexsort((-np.asarray(ties, dtype=np.float64), -score)))
    if exclude is not None:
        order = order[~exclude[order]]
    return order
