"""Out-of-fold region probabilities and the ranking by doubt, on hand-made regions."""
import numpy as np
import pytest

from a2lc_napari.engine import acquisition as acq
from a2lc_napari.engine.config import SessionConfig
from a2lc_napari.engine.methods import METHODS, query_ranking, ranks_with_trees
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.region_classifier import (
    EARLY_STOPPING_ABOVE,
    image_folds,
    out_of_fold_probabilities,
    region_statistics,
)
from a2lc_napari.engine.region_summary import summarize_image


def oof(*args, **kwargs):
    """:func:`out_of_fold_probabilities`, run to its end."""
    return drive(out_of_fold_probabilities(*args, **kwargs), quiet=True)


def _two_clusters(n_images=6, per_image=20, seed=0):
    """Dark regions labelled 0, bright ones 1, as one feature each."""
    rng = np.random.default_rng(seed)
    image = np.repeat(np.arange(n_images), per_image)
    bright = rng.random(len(image)) < 0.5
    features = (bright + rng.normal(0, 0.05, len(image)))[:, None]
    return features, bright.astype(np.int64), image


def test_image_folds_keep_images_whole():
    image = np.array([3, 3, 7, 7, 7, 9, 12, 12])
    fold = image_folds(image, 2, seed=1)
    for i in np.unique(image):
        assert len(set(fold[image == i])) == 1
    assert set(fold) == {0, 1}
    assert set(image_folds(np.array([5, 5]), 5)) == {0}  # one image: one fold


def test_a_mislabelled_region_is_doubted():
    features, labels, image = _two_clusters()
    labels[7] = 1 - labels[7]  # one label error
    prob = oof(features, labels, image_folds(image, 3), 2)
    np.testing.assert_allclose(prob.sum(axis=1), 1)
    own = prob[np.arange(len(labels)), labels]
    assert own[7] < 0.5 and np.argsort(own)[0] == 7


def test_a_region_is_judged_without_its_own_image():
    # Flipping every label of image 0 changes nothing of image 0's
    # probabilities: its regions never trained the trees that judge them.
    features, labels, image = _two_clusters()
    fold = image_folds(image, 3)
    before = oof(features, labels, fold, 2)
    flipped = labels.copy()
    flipped[image == 0] = 1 - flipped[image == 0]
    after = oof(features, flipped, fold, 2)
    np.testing.assert_array_equal(after[image == 0], before[image == 0])
    assert not np.array_equal(after[image != 0], before[image != 0])


def test_the_folds_on_worker_processes_give_the_same_probabilities():
    from a2lc_napari.engine.parallel import executor

    features, labels, image = _two_clusters(n_images=8)
    labels[[3, 50, 90]] = 1 - labels[[3, 50, 90]]
    labels[20] = 255
    fold = image_folds(image, 5)
    steps = out_of_fold_probabilities(features, labels, fold, 3)
    reports = [next(steps)]
    while True:  # a report before the folds, then one after each
        try:
            reports.append(next(steps))
        except StopIteration as stop:
            here = stop.value
            break
    assert [(p.done, p.total) for p in reports] == [(k, 5) for k in range(6)]
    with executor(2) as pool:
        there = oof(features, labels, fold, 3, executor=pool)
    np.testing.assert_array_equal(there, here)


def test_ignore_labels_are_judged_not_learnt_and_degenerate_folds():
    features = np.array([[0.0], [0.1], [1.0], [1.1]])
    labels = np.array([0, 255, 0, 0])
    fold = np.array([0, 0, 1, 1])
    prob = oof(features, labels, fold, 3)
    # Each fold trains on the other's one class only: probability 1 for it.
    np.testing.assert_array_equal(prob, [[1, 0, 0]] * 4)
    prob = oof(features, np.full(4, 255), fold, 4)
    np.testing.assert_array_equal(prob, np.full((4, 4), 0.25))  # nothing to learn


def test_a_class_of_one_region_among_many_is_left_out_not_an_error():
    """Above EARLY_STOPPING_ABOVE training regions the trees hold out a share
    drawn class by class, which a class of one region cannot give."""
    features, labels, image = _two_clusters(n_images=2, per_image=EARLY_STOPPING_ABOVE + 500)
    labels[0] = 2  # one region of class 2, in fold 0: fold 1 trains on it
    fold = (image == 1).astype(np.int64)
    prob = oof(features, labels, fold, 3)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0)
    assert not prob[:, 2].any()  # absent from fold 0's, left out of fold 1's
    # the other classes are learnt as ever
    assert (prob[labels < 2].argmax(axis=1) == labels[labels < 2]).mean() > 0.95


def test_label_doubt_is_the_mean_a_cil_of_one_vector_per_region():
    prob = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [1.0, 0.0]])
    # Region 0: 4 pixels of class 0. Region 1: 2 of class 0, 2 of class 1.
    # Region 2: 1 of class 1, 3 ignore (no label that could be right: doubt 1).
    # Region 3: all ignore, however sure the trees are of a class there.
    hist = np.array([[4, 0, 0], [2, 2, 0], [0, 1, 3], [0, 0, 5]])
    doubt = acq.label_doubt(prob, hist)
    np.testing.assert_allclose(doubt, [0.1, (2 * 0.8 + 2 * 0.2) / 4,
                                       (0.6 + 3 * 1) / 4, 1])


def test_region_statistics_from_a_summary():
    image = np.zeros((4, 6, 3), np.uint8)
    image[:, 3:] = 255  # region 2 bright, an edge between the regions
    regions = np.where(np.arange(6) < 3, 1, 2)[None].repeat(4, 0).astype(np.int32)
    probs = np.full((2, 4, 6), 0.5, np.float32)
    s = summarize_image(probs, np.zeros((4, 6), np.uint8), regions, 255, image=image)
    stats = region_statistics(s)
    assert stats.shape == (2, 11)
    np.testing.assert_allclose(stats[:, :3], [[0, 0, 0], [1, 1, 1]])  # colour mean
    np.testing.assert_allclose(stats[:, 9], [1 / 6, 4 / 6])  # centroid column (0-2, 3-5)
    np.testing.assert_allclose(stats[:, 8], 1.5 / 4)  # centroid row
    # np.gradient: columns 2 and 3 see half the step, the others none.
    np.testing.assert_allclose(stats[:, 6], [0.5 / 3, 0.5 / 3])
    np.testing.assert_allclose(stats[:, 10], np.log(12))
    with pytest.raises(ValueError, match="appearance"):
        region_statistics(summarize_image(probs, np.zeros((4, 6), np.uint8), regions, 255))


def test_query_ranking():
    assert query_ranking(METHODS["a2lc"], "out_of_fold", 1) == "doubt"
    default = SessionConfig().confidence
    assert query_ranking(METHODS["a2lc"], default, 1) == "turns"  # round 1 takes turns
    assert query_ranking(METHODS["a2lc"], default, 2) == "abc_doubt"
    assert query_ranking(METHODS["abc"], default, 1) == "turns"
    assert query_ranking(METHODS["abc"], "model", 1) == "abc"
    assert query_ranking(METHODS["alc"], "out_of_fold", 1) == "sim"
    assert query_ranking(METHODS["lcm"], default, 1) == "sim"
    # Pruning θ's labels uses the trees' doubts: only where a round ranks by them.
    assert ranks_with_trees(METHODS["a2lc"], default) and ranks_with_trees(METHODS["abc"],
                                                                          "out_of_fold")
    assert not ranks_with_trees(METHODS["a2lc"], "model")
    assert not ranks_with_trees(METHODS["alc"], default)
