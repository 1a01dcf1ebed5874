"""What each round needs of an image, made once and read back (engine/image_cache.py)."""
from __future__ import annotations

import os
from dataclasses import fields

import numpy as np
import pytest

from a2lc_napari.engine import dataset as dataset_module, driver
from a2lc_napari.engine.config import ModelConfig, SessionConfig
from a2lc_napari.engine.dataset import Dataset, open_dataset
from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.driver import start_session
from a2lc_napari.engine.image_cache import ImageCache
from a2lc_napari.engine.model import network_image, train_segmenter
from a2lc_napari.engine.network_output import NetworkOutput
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.region_summary import RegionSummary, image_look, summarize_image

from conftest import save_image

H, W, SIDE = 24, 40, 16


@pytest.fixture
def data(make_dataset):
    rng = np.random.default_rng(0)
    images = {n: rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for n in ("a", "b")}
    labels = {n: rng.integers(0, 3, (H, W)).astype(np.uint8) for n in images}
    regions = {n: (np.arange(H)[:, None] // 6 * 10 + np.arange(W)[None, :] // 8 + 1)
               .astype(np.int32) for n in images}
    return make_dataset(images, labels, regions=regions), images, regions


def unread(monkeypatch):
    """Make reading any full-size image fail: what is kept must do."""
    def fail(self, name):
        raise AssertionError(f"read the full-size image {name}")
    monkeypatch.setattr(Dataset, "image", fail)


def test_the_first_round_keeps_the_network_image_and_look_later_rounds_read_them(
        data, tmp_path, monkeypatch):
    root, images, regions = data
    ds, cache = open_dataset(root), ImageCache(tmp_path / "images", SIDE)
    small, look = cache.for_round(ds, "a", regions["a"])
    np.testing.assert_array_equal(small, network_image(images["a"], SIDE))
    assert small.shape == (10, 16, 3)  # 24×40 with its longer side at 16
    np.testing.assert_array_equal(look, image_look(images["a"], regions["a"]))
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["a.look.npz", "a.npz"]

    unread(monkeypatch)
    again, look_again = cache.for_round(ds, "a", regions["a"])
    np.testing.assert_array_equal(again, small)
    np.testing.assert_array_equal(look_again, look)
    np.testing.assert_array_equal(cache.network_image(ds, "a"), small)


def test_training_reading_an_image_first_keeps_its_look_too(data, tmp_path, monkeypatch):
    root, images, regions = data
    ds, cache = open_dataset(root), ImageCache(tmp_path / "images", SIDE)
    small = cache.network_image(ds, "b")
    unread(monkeypatch)
    again, look = cache.for_round(ds, "b", regions["b"])
    np.testing.assert_array_equal(again, small)
    np.testing.assert_array_equal(look, image_look(images["b"], regions["b"]))


def test_a_changed_image_or_region_file_is_made_again(data, tmp_path):
    root, images, regions = data
    ds, cache = open_dataset(root), ImageCache(tmp_path / "images", SIDE)
    cache.for_round(ds, "a", regions["a"])

    new_image = 255 - images["a"]
    save_image(root / "images" / "a.png", new_image)
    os.utime(root / "images" / "a.png", ns=(1, 1))  # a new time, however fast the test
    small, look = cache.for_round(ds, "a", regions["a"])
    np.testing.assert_array_equal(small, network_image(new_image, SIDE))
    np.testing.assert_array_equal(look, image_look(new_image, regions["a"]))

    new_regions = np.ones((H, W), np.int32)
    np.save(root / "regions" / "a.npy", new_regions)
    os.utime(root / "regions" / "a.npy", ns=(2, 2))
    _, look = cache.for_round(ds, "a", new_regions)
    np.testing.assert_array_equal(look, image_look(new_image, new_regions))
    assert look.shape == (2, 10)


def test_an_unreadable_kept_file_is_made_again(data, tmp_path):
    root, images, regions = data
    ds, cache = open_dataset(root), ImageCache(tmp_path / "images", SIDE)
    cache.for_round(ds, "a", regions["a"])
    (tmp_path / "images" / "a.npz").write_bytes(b"not an archive")
    np.testing.assert_array_equal(cache.network_image(ds, "a"), network_image(images["a"], SIDE))


def test_an_image_the_network_takes_whole_is_read_as_it_is(data, tmp_path):
    root, images, regions = data
    ds, cache = open_dataset(root), ImageCache(tmp_path / "images", max(H, W))
    small, look = cache.for_round(ds, "b", regions["b"])
    np.testing.assert_array_equal(small, images["b"])
    assert [p.name for p in (tmp_path / "images").iterdir()] == ["b.look.npz"]


def test_summaries_from_what_was_kept_equal_those_from_the_full_size_image(data, tmp_path):
    root, images, regions = data
    ds, cache = open_dataset(root), ImageCache(tmp_path / "images", SIDE)
    rng = np.random.default_rng(1)
    out = NetworkOutput(rng.normal(size=(3, 10, 16)).astype(np.float32),
                        rng.normal(size=(4, 10, 16)).astype(np.float32))
    labels = ds.labels("a")
    whole = summarize_image(out, labels, regions["a"], 255, image=images["a"])
    cache.for_round(ds, "a", regions["a"])
    _, look = cache.for_round(ds, "a", regions["a"])  # read back
    kept = summarize_image(out, labels, regions["a"], 255, look=look)
    for field in fields(RegionSummary):
        a, b = getattr(whole, field.name), getattr(kept, field.name)
        assert (a is None) == (b is None), field.name
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=field.name)
    assert whole.appearance.shape == (len(whole), 6 + 4)


