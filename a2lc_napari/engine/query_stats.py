"""How well a round's queries found wrong labels, and how much the LCM
added to them, measured against the ground truth.

The **query hit rate** is the share of queries whose answer changed the
region's label, divided by the share of wrong regions among the regions
that could be queried: 1 is what random picks would get.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the CLI imports this module without numba
    from .region_summary import RegionSummary


def wrong_regions(summary: RegionSummary) -> np.ndarray | None:
    """(R,) bool: regions whose labels the simulated annotator would change:
    at most half of their labelled pixels right (``acc(m) <= 0.5``; a region
    with no labelled pixel is wrong), and not every pixel already labelled
    with its answer, the ground truth's majority class (ignore where the
    ground truth has no class pixel; an unlabelled region there is right).
    None without ground truth."""
    if summary.gt_agree is None:
        return None
    labels, gt = summary.label_hist, summary.gt_hist
    labelled = labels[:, :-1].sum(axis=1)
    answer = gt[:, :-1].argmax(axis=1)  # histogram columns: ignore is the last
    answer[gt[:, :-1].sum(axis=1) == 0] = gt.shape[1] - 1
    as_answered = labels[np.arange(len(labels)), answer] == labels.sum(axis=1)
    return (2 * summary.gt_agree <= labelled) & ~as_answered


def wrong_share(summary: RegionSummary, exclude: np.ndarray) -> float | None:
    """Percentage of wrong regions among those not in ``exclude`` (R,) bool
    (the regions that could be queried); None without ground truth or
    without such regions."""
    wrong = wrong_regions(summary)
    if wrong is None or exclude.all():
        return None
    return float(100 * wrong[~exclude].mean())


def hit_rate(corrections: int, queries: int, wrong_percent: float | None) -> float | None:
    """The share of ``queries`` that were ``corrections`` (answers that
    changed the label), as a multiple of ``wrong_percent``, the share of
    wrong regions (random picks: 1). None where either share is undefined."""
    if not queries or not wrong_percent:
        return None
    return 100 * corrections / queries / wrong_percent


def right_per_correction(lcm_right: int, corrections: int) -> float | None:
    """The LCM's right changes per correction by hand (None without one)."""
    return lcm_right / corrections if corrections else None
