"""Exports opened by the programs they are for, pixel for pixel: torchvision's
VOC and Cityscapes datasets, pycocotools, datumaro; and by our own readers."""
import errno
import io
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image

from a2lc_napari.engine.classes import CITYSCAPES_CLASSES, ClassSet
from a2lc_napari.engine.coco import read_coco_labels
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.errors import DatasetError
from a2lc_napari.engine.export import CITYSCAPES_LABEL_IDS, export_labels
from a2lc_napari.engine.io import atomic_path

RNG = np.random.default_rng(1)

#: Where each format's labels are read back from with ``--labels``.
READ_BACK = {"palette": ".", "voc": "VOCdevkit/VOC2012/SegmentationClass",
             "cvat": "SegmentationClass"}


@pytest.fixture
def corrected(make_dataset):
    """A generic dataset (one image nested, one a JPEG) and 'corrected' labels
    that differ from its pseudo-labels, with ignore pixels. Class 0 is
    "background", black."""
    shapes = {"a": (9, 11), "sub/b": (7, 5)}
    root = make_dataset({n: RNG.integers(0, 256, (*s, 3), dtype=np.uint8)
                         for n, s in shapes.items()},
                        {n: np.zeros(s, np.uint8) for n, s in shapes.items()})
    labels = {n: RNG.integers(0, 3, s, dtype=np.uint8) for n, s in shapes.items()}
    labels["a"][0, :4] = 255
    return open_dataset(root), labels


def export(dataset, labels, folder, format, **kwargs):
    return list(export_labels(folder, dataset.names, labels.__getitem__, dataset.classes,
                              dataset.inputs, format, image_of=dataset.image_path, **kwargs))


def read_back(dataset, folder: Path, format: str) -> dict[str, np.ndarray]:
    if format == "coco":
        return read_coco_labels(folder / "annotations" / "instances_default.json",
                                dataset.classes, dataset.match_name)
    back = open_dataset(dataset.root, labels_dir=folder / READ_BACK[format])
    list(back.check())
    return {n: back.labels(n) for n in back.names}


@pytest.mark.parametrize("format", ["palette", "voc", "cvat", "coco"])
def test_round_trip(corrected, tmp_path, format):
    dataset, labels = corrected
    out = tmp_path / "out"
    steps = export(dataset, labels, out, format,
                   provenance={"session": "/somewhere/session", "rounds": 3,
                               "answers that changed a label": 12, "LCM changes": 4})
    assert steps[-1].done == steps[-1].total == 2
    back = read_back(dataset, out, format)
    assert sorted(back) == dataset.names
    for name in dataset.names:
        expected = labels[name]
        if format == "cvat":  # ignore is unannotated, as background is
            expected = np.where(expected == 255, 0, expected)
        np.testing.assert_array_equal(back[name], expected)
    readme = (out / f"README.{format}").read_text()
    assert format in readme and "rounds: 3" in readme and "LCM changes: 4" in readme
    # CVAT has one mark for unannotated pixels and the background class: said, counted.
    merged = sum(int((labels[n] == 255).sum()) for n in dataset.names)
    assert merged == 4
    assert (f"unlabelled pixels, painted as CVAT's background: {merged}" in readme) == (
        format == "cvat")
    umask = os.umask(0)
    os.umask(umask)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_file()}
    assert modes == {0o666 & ~umask}


@pytest.mark.parametrize("format", ["palette", "voc", "cvat"])
def test_read_back_by_class_name_into_a_dataset_of_another_class_order(corrected, tmp_path,
                                                                      format):
    dataset, labels = corrected
    export(dataset, labels, tmp_path / "out", format)
    # The same images, their classes listed the other way round (and another ignore).
    other = tmp_path / "other"
    shutil.copytree(dataset.root, other)
    ours = dataset.classes
    reordered = ClassSet(names=ours.names[::-1], colors=ours.colors[::-1], ignore_index=254)
    (other / "classes.json").write_text(json.dumps(reordered.to_json()))
    back = open_dataset(other, labels_dir=tmp_path / "out" / READ_BACK[format])
    list(back.check())
    for name in dataset.names:
        expected = labels[name]
        if format == "cvat":  # ignore is unannotated, as background is
            expected = np.where(expected == 255, 0, expected)
        by_name = np.array([reordered.names.index(n) for n in ours.names] + [254])
        expected = by_name[np.where(expected == 255, ours.num_classes, expected)]
        np.testing.assert_array_equal(back.labels(name), expected)


