"""Out-of-fold region probabilities: a model that sees the label errors
instead of learning them (ALGORITHM.md, "Confidence in a region's label").

The segmentation model is trained on the noisy labels of the very images
it then judges, so it learns their errors as well as the truth. Here, as in
confident learning, boosted trees on a few statistics per region are
trained on the current region labels of some images and judge the regions
of the others: each region gets class probabilities from a model that
never saw its image. The ranking then asks first about the regions whose
own labels these probabilities doubt most
(:func:`~a2lc_napari.engine.acquisition.label_doubt`).
"""
from __future__ import annotations

from concurrent.futures import Executor
from functools import partial

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from .parallel import map_ordered
from .progress import Progress, Steps
from .region_summary import RegionSummary

#: What the widget's status line says while the folds are fitted.
JUDGING = "Judging each region's label out of fold"

#: Boosting iterations of each fold's classifier.
ITERATIONS = 100

#: A fold trained on more regions stops boosting once a held-out share of
#: them no longer gains (scikit-learn's own "auto" rule, made explicit).
EARLY_STOPPING_ABOVE = 10_000

#: A fold trained on fewer regions is fitted on one thread: its trees are
#: many and small, and starting threads for each costs more than they save
#: (2 cores: 1.3× faster at 3,500 regions, even near 15,000, slower at 28,000).
ONE_THREAD_BELOW = 10_000


def region_statistics(summary: RegionSummary) -> np.ndarray:
    """(R, 11) float32 per region: colour mean and standard deviation,
    mean absolute gradient (x, y), centroid (row, column) and log area.

    Needs the summary's ``appearance`` and ``layout`` (made with the image).
    """
    if summary.appearance is None or summary.layout is None:
        raise ValueError("region statistics need the regions' appearance and layout "
                         "(summarize_image with the image)")
    return np.concatenate([summary.appearance[:, :6], summary.layout,
                           np.log(summary.size.astype(np.float64))[:, None]],
                          axis=1).astype(np.float32)


def summary_probabilities(summary: RegionSummary, num_classes: int, ignore_index: int,
                          folds: int = 5, seed: int = 0,
                          executor: Executor | None = None) -> Steps[np.ndarray]:
    """:func:`out_of_fold_probabilities` of a round's regions from their
    :func:`region_statistics`, trained on their current majority labels
    (answers included), ``folds`` folds of images (on ``executor``).

    Yields its Progress; returns (R, K) float32."""
    labels = summary.majority_label(ignore_index)
    probs = yield from out_of_fold_probabilities(
        region_statistics(summary), labels, image_folds(summary.image, folds, seed),
        num_classes, seed=seed, executor=executor)
    return probs.astype(np.float32)


def image_folds(image: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """(R,) int64 fold of each region: the images, shuffled with ``seed``,
    dealt into ``folds`` folds (at most one per image), so that a fold
    holds whole images."""
    images = np.unique(image)
    fold_of = np.random.default_rng(seed).permutation(len(images)) % min(folds, len(images))
    return fold_of[np.searchsorted(images, image)]


def out_of_fold_probabilities(features: np.ndarray, labels: np.ndarray, fold: np.ndarray,
                              num_classes: int, seed: int = 0,
                              executor: Executor | None = None) -> Steps[np.ndarray]:
    """Class probabilities of each region from a classifier trained on the
    other folds' regions.

    Parameters
    ----------
    features : (R, F) float
    labels : (R,) int
        The regions' current labels; values >= ``num_classes`` (ignore) are
        not trained on (their regions are still judged).
    fold : (R,) int
        Fold of each region (:func:`image_folds`).
    executor : concurrent.futures.Executor, optional
        Fit the folds on it (:func:`~a2lc_napari.engine.parallel.executor`:
        each on one thread), side by side; default: one after the other,
        here. The probabilities are the same either way.

    Yields
    ------
    Progress
        ``(folds done, folds, JUDGING)``; returns (R, K) float64
        probabilities. Rows sum to 1; a class absent from a fold's training
        regions gets 0 there, as does a class of a single training region in
        a fold trained on more than :data:`EARLY_STOPPING_ABOVE`. A fold whose
        training regions hold a single class gives it probability 1; with no
        training region at all, uniform.
    """
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full((len(labels), num_classes), 1.0 / num_classes)
    folds = np.unique(fold)
    judge = partial(fold_probabilities, features, labels, fold, num_classes, seed)
    yield Progress(0, len(folds), JUDGING)
    for done, (f, probs) in enumerate(zip(folds, map_ordered(judge, folds, executor)), 1):
        if probs is not None:
            out[fold == f] = probs
        yield Progress(done, len(folds), JUDGING)
    return out


def fold_probabilities(features: np.ndarray, labels: np.ndarray, fold: np.ndarray,
                       num_classes: int, seed: int, f: int) -> np.ndarray | None:
    """(n, K) float64 probabilities of fold ``f``'s n regions from a
    classifier trained on the others' (arguments as in
    :func:`out_of_fold_probabilities`); None with no region to train on."""
    test = fold == f
    train = ~test & (labels < num_classes)
    early = train.sum() > EARLY_STOPPING_ABOVE
    if early:
        # The held-out share is drawn class by class, which fails on a class
        # of one region (a rare class, one answer): it is left out, as absent.
        values, counts = np.unique(labels[train], return_counts=True)
        train &= ~np.isin(labels, values[counts < 2])
    classes = np.unique(labels[train])
    if len(classes) == 0:
        return None
    out = np.zeros((int(test.sum()), num_classes))
    if len(classes) == 1:
        out[:, classes[0]] = 1.0
        return out
    with threadpool_limits(1 if train.sum() < ONE_THREAD_BELOW else None):
        clf = HistGradientBoostingClassifier(max_iter=ITERATIONS, early_stopping=early,
                                             random_state=seed)
        clf.fit(features[train], labels[train])
        out[:, clf.classes_] = clf.predict_proba(features[test])
    return out
