"""Kept region maps are never those of other inputs: a session started again
after a failed start, and ``a2lc rank`` after its inputs changed in place."""
import json
import os

import numpy as np
import pytest
from PIL import Image
from test_formats import write_amg

from a2lc_napari.cli import main
from a2lc_napari.engine.config import ModelConfig, SessionConfig
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.regions import (
    RegionsConfig,
    fill_gaps,
    paint_masks,
    superpixel_regions,
)
from a2lc_napari.engine import driver, region_cache
from a2lc_napari.engine.driver import start_session
from a2lc_napari.engine.parallel import cpu_count


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def demo(tmp_path):
    return make_demo_dataset(tmp_path / "demo", n_images=3, size=(48, 64), seed=5)


def config(regions):
    return SessionConfig(method="abc", budget=3, seed=0, regions=regions,
                         model=ModelConfig(width=8, crop=32, steps=2, batch_size=2))


def amg_masks(demo, folder, offset=0):
    """Two masks per image of the demo, written as amg.py writes them."""
    ds = open_dataset(demo)
    masks = {}
    for name in ds.names:
        h, w = ds.shape(name)
        a, b = np.zeros((h, w), bool), np.zeros((h, w), bool)
        a[4 + offset:20 + offset, 5:30] = True
        b[25:40, 30 + offset:60] = True
        write_amg(folder, name, [a, b])
        masks[name] = paint_masks([a, b], (h, w))
    return masks


def stop_after(steps, desc, done):
    """Run ``steps`` until it reports ``done`` steps of ``desc``, then stop it,
    as the widget's Cancel does."""
    for p in steps:
        if p.desc == desc and p.done == done:
            steps.close()
            return
    raise AssertionError(f"never reached {done} steps of {desc!r}")


def test_a_failed_start_leaves_no_regions_for_another_regions_setting(demo, tmp_path):
    out = tmp_path / "run"
    amg_masks(demo, tmp_path / "amg")
    files = RegionsConfig("files", path=str(tmp_path / "amg"))
    # The first start stops after the regions of the first image, then after all.
    stop_after(start_session(out, demo, config(files)), "Making regions", 1)
    assert not (out / "regions").exists()
    stop_after(start_session(out, demo, config(files)), "Copying pseudo-labels", 1)
    assert (out / "regions").is_dir()
    # Started again with SLIC regions: SLIC's maps, not the masks'.
    session = drive(start_session(out, demo, config(RegionsConfig("slic"))), quiet=True)
    ds = open_dataset(demo)
    for name in ds.names:
        np.testing.assert_array_equal(session.dataset.regions(name),
                                      superpixel_regions(ds.image(name), ds.labels(name)))
    assert session.config.regions == RegionsConfig("slic")
    assert not list(tmp_path.glob("run/.regions*"))  # no partial or old folder left
    session.close()


def test_a_restarted_start_with_the_same_regions_keeps_them(demo, tmp_path):
    out = tmp_path / "run"
    masks = amg_masks(demo, tmp_path / "amg")
    files = RegionsConfig("files", path=str(tmp_path / "amg"))
    stop_after(start_session(out, demo, config(files)), "Making regions", 2)
    session = drive(start_session(out, demo, config(files)), quiet=True)
    ds = open_dataset(demo)
    for name in ds.names:
        np.testing.assert_array_equal(
            session.dataset.regions(name),
            fill_gaps(masks[name], ds.image(name), ds.labels(name)))
    session.close()


def regions_ranked(demo, tmp_path, *regions):
    """(image, region) pairs that ``a2lc rank`` ranks, with uniform probabilities."""
    ds = open_dataset(demo)
    probs = tmp_path / "probs"
    probs.mkdir(exist_ok=True)
    for name in ds.names:
        np.save(probs / f"{name}.npy", np.full((ds.classes.num_classes, *ds.shape(name)),
                                               1 / ds.classes.num_classes, np.float32))
    out = tmp_path / "rank.json"
    assert main(["rank", str(demo), "--probs", str(probs), "--method", "alc",
                 "--json", str(out), "-q", "--regions", *regions]) == 0
    return json.loads(out.read_text())


def slic_regions(demo):
    ds = open_dataset(demo)
    return {name: superpixel_regions(ds.image(name), ds.labels(name)) for name in ds.names}


def mask_regions(demo, masks):
    ds = open_dataset(demo)
    return {name: fill_gaps(masks[name], ds.image(name), ds.labels(name))
            for name in ds.names}


def assert_ranked_from(ranked, maps):
    assert sorted((r["image"], r["region"]) for r in ranked) == sorted(
        (name, int(r)) for name, m in maps.items() for r in np.unique(m))
    for r in ranked:
        row, col = r["pixel"]
        assert maps[r["image"]][row, col] == r["region"]


