"""θ trained without the labels the out-of-fold trees doubt: the rule on
hand-made cases, the labels' summary against the full one, and a session
that trains on the pruned labels and ranks with the same trees."""
import numpy as np

from a2lc_napari.engine import session as session_module
from a2lc_napari.engine.config import LCMConfig, ModelConfig, SessionConfig
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.label_pruning import doubted, label_summary, without
from a2lc_napari.engine.driver import simulate
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.region_classifier import summary_probabilities
from a2lc_napari.engine.region_summary import RegionSummary, image_look, summarize_image
from a2lc_napari.engine.session import Session


def test_a_label_is_doubted_below_its_class_s_mean_and_behind_another_class():
    oof = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7], [0.5, 0.5]])
    labels = np.array([0, 0, 0, 1, 2])  # 2: ignore (K = 2)
    # class 0's threshold: (0.9 + 0.6 + 0.2) / 3 = 0.567; only region 2 is
    # under it with class 1 first. Class 1's: 0.7, which region 3 is not under.
    keep = np.zeros(5, bool)
    np.testing.assert_array_equal(doubted(oof, labels, keep), [0, 0, 1, 0, 0])
    keep[2] = True  # an answer is never doubted
    assert not doubted(oof, labels, keep).any()


def test_under_the_threshold_but_first_for_its_label_is_not_doubted():
    oof = np.array([[0.9, 0.05, 0.05], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    labels = np.array([0, 0, 0])  # threshold (0.9 + 0.5 + 0.1) / 3 = 0.5
    # region 1: 0.5 is not under 0.5; region 2: 0.1 is, with class 2 first
    np.testing.assert_array_equal(doubted(oof, labels, np.zeros(3, bool)), [0, 0, 1])
    oof[1] = [0.45, 0.3, 0.25]  # now under (0.4833), but still its own class first
    np.testing.assert_array_equal(doubted(oof, labels, np.zeros(3, bool)), [0, 0, 1])


def test_the_labels_summary_is_the_model_s_summary_without_the_model():
    rng = np.random.default_rng(0)
    regions = np.repeat(np.repeat(rng.integers(0, 6, (4, 5)), 3, axis=0), 3, axis=1)
    regions[0, :4] = 9  # ids with gaps; 0 = no region
    labels = rng.integers(0, 3, regions.shape).astype(np.uint8)
    labels[1, 1] = 255
    image = rng.integers(0, 256, (*regions.shape, 3)).astype(np.uint8)
    probs = rng.dirichlet(np.ones(3), regions.shape).transpose(2, 0, 1).astype(np.float32)
    full = summarize_image(probs, labels, regions, 255, image=image, image_index=4)
    mine = label_summary(labels, regions, image_look(image, regions), 3, image_index=4)
    for name in ("image", "ids", "size", "label_hist", "appearance", "layout"):
        expected = getattr(full, name)
        if name == "appearance":
            expected = expected[:, :6]  # colour only: no model features
        np.testing.assert_array_equal(getattr(mine, name), expected, err_msg=name)
    assert not mine.mean_prob.any() and not mine.abc_parts.any()


def test_without_sets_the_left_out_regions_to_ignore():
    labels = np.array([[1, 1, 2], [0, 2, 2]], np.uint8)
    regions = np.array([[1, 1, 3], [0, 3, 4]])
    np.testing.assert_array_equal(without(labels, regions, np.array([3]), 255),
                                  [[1, 1, 255], [0, 255, 2]])
    np.testing.assert_array_equal(without(labels, regions, np.array([], int), 255), labels)


def test_a_pruned_session_trains_without_the_doubted_labels_and_ranks_with_the_same_trees(
        demo, tmp_path, monkeypatch):
    trained_on, judged = [], []  # per round: the labels θ got; what was left out, and why
    real_train, real_judge = session_module.train_segmenter, session_module.judge_labels

    def train(load, names, *args, **kwargs):
        trained_on.append({n: load(n)[1] for n in names})
        return (yield from real_train(load, names, *args, **kwargs))

    def judge(dataset, images, labels, manual, *args):
        oof_prob, left_out = yield from real_judge(dataset, images, labels, manual, *args)
        judged.append(({n: list(ids) for n, ids in manual.items()},
                       {n: labels(n) for n in dataset.names}, left_out))
        return oof_prob, left_out

    monkeypatch.setattr(session_module, "train_segmenter", train)
    monkeypatch.setattr(session_module, "judge_labels", judge)
    config = SessionConfig(budget=6, seed=1, confidence="both",
                           model=ModelConfig(width=8, crop=48, steps=4, batch_size=4,
                                             prune=True),
                           lcm=LCMConfig(min_steps=50))
    session = drive(Session.create(tmp_path / "run", open_dataset(
        demo, region_cache=tmp_path / "regions"), config), quiet=True)
    drive(simulate(session, 2), quiet=True)
    ds = session.dataset
    assert len(trained_on) == len(judged) == 2
    assert judged[1][0], "round 2 is judged with round 1's answers"
    for round_, ((manual, labels, left_out), trained) in enumerate(zip(judged, trained_on), 1):
        assert sum(len(ids) for ids in left_out.values()) > 0
        for name in ds.names:
            out = np.isin(ds.regions(name), left_out[name])
            assert (trained[name][out] == ds.classes.ignore_index).all()
            np.testing.assert_array_equal(trained[name][~out], labels[name][~out])
            assert not set(manual.get(name, ())) & set(left_out[name])  # answers are kept
        # the ranking's trees are those judged before training, from the same labels
        summary = RegionSummary.load(session.folder.summary(round_))
        again = drive(summary_probabilities(summary, ds.classes.num_classes,
                                            ds.classes.ignore_index, seed=1000 + round_),
                      quiet=True)
        np.testing.assert_array_equal(summary.oof_prob, again)