def test_pseudo_labels_numbered_by_classes_the_dataset_lacks_are_refused(corrected,
                                                                         tmp_path):
    dataset, labels = corrected
    export(dataset, labels, tmp_path / "out", "palette")
    fewer = tmp_path / "fewer"
    shutil.copytree(dataset.root, fewer)
    ours = dataset.classes
    (fewer / "classes.json").write_text(json.dumps(ClassSet(
        names=ours.names[:2], colors=ours.colors[:2]).to_json()))
    with pytest.raises(DatasetError) as error:
        open_dataset(fewer, labels_dir=tmp_path / "out")
    assert str(error.value).startswith(str(tmp_path / "out" / "classes.json"))
    assert "classes the dataset does not have (stuff)" in str(error.value)


def test_formats_share_a_folder(corrected, tmp_path):
    dataset, labels = corrected
    out = tmp_path / "out"
    for format in ("voc", "coco", "cvat"):
        export(dataset, labels, out, format, overwrite=True)
    for format in ("voc", "coco", "cvat"):
        assert f"exported as {format}" in (out / f"README.{format}").read_text()
    # the images, copied byte for byte where the format keeps their kind
    assert (out / "images/default/a.png").read_bytes() == dataset.image_path("a").read_bytes()
    assert (out / "JPEGImages/sub/b.png").read_bytes() == \
        dataset.image_path("sub/b").read_bytes()


def test_images_linked(corrected, tmp_path):
    dataset, labels = corrected
    export(dataset, labels, tmp_path / "out", "coco", images="link")
    linked = tmp_path / "out" / "images" / "default" / "sub" / "b.png"
    assert linked.is_symlink() and linked.resolve() == dataset.image_path("sub/b").resolve()


def test_voc_opens_in_torchvision(corrected, tmp_path):
    from torchvision.datasets import VOCSegmentation

    dataset, labels = corrected
    export(dataset, labels, tmp_path / "out", "voc")
    voc = VOCSegmentation(str(tmp_path / "out"), year="2012", image_set="train")
    assert len(voc) == 2
    for i, name in enumerate(dataset.names):
        image, target = voc[i]
        # the ignore value is VOC's 255, the classes their ids
        np.testing.assert_array_equal(np.asarray(target), labels[name])
        # PNG images are written as JPEG at quality 95 (VOC's readers look for NAME.jpg)
        jpeg = io.BytesIO()
        Image.fromarray(dataset.image(name)).save(jpeg, format="JPEG", quality=95)
        np.testing.assert_array_equal(np.asarray(image), np.asarray(Image.open(jpeg)))


def test_voc_jpegs_copied_exactly(make_voc, tmp_path):
    from torchvision.datasets import VOCSegmentation

    image = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    root = make_voc({"2007_000032": image}, {"2007_000032": np.zeros((6, 8), np.uint8)})
    dataset = open_dataset(root)
    labels = {"2007_000032": RNG.integers(0, 21, (6, 8), dtype=np.uint8)}
    export(dataset, labels, tmp_path / "out", "voc")
    voc = VOCSegmentation(str(tmp_path / "out"), year="2012", image_set="train")
    image, target = voc[0]
    np.testing.assert_array_equal(np.asarray(image), dataset.image("2007_000032"))
    np.testing.assert_array_equal(np.asarray(target), labels["2007_000032"])


def datumaro_labels(path, format, names):
    """Label maps painted from the masks datumaro reads: class id by name,
    255 where datumaro's label is VOC's "ignored" (or no mask is)."""
    import datumaro as dm

    data = dm.Dataset.import_from(str(path), format)
    categories = [c.name for c in data.categories()[dm.AnnotationType.label]]
    out = {}
    for item in data:
        h, w = item.media.data.shape[:2]
        painted = np.full((h, w), 255, np.uint8)
        for ann in item.annotations:
            if ann.type == dm.AnnotationType.mask:
                name = categories[ann.label]
                painted[ann.image.astype(bool)] = names.index(name) if name in names else 255
        out[item.id] = painted
    return out, categories


def test_voc_and_cvat_open_in_datumaro(corrected, tmp_path):
    dataset, labels = corrected
    export(dataset, labels, tmp_path / "voc", "voc")
    export(dataset, labels, tmp_path / "cvat", "cvat")
    names = list(dataset.classes.names)
    read, categories = datumaro_labels(tmp_path / "voc" / "VOCdevkit" / "VOC2012",
                                       "voc_segmentation", names)
    assert categories == names + ["ignored"]
    for name in dataset.names:
        np.testing.assert_array_equal(read[name], labels[name])
    read, categories = datumaro_labels(tmp_path / "cvat", "voc_segmentation", names)
    assert categories == names  # background first: the dataset's own
    for name in dataset.names:
        np.testing.assert_array_equal(read[name], np.where(labels[name] == 255, 0,
                                                           labels[name]))


