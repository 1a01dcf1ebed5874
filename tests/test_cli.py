"""The ``a2lc`` command as the benchmarks call it."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from a2lc_napari import cli
from a2lc_napari.cli import main
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.classes import CITYSCAPES_CLASSES
from a2lc_napari.engine.demo import demo_classes, make_demo_dataset


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", n_images=3,
                             size=(48, 64), seed=5)


def write_probs(demo, folder, dtype=np.float32):
    ds = open_dataset(demo)
    rng = np.random.default_rng(0)
    for name in ds.names:
        logits = rng.normal(size=(ds.classes.num_classes, *ds.shape(name)))
        p = np.exp(logits) / np.exp(logits).sum(0)
        folder.mkdir(exist_ok=True)
        np.save(folder / f"{name}.npy", p.astype(dtype))
    return ds


@pytest.mark.parametrize("method", ["alc", "a2lc"])
def test_rank_writes_every_region_best_first(demo, tmp_path, method):
    ds = write_probs(demo, tmp_path / "probs", np.float16)
    out = tmp_path / "rank.json"
    assert main(["rank", str(demo), "--probs", str(tmp_path / "probs"), "--method", method,
                 "--json", str(out), "-q"]) == 0
    ranked = json.loads(out.read_text())
    n_regions = sum(len(set(np.unique(ds.regions(n))) - {0}) for n in ds.names)
    assert len(ranked) == n_regions
    scores = [r["score"] for r in ranked]
    assert scores == sorted(scores, reverse=True)
    assert all(r["image"] in ds.names for r in ranked)
    if method == "alc":
        for r in ranked:
            row, col = r["pixel"]
            assert ds.regions(r["image"])[row, col] == r["region"]
    else:
        assert "pixel" not in ranked[0]
    assert main(["rank", str(demo), "--probs", str(tmp_path / "probs"), "--method", method,
                 "--top", "5", "--json", str(out), "-q"]) == 0
    assert json.loads(out.read_text()) == ranked[:5]
    # numpy's default float64, as float32 maps of the same values
    for dtype in (np.float32, np.float64):
        write_probs(demo, tmp_path / dtype.__name__, dtype)
        assert main(["rank", str(demo), "--probs", str(tmp_path / dtype.__name__), "--method",
                     method, "--json", str(tmp_path / f"{dtype.__name__}.json"), "-q"]) == 0
    assert (tmp_path / "float32.json").read_text() == (tmp_path / "float64.json").read_text()


def test_rank_says_where_the_region_maps_it_made_are(demo, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = tmp_path / "data"
    shutil.copytree(demo, data, ignore=shutil.ignore_patterns("regions"))  # SLIC's, then
    write_probs(data, tmp_path / "probs")
    out = tmp_path / "rank.json"
    assert main(["rank", str(data), "--probs", str(tmp_path / "probs"), "--method", "a2lc",
                 "--json", str(out)]) == 0
    said = capsys.readouterr().out.splitlines()[-1]
    assert said.startswith("Their region ids are those of the maps it made, in ")
    maps = Path(said.split(" in ", 1)[1].removesuffix("/NAME.npy"))
    for r in json.loads(out.read_text()):
        assert r["region"] in np.load(maps / f"{r['image']}.npy")


def test_rank_reads_flat_maps_of_nested_cityscapes_names(make_cityscapes, tmp_path,
                                                          capsys):
    """A map named flat (its stem, or its image's file name) matches the
    nested Cityscapes name, as labels and regions do; two of one image are refused."""
    rng = np.random.default_rng(1)
    names = ["val/lindau/lindau_000000_000019", "val/lindau/lindau_000001_000019"]
    root = make_cityscapes({n: rng.integers(0, 256, (8, 12, 3), dtype=np.uint8) for n in names},
                           {n: rng.integers(0, 19, (8, 12), dtype=np.uint8) for n in names})
    probs = tmp_path / "probs"
    probs.mkdir()
    for flat in ("lindau_000000_000019", "lindau_000001_000019_leftImg8bit"):
        p = np.exp(rng.normal(size=(19, 8, 12)))
        np.save(probs / f"{flat}.npy", (p / p.sum(0)).astype(np.float32))
    out = tmp_path / "rank.json"
    assert main(["rank", str(root), "--probs", str(probs), "--method", "alc", "--json", str(out),
                 "-q"]) == 0
    assert {r["image"] for r in json.loads(out.read_text())} == set(names)
    shutil.copy(probs / "lindau_000000_000019.npy", probs / "lindau_000000_000019_leftImg8bit.npy")
    assert main(["rank", str(root), "--probs", str(probs), "--method", "alc", "--json", str(out),
                 "-q"]) == 2
    assert "is a probability map of the same image" in capsys.readouterr().err
    assert main(["rank", str(root), "--probs", str(tmp_path / "prob"), "--method", "alc",
                 "--json", str(out), "-q"]) == 2  # a typo: the folder named, not a map
    assert f"{tmp_path / 'prob'}: is not a folder; --probs takes" in capsys.readouterr().err


def test_a_flat_map_that_several_images_share_is_named_not_missing(make_cityscapes, tmp_path,
                                                                   capsys):
    """Found in a walk-through: two splits' images of one stem, their maps
    and regions given flat, were said to have none."""
    rng = np.random.default_rng(2)
    names = ["train/aachen/aachen_000000_000019", "val/aachen/aachen_000000_000019"]
    root = make_cityscapes({n: rng.integers(0, 256, (8, 12, 3), dtype=np.uint8) for n in names},
                           {n: rng.integers(0, 19, (8, 12), dtype=np.uint8) for n in names})
    probs, regions = tmp_path / "probs", tmp_path / "regions"
    probs.mkdir(), regions.mkdir()
    p = np.exp(rng.normal(size=(19, 8, 12)))
    np.save(probs / "aachen_000000_000019.npy", (p / p.sum(0)).astype(np.float32))
    np.save(regions / "aachen_000000_000019.npy", np.ones((8, 12), np.int32))
    args = ["rank", str(root), "--probs", str(probs), "--method", "alc", "--json",
            str(tmp_path / "rank.json"), "-q"]
    assert main(args) == 2
    assert (f"{probs / 'aachen_000000_000019.npy'}: is a probability map whose name matches "
            f"several images ({', '.join(names)}): give it its image's folders"
            in capsys.readouterr().err)
    assert main([*args, "--regions", str(regions)]) == 2
    assert (f"{regions}: has regions for image {root / 'leftImg8bit' / names[0]}"
            f"_leftImg8bit.png under a name several images share ('aachen_000000_000019': "
            f"{', '.join(names)})" in capsys.readouterr().err)


def test_rank_says_which_labelled_images_have_no_pseudo_label(make_voc, tmp_path, capsys):
    """A VOC folder with --labels: the pseudo-labels may cover a subset, so an
    image labelled there without one is left out, and the command says so."""
    rng = np.random.default_rng(2)
    names = ("a", "b", "c")
    root = make_voc({n: rng.integers(0, 256, (8, 12, 3), dtype=np.uint8) for n in names},
                    {n: rng.integers(0, 21, (8, 12), dtype=np.uint8) for n in names})
    (tmp_path / "pseudo").mkdir()
    (tmp_path / "probs").mkdir()
    for n in names[:2]:
        shutil.copy(root / "SegmentationClass" / f"{n}.png", tmp_path / "pseudo" / f"{n}.png")
        p = np.exp(rng.normal(size=(21, 8, 12)))
        np.save(tmp_path / "probs" / f"{n}.npy", (p / p.sum(0)).astype(np.float32))
    out = tmp_path / "rank.json"
    assert main(["rank", str(root), "--labels", str(tmp_path / "pseudo"), "--probs",
                 str(tmp_path / "probs"), "--method", "a2lc", "--json", str(out), "-q"]) == 0
    assert {r["image"] for r in json.loads(out.read_text())} == {"a", "b"}
    assert (f"note: 1 image with labels in {root} has no pseudo-label in "
            f"{tmp_path / 'pseudo'} and is left out (c)") in capsys.readouterr().err


def test_no_command_writes_into_what_it_reads(demo, tmp_path, capsys):
    """--json and --out inside the pseudo-labels, the region files or the
    probability maps are refused, named, and those files are left as they were."""
    write_probs(demo, tmp_path / "probs")
    labels, regions = tmp_path / "labels", tmp_path / "regions"
    shutil.copytree(demo / "labels", labels)
    shutil.copytree(demo / "regions", regions)
    name = sorted(labels.iterdir())[0].name
    before = {p: p.read_bytes() for d in (labels, regions, tmp_path / "probs")
              for p in d.iterdir()}
    runs = {labels / name: ["rank", "--labels", str(labels)],
            regions / "r.json": ["rank", "--regions", str(regions)],
            tmp_path / "probs" / "r.json": ["rank"]}
    for target, (command, *options) in runs.items():
        assert main([command, str(demo), *options, "--probs", str(tmp_path / "probs"),
                     "--method", "a2lc", "--json", str(target), "-q"]) == 2
        err = capsys.readouterr().err
        assert str(target) in err and "which is never written to" in err, target
    # Nor the SAM checkpoint, a large download (found in a walk-through).
    checkpoint = tmp_path / "sam_vit_b.pth"
    checkpoint.write_bytes(b"weights")
    assert main(["rank", str(demo), "--regions", "sam", "--sam-checkpoint", str(checkpoint),
                 "--probs", str(tmp_path / "probs"), "--method", "a2lc", "--json",
                 str(checkpoint), "-q"]) == 2
    assert (f"{checkpoint}: is the SAM checkpoint, which is never written to"
            in capsys.readouterr().err)
    assert checkpoint.read_bytes() == b"weights"
    for options in (["--labels", str(labels)], ["--regions", str(regions)]):
        out = Path(options[1]) / "session"
        assert main(["simulate", str(demo), *options, "--method", "a2lc", "--rounds", "1",
                     "--budget", "4", "--steps", "2", "--out", str(out), "-q"]) == 2
        assert "which is never written to" in capsys.readouterr().err and not out.exists()
    assert {p: p.read_bytes() for d in (labels, regions, tmp_path / "probs")
            for p in d.iterdir()} == before


def test_rank_names_a_bad_probability_file(demo, tmp_path, capsys):
    ds = write_probs(demo, tmp_path / "probs")
    bad = tmp_path / "probs" / f"{ds.names[1]}.npy"
    np.save(bad, np.zeros((2, 3, 3), np.float32))
    assert main(["rank", str(demo), "--probs", str(tmp_path / "probs"), "--method", "alc",
                 "--json", str(tmp_path / "r.json"), "-q"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "shape" in err
    bad.unlink()
    assert main(["rank", str(demo), "--probs", str(tmp_path / "probs"), "--method", "alc",
                 "--json", str(tmp_path / "r.json"), "-q"]) == 2
    assert "missing" in capsys.readouterr().err
    shape = (ds.classes.num_classes, *ds.shape(ds.names[1]))
    for what in ("nan", "logits"):  # values that are no probabilities, named
        values = np.random.default_rng(1).normal(size=shape).astype(np.float32)
        if what == "nan":
            values = np.full(shape, 1 / shape[0], np.float32)
            values[:, 3, 4] = np.nan
        np.save(bad, values)
        assert main(["rank", str(demo), "--probs", str(tmp_path / "probs"), "--method",
                     "a2lc", "--json", str(tmp_path / "r.json"), "-q"]) == 2
        err = capsys.readouterr().err
        assert str(bad) in err and "holds no probabilities" in err, what


def test_simulate_then_resume(demo, tmp_path, capsys):
    args = ["simulate", str(demo), "--method", "abc", "--rounds", "1", "--budget", "4",
            "--steps", "5", "--out", str(tmp_path / "run"), "-q"]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [r["round"] for r in metrics["rounds"]] == [0, 1]
    assert metrics["rounds"][1]["queries"] == 4 and metrics["rounds"][1]["lcm_changes"] == 0
    assert "data mIoU" in capsys.readouterr().out
    args[args.index("--rounds") + 1] = "2"
    assert main(args) == 0
    assert "Resuming" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [r["round"] for r in metrics["rounds"]] == [0, 1, 2]
    assert main(args) == 0  # again: nothing left to run, and said so
    assert f"The session in {tmp_path / 'run'} has run its 2 rounds" in capsys.readouterr().out
    assert main([*args[:args.index("--rounds") + 1], "1", *args[args.index("--rounds") + 2:]]
                ) == 0
    assert (f"The session in {tmp_path / 'run'} has run 2 rounds, more than --rounds 1: "
            "nothing to run; --rounds N runs it on to round N") in capsys.readouterr().out
    args[args.index("--budget") + 1] = "7"
    assert main(args) == 2
    assert "other settings (budget: 4, not 7)" in capsys.readouterr().err
    args[args.index("--budget") + 1] = "4"
    args[1] = str(tmp_path)
    assert main(args) == 2
    assert "holds a session on" in capsys.readouterr().err


def test_a_dataset_written_over_in_place_is_refused_by_resume_and_export(tmp_path, capsys):
    """Found in a walk-through: the sample dataset written again with another
    seed (same names, same sizes) was resumed and exported with the session's
    labels paired with the new pictures, without a word."""
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["demo", str(data), "--images", "2", "--no-viewer"]) == 0
    args = ["simulate", str(data), "--method", "abc", "--rounds", "1", "--budget", "2",
            "--steps", "2", "--out", str(run), "-q"]
    assert main(args) == 0
    (data / "labels" / "demo_000.png").touch()  # touched, the same bytes: still its dataset
    args[args.index("--rounds") + 1] = "2"
    assert main(args) == 0
    # ... and its new time kept, so that the next resume need not read it again.
    label = data / "labels" / "demo_000.png"
    kept = json.loads((run / "regions" / "inputs.json").read_text())["files"]["demo_000"][1]
    assert kept[:2] == [label.stat().st_size, label.stat().st_mtime_ns]
    assert main(["demo", str(data), "--images", "2", "--seed", "1", "--no-viewer"]) == 0
    capsys.readouterr()
    args[args.index("--rounds") + 1] = "3"
    for command in (args, ["export", str(run), str(tmp_path / "out")]):
        assert main(command) == 2
        assert (f"{data / 'images' / 'demo_000.png'}: is not the file the session in {run} "
                "began on: its contents changed since") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert [r["round"] for r in json.loads((run / "metrics.json").read_text())["rounds"]] \
        == [0, 1, 2]


def test_an_export_never_writes_over_its_own_dataset_in_a_folder_it_holds(demo, tmp_path,
                                                                        capsys):
    """Found in a walk-through: a session on a VOC export, exported as voc
    with --overwrite to the folder that export was made in, wrote over its
    dataset's SegmentationClass/ (the ground truth there)."""
    first, second, x = tmp_path / "first", tmp_path / "second", tmp_path / "x"
    common = ["--method", "abc", "--rounds", "1", "--budget", "2", "--steps", "2", "-q"]
    assert main(["simulate", str(demo), *common, "--out", str(first)]) == 0
    assert main(["export", str(first), str(x), "--format", "voc", "-q"]) == 0
    voc = x / "VOCdevkit" / "VOC2012"
    assert main(["simulate", str(voc), "--labels", str(demo / "labels"), *common,
                 "--out", str(second)]) == 0
    before = {p: p.read_bytes() for p in voc.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["export", str(second), str(x), "--format", "voc", "--overwrite", "-q"]) == 2
    assert (f"{x}: holds the dataset folder {voc}, which is never written to"
            in capsys.readouterr().err)
    assert {p: p.read_bytes() for p in voc.rglob("*") if p.is_file()} == before


def test_a_moved_dataset_is_followed_where_it_is_named_and_only_there(demo, tmp_path,
                                                                      capsys):
    data, moved, other = tmp_path / "data", tmp_path / "moved", tmp_path / "other"
    shutil.copytree(demo, data)
    args = ["simulate", str(data), "--method", "abc", "--rounds", "1", "--budget", "2",
            "--steps", "2", "--out", str(tmp_path / "run"), "-q"]
    assert main(args) == 0
    data.rename(moved)
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "out")]) == 2
    assert (f"{data}: is missing: the session in {tmp_path / 'run'} reads its images and "
            "labels there") in capsys.readouterr().err
    # The export reads it where it is named now; the session itself stays as it was.
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "now"), "--format", "voc",
                 "--dataset", str(moved), "-q"]) == 0
    assert f"{data} is gone: this export reads those files from {moved}" in \
        capsys.readouterr().out
    assert (tmp_path / "now" / "VOCdevkit" / "VOC2012" / "JPEGImages" / "demo_001.jpg").is_file()
    assert json.loads((tmp_path / "run" / "session.json").read_text())["dataset"] == str(data)
    # Files named alike, of other sizes: not the session's dataset.
    shutil.copytree(moved, other)
    image = other / "images" / "demo_001.png"
    Image.open(image).crop((0, 0, 64, 64)).save(image)
    args[1] = str(other)
    assert main(args) == 2
    assert f"{image}: is 64x64 pixels where the session" in capsys.readouterr().err
    # ... or of the same sizes, but other pictures.
    with Image.open(moved / "images" / "demo_001.png") as img:
        Image.fromarray(np.asarray(img)[::-1]).save(image)  # upside down
    assert main(args) == 2
    assert (f"{other}: holds images or pseudo-labels other than those the session in "
            f"{tmp_path / 'run'} began on") in capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "session.json").read_text())["dataset"] == str(data)
    # Named in its new place with other settings, it is refused and left as it was.
    args[1], args[args.index("--rounds") + 1] = str(moved), "2"
    assert main([*args, "--seed", "7"]) == 2
    assert "holds a session with other settings (seed: " in capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "session.json").read_text())["dataset"] == str(data)
    # Named in its new place, it resumes there and stays there.
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"{data} is gone: the session reads those files from {moved} now." in out
    assert json.loads((tmp_path / "run" / "session.json").read_text())["dataset"] == str(moved)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [r["round"] for r in metrics["rounds"]] == [0, 1, 2]
    assert main(args) == 0  # again: nothing left to run, and said so
    assert f"The session in {tmp_path / 'run'} has run its 2 rounds" in capsys.readouterr().out
    assert main([*args[:args.index("--rounds") + 1], "1", *args[args.index("--rounds") + 2:]]
                ) == 0
    assert (f"The session in {tmp_path / 'run'} has run 2 rounds, more than --rounds 1: "
            "nothing to run; --rounds N runs it on to round N") in capsys.readouterr().out
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "out")]) == 0
    # A recorded folder still in place is not left for another one named.
    args[1] = str(other)
    assert main(args) == 2
    assert f"holds a session on {moved}" in capsys.readouterr().err


