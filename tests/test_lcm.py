"""The Label Correction Module: weights, tail classes, and each criterion
shown to block an update."""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from a2lc_napari.engine.config import LCMConfig
from a2lc_napari.engine.lcm import (Decisions, answer_spacings,
                                    class_balance_weights, confusions_seen, decide,
                                    lcm_features, make_mlp, neighbour_agreement, reach_of,
                                    select_updates, tail_classes, train_lcm)

IGNORE = 255


def test_class_balance_weights_by_hand():
    # counts [3, 1, 0]: total/count = [4/3, 4, 0] → normalised [0.25, 0.75, 0].
    np.testing.assert_allclose(class_balance_weights(np.array([0, 0, 0, 1]), 3),
                               [0.25, 0.75, 0.0])


def test_tail_is_the_half_with_fewest_answers_ties_in_class_order():
    tail, rarest = tail_classes(np.array([3, 0, 5, 0]), alpha=0.5)
    assert tail.tolist() == [False, True, False, True]
    assert rarest == 1
    tail, rarest = tail_classes(np.array([2, 2, 2, 2, 2]), alpha=0.5)
    assert tail.tolist() == [True, True, False, False, False]  # floor(2.5) = 2
    assert rarest == 0


def test_mlp_shape():
    mlp = make_mlp(9, 7, (256, 128, 64))
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (9, 256), (256, 128), (128, 64), (64, 7)]


class Logits(nn.Module):
    """Features are the logits: the test sets p = softmax(feature) directly."""

    def forward(self, x):
        return x


def _feature(cls, conf, k=4):
    # logits giving softmax max = conf at class cls
    other = np.log((1 - conf) / (k - 1))
    f = np.full(k, other)
    f[cls] = np.log(conf)
    return f


# answers this round: class 0: 3, class 1: 2, class 2: 0, class 3: 1
# → fewest first: 2, 3, 1, 0 → tail {2, 3}, rarest 2.
COUNTS = np.array([3, 2, 0, 1])


def _decide(pred, conf, current, eligible=True, tau=0.99):
    feats = np.array([_feature(pred, conf)], dtype=np.float32)
    upd = select_updates(Logits(), feats, np.array([current]), np.array([eligible]),
                         COUNTS, tau, alpha=0.5)
    return bool(upd.update[0])


def test_all_criteria_hold_updates():
    assert _decide(pred=1, conf=0.999, current=0)


def test_j1_low_confidence_blocks():
    assert not _decide(pred=1, conf=0.98, current=0)
    assert _decide(pred=1, conf=0.98, current=0, tau=0.9)


def test_j2_tail_prediction_blocks():
    assert not _decide(pred=3, conf=0.999, current=0)


def test_j3_region_of_rarest_class_blocks():
    assert not _decide(pred=1, conf=0.999, current=2)


def test_same_class_or_manual_region_blocks():
    assert not _decide(pred=1, conf=0.999, current=1)
    assert not _decide(pred=1, conf=0.999, current=0, eligible=False)


def test_unlabeled_region_can_be_filled():
    assert _decide(pred=0, conf=0.999, current=IGNORE)


def test_step1_learns_separable_answers():
    rng = np.random.default_rng(0)
    centres = np.eye(3, dtype=np.float32) * 0.8 + 0.2 / 3
    y = np.repeat([0, 1, 2], 6)
    x = centres[y] + rng.normal(0, 0.02, (18, 3)).astype(np.float32)
    mlp = train_lcm(x, y, 3, LCMConfig(min_steps=300, paper=True), seed=0)
    with torch.no_grad():
        pred = mlp(torch.from_numpy(centres)).argmax(1).tolist()
    assert pred == [0, 1, 2]


def test_step1_is_deterministic():
    x = np.random.default_rng(0).random((10, 3)).astype(np.float32)
    y = np.arange(10) % 3
    a, b = (train_lcm(x, y, 3, LCMConfig(full_batch_steps=30), seed=5) for _ in range(2))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("alpha,expected", [(0.0, 0), (1.0, 4)])
def test_alpha_sets_tail_size(alpha, expected):
    assert tail_classes(COUNTS, alpha)[0].sum() == expected


# ---- our LCM: features and the similarity gate ----------------------------------

def test_neighbour_agreement_by_hand():
    # answers on a line: x = 0, 1 were labelled 0 and answered 2; x = 2 was
    # labelled 1 and answered 2; x = 10, 11 were labelled 1 and answered 1
    train = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]], np.float32)
    old, answers = np.array([0, 0, 1, 1, 1]), np.array([2, 2, 2, 1, 1])
    queries = np.array([[0.5], [10.5], [2.0]], np.float32)
    current, predicted = np.array([0, 0, 255]), np.array([2, 2, 2])
    agree, dist = neighbour_agreement(train, old, answers, queries, current, predicted,
                                      num_classes=3, k=2)
    # 0.5: pooled 0, 1 say 2 (2 of 2); labelled 0: 0, 1 say 2 (2 of 2) -> 4 / 4
    # 10.5: pooled 10, 11 say 1 (0 of 2); labelled 0: 1, 0 say 2 (2 of 2) -> 2 / 4
    # 2.0: pooled 2, 1 say 2; nothing answered was unlabelled -> the pooled alone, 2 / 2
    np.testing.assert_allclose(agree, [1.0, 0.5, 1.0])
    np.testing.assert_allclose(dist, [0.5, 0.5, 1.0])
    # k above the answers: the pooled 5 hold three 2s, the two labelled 0 both say 2
    agree, dist = neighbour_agreement(train, old, answers, queries[:1], current[:1],
                                      predicted[:1], num_classes=3, k=10)
    np.testing.assert_allclose(agree, [5 / 7])
    np.testing.assert_allclose(dist, [10.5])