def cvat_of_two_classes(make_dataset, folder, names, colors):
    """A one-image dataset of classes ``names`` in ``colors``, its labels
    (class 0, 1 and ignore) exported as cvat to ``folder``."""
    from a2lc_napari.engine.classes import ClassSet

    labels = {"a": np.array([[0, 1, 255], [1, 0, 255]], np.uint8)}
    root = make_dataset({"a": np.zeros((2, 3, 3), np.uint8)}, {"a": labels["a"]},
                        classes=ClassSet(names, colors))
    dataset = open_dataset(root)
    export(dataset, labels, folder, "cvat")
    return dataset, labels


def test_cvat_without_a_background_class(make_dataset, tmp_path):
    """CVAT's masks paint unannotated pixels background:0,0,0, listed first."""
    dataset, labels = cvat_of_two_classes(make_dataset, tmp_path / "out", ("road", "car"),
                                          ((128, 64, 128), (0, 0, 142)))
    assert (tmp_path / "out" / "labelmap.txt").read_text().splitlines()[1:] == [
        "background:0,0,0::", "road:128,64,128::", "car:0,0,142::"]
    rgb = np.asarray(Image.open(tmp_path / "out" / "SegmentationClass" / "a.png"))
    np.testing.assert_array_equal(rgb[:, 2], 0)
    read, categories = datumaro_labels(tmp_path / "out", "voc_segmentation", ["road", "car"])
    assert categories == ["background", "road", "car"]
    np.testing.assert_array_equal(read["a"], labels["a"])  # background: no class, 255
    np.testing.assert_array_equal(read_back(dataset, tmp_path / "out", "cvat")["a"],
                                  labels["a"])
    assert "painted as CVAT's background" not in (tmp_path / "out" / "README.cvat").read_text()


def test_cvat_of_labelme_classes(make_dataset, tmp_path):
    """labelme's _background_ is CVAT's background (found in a walk-through:
    refused as a black class)."""
    dataset, _ = cvat_of_two_classes(make_dataset, tmp_path / "out", ("_background_", "cat"),
                                     ((0, 0, 0), (128, 0, 0)))
    assert (tmp_path / "out" / "labelmap.txt").read_text().splitlines()[1:] == [
        "background:0,0,0::", "cat:128,0,0::"]
    # read back as this dataset's labels: background is _background_, unlabelled too
    np.testing.assert_array_equal(read_back(dataset, tmp_path / "out", "cvat")["a"],
                                  [[0, 1, 0], [1, 0, 0]])
    assert "painted as CVAT's background" in (tmp_path / "out" / "README.cvat").read_text()


def test_coco_opens_in_pycocotools_and_datumaro(corrected, tmp_path):
    from pycocotools.coco import COCO

    dataset, labels = corrected
    export(dataset, labels, tmp_path / "out", "coco")
    coco = COCO(str(tmp_path / "out" / "annotations" / "instances_default.json"))
    for image_id, name in enumerate(dataset.names, 1):
        (entry,) = coco.loadImgs([image_id])
        # file_name is relative to images/<subset>/, where the image is
        image = tmp_path / "out" / "images" / "default" / entry["file_name"]
        np.testing.assert_array_equal(np.asarray(Image.open(image).convert("RGB")),
                                      dataset.image(name))
        painted = np.full(labels[name].shape, 255, np.uint8)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image_id])):
            mask = coco.annToMask(ann).astype(bool)
            rows, cols = np.nonzero(mask)
            assert ann["area"] == mask.sum()
            assert ann["bbox"] == [cols.min(), rows.min(), np.ptp(cols) + 1, np.ptp(rows) + 1]
            painted[mask] = ann["category_id"] - 1
        np.testing.assert_array_equal(painted, labels[name])
    names = list(dataset.classes.names)
    read, _ = datumaro_labels(tmp_path / "out", "coco_instances", names)
    for name in dataset.names:
        np.testing.assert_array_equal(read[name], labels[name])


