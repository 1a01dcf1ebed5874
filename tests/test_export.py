"""Exported labels read back through our own readers to the same labels."""
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from a2lc_napari.engine.coco import read_coco_labels
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.errors import DatasetError
from a2lc_napari.engine.export import EXPORT_FORMATS, export_labels

RNG = np.random.default_rng(1)

#: Where each format's labels are read back from with ``--labels``.
READ_BACK = {"palette": ".", "voc": "SegmentationClass", "cityscapes": "gtFine",
             "cvat": "SegmentationClass"}


@pytest.fixture
def corrected(make_dataset):
    """A generic dataset (one image nested) and 'corrected' labels that differ
    from its pseudo-labels, with ignore pixels."""
    shapes = {"a": (9, 11), "sub/b": (7, 5)}
    root = make_dataset({n: RNG.integers(0, 256, (*s, 3), dtype=np.uint8)
                         for n, s in shapes.items()},
                        {n: np.zeros(s, np.uint8) for n, s in shapes.items()})
    labels = {n: RNG.integers(0, 3, s, dtype=np.uint8) for n, s in shapes.items()}
    labels["a"][0, :4] = 255
    return open_dataset(root), labels


def export(dataset, labels, folder, format, **kwargs):
    return list(export_labels(folder, dataset.names, labels.__getitem__, dataset.classes,
                              dataset.root, format, **kwargs))


def read_back(dataset, folder: Path, format: str) -> dict[str, np.ndarray]:
    if format == "coco":
        return read_coco_labels(folder / "annotations.json", dataset.classes,
                                dataset.match_name)
    back = open_dataset(dataset.root, labels_dir=folder / READ_BACK[format])
    list(back.check())
    return {n: back.labels(n) for n in back.names}


@pytest.mark.parametrize("format", list(EXPORT_FORMATS))
def test_round_trip(corrected, tmp_path, format):
    dataset, labels = corrected
    out = tmp_path / "out"
    steps = export(dataset, labels, out, format,
                   image_files={n: dataset.image_path(n).relative_to(dataset.root).as_posix()
                                for n in dataset.names},
                   provenance={"session": "/somewhere/session", "rounds": 3,
                               "answers that changed a label": 12, "LCM changes": 4})
    assert steps[-1].done == steps[-1].total == 2
    back = read_back(dataset, out, format)
    assert sorted(back) == dataset.names
    for name in dataset.names:
        np.testing.assert_array_equal(back[name], labels[name])
    readme = (out / "README").read_text()
    assert format in readme and "rounds: 3" in readme and "LCM changes: 4" in readme
    umask = os.umask(0)
    os.umask(umask)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_file()}
    assert modes == {0o666 & ~umask}


def test_formats_write_what_other_programs_expect(corrected, tmp_path):
    dataset, labels = corrected
    for format in EXPORT_FORMATS:
        export(dataset, labels, tmp_path / format, format)
    voc = Image.open(tmp_path / "voc" / "SegmentationClass" / "sub" / "b.png")
    assert voc.mode == "P"
    assert (tmp_path / "voc" / "ImageSets" / "Segmentation" / "train.txt").read_text() \
        == "a\nsub/b\n"
    city = Image.open(tmp_path / "cityscapes" / "gtFine" / "a_gtFine_labelTrainIds.png")
    assert city.mode == "L"
    np.testing.assert_array_equal(np.array(city), labels["a"])
    cvat = np.array(Image.open(tmp_path / "cvat" / "SegmentationClass" / "a.png"))
    assert cvat.shape == (9, 11, 3)
    np.testing.assert_array_equal(cvat[labels["a"] == 1], [dataset.classes.colors[1]]
                                  * int((labels["a"] == 1).sum()))
    assert (tmp_path / "cvat" / "labelmap.txt").read_text().splitlines()[1] \
        == "background:0,0,0::"
    # COCO: pycocotools itself reads one RLE per class present per image
    from pycocotools.coco import COCO

    coco = COCO(str(tmp_path / "coco" / "annotations.json"))
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[1]))
    assert sorted(a["category_id"] for a in anns) == sorted(np.unique(labels["a"][labels["a"] < 3]) + 1)
    for ann in anns:
        np.testing.assert_array_equal(mask_utils.decode(ann["segmentation"]),
                                      labels["a"] == ann["category_id"] - 1)


