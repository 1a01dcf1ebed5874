"""The round loop: end to end with the simulated annotator, resume after an
interruption, manual regions left alone, the input folder never written."""
import json

import numpy as np
import pytest

from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.errors import DatasetError
from a2lc_napari.engine.lcm import LCMConfig
from a2lc_napari.engine.model import ModelConfig
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.session import Session, SessionConfig, simulate


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", n_images=6,
                             size=(64, 80), seed=3)


def tiny_config(method="a2lc", **kw):
    return SessionConfig(method=method, budget=kw.pop("budget", 6), seed=1,
                         tau=kw.pop("tau", (0.5,)),
                         model=ModelConfig(width=8, crop=48, steps=8, batch_size=4),
                         lcm=LCMConfig(min_steps=100), **kw)


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
    assert [h["round"] for h in history] == [0, 1, 2]
    assert all(h["queries"] == 6 for h in history[1:])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["method"] == "a2lc" and metrics["rounds"] == history
    assert set(metrics["rounds"][1]) >= {"round", "data_miou", "queries", "manual_changes",
                                         "lcm_changes", "lcm_correct", "class_iou"}
    log = json.loads((tmp_path / "run" / "log" / "round_01.json").read_text())
    assert len(log["queries"]) == 6 and all(q["answer"] is not None for q in log["queries"])
    for u in log["lcm_updates"]:
        assert set(u) == {"image", "region", "old", "new", "confidence", "correct"}
        assert u["confidence"] >= 0.5
    assert history[1]["lcm_correct"] == sum(u["correct"] for u in log["lcm_updates"])
    if log["lcm_updates"]:
        assert history[1]["lcm_precision"] == round(
            100 * history[1]["lcm_correct"] / len(log["lcm_updates"]), 2)
    else:
        assert history[1]["lcm_precision"] is None
    assert listing(demo) == before  # the input folder is never written to


