"""The query hit rate and the LCM's right changes per correction, on
hand-made regions, and as `a2lc simulate` reports them."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from a2lc_napari.cli import main
from a2lc_napari.engine.annotator import changes_labels
from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.query_stats import (
    hit_rate,
    right_per_correction,
    wrong_regions,
    wrong_share,
)
from a2lc_napari.engine.region_summary import RegionSummary, summarize_image

IGNORE = 255


def test_wrong_regions_follow_the_annotators_rule():
    # Region 1: 3 of 4 labelled pixels right; region 2: 2 of 4 (acc 0.5 is
    # wrong); region 3: no labelled pixel; region 4: 1 of 1 (ignore left out).
    labels = np.array([[0, 0, 0, 1, 1, 1, IGNORE, 0]], np.uint8)
    gt = np.array([[0, 0, 0, 0, 1, 0, 1, 0]], np.uint8)
    regions = np.array([[1, 1, 1, 1, 2, 2, 3, 4]], np.int32)
    labels, gt, regions = (np.concatenate([a, a]) for a in (labels, gt, regions))
    probs = np.full((2, *labels.shape), 0.5, np.float32)
    s = summarize_image(probs, labels, regions, IGNORE, gt=gt)
    assert s.gt_agree.tolist() == [6, 2, 0, 2]
    assert wrong_regions(s).tolist() == [False, True, True, False]
    assert wrong_share(s, np.array([False, False, False, False])) == 50
    assert wrong_share(s, np.array([False, True, True, False])) == 0
    assert wrong_share(s, np.ones(4, bool)) is None
    assert wrong_regions(summarize_image(probs, labels, regions, IGNORE)) is None


def test_a_region_already_labelled_with_the_annotators_answer_is_not_wrong():
    """Found in a walk-through: with the ground truth as pseudo-labels, the
    unlabelled regions counted as corrections. Region 1: unlabelled, its
    ground truth unlabelled too; region 2: class 1, its ground truth 1 of 3
    pixels class 1 and the rest unlabelled (acc 1/3, but the answer is 1);
    region 3: unlabelled, its ground truth class 0 (wrong)."""
    labels = np.array([[IGNORE, IGNORE, 1, 1, 1, IGNORE]], np.uint8)
    gt = np.array([[IGNORE, IGNORE, 1, IGNORE, IGNORE, 0]], np.uint8)
    regions = np.array([[1, 1, 2, 2, 2, 3]], np.int32)
    probs = np.full((2, *labels.shape), 0.5, np.float32)
    s = summarize_image(probs, labels, regions, IGNORE, gt=gt)
    assert wrong_regions(s).tolist() == [False, False, True]
    for r, wrong in zip((1, 2, 3), (False, False, True)):
        assert changes_labels(labels[regions == r], gt[regions == r], 2, IGNORE) is wrong


def test_simulate_counts_no_correction_where_the_labels_are_the_ground_truth(tmp_path, capsys):
    demo = make_demo_dataset(tmp_path / "demo", n_images=3, size=(48, 64), seed=5)
    shutil.rmtree(demo / "gt")
    shutil.copytree(demo / "labels", demo / "gt")  # unlabelled regions stay unlabelled
    out = tmp_path / "run"
    assert main(["simulate", str(demo), "--method", "abc", "--rounds", "1", "--budget", "6",
                 "--steps", "5", "--out", str(out), "-q"]) == 0
    record = json.loads((out / "metrics.json").read_text())["rounds"][1]
    assert record["manual_changes"] == 0 and record["wrong_share"] == 0
    queries = json.loads((out / "log" / "round_01.json").read_text())["queries"]
    assert any(q["label"] == IGNORE for q in queries)  # asked, and left as they were
    assert not any(q["rewrite"] for q in queries)


def test_hit_rate_and_right_changes_per_correction():
    assert hit_rate(6, 30, 10.0) == pytest.approx(2.0)  # 20% of queries over 10%
    assert hit_rate(0, 30, 10.0) == 0
    assert hit_rate(3, 0, 10.0) is None and hit_rate(3, 30, 0.0) is None
    assert right_per_correction(7, 14) == 0.5
    assert right_per_correction(7, 0) is None


def _regions_wrong(demo, names):
    """Naive reference: per region of every image, the annotator's acc <= 0.5
    and its answer, the ground truth's majority class, not every label."""
    wrong = {}
    for name in names:
        labels = np.asarray(Image.open(demo / "labels" / f"{name}.png"))
        gt = np.asarray(Image.open(demo / "gt" / f"{name}.png"))
        regions = np.load(demo / "regions" / f"{name}.npy")
        for r in np.unique(regions[regions > 0]):
            m = (regions == r) & (labels != IGNORE)
            classes = gt[(regions == r) & (gt != IGNORE)]
            answer = np.bincount(classes).argmax() if classes.size else IGNORE
            wrong[name, int(r)] = (not m.any() or np.mean(labels[m] == gt[m]) <= 0.5) \
                and bool((labels[regions == r] != answer).any())
    return wrong


def test_simulate_reports_the_hit_rate(tmp_path, capsys):
    demo = make_demo_dataset(tmp_path / "demo", n_images=3, size=(48, 64), seed=5)
    out = tmp_path / "run"
    assert main(["simulate", str(demo), "--method", "abc", "--rounds", "1", "--budget", "6",
                 "--steps", "5", "--out", str(out), "-q"]) == 0
    table = capsys.readouterr().out
    assert "hit ×" in table and "ok/manual" in table
    record = json.loads((out / "metrics.json").read_text())["rounds"][1]
    wrong = _regions_wrong(demo, [p.stem for p in (demo / "images").glob("*.png")])
    share = 100 * np.mean(list(wrong.values()))
    queries = json.loads((out / "log" / "round_01.json").read_text())["queries"]
    hits = sum(wrong[q["image"], q["region"]] for q in queries)
    assert record["wrong_share"] == pytest.approx(share, abs=0.01)
    assert record["manual_changes"] == hits
    assert record["hit_rate"] == pytest.approx(100 * hits / 6 / share, abs=0.01)


def test_simulate_out_of_fold_asks_the_most_doubted_regions(tmp_path):
    demo = make_demo_dataset(tmp_path / "demo", n_images=4, size=(48, 64), seed=3)
    out = tmp_path / "run"
    assert main(["simulate", str(demo), "--method", "abc", "--rounds", "1", "--budget", "5",
                 "--steps", "5", "--confidence", "out_of_fold", "--out", str(out), "-q"]) == 0
    s = RegionSummary.load(out / "work" / "round_01_regions.npz")
    assert s.oof_prob.shape == (len(s), 12)
    # Naive reference: each region's doubt from its own pixels' labels.
    doubt, size = [], []
    for image, region, prob in zip(s.image, s.ids, s.oof_prob):
        name = sorted(p.stem for p in (demo / "images").glob("*.png"))[image]
        labels = np.asarray(Image.open(demo / "labels" / f"{name}.png"))
        pixels = labels[np.load(demo / "regions" / f"{name}.npy") == region]
        doubt.append(np.mean([1.0 if v == IGNORE else 1 - prob[v] for v in pixels]))
        size.append(len(pixels))
    queries = json.loads((out / "log" / "round_01.json").read_text())["queries"]
    # Most doubted first; equal doubts (every unlabelled region's 1) the larger first.
    order = sorted(range(len(doubt)), key=lambda r: (-doubt[r], -size[r], r))
    assert [q["row"] for q in queries] == order[:5]
