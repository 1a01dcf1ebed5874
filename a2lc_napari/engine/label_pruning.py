"""The labels the segmentation model does not train on: confident
learning's prune step (ALGORITHM.md, "θ trained on the labels the trees
trust").

θ is trained on the noisy labels of the very images it then judges, so the
longer it trains the more of their errors it learns. Before it trains, the
out-of-fold trees (:mod:`~a2lc_napari.engine.region_classifier`) judge every
region's current label from what the region looks like; the regions they
doubt, as confident learning finds label issues, are left out of θ's
training (their pixels count as ignore there, nowhere else). The same
out-of-fold probabilities then serve the round's ranking: the trees see
nothing of θ, so they are what the ranking would have made after it.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .dataset import Dataset
from .image_cache import ImageCache
from .progress import Progress, Steps
from .region_classifier import summary_probabilities
from .region_summary import RegionSummary, region_look
from .regions import compact_ids
from .rounds import manual_mask

#: What the widget's status line says while the labels are read for the trees.
READING = "Reading the labels for the out-of-fold trees"


def label_summary(labels: np.ndarray, regions: np.ndarray, look: np.ndarray,
                  num_classes: int, image_index: int = 0) -> RegionSummary:
    """What a round's summary holds before θ exists: each region's labels,
    size and look, with zeros where θ's parts would be.

    Parameters
    ----------
    labels : (H, W) uint8
        Current labels; any value >= ``num_classes`` counts as ignore.
    regions : (H, W) int
        Region ids; 0 = no region.
    look : (n + 1, 10) float64
        :func:`~a2lc_napari.engine.region_summary.image_look` of ``regions``.

    Returns
    -------
    RegionSummary
        One row per region id, in increasing id order, as
        :func:`~a2lc_napari.engine.region_summary.summarize_image` gives them;
        ``abc_parts`` and ``mean_prob`` are zero.
    """
    compact, ids = compact_ids(regions)
    reg, n_bins = compact.ravel(), len(ids)
    lab = np.minimum(labels.ravel(), num_classes).astype(np.int64)
    hist = np.bincount(reg * (num_classes + 1) + lab, minlength=n_bins * (num_classes + 1))
    appearance, layout = region_look(look, None, reg, n_bins)
    keep = slice(1, None)  # bin 0: the "no region" pixels
    n = n_bins - 1
    return RegionSummary(
        image=np.full(n, image_index, dtype=np.int32), ids=ids[keep].astype(np.int32),
        size=np.bincount(reg, minlength=n_bins)[keep].astype(np.int64),
        label_hist=hist.reshape(n_bins, num_classes + 1)[keep].astype(np.int64),
        abc_parts=np.zeros((n, num_classes)), mean_prob=np.zeros((n, num_classes), np.float32),
        appearance=appearance[keep], layout=layout[keep])


def doubted(oof_prob: np.ndarray, labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(R,) bool: the regions whose label the trees doubt, by confident
    learning's rule.

    A region labelled c is doubted when the trees give c less than they
    give it on average over the regions labelled c (the class's threshold:
    a rare or hard class is judged against itself) and put another class
    first.

    Parameters
    ----------
    oof_prob : (R, K) float
        Out-of-fold class probabilities.
    labels : (R,) int
        Each region's current label; values >= K (ignore) are never doubted:
        they are not trained on anyway.
    keep : (R,) bool
        Regions never doubted: the person's answers.
    """
    num_classes = oof_prob.shape[1]
    labelled = labels < num_classes
    own = np.ones(len(labels))
    own[labelled] = oof_prob[labelled, labels[labelled]]
    threshold = np.ones(num_classes + 1)
    counts = np.bincount(labels[labelled], minlength=num_classes)
    sums = np.bincount(labels[labelled], weights=own[labelled], minlength=num_classes)
    threshold[:num_classes] = np.where(counts > 0, sums / np.maximum(counts, 1), 1.0)
    others_first = oof_prob.argmax(axis=1) != labels
    return labelled & ~keep & (own < threshold[np.minimum(labels, num_classes)]) & others_first


def judge_labels(dataset: Dataset, images: ImageCache, labels: Callable[[str], np.ndarray],
                 manual: dict[str, list[int]], seed: int = 0,
                 executor=None) -> Steps[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """The out-of-fold probabilities of every region's current label, and the
    regions θ should not train on.

    Parameters
    ----------
    labels : callable
        ``labels(name) -> (H, W) uint8``, the current labels.
    manual : dict
        Image name -> region ids the person answered or set: never left out.

    Yields
    ------
    Progress
        Per image read, then the trees' folds. Returns ``(oof_prob (R, K)
        float32, {name: region ids left out}``), the rows in the order of the
        round's summary.
    """
    classes = dataset.classes
    parts = []
    for i, name in enumerate(dataset.names):
        regions = dataset.regions(name)
        look = images.for_round(dataset, name, regions)[1]
        parts.append(label_summary(labels(name), regions, look, classes.num_classes, i))
        yield Progress(i + 1, len(dataset.names), READING)
    summary = RegionSummary.concatenate(parts)
    oof_prob = yield from summary_probabilities(summary, classes.num_classes,
                                                classes.ignore_index, seed=seed,
                                                executor=executor)
    keep = manual_mask(summary, manual, dataset.names)
    out = doubted(oof_prob, summary.majority_label(classes.ignore_index), keep)
    # the rows come image by image, in the dataset's order: one slice each
    bounds = np.searchsorted(summary.image, np.arange(len(dataset.names) + 1))
    left_out = {name: summary.ids[start:stop][out[start:stop]]
                for name, start, stop in zip(dataset.names, bounds[:-1], bounds[1:])}
    return oof_prob, left_out


def without(labels: np.ndarray, regions: np.ndarray, ids: np.ndarray,
            ignore_index: int) -> np.ndarray:
    """(H, W) uint8 copy of ``labels`` with the pixels of regions ``ids`` set to
    ``ignore_index``: what θ trains on."""
    out = labels.copy()
    if len(ids):
        out[np.isin(regions, ids)] = ignore_index
    return out