def test_prune_trains_the_session_s_model_without_the_doubted_labels(demo, tmp_path):
    for prune in ((), ("--prune",)):
        out = tmp_path / f"run{len(prune)}"
        assert main(["simulate", str(demo), "--method", "a2lc", "--rounds", "1", "--budget",
                     "2", "--steps", "2", *prune, "--out", str(out), "-q"]) == 0
        config = json.loads((out / "session.json").read_text())["config"]
        assert config["model"]["prune"] is bool(prune)


def test_help_explains_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for word in ("demo", "rank", "simulate", "classes.json"):
        assert word in out


def test_demo_writes_a_dataset_that_opens(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "d"), "--images", "2", "--no-viewer"]) == 0
    ds = open_dataset(tmp_path / "d")
    assert len(ds.names) == 2 and ds.has_gt and ds.has_regions
    assert str(tmp_path / "d") in capsys.readouterr().out


def test_the_sample_dataset_exports_as_cityscapes_that_torchvision_opens(demo, tmp_path):
    """Its classes are among Cityscapes' 19, by their names and colours."""
    from torchvision.datasets import Cityscapes

    run, out = tmp_path / "run", tmp_path / "out"
    assert main(["simulate", str(demo), "--method", "abc", "--rounds", "1", "--budget", "2",
                 "--steps", "2", "--out", str(run), "-q"]) == 0
    assert main(["export", str(run), str(out), "--format", "cityscapes", "-q"]) == 0
    city = Cityscapes(str(out), split="train", mode="fine", target_type="semantic")
    assert len(city) == 3
    ids = {name: i for i, name in enumerate(demo_classes().names)}
    for (image, target), path in zip(city, city.images):
        name = Path(path).name.removesuffix("_leftImg8bit.png")
        ours = np.asarray(Image.open(run / "labels" / f"{name}.png"))
        train_ids = np.asarray(Image.open(path.replace("leftImg8bit", "gtFine").replace(
            "_gtFine.png", "_gtFine_labelTrainIds.png")))
        assert image.size == (64, 48) and np.asarray(target).shape == (48, 64)
        for cls, i in ids.items():  # each class where the session has it, by its name
            assert (train_ids[ours == i] == CITYSCAPES_CLASSES.names.index(cls)).all()


