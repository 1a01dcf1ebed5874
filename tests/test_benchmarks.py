"""The session benchmarks run end to end on a few tiny images and print
their tables (their figures are for the README, not asserted here)."""
import json
import os
import subprocess
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(script: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                         capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith(f"| {first_cell}")]


def test_round_overhead_prints_each_step_beside_the_forward_pass(tmp_path):
    text = run_benchmark("round_overhead.py", "--images", "2", "--size", "48", "64",
                         "--steps", "2", "--out", str(tmp_path))
    assert "Two A²LC rounds on 2 images of 48×64" in text
    steps = {row[0]: row for row in table_rows(text, "")}
    for step in ("Training model", "Ranking regions", "Running the LCM",
                 "**everything but training**",
                 "forward pass alone (network on the downscaled image)",
                 "forward pass and region summaries, the output resized pixel by pixel "
                 "(a round's way)"):
        assert step in steps, step
    assert steps["forward pass alone (network on the downscaled image)"][2] == "1.0×"
    assert "Inference and summaries of all 2 images" in text


def test_speed_times_a2lc_rank_beside_reading_the_maps(tmp_path):
    text = run_benchmark("speed.py", "--images", "2", "--size", "64", "128", "--repeat", "1",
                         "--out", str(tmp_path))
    assert "`a2lc rank` at 64×128, K = 19" in text
    rows = table_rows(text, "2 |")
    assert [row[1] for row in rows] == ["a2lc", "alc"]
    for method in ("a2lc", "alc"):  # the ranking each run wrote: every region, best first
        ranked = json.loads((tmp_path / f"rank_{method}.json").read_text())
        assert len(ranked) == len({(r["image"], r["region"]) for r in ranked}) > 100
        scores = [r["score"] for r in ranked]
        assert scores == sorted(scores, reverse=True)


def test_parallel_speed_makes_the_same_regions_both_ways(tmp_path):
    text = run_benchmark("parallel_speed.py", "--images", "2", "--shape", "128", "256",
                         "--workers", "2", "--repeat", "1", "--out", str(tmp_path))
    assert "SLIC regions of 2 images of 128×256" in text
    assert "Region summaries of the same images" in text
    assert len(table_rows(text, "2 |")) == 2  # regions on workers, summaries on threads


def test_session_scale_prints_a_row_per_size_and_worker_count(tmp_path):
    text = run_benchmark("session_scale.py", "--images", "2", "3", "--size", "48", "64",
                         "--workers", "1", "2", "--steps", "2", "--out", str(tmp_path))
    rows = [row[:2] for row in table_rows(text, "") if row[0].isdigit()]
    assert rows == [["2", "1"], ["2", "2"], ["3", "1"], ["3", "2"]]
    assert (tmp_path / "session_3_2" / "log" / "round_01.json").is_file()
    assert "per extra image" in text


def test_voc_object_regions_cover_every_pixel_one_per_object_and_split_large_ones(tmp_path):
    import numpy as np
    from PIL import Image

    # A labelme-examples instance folder by hand: a bus over 40% of the
    # photo, two people apart from it and from each other, background around.
    folder, h, w = tmp_path / "photos", 240, 320
    rows, cols = np.mgrid[0:h, 0:w]
    rgb = np.dstack([rows, cols // 2, (rows + cols) // 4]).astype(np.uint8)
    voc, objects = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    for k, (voc_class, r0, r1, c0, c1) in enumerate(
            [(6, 20, 200, 10, 180), (15, 40, 120, 220, 280), (15, 150, 220, 230, 300)], 1):
        voc[r0:r1, c0:c1], objects[r0:r1, c0:c1] = voc_class, k
        rgb[r0:r1, c0:c1] = (40 * k, 200 - 50 * k, 90)
    for sub, array in (("SegmentationClassPNG", voc), ("SegmentationObjectPNG", objects)):
        (folder / sub).mkdir(parents=True)
        Image.fromarray(array).save(folder / sub / "scene.png")
    (folder / "JPEGImages").mkdir()
    Image.fromarray(rgb).save(folder / "JPEGImages" / "scene.jpg", quality=95)

    out = tmp_path / "voc"
    run_benchmark("voc_dataset.py", str(out), "--regions", "objects", "--labelme", str(folder))
    for view in ("scene", "scene_mirror", "scene_crop_a", "scene_crop_b"):
        regions = np.load(out / "regions" / f"{view}.npy")
        labels = np.asarray(Image.open(out / "labels" / f"{view}.png"))
        assert regions.shape == labels.shape
        np.testing.assert_array_equal(np.unique(regions), np.arange(1, regions.max() + 1))
        for r in np.unique(regions):  # one class (or ignore) per region
            assert np.unique(labels[regions == r]).size == 1

    regions = np.load(out / "regions" / "scene.npy")
    ids = np.unique(regions)

    def inside(mask):
        """Regions with most of their pixels in ``mask``."""
        return [r for r in ids if (mask[regions == r]).mean() > 0.5]

    bus = objects == 1
    parts = inside(bus)
    assert len(parts) >= 2  # 42% of the photo: in parts
    assert all((regions == r).sum() < 0.75 * bus.sum() for r in parts)
    for person in (objects == 2, objects == 3):  # small: one region each
        [region] = inside(person)
        overlap = ((regions == region) & person).sum()
        assert overlap / ((regions == region) | person).sum() > 0.5
    assert len(inside(objects == 0)) >= 2  # the background in a few coarse superpixels


def test_voc_dataset_refuses_a_labelme_folder_with_no_photo(tmp_path):
    # The package's top folder, not its data_dataset_voc: no photo there.
    folder = tmp_path / "labelme-examples" / "examples"
    folder.mkdir(parents=True)
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "voc_dataset.py"),
                          str(tmp_path / "voc"), "--labelme", str(folder)],
                         capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode != 0
    assert str(folder) in out.stderr and "no labelme VOC photo" in out.stderr
    assert not (tmp_path / "voc").exists()