def test_rank_after_pseudo_labels_changed_in_place(demo, tmp_path):
    assert_ranked_from(regions_ranked(demo, tmp_path, "slic"), slic_regions(demo))
    # One image's pseudo-labels become one class: far fewer SLIC regions.
    path = next((demo / "labels").glob("*.png"))
    img = Image.open(path)
    img.putdata([1] * (img.width * img.height))
    img.save(path)
    maps = slic_regions(demo)
    assert_ranked_from(regions_ranked(demo, tmp_path, "slic"), maps)
    # no region straddles two pseudo-labels
    ds = open_dataset(demo)
    for name, m in maps.items():
        assert np.unique(m.astype(np.int64) * 256 + ds.labels(name)).size == m.max()


def test_rank_after_masks_changed_in_place(demo, tmp_path):
    amg = tmp_path / "amg"
    masks = amg_masks(demo, amg)
    assert_ranked_from(regions_ranked(demo, tmp_path, str(amg)), mask_regions(demo, masks))
    for folder in amg.iterdir():  # the masks move by 3 pixels, in place
        for mask in folder.glob("*.png"):
            mask.unlink()
        (folder / "metadata.csv").unlink()
        folder.rmdir()
    masks = amg_masks(demo, amg, offset=3)
    assert_ranked_from(regions_ranked(demo, tmp_path, str(amg)), mask_regions(demo, masks))


def test_rank_min_gap_area_option(demo, tmp_path):
    """A 1-pixel hole between two masks is a region of its own only with
    --min-gap-area 0."""
    amg = tmp_path / "amg"
    masks = amg_masks(demo, amg)
    name = sorted(masks)[0]
    mask = np.array(Image.open(amg / name / "0.png"))
    mask[10, 10] = 0
    Image.fromarray(mask).save(amg / name / "0.png")
    ranked = regions_ranked(demo, tmp_path, str(amg))
    hole = [r for r in ranked if r["image"] == name and r["pixel"] == [10, 10]]
    assert not hole  # the hole joined the mask (the representative pixel lies elsewhere)
    ranked = regions_ranked(demo, tmp_path, str(amg), "--min-gap-area", "0")
    assert [r["pixel"] for r in ranked if r["image"] == name].count([10, 10]) == 1


def test_start_runs_on_worker_processes_only_where_many_pixels_await(demo, monkeypatch):
    ds = open_dataset(demo)  # 3 images of 48×64 and a regions/ folder
    ds.use_regions(RegionsConfig("slic"))
    assert driver.start_workers(ds) == 1  # 9 216 pixels: not worth a pool
    monkeypatch.setattr(driver, "POOL_MIN_PIXELS", 2 * 48 * 64)
    assert driver.start_workers(ds) == min(cpu_count(), 3)
    ds.use_regions(RegionsConfig("auto"))  # the dataset's own maps: images still to prepare
    assert driver.start_workers(ds) == min(cpu_count(), 3)
    ds.use_regions(RegionsConfig("sam", sam_checkpoint=str(demo / "sam.pth")))
    assert driver.start_workers(ds) == 1  # one model per process: kept here


def test_a_session_spread_over_worker_processes_makes_the_same_regions(demo, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setattr(driver, "POOL_MIN_PIXELS", 1)
    session = drive(start_session(tmp_path / "s", demo, config(RegionsConfig("slic")),
                                  spread_start=True), quiet=True)
    try:
        for name in session.dataset.names:
            expected = superpixel_regions(session.dataset.image(name),
                                          session.dataset.labels(name))
            np.testing.assert_array_equal(np.load(tmp_path / "s" / "regions" / f"{name}.npy"),
                                          expected)
    finally:
        session.close()


def test_a_file_name_that_is_not_utf8_is_ranked_under_its_own_bytes(demo, tmp_path):
    odd = os.fsdecode(b"bad\xff\xfename")  # Linux file names are bytes
    for folder, suffix in (("images", ".png"), ("labels", ".png"), ("gt", ".png"),
                           ("regions", ".npy")):
        (demo / folder / f"demo_001{suffix}").rename(demo / folder / f"{odd}{suffix}")
    ranked = regions_ranked(demo, tmp_path, "slic")
    assert odd in {r["image"] for r in ranked}


def test_changed_input_reads_only_files_whose_time_or_size_changed(demo, monkeypatch):
    ds = open_dataset(demo)
    records = region_cache.input_records(ds)
    image, label = ds.image_path(ds.names[0]), ds.label_path(ds.names[0])
    read = []
    digest = region_cache.file_digest
    monkeypatch.setattr(region_cache, "file_digest", lambda p: read.append(p) or digest(p))
    assert region_cache.changed_input(ds, records) == (None, records) and read == []
    # Touched (a copy without its times): read once, same bytes; its new time is kept.
    os.utime(label, ns=(0, 10**9))
    changed, current = region_cache.changed_input(ds, records)
    assert changed is None and read == [label]
    assert current[ds.names[0]][1] == [label.stat().st_size, 10**9, records[ds.names[0]][1][2]]
    assert region_cache.changed_input(ds, current) == (None, current) and read == [label]
    # The same size, other bytes: named.
    data = bytearray(image.read_bytes())
    data[-20] ^= 1
    image.write_bytes(bytes(data))
    assert region_cache.changed_input(ds, current)[0] == image