def test_simulate_says_why_the_lcm_changed_nothing(demo, tmp_path, capsys):
    """Found in a walk-through: rounds in which the LCM changed nothing said
    nothing of why, where the widget's review says it."""
    run = tmp_path / "run"
    assert main(["simulate", str(demo), "--method", "a2lc", "--rounds", "1", "--budget", "4",
                 "--steps", "2", "--out", str(run), "-q"]) == 0
    record = json.loads((run / "metrics.json").read_text())["rounds"][1]
    assert record["lcm_changes"] == 0 and record["lcm_reason"]
    out = " ".join(capsys.readouterr().out.split())
    assert f"The LCM changed nothing: {record['lcm_reason']}" in out


def test_alc_s_table_leaves_the_lcm_columns_blank_and_a_round_is_one(demo, tmp_path, capsys):
    """ALC has no LCM: its right changes per correction are "–", not 0.0;
    a session of one round has run its 1 round (found in a walk-through)."""
    args = ["simulate", str(demo), "--method", "alc", "--rounds", "1", "--budget", "3",
            "--steps", "2", "--out", str(tmp_path / "run"), "-q"]
    assert main(args) == 0
    head, *rows = capsys.readouterr().out.splitlines()[1:4]
    end = head.index("ok/manual") + len("ok/manual")  # the columns are right-aligned
    assert [row[:end].split()[-1] for row in rows] == ["–", "–"]
    assert main(args) == 0
    assert "has run its 1 round; --rounds N" in capsys.readouterr().out
    args[args.index("--budget") + 1] = "1e9"
    with pytest.raises(SystemExit):
        main(args)
    assert "'1e9' is not a whole number" in capsys.readouterr().err