def test_cityscapes_keeps_its_folders(make_cityscapes, tmp_path):
    name = "train/aachen/aachen_000000_000019"
    root = make_cityscapes({name: RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)},
                           {name: RNG.integers(0, 19, (6, 8), dtype=np.uint8)})
    dataset = open_dataset(root)
    labels = {name: RNG.integers(0, 19, (6, 8), dtype=np.uint8)}
    export(dataset, labels, tmp_path / "out", "cityscapes")
    path = (tmp_path / "out" / "gtFine" / "train" / "aachen"
            / "aachen_000000_000019_gtFine_labelTrainIds.png")
    np.testing.assert_array_equal(np.array(Image.open(path)), labels[name])
    np.testing.assert_array_equal(read_back(dataset, tmp_path / "out", "cityscapes")[name],
                                  labels[name])


def test_refuses_a_non_empty_folder_unless_overwrite(corrected, tmp_path):
    dataset, labels = corrected
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty") as e:
        export(dataset, labels, out, "palette")
    assert e.value.path == out and not (out / "a.png").exists()
    export(dataset, labels, out, "palette", overwrite=True)
    assert (out / "a.png").is_file() and (out / "notes.txt").read_text() == "mine"


def test_never_writes_into_the_dataset(corrected):
    dataset, labels = corrected
    with pytest.raises(DatasetError, match="dataset folder"):
        export(dataset, labels, dataset.root / "export", "voc")
    assert not (dataset.root / "export").exists()


def test_unknown_format(corrected, tmp_path):
    dataset, labels = corrected
    with pytest.raises(ValueError, match="unknown export format"):
        export(dataset, labels, tmp_path / "out", "yolo")


# ---- the command line --------------------------------------------------------------


@pytest.fixture
def demo(tmp_path_factory):
    from a2lc_napari.engine.demo import make_demo_dataset

    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", n_images=2,
                             size=(32, 40), seed=3)


def test_simulate_on_region_files_then_export(demo, tmp_path, monkeypatch):
    """`a2lc simulate --regions PATH` keeps the maps it used; `a2lc export`
    writes the session's labels with a README of where they came from."""
    from a2lc_napari.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    ds = open_dataset(demo)
    maps = tmp_path / "maps"
    maps.mkdir()
    blocks = {}
    for name in ds.names:  # 8x8 blocks, the last row of blocks left to the gap regions
        h, w = ds.shape(name)
        rows, cols = np.mgrid[:h, :w]
        blocks[name] = np.where(rows < h - 8, 1 + (rows // 8) * 10 + cols // 8, 0)
        Image.fromarray(blocks[name].astype(np.uint16)).save(maps / f"{name}.png")
    session = tmp_path / "session"
    assert main(["simulate", str(demo), "--method", "a2lc", "--rounds", "1", "--budget", "3",
                 "--steps", "2", "--regions", str(maps), "--out", str(session), "-q"]) == 0
    for name in ds.names:
        kept = np.load(session / "regions" / f"{name}.npy")
        covered = blocks[name] > 0
        np.testing.assert_array_equal(kept[covered], blocks[name][covered])
        assert kept[~covered].min() > blocks[name].max()
    out = tmp_path / "exported"
    assert main(["export", str(session), str(out), "--format", "cvat", "-q"]) == 0
    back = open_dataset(demo, labels_dir=out / "SegmentationClass")
    for name in ds.names:
        np.testing.assert_array_equal(back.labels(name),
                                      np.array(Image.open(session / "labels" / f"{name}.png")))
    readme = (out / "README").read_text()
    assert str(ds.root) in readme and str(session.resolve()) in readme
    assert "rounds finished: 1" in readme
    # a second export into the same folder needs --overwrite
    assert main(["export", str(session), str(out), "--format", "cvat", "-q"]) == 2
    assert main(["export", str(session), str(out), "--format", "cvat", "--overwrite",
                 "-q"]) == 0
