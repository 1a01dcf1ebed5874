"""The LCM's precision estimated from held-out answers, and the τ chosen from it."""
import numpy as np
import pytest

from a2lc_napari.engine.config import LCMConfig
from a2lc_napari.engine.lcm_precision import (Gate, HeldOut, choose_gate, choose_tau,
                                              held_out_decisions, paper_held_out,
                                              precision_curve,
                                              threshold_for)

THRESHOLDS = (0.5, 0.8, 0.9, 0.99)

# Six held-out answered regions: confidence, would the LCM change it, rightly?
HELD = HeldOut(confidence=np.array([0.6, 0.85, 0.95, 0.95, 0.995, 0.999]),
               change=np.array([True, True, True, False, True, True]),
               right=np.array([False, False, True, False, True, True]),
               reach=np.zeros(6))


def test_precision_at_each_threshold_by_hand():
    precision, support = precision_curve(HELD, THRESHOLDS)
    # >= 0.5: changes at 0.6, 0.85, 0.95, 0.995, 0.999 -> 3 right of 5
    # >= 0.8: 0.85, 0.95, 0.995, 0.999 -> 3 of 4; >= 0.9: 3 of 3; >= 0.99: 2 of 2
    assert support.tolist() == [5, 4, 3, 2]
    np.testing.assert_allclose(precision, [3 / 5, 3 / 4, 1.0, 1.0])


def test_no_change_above_a_threshold_is_nan():
    precision, support = precision_curve(HELD, (0.9999,))
    assert support.tolist() == [0] and np.isnan(precision[0])


def test_tau_is_the_lowest_threshold_reaching_the_target():
    precision, support = precision_curve(HELD, THRESHOLDS)
    assert choose_tau(THRESHOLDS, precision, support, 0.9, min_support=1) == (0.9, 1.0)
    assert choose_tau(THRESHOLDS, precision, support, 0.7, min_support=1) == (0.8, 0.75)
    # 0.9 and 0.99 reach 100% but on fewer than 4 held-out changes
    assert choose_tau(THRESHOLDS, precision, support, 0.9, min_support=4) == (None, None)


def test_tau_none_without_any_change():
    empty = HeldOut(np.zeros(3, np.float32), np.zeros(3, bool), np.zeros(3, bool), np.zeros(3))
    precision, support = precision_curve(empty, THRESHOLDS)
    assert choose_tau(THRESHOLDS, precision, support, 0.5, min_support=1) == (None, None)


def test_gate_reaches_as_far_as_the_target_allows():
    # All changes at confidence 0.95. Within reach 0.5: 5 right of 5; out
    # to reach 1: 4 more right and 1 wrong (9 of 10); farther: 3 wrong more.
    held = HeldOut(confidence=np.full(13, 0.95), change=np.ones(13, bool),
                   right=np.array([True] * 9 + [False] * 4),
                   reach=np.array([0.5] * 5 + [1.0] * 5 + [np.inf] * 3))
    reaches = (0.5, 1.0)
    assert choose_gate(held, THRESHOLDS, reaches, 0.9, min_support=5) == Gate(0.5, 1.0, 9, 10)
    assert choose_gate(held, THRESHOLDS, reaches, 0.95, min_support=5) == Gate(0.5, 0.5, 5, 5)
    assert choose_gate(held, THRESHOLDS, reaches, 0.95, min_support=6) == Gate(reach=0.5)
    # The same right changes at both reaches: the smaller one.
    near = HeldOut(held.confidence, held.change, held.right & (held.reach == 0.5), held.reach)
    assert choose_gate(near, THRESHOLDS, reaches, 0.5, min_support=5).reach == 0.5


def test_lower_bound_is_the_exact_binomial_bound():
    assert Gate(0.5, 1.0, 0, 0).lower_bound() is None
    assert Gate(0.5, 1.0, 0, 3).lower_bound() == 0.0
    # All 8 right: P(8 of 8 | p) = p ** 8 = 0.1 at the bound.
    assert Gate(0.5, 1.0, 8, 8).lower_bound() == pytest.approx(0.1 ** (1 / 8))
    # 9 of 10: at the bound p, P(at least 9 right of 10) = 10 p^9 (1 - p) + p^10 = 0.1,
    # and more right changes vouch for more.
    p = Gate(0.5, 1.0, 9, 10).lower_bound()
    assert 10 * p ** 9 * (1 - p) + p ** 10 == pytest.approx(0.1)
    assert Gate(0.5, 1.0, 90, 100).lower_bound() > p
    assert Gate(0.5, 1.0, 9, 10).lower_bound(0.5) > p


def _clusters(rng, n=8):
    """Two tight clusters: A, labelled 0 and answered 1; B, labelled 0 and
    confirmed 0; plus C, labelled 2 and answered 2."""
    centres = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]], np.float32)
    which = np.repeat([0, 1, 2], n)
    x = centres[which] + rng.normal(0, 0.05, (len(which), 2)).astype(np.float32)
    old = np.array([0, 0, 2])[which]
    answers = np.array([1, 0, 2])[which]
    return x, old, answers, which


def test_held_out_changes_exactly_the_mislabelled_cluster_rightly():
    x, old, answers, which = _clusters(np.random.default_rng(0))
    config = LCMConfig(full_batch_steps=100, agree_with_model=False, neighbours=3,
                       reaches=(1.0,))
    held = held_out_decisions(x, old, answers, 3, config, seed=0)
    assert held.change.tolist() == (which == 0).tolist()
    assert held.right.tolist() == (which == 0).tolist()
    precision, support = precision_curve(held, (0.5,))
    assert support[0] == 8 and precision[0] == 1.0