def test_answer_spacings_are_the_kth_neighbour_distances():
    train = np.array([[0.0], [1.0], [3.0], [7.0]], np.float32)
    np.testing.assert_allclose(answer_spacings(train, 1), [1, 1, 2, 4])
    np.testing.assert_allclose(answer_spacings(train, 2), [3, 2, 3, 6])
    assert np.isinf(answer_spacings(train[:2], 2)).all()


def test_reach_is_the_smallest_quantile_of_the_spacings_not_exceeded():
    spacings = np.array([1.0, 1.0, 2.0, 4.0])  # quantiles 0.5: 1.5, 0.75: 2.5, 1: 4
    reach = reach_of(np.array([1.0, 1.5, 2.0, 3.0, 4.0, 5.0]), spacings, (0.5, 0.75, 1.0))
    assert reach.tolist() == [0.5, 0.5, 0.75, 1.0, 1.0, np.inf]
    # Answers with no k-th neighbour (spacings all inf): no reach, and no NaN warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reach_of(np.array([1.0]), np.full(2, np.inf), (0.5,)).tolist() == [np.inf]


def test_confusions_seen_by_hand():
    # answers: 0 -> 1, 2 -> 2 (confirmed), ignore -> 3
    seen = confusions_seen(np.array([0, 2, IGNORE]), np.array([1, 2, 3]), 4)
    assert np.argwhere(seen).tolist() == [[0, 1], [4, 3]]


def test_lcm_features_standardised_per_group():
    rng = np.random.default_rng(0)
    prob, app = rng.random((50, 3)), rng.random((50, 6 + 4)) * 7 + 2
    f = lcm_features(prob, app)
    assert f.shape == (50, 13)
    np.testing.assert_allclose(f.mean(0), 0, atol=1e-6)
    # unit variance per column, then each group divided by sqrt(its width)
    np.testing.assert_allclose(f.std(0), [1 / np.sqrt(3)] * 3 + [1 / np.sqrt(6)] * 6
                               + [1 / 2] * 4, rtol=1e-5)
    assert lcm_features(prob).shape == (50, 3)


def test_decisions_change_only_supported_regions_above_tau():
    d = Decisions(np.array([1, 2, 3]), np.array([0.95, 0.99, 0.999], np.float32),
                  np.array([True, False, True]), np.array([0.5, 0.5, 1.0]))
    assert d.changes(0.96).tolist() == [False, False, True]
    assert d.changes(0.9).tolist() == [True, False, True]
    assert d.changes(0.9, reach=0.5).tolist() == [True, False, False]
    assert not d.changes(None).any()


def _two_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[2.0, 0.0], [-2.0, 0.0]], np.float32)
    which = np.repeat([0, 1], 6)
    train = centres[which] + rng.normal(0, 0.05, (12, 2)).astype(np.float32)
    # cluster 0 was labelled 0 and answered 1; cluster 1 labelled 2, confirmed
    return train, np.array([0, 2])[which], np.array([1, 2])[which]


@pytest.mark.parametrize("where,current,expected", [
    ((2.0, 0.05), 0, True),     # like the answers that turned 0 into 1
    ((2.0, 0.05), 3, False),    # 3 -> 1 is no confusion any answer showed
    ((2.0, 0.05), 1, False),    # already the class
    ((30.0, 0.0), 0, False),    # far from every answer
])
def test_similarity_and_confusion_gates(where, current, expected):
    train, old, answers = _two_clusters()
    config = LCMConfig(full_batch_steps=100, agree_with_model=False, neighbours=3,
                       reaches=(1.0,))
    d = decide(train, old, answers, np.array([where], np.float32), np.array([current]),
               4, config, seed=0)
    assert d.predicted[0] == 1
    assert bool(d.changes(0.0, reach=1.0)[0]) is expected


def test_j4_in_decide_needs_the_model_class():
    train, old, answers = _two_clusters()
    config = LCMConfig(full_batch_steps=100, agree_with_model=True, neighbours=3,
                       reaches=(1.0,))
    cand = np.array([[2.0, 0.0]], np.float32)
    agree = decide(train, old, answers, cand, np.array([0]), 4, config, np.array([1]))
    disagree = decide(train, old, answers, cand, np.array([0]), 4, config, np.array([0]))
    assert agree.supported[0] and not disagree.supported[0]