def test_cityscapes_opens_in_torchvision(make_cityscapes, tmp_path):
    from torchvision.datasets import Cityscapes

    names = ["train/aachen/aachen_000000_000019", "val/bonn/bonn_000001_000019"]
    root = make_cityscapes({n: RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)
                            for n in names},
                           {n: RNG.integers(0, 19, (6, 8), dtype=np.uint8) for n in names})
    dataset = open_dataset(root)
    labels = {n: RNG.integers(0, 19, (6, 8), dtype=np.uint8) for n in names}
    labels[names[0]][0, :3] = 255
    export(dataset, labels, tmp_path / "out", "cityscapes")
    label_ids = np.zeros(256, np.uint8)
    label_ids[:19] = CITYSCAPES_LABEL_IDS
    for name in names:
        split = name.split("/")[0]
        city = Cityscapes(str(tmp_path / "out"), split=split, mode="fine",
                          target_type="semantic")
        assert len(city) == 1
        image, target = city[0]
        np.testing.assert_array_equal(np.asarray(image), dataset.image(name))
        np.testing.assert_array_equal(np.asarray(target), label_ids[labels[name]])
        train_ids = tmp_path / "out" / "gtFine" / f"{name}_gtFine_labelTrainIds.png"
        np.testing.assert_array_equal(np.asarray(Image.open(train_ids)), labels[name])
    # datumaro reads labelTrainIds: its names have no spaces ("trafficlight"), its
    # ids no split; and its loader drops label id 0, road (`if label_id:`), so
    # road pixels come back with no mask.
    squeezed = [n.replace(" ", "") for n in CITYSCAPES_CLASSES.names]
    read, _ = datumaro_labels(tmp_path / "out", "cityscapes", squeezed)
    for name in names:
        np.testing.assert_array_equal(read[name.split("/", 1)[1]],
                                      np.where(labels[name] == 0, 255, labels[name]))
    back = open_dataset(tmp_path / "out")  # and it is a Cityscapes folder for us
    assert back.classes == CITYSCAPES_CLASSES
    for name in names:
        np.testing.assert_array_equal(back.labels(name), labels[name])


def test_cityscapes_refuses_other_classes(corrected, tmp_path):
    dataset, labels = corrected
    with pytest.raises(DatasetError, match=r"these classes \(background, thing, stuff\) "
                                           "are not among Cityscapes' 19 training") as e:
        export(dataset, labels, tmp_path / "out", "cityscapes")
    assert e.value.path == tmp_path / "out" and not (tmp_path / "out").exists()


def test_cityscapes_classes_in_another_order_get_their_own_ids(make_dataset, tmp_path):
    # Three of Cityscapes' classes, in another order than its trainIds (car 13,
    # road 0, sky 10; labelIds 26, 7, 23).
    classes = ClassSet(("car", "road", "sky"), ((0, 0, 142), (128, 64, 128), (70, 130, 180)))
    root = make_dataset({"a": RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8)},
                        {"a": np.zeros((4, 5), np.uint8)}, classes=classes)
    labels = np.array([[0, 1, 2, 255, 0]] * 4, np.uint8)
    export(open_dataset(root), {"a": labels}, tmp_path / "out", "cityscapes")
    gt = tmp_path / "out" / "gtFine" / "train" / "default" / "a_gtFine_"
    np.testing.assert_array_equal(np.asarray(Image.open(f"{gt}labelTrainIds.png")),
                                  [[13, 0, 10, 255, 13]] * 4)
    np.testing.assert_array_equal(np.asarray(Image.open(f"{gt}labelIds.png")),
                                  [[26, 7, 23, 0, 26]] * 4)


@pytest.mark.parametrize("format", ["voc", "cvat"])
def test_a_class_name_labelmap_txt_cannot_hold_is_refused(make_dataset, tmp_path, format):
    """labelmap.txt separates its fields with ':': "sky:blue" would be read
    back as a name "sky" and a colour "blue", by datumaro and by us."""
    root = make_dataset({"a": RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8)},
                        {"a": np.zeros((4, 5), np.uint8)},
                        classes=ClassSet(("road", "sky:blue"), ((128, 64, 128), (70, 130, 180))))
    dataset = open_dataset(root)
    with pytest.raises(DatasetError, match=f"gets no {format} export: class name 'sky:blue'"):
        export(dataset, {"a": np.ones((4, 5), np.uint8)}, tmp_path / "out", format)
    assert not (tmp_path / "out").exists()
    # A comment line to datumaro; and the ignore value's own name in labelmap.txt.
    for name, why in (("# sky", "starts with '#'"), ("ignored", "name of the ignore value")):
        classes = ClassSet(("road", name), ((128, 64, 128), (70, 130, 180)))
        (root / "classes.json").write_text(json.dumps(classes.to_json()))
        with pytest.raises(DatasetError, match=f"gets no {format} export: class name "
                                               f"{name!r} .*{why}"):
            export(open_dataset(root), {"a": np.ones((4, 5), np.uint8)}, tmp_path / "out", format)
        assert not (tmp_path / "out").exists()


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
    with pytest.raises(DatasetError, match="is inside the dataset folder"):
        export(dataset, labels, dataset.root / "export", "voc")
    assert not (dataset.root / "export").exists()
    with pytest.raises(DatasetError, match="is the dataset folder, which is never written"):
        export(dataset, labels, dataset.root, "voc", overwrite=True)