def test_answers_are_written_to_whole_regions(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    drive(session.prepare_round(), quiet=True)
    q = session.next_query()
    new = (q.label + 1) % session.dataset.classes.num_classes
    session.answer({q.index: new})
    region = session.dataset.regions(q.image) == q.region
    assert (session.labels(q.image)[region] == new).all()
    # The labels file is a palette PNG in the dataset's colours.
    from PIL import Image
    img = Image.open(tmp_path / "run" / "labels" / f"{q.image}.png")
    assert img.mode == "P"
    assert tuple(img.getpalette()[3 * new:3 * new + 3]) == \
        session.dataset.classes.colors[new]


def test_simulated_answers_follow_the_ground_truth(demo, tmp_path):
    for method in ("alc", "a2lc"):
        session = new_session(demo, tmp_path / method, tiny_config(method))
        drive(session.prepare_round(), quiet=True)
        for q in session.queries:
            gt = session.dataset.gt(q.image)
            if method == "alc":
                assert session.simulated_answer(q) == gt[q.pixel]
            else:
                region = gt[session.dataset.regions(q.image) == q.region]
                counts = np.bincount(region[region != 255], minlength=256)
                assert session.simulated_answer(q) == counts.argmax()


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
    resumed = Session.open(tmp_path / "run")
    assert (resumed.round, resumed.phase) == (2, "train")
    assert drive(simulate(resumed, 2), quiet=True) == reference


def test_resume_in_the_middle_of_the_queries(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    drive(session.prepare_round(), quiet=True)
    first = session.next_query()
    session.answer({first.index: session.simulated_answer(first)})
    resumed = Session.open(tmp_path / "run")
    assert resumed.phase == "query"
    assert resumed.queries[0].answer == session.simulated_answer(first)
    assert resumed.next_query().index == 1


def test_skipped_queries_are_logged_unanswered_and_stay_askable(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    drive(session.prepare_round(), quiet=True)
    first = session.queries[0]
    session.answer({0: session.simulated_answer(first)})
    entry = drive(session.finish_round(), quiet=True)
    assert entry["queries"] == 1
    log = json.loads((tmp_path / "run" / "log" / "round_01.json").read_text())
    assert [q["answer"] is None for q in log["queries"]] == [False] + [True] * 5
    drive(session.prepare_round(), quiet=True)
    asked = {(q.image, q.region) for q in session.queries}
    assert (first.image, first.region) not in asked  # answered: manual
    assert asked & {(q["image"], q["region"]) for q in log["queries"][1:]}


def test_unanswer_restores_the_round_start_labels(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    drive(session.prepare_round(), quiet=True)
    q = session.queries[0]
    before = session.labels(q.image)
    other = (q.label + 1) % session.dataset.classes.num_classes
    session.answer({0: other})
    mask = session.dataset.regions(q.image) == q.region
    assert (session.labels(q.image)[mask] == other).all()
    session.answer({0: q.label})  # answering again replaces the answer
    session.unanswer(0)
    np.testing.assert_array_equal(session.labels(q.image), before)
    resumed = Session.open(tmp_path / "run")
    assert resumed.queries[0].answer is None
    assert q.region not in resumed.state["manual"].get(q.image, [])


def test_edited_regions_become_manual(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    name = session.dataset.names[0]
    labels = session.labels(name)
    regions = session.dataset.regions(name)
    labels[0, :3] = 5
    touched = set(np.unique(regions[0, :3]).tolist())
    changed = int((session.labels(name)[0, :3] != 5).sum())
    assert session.edit_labels(name, labels) == changed
    assert set(session.state["manual"][name]) == touched
    np.testing.assert_array_equal(session.labels(name), labels)
    drive(session.prepare_round(), quiet=True)
    assert not {(name, r) for r in touched} & {(q.image, q.region) for q in session.queries}
    with pytest.raises(ValueError, match="shape"):
        session.edit_labels(name, labels[1:])


def test_lcm_proposal_equals_what_the_round_applies(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config(tau=(0.3,), budget=10))
    drive(session.prepare_round(), quiet=True)
    assert session.propose_lcm() == []  # nothing answered yet
    session.answer({q.index: session.simulated_answer(q) for q in session.queries})
    proposed = session.propose_lcm()
    assert Session.open(tmp_path / "run").state["lcm_pending"] is None  # written nowhere
    drive(session.finish_round(), quiet=True)
    log = json.loads((tmp_path / "run" / "log" / "round_01.json").read_text())
    assert log["lcm_updates"] == proposed


def test_a_snapshot_keeps_its_answers(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config(tau=(0.3,), budget=10))
    drive(session.prepare_round(), quiet=True)
    half = {q.index: session.simulated_answer(q) for q in session.queries[:5]}
    session.answer(half)
    twin = session.snapshot()
    session.answer({q.index: session.simulated_answer(q) for q in session.queries[5:]})
    assert [q.answer for q in twin.queries[5:]] == [None] * 5
    for index in range(5, 10):
        session.unanswer(index)
    assert twin.propose_lcm() == session.propose_lcm()  # same answers, same proposal


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


def test_bad_answers_and_folders(demo, tmp_path):
    session = new_session(demo, tmp_path / "run", tiny_config())
    with pytest.raises(RuntimeError):
        session.answer({0: 1})  # no queries before the round is prepared
    drive(session.prepare_round(), quiet=True)
    with pytest.raises(ValueError, match="neither a class"):
        session.answer({0: 99})
    with pytest.raises(DatasetError, match="already holds a session"):
        new_session(demo, tmp_path / "run", tiny_config())
    with pytest.raises(DatasetError, match="never written"):
        new_session(demo, demo / "out", tiny_config())
    with pytest.raises(DatasetError, match="session.json"):
        Session.open(tmp_path / "nothing")


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
    session.answer({q.index: 2 for q in session.queries})
    assert (session.labels("a") == 2).all()
    assert {q.region for q in session.queries} == {7, big}


def test_a_hand_edit_during_finish_round_is_kept(demo, tmp_path):
    """The widget saves strokes from its main thread while a worker runs
    finish_round: a stroke saved after the LCM's writes survives the rest of
    the step, and the LCM's change stays around it."""
    import threading

    session = new_session(demo, tmp_path / "run", SessionConfig(
        budget=10, seed=1, tau=(0.3,), lcm=LCMConfig(min_steps=100),
        model=ModelConfig(width=8, crop=48, steps=30, batch_size=4)))
    drive(session.prepare_round(), quiet=True)
    session.answer({q.index: session.simulated_answer(q) for q in session.queries})
    updates = session.propose_lcm()
    assert updates
    name = updates[0]["image"]
    steps = session.finish_round()
    next(steps)  # the LCM's changes are written
    edited = session.labels(name)
    edited[:2, :2] = 7
    editor = threading.Thread(target=session.edit_labels, args=(name, edited))
    editor.start()
    drive(steps, quiet=True)
    editor.join()
    labels = session.labels(name)
    assert (labels[:2, :2] == 7).all()
    mask = session.dataset.regions(name) == updates[0]["region"]
    mask[:2, :2] = False
    assert (labels[mask] == updates[0]["new"]).all()
    assert json.loads((tmp_path / "run" / "session.json").read_text())["round"] == 2
