"""The Label Correction Module: weights, tail classes, and each criterion
shown to block an update."""
import numpy as np
import pytest
import torch
from torch import nn

from a2lc_napari.engine.lcm import (LCMConfig, class_balance_weights, make_mlp,
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
    mlp = make_mlp(7, (256, 128, 64))
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (7, 256), (256, 128), (128, 64), (64, 7)]


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
    mlp = train_lcm(x, y, 3, LCMConfig(min_steps=300), seed=0)
    with torch.no_grad():
        pred = mlp(torch.from_numpy(centres)).argmax(1).tolist()
    assert pred == [0, 1, 2]


def test_step1_is_deterministic():
    x = np.random.default_rng(0).random((10, 3)).astype(np.float32)
    y = np.arange(10) % 3
    a, b = (train_lcm(x, y, 3, LCMConfig(min_steps=50), seed=5) for _ in range(2))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("alpha,expected", [(0.0, 0), (1.0, 4)])
def test_alpha_sets_tail_size(alpha, expected):
    assert tail_classes(COUNTS, alpha)[0].sum() == expected


def test_j4_model_disagreement_blocks():
    # The feature's argmax is class 1; an MLP predicting 0 is blocked by J4 only.
    feats = np.array([[0.2, 0.8, 0.0, 0.0]], dtype=np.float32)

    class Predicts0(nn.Module):
        def forward(self, x):
            return torch.tensor([[10.0, 0.0, 0.0, 0.0]])

    def decide(agree):
        return bool(select_updates(Predicts0(), feats, np.array([3]), np.array([True]),
                                   COUNTS, 0.99, 0.5, agree_with_model=agree).update[0])

    assert decide(agree=False) and not decide(agree=True)