def test_training_on_kept_images_trains_the_same_model(data):
    root, images, _ = data
    ds = open_dataset(root)
    config = ModelConfig(steps=2, batch_size=2, crop=8, max_side=SIDE)

    def weights(load):
        seg = drive(train_segmenter(load, ds.names, 3, 255, config), quiet=True)
        return [p.detach().numpy().copy() for p in seg.net.parameters()]

    full = weights(lambda n: (images[n], ds.labels(n)))
    kept = weights(lambda n: (network_image(images[n], SIDE), ds.labels(n)))
    for a, b in zip(full, kept):
        np.testing.assert_array_equal(a, b)


def test_a_new_session_keeps_every_image_at_start_and_round_1_reads_none(tmp_path,
                                                                         monkeypatch):
    data = make_demo_dataset(tmp_path / "demo", n_images=3, size=(48, 64), seed=5)
    monkeypatch.setattr(driver, "POOL_MIN_PIXELS", 1)  # as if many large images: on workers
    config = SessionConfig(method="a2lc", budget=3, seed=0,
                           model=ModelConfig(width=8, crop=16, steps=2, batch_size=2,
                                             max_side=SIDE))
    session = drive(start_session(tmp_path / "s", data, config, spread_start=True),
                    quiet=True)
    try:
        ds = session.dataset
        kept = ImageCache(tmp_path / "s" / "work" / "images", SIDE)
        for name in ds.names:
            image = ds.image(name)
            small, look = kept.for_round(ds, name, ds.regions(name))
            np.testing.assert_array_equal(small, network_image(image, SIDE))
            np.testing.assert_array_equal(look, image_look(image, ds.regions(name)))
        unread(monkeypatch)
        drive(session.prepare_round(), quiet=True)
        assert session.phase == "query" and session.queries
    finally:
        session.close()


def test_start_decodes_each_image_once(tmp_path, monkeypatch):
    # The check reads the headers; the kept files are made from the one decode.
    data = make_demo_dataset(tmp_path / "demo", n_images=3, size=(48, 64), seed=5)
    decoded, read = [], dataset_module.read_image

    def counted(path):
        decoded.append(path.name)
        return read(path)
    monkeypatch.setattr(dataset_module, "read_image", counted)
    config = SessionConfig(method="a2lc", budget=3, seed=0,
                           model=ModelConfig(width=8, crop=16, steps=2, batch_size=2,
                                             max_side=SIDE))
    drive(start_session(tmp_path / "s", data, config), quiet=True).close()
    assert sorted(decoded) == sorted(p.name for p in (data / "images").iterdir())