def test_held_out_wrong_change_is_counted_wrong():
    # Cluster A's answers are split between 1 and 2 (both from old label 0):
    # its held-out regions' neighbours disagree, so the gate keeps them unchanged.
    x, old, answers, which = _clusters(np.random.default_rng(1))
    answers = answers.copy()
    answers[np.flatnonzero(which == 0)[::2]] = 2
    config = LCMConfig(full_batch_steps=100, agree_with_model=False, neighbours=3,
                       reaches=(1.0,))
    held = held_out_decisions(x, old, answers, 3, config, seed=0)
    assert not held.change[which == 0].any()
    # Without the neighbour gate, changes in A happen and some are wrong.
    loose = held_out_decisions(x, old, answers, 3,
                               LCMConfig(full_batch_steps=100, agree_with_model=False,
                                         neighbours=0), seed=0)
    assert loose.change[which == 0].any()
    assert (loose.change & ~loose.right)[which == 0].any()


def test_the_strictest_gate_until_enough_answers_confirmed_their_label():
    # Cluster A (8 answers) corrects 0 -> 1 rightly and cleanly; clusters B
    # and C hold the answers that confirmed their label.
    x, old, answers, which = _clusters(np.random.default_rng(0))
    config = LCMConfig(full_batch_steps=100, agree_with_model=False, neighbours=3,
                       reaches=(1.0,), min_support=5)
    gate = threshold_for(x, old, answers, 3, config, fixed_tau=0.99)
    assert (gate.tau, gate.precision) == (0.5, 1.0)  # 16 confirmations: vouched for
    # On cluster A's 8 held-out answers, all changed rightly: at least 75%.
    assert gate.changes == 8 and gate.lower_bound() == pytest.approx(0.1 ** (1 / 8))
    keep = (which == 0) | ((which == 1) & (np.cumsum(which == 1) <= 4))  # 4 confirmations
    # Too few to estimate: the strictest gate, for checks of its own to vouch for.
    assert threshold_for(x[keep], old[keep], answers[keep], 3, config,
                         fixed_tau=0.99) == Gate(tau=0.999, reach=1.0, strict=True)


def test_silence_reason_says_what_is_missing():
    from a2lc_napari.engine.lcm_proposal import silence_reason

    config = LCMConfig()
    assert "No answer" in silence_reason(np.array([0]), np.array([0]), config)
    # 3 of 8 answers confirmed their label: 5 are needed.
    old, answers = np.array([0, 0, 1, 1, 2, 0, 1, 2]), np.array([0, 0, 1, 0, 0, 1, 2, 0])
    text = silence_reason(old, answers, config)
    assert "Only 3 of the 8 answers" in text and "5 are needed" in text
    # Enough confirmations: the held-out precision fell short of 90%.
    old, answers = np.array([0] * 6 + [1] * 2), np.array([0] * 6 + [0] * 2)
    assert "at least 90%" in silence_reason(old, answers, config)


def test_a_silent_proposal_carries_its_reason():
    from a2lc_napari.engine.region_summary import RegionSummary
    from a2lc_napari.engine.lcm_proposal import propose

    n = 12
    rng = np.random.default_rng(0)
    hist = np.zeros((n, 3), np.int64)
    hist[:, 0] = 5
    s = RegionSummary(image=np.zeros(n, np.int32), ids=np.arange(1, n + 1, dtype=np.int32),
                      size=hist.sum(1), label_hist=hist, abc_parts=np.zeros((n, 2)),
                      mean_prob=rng.random((n, 2)).astype(np.float32))
    current = np.zeros(n, np.int64)
    rows = np.arange(6)  # six answers, all corrections 0 -> 1: none confirmed
    current[rows] = 1
    p = propose(s, current, np.ones(n, bool), (rows, np.zeros(6, np.int64), np.ones(6, np.int64)),
                [], ["a"], 2, 255, 0.99, LCMConfig(appearance=False))
    assert p.tau is None and not p.updates
    assert "Only 0 of the 6 answers" in p.reason
    assert "its surest proposals are checked" in p.reason  # what lets it act meanwhile


def test_paper_held_out_counts_right_and_wrong_changes():
    # Four classes; 6 regions that look like class 0 were labelled 1 and
    # answered 0, 4 that look like class 1 were labelled 1 and confirmed.
    # No answer says 2 or 3: they are J2's tail, 2 the rarest (J3).
    rng = np.random.default_rng(0)
    look0, look1 = [0.9, 0.1, 0, 0], [0.1, 0.9, 0, 0]
    x = (np.array([look0] * 6 + [look1] * 4) + rng.normal(0, 0.01, (10, 4))).astype(np.float32)
    answers = np.array([0] * 6 + [1] * 4)
    old = np.ones(10, int)
    gate = paper_held_out(x, old, answers, 4, LCMConfig(paper=True), tau=0.9)
    # Each held-out region is judged by an MLP that learnt the others:
    # the six corrections are changed back to 0, the confirmations kept.
    assert (gate.right, gate.changes) == (6, 6)
    # Had the six been labelled 0 already, there is nothing to change.
    gate = paper_held_out(x, np.where(answers == 0, 0, 1), answers, 4,
                          LCMConfig(paper=True), tau=0.9)
    assert (gate.right, gate.changes) == (0, 0)
    # One more region looks like class 0 but is a confirmed 1: held out,
    # it is changed to 0, wrongly.
    x7 = np.vstack([x, x[:1]])
    old7, answers7 = np.ones(11, int), np.append(answers, 1)
    gate = paper_held_out(x7, old7, answers7, 4, LCMConfig(paper=True), tau=0.5)
    assert (gate.right, gate.changes) == (6, 7)
    assert paper_held_out(x[:1], old[:1], answers[:1], 4, LCMConfig(paper=True),
                          tau=0.9).changes == 0
