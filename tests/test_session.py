"""The round loop: end to end with the simulated annotator, resume after an
interruption, manual regions left alone, the input folder never written."""
import json
import shutil
from dataclasses import asdict

import numpy as np
import pytest
from PIL import Image

from a2lc_napari.engine.config import LCMConfig, ModelConfig, SessionConfig
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.errors import DatasetError
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.driver import simulate, start_session
from a2lc_napari.engine.session import Session


def tiny_config(method="a2lc", **kw):
    """A fast config; the authors' ranking and the paper's LCM at a low τ, so
    that it changes something."""
    return SessionConfig(method=method, budget=kw.pop("budget", 6), seed=1,
                         confidence=kw.pop("confidence", "model"),
                         tau=kw.pop("tau", (0.5,)),
                         model=ModelConfig(width=8, crop=48, steps=8, batch_size=4),
                         lcm=LCMConfig(min_steps=100, paper=True, agree_with_model=False),
                         **kw)


def new_session(demo, out, config):
    return drive(Session.create(out, open_dataset(demo, region_cache=out / "regions"),
                                config), quiet=True)


def listing(folder):
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in folder.rglob("*"))


def test_simulate_end_to_end(demo, tmp_path):
    before = listing(demo)
    session = new_session(demo, tmp_path / "run", tiny_config())
    history = drive(simulate(session, 2), quiet=True)
    assert [h.round for h in history] == [0, 1, 2]
    assert all(h.queries == 6 for h in history[1:])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["method"] == "a2lc" and metrics["rounds"] == [asdict(h) for h in history]
    assert set(metrics["rounds"][1]) >= {"round", "data_miou", "queries", "manual_changes",
                                         "lcm_changes", "lcm_correct", "class_iou"}
    log = json.loads((tmp_path / "run" / "log" / "round_01.json").read_text())
    assert len(log["queries"]) == 6 and all(q["answer"] is not None for q in log["queries"])
    for u in log["lcm_updates"]:
        assert set(u) == {"image", "region", "old", "new", "confidence", "correct"}
        assert u["confidence"] >= 0.5
    assert history[1].lcm_correct == sum(u["correct"] for u in log["lcm_updates"])
    if log["lcm_updates"]:
        assert history[1].lcm_precision == round(
            100 * history[1].lcm_correct / len(log["lcm_updates"]), 2)
    else:
        assert history[1].lcm_precision is None
    assert Session.open(tmp_path / "run", read_only=True).state == session.state  # typed
    assert listing(demo) == before  # the input folder is never written to


