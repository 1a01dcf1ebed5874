"""The demo dataset: layout, determinism, long tail and Grounded-SAM-like noise."""
import numpy as np
import pytest
from PIL import Image

from a2lc_napari.engine import io
from a2lc_napari.engine.classes import ClassSet
from a2lc_napari.engine.demo import demo_classes, make_demo_dataset

CONFUSABLE = [("road", "sidewalk"), ("vegetation", "terrain"), ("car", "truck"),
              ("person", "rider")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The default dataset (40 images of 128 x 160)."""
    return make_demo_dataset(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def arrays(demo):
    """(names, images, gts, labels, regions) of the default dataset."""
    out = demo
    names = sorted(p.stem for p in (out / "images").glob("*.png"))
    return (names,
            [io.read_image(out / "images" / f"{n}.png") for n in names],
            [io.read_label(out / "gt" / f"{n}.png") for n in names],
            [io.read_label(out / "labels" / f"{n}.png") for n in names],
            [io.read_regions(out / "regions" / f"{n}.npy") for n in names])


def _iou(gt, pred, num_classes):
    """Per-class IoU over all pixels; ignore in ``pred`` counts as wrong."""
    return np.array([((gt == c) & (pred == c)).sum() / ((gt == c) | (pred == c)).sum()
                     for c in range(num_classes)])


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(tmp_path):
    a = make_demo_dataset(tmp_path / "a", n_images=4, seed=3)
    b = make_demo_dataset(tmp_path / "b", n_images=4, seed=3)
    c = make_demo_dataset(tmp_path / "c", n_images=4, seed=4)
    files_a = _files(a)
    assert len(files_a) == 1 + 4 * 4
    assert files_a == _files(b)
    assert files_a != _files(c)


def test_layout_and_formats(demo, arrays):
    out = demo
    names, images, gts, labels, regions = arrays
    classes = ClassSet.read(out / "classes.json")
    assert classes == demo_classes()
    assert names == [f"demo_{i:03d}" for i in range(40)]
    for name, img, gt, lab, reg in zip(names, images, gts, labels, regions):
        assert img.shape == (128, 160, 3) and img.dtype == np.uint8
        assert gt.shape == lab.shape == reg.shape == (128, 160)
        assert np.load(out / "regions" / f"{name}.npy").dtype == np.int32
        for folder in ("gt", "labels"):
            with Image.open(out / folder / f"{name}.png") as png:
                assert png.mode == "P"
                assert png.getpalette()[:3 * 256] == classes.palette()
        with Image.open(out / "images" / f"{name}.png") as png:
            assert png.mode == "RGB"


def test_size_is_respected(tmp_path):
    make_demo_dataset(tmp_path, n_images=2, size=(64, 96))
    assert io.read_image(tmp_path / "images" / "demo_001.png").shape == (64, 96, 3)
    assert io.read_regions(tmp_path / "regions" / "demo_001.npy").shape == (64, 96)


def test_many_classes_with_a_long_tail(arrays):
    gt = np.concatenate([g.ravel() for g in arrays[2]])
    n = demo_classes().num_classes
    assert n >= 10
    assert gt.max() < n
    share = np.bincount(gt, minlength=n) / gt.size
    assert share.min() > 0, "every class appears"
    assert share.max() / share.min() >= 50


def _colour_only_accuracy(pixels_a, pixels_b):
    """Balanced accuracy of telling two classes apart by nearest mean colour."""
    mean_a, mean_b = pixels_a.mean(axis=0), pixels_b.mean(axis=0)
    dist = np.linalg.norm
    right_a = dist(pixels_a - mean_a, axis=1) < dist(pixels_a - mean_b, axis=1)
    right_b = dist(pixels_b - mean_b, axis=1) < dist(pixels_b - mean_a, axis=1)
    return (right_a.mean() + right_b.mean()) / 2


def test_colour_alone_does_not_separate_confusable_pairs(arrays):
    _, images, gts, _, _ = arrays
    names = demo_classes().names
    pixels = np.concatenate([i.reshape(-1, 3) for i in images]).astype(float)
    gt = np.concatenate([g.ravel() for g in gts])

    def accuracy(a, b):
        return _colour_only_accuracy(pixels[gt == names.index(a)], pixels[gt == names.index(b)])

    for a, b in CONFUSABLE:
        assert accuracy(a, b) < 0.8, (a, b)
    assert accuracy("car", "road") > 0.95  # other classes differ in colour


def test_every_region_carries_one_pseudo_label(arrays):
    for lab, reg in zip(arrays[3], arrays[4]):
        assert (reg > 0).mean() > 0.99
        ids = reg.ravel()
        first = np.zeros(ids.max() + 1, np.uint8)
        first[ids] = lab.ravel()
        assert np.array_equal(first[ids], lab.ravel())


def test_pseudo_label_noise_level(arrays):
    gts, labels = arrays[2], arrays[3]
    gt = np.concatenate([g.ravel() for g in gts])
    lab = np.concatenate([x.ravel() for x in labels])
    assert 0.6 < (gt == lab).mean() < 0.9
    assert 0.4 < _iou(gt, lab, demo_classes().num_classes).mean() < 0.7
    assert 0.002 < (lab == 255).mean() < 0.05, "a few regions are left unlabeled"


def test_region_majority_fixes_most_errors(arrays):
    _, _, gts, labels, regions = arrays
    wrong_before = wrong_after = 0
    for gt, lab, reg in zip(gts, labels, regions):
        counts = np.zeros((reg.max() + 1, 256), int)
        np.add.at(counts, (reg.ravel(), gt.ravel()), 1)
        fixed = counts.argmax(axis=1)[reg]
        wrong_before += (lab != gt).sum()
        wrong_after += (fixed != gt).sum()
    assert wrong_after < 0.3 * wrong_before

