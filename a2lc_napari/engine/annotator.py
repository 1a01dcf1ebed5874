"""The simulated annotator: answers a query from the ground truth, by the
authors' rule (ALGORITHM.md, "Simulated annotator")."""
from __future__ import annotations

import numpy as np

from .region_summary import majority


def label_accuracy(labels: np.ndarray, gt: np.ndarray, ignore_index: int) -> float:
    """Share of a region's labelled pixels whose label is the ground truth's.

    Parameters
    ----------
    labels, gt : (n,) uint8
        Current labels and ground truth of the region's pixels.

    Returns
    -------
    float in [0, 1]; 0 for a region with no labelled pixel.
    """
    labelled = labels != ignore_index
    if not labelled.any():
        return 0.0
    return float(np.mean(labels[labelled] == gt[labelled]))


def simulated_answer(labels: np.ndarray, gt: np.ndarray, proposed: int, num_classes: int,
                     ignore_index: int, gt_pixel: int | None = None) -> tuple[int, bool]:
    """The annotator's answer to "is this region of class ``proposed``?".

    The region's pixels are rewritten only when at most half of its labelled
    pixels are right (the authors' ``acc <= 0.5``): with the ground truth's
    majority class (region query) or its class at the representative pixel
    (pixel query, ``gt_pixel``). Otherwise the region is confirmed as it is.

    Parameters
    ----------
    labels, gt : (n,) uint8
        Current labels and ground truth of the region's pixels.
    proposed : int
        The class the query proposes.

    Returns
    -------
    answer : int
        The class answered (``proposed`` when confirmed).
    rewrite : bool
        Whether the region's pixels are to be rewritten with ``answer``.
    """
    if label_accuracy(labels, gt, ignore_index) > 0.5:
        return int(proposed), False
    if gt_pixel is not None:
        return int(gt_pixel), True
    values = np.where(gt == ignore_index, num_classes, gt).astype(np.int64)
    hist = np.bincount(values, minlength=num_classes + 1)[None]
    return int(majority(hist, ignore_index)[0]), True


def changes_labels(labels: np.ndarray, gt: np.ndarray, num_classes: int,
                   ignore_index: int) -> bool:
    """Whether the annotator's answer to a region query changes a label of
    the region (:func:`simulated_answer`): its labels are wrong. A region
    already labelled with its answer is not, e.g. an unlabelled region
    whose ground truth has no class pixel.

    Parameters
    ----------
    labels, gt : (n,) uint8
        Current labels and ground truth of the region's pixels.
    """
    answer, rewrite = simulated_answer(labels, gt, ignore_index, num_classes, ignore_index)
    return rewrite and bool((labels != answer).any())
