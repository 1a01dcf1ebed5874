"""Checks of the LCM: a random sample of its proposals asked as queries,
their tally, and the rule that stops it when they show it falls short."""
import json

import numpy as np
import pytest
from scipy.stats import beta

from a2lc_napari.engine.config import LCMConfig, ModelConfig, SessionConfig
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.driver import simulate
from a2lc_napari.engine.lcm_checks import below_target, heed, tally, with_checks
from a2lc_napari.engine.lcm_precision import Gate
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.session import Session
from a2lc_napari.engine.state import LCMUpdate, Query


def ranked(n):
    return [Query(index=i, image="a", region=i + 1, row=i, label=0, score=1.0 - i / 10)
            for i in range(n)]


def test_checks_replace_the_last_picks_with_a_sample_of_the_proposals():
    queries = ranked(6)
    # Proposed: regions 2 and 5 of image a (the ranking picked them), 7 of a, 1-3 of b
    proposed = [LCMUpdate("a", 2, 0, 1, 0.9), LCMUpdate("a", 7, 0, 3, 0.91),
                LCMUpdate("b", 1, 2, 4, 0.92), LCMUpdate("a", 5, 0, 1, 0.9),
                LCMUpdate("b", 2, 2, 4, 0.94), LCMUpdate("b", 3, 1, 4, 0.95)]
    rows, labels = np.arange(10, 16), np.array([0, 0, 2, 0, 2, 9])
    out = with_checks(queries, proposed, rows, labels, count=2, seed=0)
    assert [q.index for q in out] == list(range(6))
    assert out[:4] == queries[:4]  # the ranking's four best, as they were
    checks = out[4:]
    # drawn from the four proposals the ranking did not pick, none twice
    free = {("a", 7): (11, 0, 3, 0.91), ("b", 1): (12, 2, 4, 0.92),
            ("b", 2): (14, 2, 4, 0.94), ("b", 3): (15, 9, 4, 0.95)}
    assert len({(q.image, q.region) for q in checks}) == 2
    for q in checks:
        assert (q.row, q.label, q.check, q.score) == free[(q.image, q.region)]
        assert q.answer is None
    # another seed, another sample; the same seed, the same one
    samples = {tuple((q.image, q.region) for q in with_checks(queries, proposed, rows, labels,
                                                              2, seed)[4:])
               for seed in range(20)}
    assert len(samples) > 1
    assert with_checks(queries, proposed, rows, labels, 2, 0) == out


def test_no_more_checks_than_half_the_queries_or_the_proposals():
    queries = ranked(3)
    proposed = [LCMUpdate("b", r, 0, 1, 0.9) for r in range(1, 6)]
    rows, labels = np.arange(5), np.zeros(5, int)
    assert sum(q.check is not None for q in with_checks(queries, proposed, rows, labels,
                                                        3, 0)) == 1  # half of 3
    out = with_checks(ranked(6), proposed[:1], rows[:1], labels[:1], 3, 0)
    assert out[:5] == ranked(6)[:5] and out[5].check == 1  # one proposal: one check
    assert with_checks(ranked(6), [], rows[:0], labels[:0], 3, 0) == ranked(6)


def test_tally_counts_answered_checks_with_a_class():
    pairs = [(1, 1), (1, 2), (3, 3), (None, 4), (2, None), (2, 255)]
    assert tally(pairs, ignore_index=255) == (3, 2)
    assert tally([], 255) == (0, 0)


@pytest.mark.parametrize("right,checks,expected", [
    (0, 0, False), (3, 3, False), (0, 2, True), (1, 2, False), (4, 5, False), (3, 5, True),
    (16, 20, False), (14, 20, True), (7, 10, True)])
def test_below_target_is_the_upper_clopper_pearson_bound(right, checks, expected):
    assert below_target(right, checks, 0.9) is expected
    if 0 < checks and right < checks:  # the bound by scipy, computed here another way
        upper = 1 - beta.ppf(0.1, checks - right, right + 1)
        assert bool(upper < 0.9) is expected


def test_checks_that_fall_short_stop_the_lcm():
    gate = Gate(tau=0.5, reach=0.75, right=10, changes=10)
    stopped, reason = heed(gate, (5, 3), 0.9)  # 3 right of 5 checks
    assert stopped.tau is None and (stopped.right, stopped.changes) == (10, 10)
    assert "3 of 5 were right" in reason
    assert heed(gate, (5, 4), 0.9) == (gate, None)  # 4 of 5 may still be 90%
    assert heed(gate, (5, 3), None) == (gate, None)  # no target: a fixed τ
    assert heed(Gate(reach=0.5), (5, 0), 0.9) == (Gate(reach=0.5), None)  # nothing to stop


def test_a_session_checks_the_lcm_from_round_2(demo, tmp_path):
    # Our LCM at a fixed τ of 0 with its gates off, so that it proposes
    config = SessionConfig(method="a2lc", budget=6, seed=1, tau=(0.0,),
                           model=ModelConfig(width=8, crop=48, steps=8, batch_size=4),
                           lcm=LCMConfig(target_precision=None, neighbours=0,
                                         confusion_gate=False, agree_with_model=False,
                                         full_batch_steps=20, checks=2))
    session = drive(Session.create(tmp_path / "run", open_dataset(demo, region_cache=tmp_path
                                                                  / "regions"), config),
                    quiet=True)
    history = drive(simulate(session, 2), quiet=True)
    logs = [json.loads((tmp_path / "run" / "log" / f"round_{r:02d}.json").read_text())
            for r in (1, 2)]
    assert all(q["check"] is None for q in logs[0]["queries"])  # none in round 1
    second = logs[1]["queries"]
    assert len(second) == 6
    assert [q["check"] is not None for q in second] == [False] * 4 + [True] * 2
    # a check is an ordinary query, answered by the annotator
    assert all(q["answer"] is not None for q in second)
    checks, right = tally([(q["check"], q["answer"]) for q in second], 255)
    assert (history[2].lcm_checks, history[2].lcm_checks_right) == (checks, right)
    assert checks == 2