def test_answers_are_written_to_whole_regions(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    drive(session.prepare_round(), quiet=True)
    q = session.next_query()
    new = (q.label + 1) % session.dataset.classes.num_classes
    session.answer({q.index: new})
    region = session.dataset.regions(q.image) == q.region
    assert (session.labels(q.image)[region] == new).all()
    # The labels file is a palette PNG in the dataset's colours, and what
    # the session says (kept in memory) is what is on disk.
    from PIL import Image
    img = Image.open(tmp_path / "run" / "labels" / f"{q.image}.png")
    np.testing.assert_array_equal(np.asarray(img), session.labels(q.image))
    session.labels(q.image)[:] = 0  # a copy: changing it changes nothing
    np.testing.assert_array_equal(np.asarray(img), session.labels(q.image))
    assert img.mode == "P"
    assert tuple(img.getpalette()[3 * new:3 * new + 3]) == \
        session.dataset.classes.colors[new]


def queried_region(session, index=0):
    q = session.queries[index]
    return q, session.dataset.regions(q.image) == q.region


def test_a_confirmed_answer_keeps_the_pixels(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    drive(session.prepare_round(), quiet=True)
    q, mask = queried_region(session)
    before = session.labels(q.image)
    before[tuple(np.argwhere(mask)[0])] = (q.label + 1) % session.dataset.classes.num_classes
    session.edit_labels(q.image, before)  # a region of two classes
    session.answer({q.index: q.label})  # "yes, it is": confirmed as it is
    np.testing.assert_array_equal(session.labels(q.image), before)
    assert session.is_manual(q.image, q.region)
    session.answer({q.index: q.label}, rewrite=[q.index])  # "yes, but all of it"
    # ... all of it but the painted pixel: the stroke, finer, keeps its label.
    np.testing.assert_array_equal(session.labels(q.image)[mask], before[mask])
    session.undo()  # the answer
    session.undo()  # the first answer (a confirmation) ...
    session.undo()  # ... and the stroke: a whole region rewritten, now
    session.answer({q.index: q.label}, rewrite=[q.index])
    assert (session.labels(q.image)[mask] == q.label).all()


def test_a_stroke_in_the_asked_region_keeps_its_pixels_when_answered(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    drive(session.prepare_round(), quiet=True)
    q, mask = queried_region(session)
    k = session.dataset.classes.num_classes
    painted, other = (q.label + 2) % k, (q.label + 1) % k
    stroke = session.labels(q.image)
    inside = tuple(np.argwhere(mask)[:3].T)
    stroke[inside] = painted
    session.edit_labels(q.image, stroke)
    session.answer({q.index: other})
    labels = session.labels(q.image)
    assert (labels[inside] == painted).all()  # the stroke wins where it painted
    rest = mask.copy()
    rest[inside] = False
    assert (labels[rest] == other).all()  # the answer takes the rest of the region
    session.undo()  # the answer
    session.undo()  # the stroke, undone: a new answer writes the whole region
    session.answer({q.index: other})
    assert (session.labels(q.image)[mask] == other).all()


def test_simulated_answers_follow_the_authors_rule(demo, tmp_path):
    for method in ("alc", "a2lc"):
        session = new_session(demo, tmp_path / method, tiny_config(method))
        drive(session.prepare_round(), quiet=True)
        rewrites = 0
        for q in session.queries:
            gt = session.dataset.gt(q.image)
            mask = session.dataset.regions(q.image) == q.region
            labels = session.labels(q.image)[mask]
            labelled = labels != 255
            acc = (labels[labelled] == gt[mask][labelled]).mean() if labelled.any() else 0
            answer, rewrite = session.simulated_answer(q)
            assert rewrite == (acc <= 0.5)
            if not rewrite:
                assert answer == q.label
            elif method == "alc":
                assert answer == gt[q.pixel]
            else:
                counts = np.bincount(gt[mask][gt[mask] != 255], minlength=256)
                assert answer == counts.argmax()
            rewrites += rewrite
        assert 0 < rewrites


def test_queried_regions_are_never_queried_or_updated_again(demo, tmp_path):
    # tau = 0 and no J4: the LCM updates every region it may, so the test
    # sees whether it ever touches a manual one.
    config = tiny_config(tau=(0.0,))
    config.lcm.agree_with_model = False
    session = new_session(demo, tmp_path / "run", config)
    drive(simulate(session, 2), quiet=True)
    logs = [json.loads((tmp_path / "run" / "log" / f"round_0{r}.json").read_text())
            for r in (1, 2)]
    first = {(q["image"], q["region"]) for q in logs[0]["queries"]}
    second = {(q["image"], q["region"]) for q in logs[1]["queries"]}
    assert not first & second
    assert not first & {(u["image"], u["region"]) for u in logs[1]["lcm_updates"]}
    assert logs[1]["lcm_updates"], "the LCM should update something"


def test_resume_after_interruption_gives_the_same_result(demo, tmp_path):
    reference = drive(simulate(new_session(demo, tmp_path / "ref", tiny_config()), 2),
                      quiet=True)
    session = new_session(demo, tmp_path / "run", tiny_config())
    steps = simulate(session, 2)
    for p in steps:  # stop in the middle of round 2's training
        if session.round == 2 and p.desc == "Training model" and p.done == 3:
            break
    steps.close()
    session.close()  # lets the next writer in, as the end of a process does
    resumed = Session.open(tmp_path / "run")
    assert (resumed.round, resumed.phase) == (2, "train")
    assert drive(simulate(resumed, 2), quiet=True) == reference


def test_resume_in_the_middle_of_the_queries(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    drive(session.prepare_round(), quiet=True)
    first = session.next_query()
    answer = session.simulated_answer(first)[0]  # before: the answer rewrites the region
    session.answer({first.index: answer})
    resumed = Session.open(tmp_path / "run", read_only=True)
    assert resumed.phase == "query"
    assert resumed.queries[0].answer == answer
    assert resumed.next_query().index == 1


def test_skipped_queries_are_logged_unanswered_and_stay_askable(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    drive(session.prepare_round(), quiet=True)
    first = session.queries[0]
    session.answer({0: session.simulated_answer(first)[0]})
    entry = drive(session.finish_round(), quiet=True)
    assert entry.queries == 1
    log = json.loads((tmp_path / "run" / "log" / "round_01.json").read_text())
    assert [q["answer"] is None for q in log["queries"]] == [False] + [True] * 5
    drive(session.prepare_round(), quiet=True)
    asked = {(q.image, q.region) for q in session.queries}
    assert (first.image, first.region) not in asked  # answered: manual
    assert asked & {(q["image"], q["region"]) for q in log["queries"][1:]}


def test_undoing_an_answer_keeps_an_earlier_stroke(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    drive(session.prepare_round(), quiet=True)
    q, mask = queried_region(session)
    stroke = session.labels(q.image)
    inside = tuple(np.argwhere(mask)[0])
    stroke[inside] = (stroke[inside] + 1) % session.dataset.classes.num_classes
    session.edit_labels(q.image, stroke)
    other = (q.label + 1) % session.dataset.classes.num_classes
    session.answer({0: other})
    rest = mask.copy()
    rest[inside] = False
    assert (session.labels(q.image)[rest] == other).all()
    event = session.undo()
    assert (event.kind, event.images, event.query) == ("answer", (q.image,), 0)
    np.testing.assert_array_equal(session.labels(q.image), stroke)  # the stroke is back
    resumed = Session.open(tmp_path / "run", read_only=True)
    assert resumed.queries[0].answer is None
    assert resumed.is_manual(q.image, q.region)  # the stroke made it manual


def test_answers_are_saved_as_rows_and_undone_after_a_reopen(demo, tmp_path):
    """session.json keeps each answer's change as the row ``[query, answer
    before, rewrite before, answer after, rewrite after]`` that sessions
    saved before hold, and a reopened session undoes it."""
    session = new_session(demo, tmp_path / "run", tiny_config())
    drive(session.prepare_round(), quiet=True)
    q, _ = queried_region(session)
    before = session.labels(q.image)
    other = (q.label + 1) % session.dataset.classes.num_classes
    session.answer({0: other})
    rewrite = session.queries[0].rewrite
    session.close()
    saved = json.loads((tmp_path / "run" / "session.json").read_text())
    assert saved["journal"][-1]["answers"] == [[0, None, False, other, rewrite]]
    with Session.open(tmp_path / "run") as resumed:
        assert resumed.undo().query == 0
        assert resumed.queries[0].answer is None
        np.testing.assert_array_equal(resumed.labels(q.image), before)


def test_answering_again_replaces_the_answer_and_undo_takes_each_back(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    drive(session.prepare_round(), quiet=True)
    q, mask = queried_region(session)
    before = session.labels(q.image)
    other = (q.label + 1) % session.dataset.classes.num_classes
    session.answer({0: other})
    session.answer({0: q.label})  # answering again replaces the answer
    assert (session.labels(q.image)[mask] == q.label).all()
    session.answer({0: other})
    assert [session.undo().query for _ in range(3)] == [0, 0, 0]  # all of its answers
    np.testing.assert_array_equal(session.labels(q.image), before)
    assert session.undo() is None
    resumed = Session.open(tmp_path / "run", read_only=True)
    assert resumed.queries[0].answer is None
    assert not resumed.is_manual(q.image, q.region)


def test_an_answer_changed_back_leaves_the_region_as_a_first_answer_would(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    drive(session.prepare_round(), quiet=True)
    q, mask = queried_region(session)
    k = session.dataset.classes.num_classes
    before = session.labels(q.image)
    session.answer({q.index: (q.label + 2) % k})  # another class: the region rewritten
    stroke = session.labels(q.image)
    stroke_at = tuple(np.argwhere(mask)[0])
    stroke[stroke_at] = (q.label + 3) % k  # a stroke in it meanwhile
    session.edit_labels(q.image, stroke)
    session.answer({q.index: (q.label + 4) % k})  # and another class
    assert session.queries[q.index].rewrite
    session.answer({q.index: q.label})  # then its label after all: confirmed
    # As a confirmation at once: the pixels as they were but for the stroke,
    # and no correction counted.
    expected = before.copy()
    expected[stroke_at] = (q.label + 3) % k
    np.testing.assert_array_equal(session.labels(q.image), expected)
    assert not session.queries[q.index].rewrite
    session.undo()  # the confirmation: the last answer's pixels again
    assert (session.labels(q.image)[mask & (expected == q.label)] == (q.label + 4) % k).all()


def test_undo_and_redo_follow_the_order_of_events_across_images(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config(budget=30))
    drive(session.prepare_round(), quiet=True)
    qs = session.queries
    a = qs[0]
    b = next(q for q in qs if q.image != a.image)
    k = session.dataset.classes.num_classes
    start = {n: session.labels(n) for n in (a.image, b.image)}
    session.answer({a.index: (a.label + 1) % k})
    after_a = session.labels(a.image)
    session.answer({b.index: (b.label + 1) % k})
    stroke = session.labels(a.image)
    stroke[-1, -1] = (stroke[-1, -1] + 1) % k
    session.edit_labels(a.image, stroke)
    done = {n: session.labels(n) for n in (a.image, b.image)}

    kinds = [(e.kind, e.images) for e in iter(session.undo, None)]
    assert kinds == [("hand_edit", (a.image,)), ("answer", (b.image,)),
                     ("answer", (a.image,))]
    assert session.undo() is None
    for n in start:
        np.testing.assert_array_equal(session.labels(n), start[n])
    assert all(q.answer is None for q in session.queries)
    assert session.redo().query == a.index
    np.testing.assert_array_equal(session.labels(a.image), after_a)
    assert [e.kind for e in iter(session.redo, None)] == ["answer", "hand_edit"]
    for n in done:
        np.testing.assert_array_equal(session.labels(n), done[n])
    assert Session.open(tmp_path / "run", read_only=True).state == session.state
    session.undo()
    session.answer({a.index: a.label})  # a new event ends what could be redone
    assert session.redo() is None


def test_edited_regions_become_manual(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    name = session.dataset.names[0]
    labels = session.labels(name)
    regions = session.dataset.regions(name)
    labels[0, :3] = 5
    touched = set(np.unique(regions[0, :3]).tolist())
    changed = int((session.labels(name)[0, :3] != 5).sum())
    assert session.edit_labels(name, labels) == changed
    assert {r for r in touched if session.is_manual(name, r)} == touched - {0}
    np.testing.assert_array_equal(session.labels(name), labels)
    drive(session.prepare_round(), quiet=True)
    assert not {(name, r) for r in touched} & {(q.image, q.region) for q in session.queries}
    with pytest.raises(ValueError, match="shape"):
        session.edit_labels(name, labels[1:])
    # The round's painted pixels count the strokes in place: undone, not.
    assert session.state.hand_pixels == changed
    stroke = session.labels(name)
    stroke[1, :4] = (stroke[1, :4] + 1) % session.dataset.classes.num_classes
    assert session.edit_labels(name, stroke) == 4
    assert session.state.hand_pixels == changed + 4
    session.undo()
    assert session.state.hand_pixels == changed
    session.redo()
    assert session.state.hand_pixels == changed + 4


def test_an_edit_where_given_keeps_the_session_labels_elsewhere(demo, tmp_path):
    """A stroke on a canvas that still shows labels older than the session's:
    only its pixels change, the rest keeps the session's labels."""
    session = new_session(demo, tmp_path / "run", tiny_config())
    name, k = session.dataset.names[0], session.dataset.classes.num_classes
    regions = session.dataset.regions(name)
    shown = session.labels(name)  # what the canvas shows
    newer = shown.copy()
    newer[regions == regions[-1, -1]] = (shown[-1, -1] + 1) % k  # a change written meanwhile
    session.edit_labels(name, newer)
    painted = shown.copy()
    painted[0, :2] = (shown[0, :2] + 1) % k  # the stroke, on the older labels
    where = np.zeros(shown.shape, bool)
    where[0, :2] = True
    assert session.edit_labels(name, painted, where) == 2
    expected = newer.copy()
    expected[0, :2] = painted[0, :2]
    np.testing.assert_array_equal(session.labels(name), expected)


def test_a_painted_value_that_is_no_class_is_refused_and_the_round_finishes(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    name = session.dataset.names[0]
    k = session.dataset.classes.num_classes
    before = session.labels(name)
    for value in (k, 13, 254):
        painted = before.copy()
        painted[:2, :2] = value
        with pytest.raises(ValueError, match=f"{name}.*{value}.*neither a class"):
            session.edit_labels(name, painted)
        np.testing.assert_array_equal(session.labels(name), before)
    painted[:2, :2] = 255  # ignore is a fine value to paint
    assert session.edit_labels(name, painted) == int((before[:2, :2] != 255).sum())
    drive(simulate(session, 1), quiet=True)
    assert session.round == 2


def answer_all(session):
    answers, rewrite = {}, []
    for q in session.queries:
        answers[q.index], rewrites = session.simulated_answer(q)
        if rewrites:
            rewrite.append(q.index)
    session.answer(answers, rewrite)


def test_lcm_proposal_equals_what_the_round_applies(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config(tau=(0.3,), budget=10))
    drive(session.prepare_round(), quiet=True)
    assert session.propose_lcm().updates == []  # nothing answered yet
    answer_all(session)
    proposed = session.propose_lcm()
    assert proposed.updates and proposed.tau == 0.3
    assert Session.open(tmp_path / "run", read_only=True).lcm_applied == []  # unwritten
    drive(session.finish_round(), quiet=True)
    log = json.loads((tmp_path / "run" / "log" / "round_01.json").read_text())
    assert log["lcm_updates"] == [asdict(u) for u in proposed.updates]
    assert session.lcm_applied == proposed.updates
    for u in proposed.updates:
        mask = session.dataset.regions(u.image) == u.region
        assert (session.labels(u.image)[mask] == u.new).all()


def answered_with_lcm_changes(demo, tmp_path):
    """A session whose round 1 is answered, and the LCM's 3 or more
    proposed changes (the paper's LCM at τ = 0.3)."""
    session = new_session(demo, tmp_path / "run", tiny_config(tau=(0.3,), budget=10))
    drive(session.prepare_round(), quiet=True)
    answer_all(session)
    proposed = session.propose_lcm().updates
    assert len(proposed) >= 3
    return session, proposed


def test_reviewing_the_lcm(demo, tmp_path):
    session, proposed = answered_with_lcm_changes(demo, tmp_path)
    first, second, third = proposed[:3]
    made_before = session.propose_lcm()
    assert session.is_current(made_before)
    session.reject_lcm([first])  # before the round ends: never proposed again
    assert first in made_before.updates and not session.is_current(made_before)
    again = session.propose_lcm()
    assert first not in again.updates and session.is_current(again)
    before = {u.key: session.labels(u.image)[session.dataset.regions(u.image) == u.region]
              for u in proposed}
    drive(session.finish_round(), quiet=True)
    assert first not in session.lcm_applied and second in session.lcm_applied
    mask = session.dataset.regions(first.image) == first.region
    np.testing.assert_array_equal(session.labels(first.image)[mask], before[first.key])

    session.reject_lcm([second])  # after it was applied: its pixels come back
    mask = session.dataset.regions(second.image) == second.region
    np.testing.assert_array_equal(session.labels(second.image)[mask], before[second.key])
    session.accept_lcm([third])  # confirmed: the person's now
    assert session.is_manual(*third.key) and third not in session.lcm_applied
    assert [e.kind for e in (session.undo(), session.undo())] == ["lcm_accept", "lcm_reject"]
    assert (session.labels(second.image)[mask] == second.new).all()
    assert {second, third} <= set(session.lcm_applied)
    assert not session.is_manual(*third.key)
    assert session.undo().kind == "lcm_apply"  # the round's LCM changes, all at once
    assert session.lcm_applied == [] and session.undo() is None
    log = json.loads((tmp_path / "run" / "log" / "round_01.json").read_text())
    assert log["lcm_rejected"] == [list(first.key)]


def test_an_applied_lcm_change_answered_since_is_no_longer_to_review(demo, tmp_path):
    session, _ = answered_with_lcm_changes(demo, tmp_path)
    drive(session.finish_round(), quiet=True)
    drive(session.prepare_round(), quiet=True)
    applied = {u.key: u for u in session.lcm_applied}
    asked = next(q for q in session.queries if (q.image, q.region) in applied)  # asked again
    change = applied[asked.image, asked.region]
    session.answer({asked.index: change.old})  # the answer holds the region now
    assert change not in session.lcm_applied  # nothing left to reject: it would do nothing
    assert len(session.lcm_applied) == len(applied) - 1


def test_an_export_counts_the_lcm_changes_in_place_not_those_taken_back(demo, tmp_path):
    session, proposed = answered_with_lcm_changes(demo, tmp_path)
    first, second, third = proposed[:3]
    session.reject_lcm([first])  # never written
    session.accept_lcm([third])  # written before the round's end
    session.accept_lcm([second])
    session.undo()  # ... that one not
    drive(session.finish_round(), quiet=True)
    applied = len(session.lcm_applied)
    assert third not in session.lcm_applied and second in session.lcm_applied
    # the round's log and record hold the accepted one beside the changes applied
    log = json.loads((tmp_path / "run" / "log" / "round_01.json").read_text())
    assert log["lcm_accepted"] == [asdict(third)] and session.history[-1].lcm_accepted == 1
    session.reject_lcm([second])  # taken back after they were written
    session.reject_lcm([session.lcm_applied[0]])
    session.reject_lcm([session.lcm_applied[0]])
    session.undo()  # ... that one not
    drive(session.export(tmp_path / "export"), quiet=True)
    readme = (tmp_path / "export" / "README.palette").read_text()
    assert f"regions changed by the LCM: {applied + 1 - 2}\n" in readme
    assert "LCM changes applied, then taken back by the person: 2\n" in readme


def test_the_lcm_is_reviewed_while_the_next_model_trains_not_while_a_round_ends(demo, tmp_path):
    session, proposed = answered_with_lcm_changes(demo, tmp_path)
    finishing = session.finish_round()
    next(finishing)  # the LCM has proposed; its changes are not made yet
    assert not session.can_review
    for decide in (session.reject_lcm, session.accept_lcm):
        with pytest.raises(RuntimeError, match="being finished"):
            decide(proposed[:1])
    drive(finishing, quiet=True)
    assert session.can_review and set(proposed) <= set(session.lcm_applied)
    assert session.round_log(1)["lcm_rejected"] == []

    applied = session.lcm_applied[0]
    session.reject_lcm([applied])  # while round 2's model trains: round 2's rejection
    drive(session.prepare_round(), quiet=True)
    answer_all(session)
    assert applied.key not in [u.key for u in session.propose_lcm().updates]
    drive(session.finish_round(), quiet=True)
    assert session.round_log(2)["lcm_rejected"] == [list(applied.key)]


def test_export_writes_palette_pngs_and_classes(demo, tmp_path):
    from PIL import Image

    from a2lc_napari.engine.classes import ClassSet

    session = new_session(demo, tmp_path / "run", tiny_config())
    out = drive(session.export(tmp_path / "export"), quiet=True)
    name = session.dataset.names[0]
    png = Image.open(out / f"{name}.png")
    assert png.mode == "P"
    np.testing.assert_array_equal(np.asarray(png), session.labels(name))
    assert ClassSet.read(out / "classes.json") == session.dataset.classes
    with pytest.raises(DatasetError, match="never written"):
        drive(session.export(demo / "export"), quiet=True)
    with pytest.raises(DatasetError, match="is inside the session folder"):
        drive(session.export(session.out / "export"), quiet=True)
    with pytest.raises(DatasetError, match="is inside the session folder"):
        session.check_export(session.out)
    # Found in a walk-through: a Cityscapes export wrote its city folders into it.
    with pytest.raises(DatasetError, match=f"holds the session folder {session.out.resolve()}"):
        session.check_export(session.out.parent, overwrite=True)
    assert not (session.out / "export").exists()


def test_bad_answers_and_folders(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    with pytest.raises(RuntimeError):
        session.answer({0: 1})  # no queries before the round is prepared
    drive(session.prepare_round(), quiet=True)
    with pytest.raises(ValueError, match="neither a class"):
        session.answer({0: 99})
    session.close()  # else refused as a second writer
    with pytest.raises(DatasetError, match="already holds a session"):
        new_session(demo, tmp_path / "run", tiny_config())
    with pytest.raises(DatasetError, match="never written"):
        new_session(demo, demo / "out", tiny_config())
    with pytest.raises(DatasetError, match="nothing: does not exist: no session there"):
        Session.open(tmp_path / "nothing")  # no folder: nothing to open


def test_a_session_file_of_another_format_or_malformed_is_refused(demo, tmp_path):
    new_session(demo, tmp_path / "run", tiny_config())
    path = tmp_path / "run" / "session.json"
    state = json.loads(path.read_text())
    path.write_text(json.dumps({**state, "format": 1}))
    with pytest.raises(DatasetError, match="session.json.*format 1"):
        Session.open(tmp_path / "run")
    state["config"]["model"]["sharpen"] = True  # as a newer release might add
    path.write_text(json.dumps(state))
    with pytest.raises(DatasetError, match="session.json: holds a setting this version does "
                       "not know .*sharpen.*: a newer a2lc-napari wrote it"):
        Session.open(tmp_path / "run")
    del state["config"]["model"]["sharpen"]
    without_queries = {k: v for k, v in state.items() if k != "queries"}
    for malformed, said in ((without_queries, "queries"),
                            ({**state, "round": "x"}, "round 'x' is not a whole number"),
                            ([state], "a JSON list, where a session's state is an object")):
        path.write_text(json.dumps(malformed))
        with pytest.raises(DatasetError, match=f"session.json.*malformed.*{said}"):
            Session.open(tmp_path / "run")


def test_a_corrupt_round_log_is_named(demo, tmp_path):
    config = tiny_config()
    config.lcm.paper = False  # ours: it reads the earlier rounds' checks from their logs
    session = new_session(demo, tmp_path / "run", config)
    drive(simulate(session, 1), quiet=True)
    log = tmp_path / "run" / "log" / "round_01.json"
    log.write_text("{")
    with pytest.raises(DatasetError, match=f"{log}: cannot be read as JSON"):
        session.round_log(1)
    drive(session.prepare_round(), quiet=True)
    with pytest.raises(DatasetError, match=f"{log}: cannot be read as JSON"):
        session.propose_lcm()  # round 2's LCM learns from round 1's answers, in its log
    session.close()


def test_a_session_begun_with_one_fixed_reach_resumes_with_it(demo, tmp_path):
    new_session(demo, tmp_path / "run", tiny_config()).close()
    path = tmp_path / "run" / "session.json"
    state = json.loads(path.read_text())
    del state["config"]["lcm"]["reaches"]
    state["config"]["lcm"]["spacing_quantile"] = 0.5  # as sessions of format 2 began
    path.write_text(json.dumps(state))
    session = Session.open(tmp_path / "run")
    assert session.config.lcm.reaches == (0.5,)
    session.close()


def test_a_session_begun_before_the_ranking_choice_resumes_with_the_authors_ranking(
        demo, tmp_path):
    new_session(demo, tmp_path / "run", tiny_config(confidence="both")).close()
    path = tmp_path / "run" / "session.json"
    state = json.loads(path.read_text())
    assert state["config"]["confidence"] == "both"  # written: a new session keeps its own
    del state["config"]["confidence"]
    path.write_text(json.dumps(state))
    session = Session.open(tmp_path / "run")
    assert session.config.confidence == "model"
    session.close()


def test_tau_schedule():
    config = SessionConfig(tau=(0.9, 0.99))
    assert [config.tau_for(r) for r in (1, 2, 3)] == [0.9, 0.99, 0.99]
    with pytest.raises(ValueError):
        SessionConfig(tau=(1.5,))
    with pytest.raises(ValueError):
        SessionConfig(method="nope")


def test_answers_reach_regions_with_huge_sparse_ids(make_dataset, tmp_path):
    # SAM-like ids near 2**31: writing an answer must not size anything by the id.
    rng = np.random.default_rng(0)
    big = 2_000_000_000
    regions = np.where(np.arange(10)[None, :] < 5, 7, big).repeat(8, axis=0).astype(np.int32)
    labels = np.where(regions == 7, 0, 1).astype(np.uint8)
    root = make_dataset({"a": rng.integers(0, 255, (8, 10, 3), dtype=np.uint8)},
                        {"a": labels}, gt={"a": np.full((8, 10), 2, np.uint8)},
                        regions={"a": regions})
    session = new_session(root, tmp_path / "run", tiny_config(budget=2))
    drive(session.prepare_round(), quiet=True)
    session.answer({q.index: 2 for q in session.queries}, rewrite=[0, 1])
    assert (session.labels("a") == 2).all()
    assert {q.region for q in session.queries} == {7, big}


def test_a_stroke_made_while_the_lcm_runs_is_never_overwritten(demo, tmp_path):
    """The widget saves strokes from its main thread while a worker runs
    finish_round: a stroke in a region that the LCM is about to change,
    made between computing the changes and writing them, stays."""
    session = new_session(demo, tmp_path / "run", tiny_config(tau=(0.3,), budget=10))
    drive(session.prepare_round(), quiet=True)
    answer_all(session)
    steps = session.finish_round()
    next(steps)  # the LCM's changes are computed, not yet written
    target = session.propose_lcm().updates[0]
    with pytest.raises(RuntimeError):
        session.answer({0: 1})  # the answers are frozen meanwhile
    mask = session.dataset.regions(target.image) == target.region
    stroke = session.labels(target.image)
    stroke[mask] = (target.new + 1) % session.dataset.classes.num_classes
    session.edit_labels(target.image, stroke)
    drive(steps, quiet=True)
    np.testing.assert_array_equal(session.labels(target.image)[mask], stroke[mask])
    assert target.key not in {u.key for u in session.lcm_applied}
    assert session.round == 2


def test_a_round_with_no_query_left_finishes(make_dataset, tmp_path):
    rng = np.random.default_rng(0)
    root = make_dataset({"a": rng.integers(0, 255, (8, 10, 3), dtype=np.uint8)},
                        {"a": np.zeros((8, 10), np.uint8)},
                        gt={"a": np.ones((8, 10), np.uint8)},
                        regions={"a": np.ones((8, 10), np.int32)})
    session = new_session(root, tmp_path / "run", tiny_config(budget=2))
    session.edit_labels("a", np.ones((8, 10), np.uint8))  # its only region: manual
    drive(session.prepare_round(), quiet=True)
    assert session.queries == [] and session.next_query() is None
    assert drive(session.finish_round(), quiet=True).queries == 0


def test_a_home_relative_labels_folder_resumes(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "pseudo").mkdir()
    for path in (demo / "labels").iterdir():
        (tmp_path / "pseudo" / path.name).write_bytes(path.read_bytes())
    first = drive(start_session(tmp_path / "run", demo, tiny_config(), "~/pseudo"), True)
    first.close()
    again = drive(start_session(tmp_path / "run", demo, tiny_config(), "~/pseudo"), True)
    assert again.state == first.state


def test_the_lcm_counts_ignore_as_a_vote():
    from a2lc_napari.engine.lcm_round import plurality_label

    hist = np.array([[3, 1, 0, 6],    # mostly unlabelled: ignore
                     [3, 1, 0, 2],    # class 0
                     [2, 2, 0, 2]])   # a tie: the lowest class
    np.testing.assert_array_equal(plurality_label(hist, 255), [255, 0, 0])


def test_pixels_of_an_event_a_kill_left_unrecorded_are_rolled_back(demo, tmp_path,
                                                                    monkeypatch):
    from a2lc_napari.engine import session as session_module

    session = new_session(demo, tmp_path / "run", tiny_config())
    drive(session.prepare_round(), quiet=True)
    q, mask = queried_region(session)
    before, asked = session.labels(q.image), session.simulated_answer(q)

    def killed(path, data):  # the process dies as it saves the state
        raise KeyboardInterrupt
    monkeypatch.setattr(session_module, "write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        session.answer({q.index: (q.label + 1) % session.dataset.classes.num_classes})
    monkeypatch.undo()
    assert (session.labels(q.image)[mask] != before[mask]).all()  # its pixels are written
    session.close()
    resumed = Session.open(tmp_path / "run")
    np.testing.assert_array_equal(resumed.labels(q.image), before)
    assert resumed.queries[q.index].answer is None
    assert resumed.simulated_answer(q) == asked  # asked again, on the labels it saw


def test_resuming_on_a_dataset_with_other_images_names_them(demo, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo, data)
    new_session(data, tmp_path / "run", tiny_config()).close()
    last = sorted((data / "images").iterdir())[-1]
    moved = tmp_path / last.name
    last.rename(moved)  # an image taken away
    with pytest.raises(DatasetError, match=f"lacks {last.stem}, images of the session"):
        Session.open(tmp_path / "run")
    moved.rename(last)
    extra = data / "images" / "zz_new.png"
    shutil.copy(last, extra)  # and one added, with its labels
    shutil.copy(data / "labels" / f"{last.stem}.png", data / "labels" / "zz_new.png")
    shutil.copy(data / "gt" / f"{last.stem}.png", data / "gt" / "zz_new.png")
    shutil.copy(data / "regions" / f"{last.stem}.npy", data / "regions" / "zz_new.npy")
    with pytest.raises(DatasetError, match="run/labels/zz_new.png: is missing: the session "
                       "holds no labels of zz_new"):
        Session.open(tmp_path / "run")
    for folder, suffix in (("images", ".png"), ("labels", ".png"), ("gt", ".png"),
                           ("regions", ".npy")):
        (data / folder / f"zz_new{suffix}").unlink()
    Session.open(tmp_path / "run").close()  # the same images again: it resumes


def test_resuming_after_the_classes_or_an_image_or_a_label_changed_names_what(demo, tmp_path):
    """Each change is refused, named, before any work; undone, the session resumes."""
    data = tmp_path / "data"
    shutil.copytree(demo, data)
    new_session(data, tmp_path / "run", tiny_config()).close()
    classes = data / "classes.json"
    kept = classes.read_text()
    more = json.loads(kept)
    more["names"].append("tram")
    more["colors"].append([1, 2, 3])
    classes.write_text(json.dumps(more))
    with pytest.raises(DatasetError, match=r"now has 13 classes where the session in .* "
                       r"began with 12 \(tram added\); put its classes back"):
        Session.open(tmp_path / "run")
    more["names"][:2] = more["names"][1::-1]
    more["ignore_index"] = 254
    classes.write_text(json.dumps(more))
    with pytest.raises(DatasetError, match=r"began with 12 \(tram added; ignore value 254, "
                       r"not 255\)"):
        Session.open(tmp_path / "run")
    del more["names"][-1], more["colors"][-1]
    classes.write_text(json.dumps(more))
    with pytest.raises(DatasetError, match=r"\(the same names in another order; ignore"):
        Session.open(tmp_path / "run")
    classes.write_text(kept)
    session = Session.open(tmp_path / "run")
    name = session.dataset.names[0]
    session.close()
    image = data / "images" / f"{name}.png"
    original = image.read_bytes()
    with Image.open(image) as img:
        img.crop((0, 0, 20, 10)).save(image)
    with pytest.raises(DatasetError, match=f"{image}: is 20x10 pixels where the session .* "
                       "holds labels of .* the image or the session's labels of it changed"):
        Session.open(tmp_path / "run")
    image.write_bytes(original)
    label = tmp_path / "run" / "labels" / f"{name}.png"
    edited = np.array(Image.open(label))
    edited[0, 0] = 77  # a value of no class, painted by hand
    Image.fromarray(edited).save(label)
    session = Session.open(tmp_path / "run")
    with pytest.raises(DatasetError, match=f"{label}: has label values 77, which are neither"):
        session.labels(name)
    # Cropped while the session is open: named where a round reads it, no crash.
    edited[0, 0] = 0
    Image.fromarray(edited[:10, :20]).save(label)
    with pytest.raises(DatasetError, match=f"{label}: is 20x10 pixels but its image"):
        drive(session.prepare_round(), quiet=True)
    session.close()
