"""Checks of the LCM: a random sample of its proposals asked as queries,
their tally, and the rule that stops it when they show it falls short."""
import math

import numpy as np
import pytest
from scipy.stats import beta

from a2lc_napari.engine.config import LCMConfig, ModelConfig, SessionConfig
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.driver import simulate
from a2lc_napari.engine.lcm_checks import (below_target, draw_checks, heed,
                                          needed_to_vouch, tally, vouched_strictly)
from a2lc_napari.engine.lcm_precision import Gate
from a2lc_napari.engine.lcm_round import UNCHECKED, LCMInputs, checks_due, propose_round
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.session import Session
from a2lc_napari.engine.state import LCMUpdate, Query


def ranked(n):
    return [Query(index=i, image="a", region=i + 1, row=i, label=0, score=1.0 - i / 10)
            for i in range(n)]


def test_checks_are_a_sample_of_the_proposals_the_queries_do_not_hold():
    queries = ranked(4)
    # Proposed: regions 2 and 3 of image a (already queried), 7 of a, 1-3 of b
    proposed = [LCMUpdate("a", 2, 0, 1, 0.9), LCMUpdate("a", 7, 0, 3, 0.91),
                LCMUpdate("b", 1, 2, 4, 0.92), LCMUpdate("a", 3, 0, 1, 0.9),
                LCMUpdate("b", 2, 2, 4, 0.94), LCMUpdate("b", 3, 1, 4, 0.95)]
    rows, labels = np.arange(10, 16), np.array([0, 0, 2, 0, 2, 9])
    checks = draw_checks(queries, proposed, rows, labels, count=2, seed=0)
    assert [q.index for q in checks] == [4, 5]  # asked after the four queries
    # drawn from the four proposals not queried, none twice
    free = {("a", 7): (11, 0, 3, 0.91), ("b", 1): (12, 2, 4, 0.92),
            ("b", 2): (14, 2, 4, 0.94), ("b", 3): (15, 9, 4, 0.95)}
    assert len({(q.image, q.region) for q in checks}) == 2
    for q in checks:
        assert (q.row, q.label, q.check, q.score) == free[(q.image, q.region)]
        assert q.answer is None and not q.strict
    # of the strictest gate's proposals: said so, to be judged apart
    assert all(q.strict for q in draw_checks(queries, proposed, rows, labels, 2, 0, strict=True))
    # another seed, another sample; the same seed, the same one
    samples = {tuple((q.image, q.region) for q in draw_checks(queries, proposed, rows, labels,
                                                              2, seed))
               for seed in range(20)}
    assert len(samples) > 1
    assert draw_checks(queries, proposed, rows, labels, 2, 0) == checks


def test_no_more_checks_than_asked_for_or_proposed():
    proposed = [LCMUpdate("b", r, 0, 1, 0.9) for r in range(1, 6)]
    rows, labels = np.arange(5), np.zeros(5, int)
    assert len(draw_checks(ranked(3), proposed, rows, labels, 3, 0)) == 3
    (only,) = draw_checks(ranked(6), proposed[:1], rows[:1], labels[:1], 3, 0)
    assert (only.index, only.region, only.check) == (6, 1, 1)  # one proposal: one check
    assert draw_checks(ranked(6), [], rows[:0], labels[:0], 3, 0) == []


def test_a_quarter_of_the_budget_is_kept_for_the_checks_of_our_lcm():
    assert checks_due(SessionConfig(budget=40), lcm=True) == 10
    assert checks_due(SessionConfig(budget=8), lcm=True) == LCMConfig().checks == 3
    assert checks_due(SessionConfig(budget=5, lcm=LCMConfig(checks=3)), lcm=True) == 2  # half
    assert checks_due(SessionConfig(budget=40), lcm=False) == 0
    assert checks_due(SessionConfig(budget=40, lcm=LCMConfig(paper=True)), lcm=True) == 0


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


@pytest.mark.parametrize("right, checks, vouched", [
    (8, 8, True), (7, 7, False), (17, 18, True), (16, 18, False), (26, 28, True),
    (0, 0, False)])
def test_a_strict_gate_acts_once_its_own_checks_vouch_for_it(right, checks, vouched):
    # The rule of succession: (right + 1) / (checks + 2) ≥ 0.9.
    assert vouched_strictly(right, checks, 0.9) is vouched
    strict = Gate(tau=0.999, reach=0.5, strict=True)
    gate, reason = heed(strict, (9, 9), 0.9, (checks, right))  # other checks do not vouch
    assert (gate == strict) is vouched and (reason is None) is vouched
    if not vouched:
        assert gate.tau is None and f"{right} of {checks} so far" in reason
    assert heed(strict, (0, 0), 0.9, None) == (strict, None)  # not heeded: checks being drawn