def test_never_writes_into_the_folder_of_the_pseudo_labels(make_voc, tmp_path):
    root = make_voc({"a": RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)},
                    {"a": np.zeros((6, 8), np.uint8)})
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    Image.fromarray(np.ones((6, 8), np.uint8)).save(noisy / "a.png")
    dataset = open_dataset(root, labels_dir=noisy)
    before = (noisy / "a.png").read_bytes()
    with pytest.raises(DatasetError, match="is the pseudo-labels' folder, which is never"):
        export(dataset, {"a": np.zeros((6, 8), np.uint8)}, noisy, "palette", overwrite=True)
    assert sorted(noisy.iterdir()) == [noisy / "a.png"] and (noisy / "a.png").read_bytes() == before


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
    readme = (out / "README.cvat").read_text()
    assert str(ds.root) in readme and str(session.resolve()) in readme
    assert "rounds finished: 1" in readme
    # Nor into the region files it was given, even when told to overwrite.
    assert main(["export", str(session), str(maps), "--overwrite", "-q"]) == 2
    assert not (maps / "classes.json").exists()
    # a second export into the same folder needs --overwrite
    assert main(["export", str(session), str(out), "--format", "cvat", "-q"]) == 2
    assert main(["export", str(session), str(out), "--format", "cvat", "--overwrite",
                 "-q"]) == 0


@pytest.mark.parametrize("format", ["voc", "coco"])
def test_a_failed_export_leaves_no_half_written_folder_it_made(corrected, tmp_path, format):
    dataset, labels = corrected

    def labels_of(name):  # the second image cannot be had: a full disk, a dataset gone
        if name != dataset.names[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return labels[name]
    for folder, made in ((tmp_path / "new", False), (tmp_path / "earlier", True)):
        if made:
            export(dataset, labels, folder, "palette")
        before = sorted(folder.rglob("*")) if made else None
        with pytest.raises(OSError):
            list(export_labels(folder, dataset.names, labels_of, dataset.classes,
                               dataset.inputs, format, overwrite=True,
                               image_of=dataset.image_path))
        # A retry finds it as it was: absent, or the earlier export's files and
        # what this one had written over or beside them (the person said to).
        assert not folder.exists() if not made else set(before) <= set(folder.rglob("*"))


def test_a_full_disk_names_the_file_being_written_not_the_one_read(tmp_path):
    source, target = tmp_path / "image.png", tmp_path / "out" / "image.png"
    source.write_bytes(b"an image")
    no_space = os.strerror(errno.ENOSPC)
    for names in (lambda tmp: (), lambda tmp: (str(source), str(tmp))):  # a write; a copy
        with pytest.raises(OSError) as error:
            with atomic_path(target) as tmp:
                raise OSError(errno.ENOSPC, no_space, *names(tmp))
        assert (error.value.filename, error.value.strerror) == (str(target), no_space)
        assert list(target.parent.iterdir()) == []  # no temporary file left


@pytest.mark.parametrize("byte_order", ["<", ">"])
def test_a_photo_with_an_exif_turn_is_exported_as_stored_like_its_labels(make_dataset, tmp_path,
                                                                         byte_order):
    root = make_dataset({"photo": RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)},
                        {"photo": np.zeros((6, 8), np.uint8)}, image_ext=".jpg")
    source = root / "images" / "photo.jpg"
    exif = Image.Exif()
    exif.endian = byte_order  # phones write either
    exif[ExifTags.Base.Orientation] = 3  # viewers and OpenCV turn it upside down
    exif[ExifTags.Base.Make] = "a phone"
    Image.open(source).save(source, exif=exif)
    assert Image.open(source).getexif()[ExifTags.Base.Orientation] == 3
    dataset = open_dataset(root)
    export(dataset, {"photo": np.ones((6, 8), np.uint8)}, tmp_path / "out", "voc")
    copied = tmp_path / "out" / "VOCdevkit" / "VOC2012" / "JPEGImages" / "photo.jpg"
    kept = Image.open(copied).getexif()
    assert kept[ExifTags.Base.Orientation] == 1 and kept[ExifTags.Base.Make] == "a phone"
    # One SHORT changed, nothing else: the very pixels its labels were drawn on.
    before, after = source.read_bytes(), copied.read_bytes()
    assert len(before) == len(after) and sum(a != b for a, b in zip(before, after)) == 1