def test_sam_speed_times_each_mode_with_the_checkpoint_given(tmp_path, sam_checkpoint,
                                                              monkeypatch, capsys):
    # In this process: the fixture's tiny SAM stands in for vit_b's builder.
    import runpy
    monkeypatch.setattr(sys, "argv", ["sam_speed.py", "--size", "64", "--checkpoint",
                                      str(sam_checkpoint), "--out", str(tmp_path)])
    runpy.run_path(str(ROOT / "benchmarks" / "sam_speed.py"), run_name="__main__")
    text = capsys.readouterr().out
    assert f"{sam_checkpoint.name}, one 64×64 image, on cpu" in text
    rows = {row[0]: row for row in table_rows(text, "")}
    assert set(rows) >= {"auto", "auto, quality filters off", "boxes"}
    assert int(rows["boxes"][2]) >= 1  # a region map was made


STAND_IN_TOOL = '''
import numpy as np


def region_table(dataset):
    """As the peer tool's: features, majority label, majority truth, image index."""
    return (np.arange(6, dtype=float)[:, None], np.array([0, 0, 1, 0, 1, 1]),
            np.array([0, 0, 1, 1, 0, 1]), np.array([0, 0, 0, 1, 1, 1]))
'''


def test_peer_baseline_judges_its_picks_by_both_rules(make_dataset, tmp_path):
    # Image a: region 1 has 3 of 4 labelled pixels right, region 2 two of 4
    # (wrong to the annotator), region 3 none labelled (wrong). Image b: right.
    labels = np.array([[0, 0, 1, 1, 255, 255], [0, 1, 1, 1, 255, 255]], np.uint8)
    gt = np.array([[0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 2, 2]], np.uint8)
    regions = np.array([[1, 1, 2, 2, 3, 3], [1, 1, 2, 2, 3, 3]], np.int32)
    root = make_dataset({"a": np.zeros((2, 6, 3), np.uint8), "b": np.zeros((2, 6, 3), np.uint8)},
                        {"a": labels, "b": gt}, gt={"a": gt, "b": gt},
                        regions={"a": regions, "b": regions})
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from peer_baseline import annotator_wrong
    finally:
        sys.path.pop(0)
    assert annotator_wrong(root).tolist() == [False, True, True, False, False, False]
    tool = tmp_path / "tool.py"
    tool.write_text(STAND_IN_TOOL)
    text = run_benchmark("peer_baseline.py", str(root), "--tool", str(tool), "--budget", "1")
    rows = {row[0]: row for row in table_rows(text, "the")}
    # Rows 3 and 4 of the stand-in's 6 are wrong by its majorities; rows 1
    # and 2 (image a's regions 2 and 3) by the annotator's rule.
    assert rows["the tool's (majority label)"][1] == "33.3%"
    assert rows["the annotator's (its answer changes a label)"][1] == "33.3%"


def test_review_table_prints_each_refill_beside_the_first_fill():
    text = run_benchmark("review_table.py", "--changes", "20", "--repeat", "1")
    rows = table_rows(text, "20")
    assert [row[1] for row in rows] == ["first fill", "refill, one change fewer (a decision)",
                                        "refill, the same changes (an undo)"]
    assert rows[0][3] == "1.0×"


def test_hit_rate_ranks_under_one_model_a_cross_fitted_one_or_a_pruned_one(demo, tmp_path):
    from a2lc_napari.engine.region_summary import RegionSummary

    rankings = ["ALC (model)", "ABC (model)", "ABC (out of fold)", "doubt (out of fold)",
                "ABC (model) × doubt (out of fold)", "turns: doubt, then ABC (model) × doubt"]
    summaries = []
    for option, model, tag in (((), "one model", ""),
                               (("--cross-fit", "2"), "cross-fitted, 2 folds", "_crossfit2"),
                               (("--prune",), "one model, trained without the doubted labels",
                                "_pruned")):
        text = run_benchmark("hit_rate.py", str(demo), "--out", str(tmp_path), "--steps", "2",
                             "--budget", "3", *option)
        assert f"; {model}: 2 steps, seed 0" in text
        assert re.search(r"the model's class is the truth on \d+ of \d+ wrong", text)
        rows = [line.split("|")[1].strip() for line in text.splitlines()
                if line.startswith("| ") and not line.startswith("| ranking")]
        assert rows == rankings
        summaries.append(RegionSummary.load(tmp_path / f"summary_seed0_steps2{tag}.npz"))
    one = summaries[0]
    # The same regions, labels and truth; judged by other models.
    for other in summaries[1:]:
        assert np.array_equal(one.keys(), other.keys())
        assert np.array_equal(one.label_hist, other.label_hist)
        assert np.array_equal(one.gt_agree, other.gt_agree)
        assert not np.allclose(one.mean_prob, other.mean_prob)