def test_output_in_an_encoding_without_tau_is_written_not_refused(tmp_path):
    """Found in a walk-through: redirected on Windows (its code page), the
    round table's τ stopped the command with a UnicodeEncodeError."""
    done = subprocess.run([sys.executable, "-m", "a2lc_napari.cli", "simulate", "--help"],
                          capture_output=True,
                          env={**os.environ, "PYTHONIOENCODING": "cp1252", "COLUMNS": "80"})
    assert done.returncode == 0, done.stderr.decode("cp1252")
    assert b"held-out answers, when ? is chosen" in done.stdout


def test_demo_writes_images_of_the_size_asked_and_names_a_bad_size(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "d"), "--images", "1", "--size", "48x100",
                 "--no-viewer"]) == 0
    ds = open_dataset(tmp_path / "d")
    name = ds.names[0]
    assert ds.image(name).shape == (48, 100, 3)
    assert ds.labels(name).shape == ds.regions(name).shape == ds.gt(name).shape == (48, 100)
    for bad in ("48", "48x", "ax100", "8x100"):
        with pytest.raises(SystemExit):
            main(["demo", str(tmp_path / "e"), "--size", bad, "--no-viewer"])
        assert "--size" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_simulate_stops_at_an_image_that_cannot_be_decoded_and_starts_once_mended(
        demo, tmp_path, capsys):
    # Start reads the images' headers only in its check; the image cut off
    # after its header stops Start where the pixels are read, named.
    data = tmp_path / "data"
    shutil.copytree(demo, data)
    image = sorted((data / "images").iterdir())[1]
    whole = image.read_bytes()
    image.write_bytes(whole[:len(whole) // 2])
    before = sorted((p, p.stat().st_mtime_ns) for p in data.rglob("*"))
    args = ["simulate", str(data), "--method", "abc", "--rounds", "1", "--budget", "4",
            "--steps", "5", "--out", str(tmp_path / "run"), "-q"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(image) in err and "cannot be read" in err
    assert not (tmp_path / "run" / "session.json").exists()
    assert sorted((p, p.stat().st_mtime_ns) for p in data.rglob("*")) == before
    image.write_bytes(whole)
    assert main(args) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [r["round"] for r in metrics["rounds"]] == [0, 1]


def listing(folder):
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in folder.rglob("*"))


def test_outputs_are_refused_where_they_would_write_over_files(demo, tmp_path, capsys):
    """simulate --out a folder of other files, rank --json inside the
    dataset, demo into a dataset of one's own: refused, named, untouched."""
    own = tmp_path / "mine"
    own.mkdir()
    (own / "labels").mkdir()
    (own / "labels" / "a.png").write_bytes(b"my labels")
    (own / "notes.txt").write_text("mine")
    before, data = listing(own), listing(demo)
    assert main(["simulate", str(demo), "--method", "abc", "--rounds", "1", "--budget", "4",
                 "--steps", "5", "--out", str(own), "-q"]) == 2
    assert f"{own}: holds files that are not a session's (notes.txt)" in \
        capsys.readouterr().err
    write_probs(demo, tmp_path / "probs")
    assert main(["rank", str(demo), "--probs", str(tmp_path / "probs"), "--method", "alc",
                 "--json", str(demo / "classes.json"), "-q"]) == 2
    assert "inside the dataset folder" in capsys.readouterr().err
    assert main(["demo", str(own), "--images", "2", "--no-viewer"]) == 2
    assert "holds no sample dataset of 2 images" in capsys.readouterr().err
    assert listing(own) == before and listing(demo) == data
    # A sample dataset is written again over itself (another seed: every file
    # anew), not over one of another size, which would be left mixed.
    assert main(["demo", str(tmp_path / "d"), "--images", "2", "--no-viewer"]) == 0
    assert main(["demo", str(tmp_path / "d"), "--images", "2", "--seed", "1",
                 "--no-viewer"]) == 0
    assert main(["demo", str(tmp_path / "d"), "--images", "3", "--no-viewer"]) == 2
    assert (f"{tmp_path / 'd'}: holds a sample dataset of 2 images, not 3; choose an "
            "empty folder, or --images 2") in capsys.readouterr().err
    # One whose writing was stopped (classes.json is written last) is written
    # whole again (found in a walk-through: every later demo was refused).
    (tmp_path / "d" / "classes.json").unlink()
    (tmp_path / "d" / "gt" / "demo_001.png").unlink()
    assert main(["demo", str(tmp_path / "d"), "--images", "2", "--no-viewer"]) == 0
    assert open_dataset(tmp_path / "d").names == ["demo_000", "demo_001"]


@pytest.mark.parametrize("option, value, says", [
    ("--budget", "0", "0 is out of range: from 1"),
    ("--steps", "-1", "-1 is out of range: from 1"),
    ("--rounds", "-1", "-1 is out of range: from 1"),
    ("--tau", "2", "2 is out of range: from 0 to 1"),
    ("--tau", "nan", "nan is out of range: from 0 to 1"),
    ("--seed", "-1", "-1 is out of range: from 0"),
    ("--workers", "0", "0 is out of range: from 1"),
    ("--min-gap-area", "-1", "-1 is out of range: from 0"),
    ("--budget", "many", "'many' is not a whole number")])
def test_numbers_out_of_range_are_a_usage_error_before_any_file(demo, tmp_path, capsys,
                                                                 option, value, says):
    args = {"--method": "abc", "--rounds": "1", "--budget": "4", "--steps": "5",
            "--out": str(tmp_path / "run"), option: value}
    with pytest.raises(SystemExit) as stop:
        main(["simulate", str(demo), *(x for pair in args.items() for x in pair)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {says}" in err and err.startswith("usage: a2lc simulate")
    assert not (tmp_path / "run").exists()


def test_a_path_the_system_refuses_is_one_line_naming_it(demo, tmp_path, capsys):
    assert main(["simulate", str(demo), "--method", "abc", "--rounds", "1", "--budget", "2",
                 "--steps", "2", "--out", str(tmp_path / "run"), "-q"]) == 0
    (tmp_path / "afile").write_text("a file, not a folder")
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "afile" / "sub"),
                 "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'afile'}") and "Traceback" not in err


def test_simulate_names_an_image_without_ground_truth(demo, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(demo, data)
    lacking = sorted((data / "gt").iterdir())[1]
    lacking.unlink()
    assert main(["simulate", str(data), "--method", "abc", "--rounds", "1", "--budget", "2",
                 "--out", str(tmp_path / "run"), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{data}: has no ground truth for {lacking.stem};" in err
    assert err.rstrip().endswith("(gt/NAME.png)")  # a generic folder: what it lacks, no more


def test_simulate_on_cityscapes_label_ids_names_the_train_ids_it_needs(make_cityscapes,
                                                                      tmp_path, capsys):
    """As Cityscapes is downloaded: label ids, no train ids (found in a walk-through)."""
    rng = np.random.default_rng(0)
    name = "train/aachen/aachen_000000_000019"
    root = make_cityscapes({name: rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)},
                           {name: rng.integers(0, 19, (8, 12), dtype=np.uint8)})
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    train_ids = root / "gtFine" / f"{name}_gtFine_labelTrainIds.png"
    train_ids.rename(noisy / "aachen_000000_000019.png")
    assert main(["simulate", str(root), "--labels", str(noisy), "--method", "abc", "--rounds",
                 "1", "--budget", "2", "--out", str(tmp_path / "run"), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{root}: has no ground truth for {name};" in err
    assert ("(gtFine/<split>/<city>/<stem>_gtFine_labelTrainIds.png (made by "
            "cityscapesscripts' createTrainIdLabelImgs), with the noisy labels in --labels DIR)"
            in err)


@pytest.mark.parametrize("method, flags, says", [
    ("alc", ["--paper-lcm"], "--paper-lcm applies only to a method with an LCM"),
    ("abc", ["--tau", "0.9"], "--tau applies only to a method with an LCM"),
    ("alc", ["--confidence", "model"], "--confidence applies only to A²LC's ranking"),
    ("alc", ["--prune"], "--prune applies only where the queries are ranked"),
    ("a2lc", ["--prune", "--confidence", "model"], "--prune applies only where"),
])
def test_options_the_method_would_ignore_are_refused(demo, tmp_path, capsys, method, flags,
                                                     says):
    with pytest.raises(SystemExit) as stopped:
        main(["simulate", str(demo), "--method", method, "--rounds", "1", "--budget", "2",
              "--out", str(tmp_path / "run"), *flags])
    assert stopped.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_demo_without_a_display_says_so_instead_of_aborting(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-m", "a2lc_napari.cli", "demo", str(tmp_path / "d"),
                           "--images", "1"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "napari needs a display" in done.stderr and "--no-viewer" in done.stderr
    assert (tmp_path / "d" / "classes.json").exists()  # the dataset is written all the same


def numba_interrupted():
    """The error numba's compiled code raises when Ctrl+C lands in it."""
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ctrl_c:
            raise SystemError("CPUDispatcher returned a result with an exception set") from ctrl_c
    except SystemError as e:
        return e


@pytest.mark.parametrize("error, code", [(KeyboardInterrupt(), 130), (numba_interrupted(), 130),
                                         (SystemError("a real fault"), None)])
def test_ctrl_c_anywhere_says_how_to_resume(demo, tmp_path, capsys, monkeypatch, error, code):
    def interrupted(steps, quiet):
        raise error
    monkeypatch.setattr(cli, "drive", interrupted)
    argv = ["simulate", str(demo), "--method", "abc", "--rounds", "1", "--budget", "2",
            "--steps", "2", "--out", str(tmp_path / "run")]
    if code is None:  # not Ctrl+C: raised as it is
        with pytest.raises(SystemError, match="a real fault"):
            main(argv)
        return
    assert main(argv) == code
    assert capsys.readouterr().err.endswith("Interrupted. Rerun the same command to resume.\n")


def test_an_export_stopped_says_nothing_of_resuming(demo, tmp_path, capsys, monkeypatch):
    """An export is not resumed: rerun, it is made again."""
    assert main(["simulate", str(demo), "--method", "abc", "--rounds", "1", "--budget", "2",
                 "--steps", "2", "--out", str(tmp_path / "run"), "-q"]) == 0

    def interrupted(steps, quiet):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "drive", interrupted)
    capsys.readouterr()
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "out")]) == 130
    assert capsys.readouterr().err == "\nInterrupted.\n"


def test_a_run_whose_output_reader_ends_goes_on_to_its_last_round(demo, tmp_path):
    """``a2lc simulate ... | head -1``: found in a walk-through, the first
    print after the reader had gone ended the run with 'Broken pipe'."""
    run = subprocess.Popen([sys.executable, "-m", "a2lc_napari.cli", "simulate", str(demo),
                            "--method", "abc", "--rounds", "2", "--budget", "2", "--steps",
                            "2", "--out", str(tmp_path / "run"), "-q"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    run.stdout.readline()
    run.stdout.close()  # as head does, after its line
    assert run.wait(timeout=300) == 0
    assert b"Broken pipe" not in run.stderr.read()
    rounds = json.loads((tmp_path / "run" / "metrics.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]


def test_a_mistyped_option_gets_the_command_s_usage_and_the_option_meant(demo, tmp_path,
                                                                         capsys):
    """Found in a walk-through: the program's usage came, not the command's."""
    with pytest.raises(SystemExit) as stopped:
        main(["simulate", str(demo), "--method", "abc", "--rounds", "1", "--budget", "2",
              "--out", str(tmp_path / "run"), "--seeed", "3"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.startswith("usage: a2lc simulate")
    assert "error: unrecognized arguments: --seeed 3 (did you mean --seed?)" in err
    assert not (tmp_path / "run").exists()