def test_what_vouches_is_said_for_the_target_set():
    # all right: (n + 1) / (n + 2) >= t; one wrong: n / (n + 2) >= t; solved by hand
    assert needed_to_vouch(0.9) == "8 of 8, 17 of 18 or better are needed"
    assert needed_to_vouch(0.8) == "3 of 3, 7 of 8 or better are needed"  # 4/5, 8/10
    assert needed_to_vouch(0.95) == "18 of 18, 37 of 38 or better are needed"  # 19/20, 38/40
    assert needed_to_vouch(1.0) == "no number of checks can vouch for 100%"
    _, reason = heed(Gate(tau=0.999, reach=0.5, strict=True), (0, 0), 0.8, (2, 2))
    assert reason.endswith("2 of 2 so far, where 3 of 3, 7 of 8 or better are needed.")


def proposing_session(demo, tmp_path, **lcm) -> Session:
    """A session (budget 20) of our LCM at a fixed τ of 0 with its gates
    off, so that it proposes; ``lcm``: more LCMConfig fields."""
    config = SessionConfig(method="a2lc", budget=20, seed=1, tau=(0.0,),
                           model=ModelConfig(width=8, crop=48, steps=8, batch_size=4),
                           lcm=LCMConfig(**{"target_precision": None, "neighbours": 0,
                                            "confusion_gate": False, "agree_with_model": False,
                                            "full_batch_steps": 20, **lcm}))
    return drive(Session.create(tmp_path / "run", open_dataset(demo, region_cache=tmp_path
                                                               / "regions"), config),
                 quiet=True)


def proposal_now(session: Session, heed_checks: bool = True):
    """What the LCM proposes from the session's answers as they are now,
    made directly (not through the session); ``heed_checks=False``: as if
    no rule on its checks applied."""
    ds = session.dataset
    return propose_round(session.summary, LCMInputs.copy_of(session.state), ds.names,
                         ds.classes, session.round, session.config, session.folder,
                         heed_checks=heed_checks)


def test_a_session_checks_the_lcm_after_the_answers_of_each_round(demo, tmp_path):
    session = proposing_session(demo, tmp_path, checks=2, checks_share=0.015)
    drive(session.prepare_round(), quiet=True)
    assert len(session.queries) == 15 and session.checks_due == 5  # a quarter kept
    first = [(q.image, q.region) for q in session.queries]
    assert drive(session.ask_checks(), quiet=True) == []  # not while queries are open
    session.answer({q.index: session.simulated_answer(q)[0] for q in session.queries})
    unheeded = proposal_now(session, heed_checks=False)  # checks are drawn from these
    proposed = {(u.image, u.region): u.new for u in unheeded.updates}
    count = math.ceil(0.015 * len(proposed))  # checks_share of the changes
    assert 2 < count < 5, "the LCM proposes enough for more checks than the fewest"
    added = drive(session.ask_checks(), quiet=True)
    assert [q.index for q in added] == list(range(15, 20)) and session.queries[15:] == added
    for q in added[:count]:  # what the LCM proposes from this round's answers
        assert q.check == proposed[(q.image, q.region)]
    # the room left: more regions of the ranking, each asked once
    assert [q.check for q in added[count:]] == [None] * (5 - count)
    assert len({*first, *((q.image, q.region) for q in added)}) == 20
    assert session.checks_due == 0 and drive(session.ask_checks(), quiet=True) == []
    history = drive(simulate(session, 2), quiet=True)
    for r in (1, 2):
        queries = session.round_log(r)["queries"]
        assert len(queries) == 20 and all(q["answer"] is not None for q in queries)
        assert all(q["check"] is None for q in queries[:15])
    checks = tally([(q["check"], q["answer"]) for q in session.round_log(1)["queries"]], 255)
    assert (history[1].lcm_checks, history[1].lcm_checks_right) == checks  # history[0]: the start
    assert checks[0] == count


def test_too_few_confirmations_check_the_surest_proposals_and_only_those_checks_vouch(
        demo, tmp_path):
    # No answer can ever confirm enough labels: the LCM proposes at its
    # strictest gate, and only the checks of those proposals vouch for it.
    session = proposing_session(demo, tmp_path, target_precision=0.5, min_support=10_000,
                                thresholds=(0.0,))
    drive(session.prepare_round(), quiet=True)
    session.answer({q.index: session.simulated_answer(q)[0] for q in session.queries})
    unheeded = proposal_now(session, heed_checks=False)
    assert unheeded.strict and unheeded.tau == 0.0 and len(unheeded.updates) > 5
    assert session.propose_lcm().reason == UNCHECKED
    added = drive(session.ask_checks(), quiet=True)
    count = min(5, max(3, math.ceil(0.1 * len(unheeded.updates))))  # as for other checks
    assert [(q.strict, q.check is not None) for q in added] == (
        [(True, True)] * count + [(False, False)] * (5 - count))  # then the ranking's
    session.answer({q.index: session.simulated_answer(q)[0] for q in added})
    checks, right = tally(((q.check, q.answer) for q in added), 255)
    proposal = session.propose_lcm()
    assert proposal.strict and (proposal.checks, proposal.checks_right) == (checks, right)
    assert bool(proposal.updates) == vouched_strictly(right, checks, 0.5)
    record = drive(session.finish_round(), quiet=True)
    assert record.lcm_changes == len(proposal.updates)
    assert [q["strict"] for q in session.round_log(1)["queries"]] == (
        [False] * 15 + [True] * count + [False] * (5 - count))


def test_a_round_whose_checks_hold_no_proposal_changes_nothing(demo, tmp_path):
    # The ranked queries all answered "ignore": the LCM learns from none, so
    # it proposes nothing when the checks are chosen, and the ranking fills
    # the room. The room's answers then let it propose, unchecked.
    session = proposing_session(demo, tmp_path)
    ds = session.dataset
    drive(session.prepare_round(), quiet=True)
    session.answer({q.index: ds.classes.ignore_index for q in session.queries})
    added = drive(session.ask_checks(), quiet=True)
    assert len(added) == 5 and all(q.check is None for q in added)  # the ranking's
    session.answer({q.index: session.simulated_answer(q)[0] for q in added})
    unheeded = proposal_now(session, heed_checks=False)
    assert unheeded.updates, "without the rule the LCM would change regions"
    proposal = session.propose_lcm()
    assert proposal.updates == [] and proposal.tau is None and proposal.reason == UNCHECKED
    assert drive(session.finish_round(), quiet=True).lcm_changes == 0
    # Round 2 checks its proposals; in round 3, finished before its own
    # checks are asked, it may act on them.
    drive(simulate(session, 2), quiet=True)
    assert session.history[-1].round == 2 and session.history[-1].lcm_checks > 0
    drive(session.prepare_round(), quiet=True)
    session.answer({q.index: session.simulated_answer(q)[0] for q in session.queries})
    proposal = session.propose_lcm()
    assert proposal.updates and proposal.reason is None


def test_a_round_finished_before_any_check_changes_nothing(demo, tmp_path):
    # "Finish round" pressed before the round's checks are asked, in round 1:
    # the answers let the LCM propose, but no check ever tried its proposals.
    session = proposing_session(demo, tmp_path)
    drive(session.prepare_round(), quiet=True)
    session.answer({q.index: session.simulated_answer(q)[0] for q in session.queries})
    assert session.checks_due > 0  # not asked yet
    unheeded = proposal_now(session, heed_checks=False)
    assert unheeded.updates, "without the rule the LCM would change regions"
    proposal = session.propose_lcm()
    assert proposal.updates == [] and proposal.reason == UNCHECKED
    assert drive(session.finish_round(), quiet=True).lcm_changes == 0


@pytest.mark.parametrize("answered_after", [False, True])
def test_finishing_a_round_runs_the_lcm_again_only_if_its_inputs_changed(
        demo, tmp_path, monkeypatch, answered_after):
    # The widget's live preview runs the LCM after every answer; "Finish
    # round" applies that very proposal unless an answer came after it.
    import a2lc_napari.engine.session as session_module

    session = proposing_session(demo, tmp_path)
    drive(session.prepare_round(), quiet=True)
    session.answer({q.index: session.simulated_answer(q)[0] for q in session.queries})
    *first, last = drive(session.ask_checks(), quiet=True)  # checks first
    session.answer({q.index: session.simulated_answer(q)[0] for q in first})
    if not answered_after:
        session.answer({last.index: session.simulated_answer(last)[0]})
    preview = session.propose_lcm()
    if answered_after:
        session.answer({last.index: session.simulated_answer(last)[0]})
    expected = proposal_now(session)
    assert expected.updates, "the LCM proposes changes"
    assert (expected.updates != preview.updates) == answered_after
    runs = []
    monkeypatch.setattr(session_module, "propose_round",
                        lambda *args, **kw: runs.append(1) or propose_round(*args, **kw))
    record = drive(session.finish_round(), quiet=True)
    assert len(runs) == answered_after
    assert record.lcm_changes == len(expected.updates)
    logged = session.round_log(1)["lcm_updates"]
    assert [(u["image"], u["region"], u["new"]) for u in logged] == [
        (u.image, u.region, u.new) for u in expected.updates]
