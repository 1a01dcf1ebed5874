import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image

from a2lc_napari.engine.classes import (CITYSCAPES_CLASSES, IGNORE_COLOR, VOC_CLASSES,
                                        ClassSet)
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.errors import DatasetError
from a2lc_napari.engine.progress import Progress
from a2lc_napari.engine.region_cache import make_region_cache
from a2lc_napari.engine.regions import RegionsConfig

from conftest import TINY_CLASSES

RNG = np.random.default_rng(0)


def rgb(h, w):
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def lab(h, w, top=3):
    return RNG.integers(0, top, (h, w), dtype=np.uint8)


def save_image(path: Path, image: np.ndarray):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def save_label(path: Path, labels: np.ndarray, palette: bool = True):
    """Write labels as a palette PNG (any palette will do) or 8-bit greyscale."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(labels)
    if palette:
        img = Image.frombytes("P", img.size, img.tobytes())
        img.putpalette(VOC_CLASSES.palette())
    img.save(path)


def run(steps):
    """Drive a step generator; return the Progress it yielded."""
    return list(steps)


def listing(root: Path) -> dict[str, int]:
    """Every file and folder under ``root`` with its modification time."""
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def generic(make_dataset):
    """A valid generic folder: a (8, 10) colour image and a (6, 7) greyscale one
    in a subfolder; labels with ignore pixels; no gt, no regions."""
    labels_a = lab(8, 10)
    labels_a[0, :4] = 255
    return make_dataset({"a": rgb(8, 10), "sub/b": RNG.integers(0, 256, (6, 7), np.uint8)},
                        {"a": labels_a, "sub/b": lab(6, 7)})


# --- layouts ----------------------------------------------------------------

def test_generic_layout(make_dataset):
    grey = RNG.integers(0, 256, (6, 7), np.uint8)
    labels = {"a": lab(8, 10), "sub/b": lab(6, 7)}
    classes = ClassSet(("sky", "road", "car"), ((0, 0, 255), (90, 90, 90), (255, 0, 0)),
                       ignore_index=254)
    labels["a"][0, :4] = 254  # valid only because classes.json says so
    root = make_dataset({"a": rgb(8, 10), "sub/b": grey}, labels, classes=classes)
    ds = open_dataset(root)
    assert ds.layout == "generic" and ds.root == root.resolve() and ds.labels_dir is None
    assert ds.classes == classes
    assert ds.names == ["a", "sub/b"]
    assert ds.shape("a") == (8, 10) and ds.shape("sub/b") == (6, 7)
    # palette PNG labels come back as class indices, not colours
    assert Image.open(root / "labels" / "a.png").mode == "P"
    np.testing.assert_array_equal(ds.labels("a"), labels["a"])
    assert ds.labels("a").dtype == np.uint8
    # a greyscale image becomes 3 equal channels
    image = ds.image("sub/b")
    assert image.shape == (6, 7, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, np.repeat(grey[..., None], 3, -1))
    assert not ds.has_gt and ds.gt("a") is None and not ds.has_regions
    assert run(ds.check()) == [Progress(0, 2, "Checking dataset"),
                               Progress(1, 2, "Checking dataset"),
                               Progress(2, 2, "Checking dataset")]


def test_generic_tif_images(make_dataset):
    image = rgb(5, 6)
    root = make_dataset({"t": image}, {"t": lab(5, 6)}, image_ext=".tif")
    ds = open_dataset(root)
    assert ds.names == ["t"]
    np.testing.assert_array_equal(ds.image("t"), image)
    run(ds.check())
    run(ds.check(read_images=False))


def test_generic_gt_and_regions(make_dataset):
    gt = {"a": lab(4, 5), "b": lab(4, 5)}
    regions_a = np.arange(20).reshape(4, 5) * 3  # non-consecutive, has a 0
    root = make_dataset({"a": rgb(4, 5), "b": rgb(4, 5)},
                        {"a": lab(4, 5), "b": lab(4, 5)}, gt=gt, regions={"a": regions_a})
    regions_b = np.arange(20, dtype=np.uint16).reshape(4, 5) + 300  # 16-bit PNG
    Image.fromarray(regions_b).save(root / "regions" / "b.png")
    ds = open_dataset(root)
    assert ds.has_gt and ds.has_regions
    np.testing.assert_array_equal(ds.gt("b"), gt["b"])
    assert ds.regions("a").dtype == np.int32
    np.testing.assert_array_equal(ds.regions("a"), regions_a)  # as is
    np.testing.assert_array_equal(ds.regions("b"), regions_b)
    run(ds.check())


def test_partial_gt_and_regions(make_dataset):
    root = make_dataset({"a": rgb(4, 5), "b": rgb(4, 5)}, {"a": lab(4, 5), "b": lab(4, 5)},
                        gt={"a": lab(4, 5)}, regions={"b": np.ones((4, 5), int)})
    ds = open_dataset(root)
    assert not ds.has_gt and not ds.has_regions
    assert ds.gt("a") is not None and ds.gt("b") is None
    assert (ds.regions("b") == 1).all()
    assert ds.regions("a").min() == 1  # generated
    run(ds.check())


def test_voc_layout(make_voc):
    labels = lab(6, 8, top=21)
    labels[0] = 255  # VOC's object boundaries
    root = make_voc({"2007_000001": rgb(6, 8), "2007_000002": rgb(5, 5),
                     "2008_000003": rgb(4, 4)},  # no label: skipped
                    {"2007_000001": labels, "2007_000002": lab(5, 5, top=21)})
    ds = open_dataset(root)
    assert ds.layout == "voc" and ds.classes == VOC_CLASSES
    assert ds.names == ["2007_000001", "2007_000002"]
    assert ds.shape("2007_000002") == (5, 5)
    np.testing.assert_array_equal(ds.labels("2007_000001"), labels)
    assert ds.image("2007_000001").shape == (6, 8, 3)
    assert not ds.has_gt
    run(ds.check())


def test_voc_segmentation_class_png(make_voc):
    root = make_voc({"x": rgb(4, 4)}, {"x": lab(4, 4)}, label_dir="SegmentationClassPNG")
    assert open_dataset(root).names == ["x"]


def test_voc_labels_beside_labelme_arrays(make_voc):
    """labelme2voc.py: SegmentationClass/ holds .npy arrays, the PNGs are in
    SegmentationClassPNG/."""
    own = {"a": lab(4, 6, top=21)}
    root = make_voc({"a": rgb(4, 6)}, own)
    (root / "SegmentationClass").rename(root / "SegmentationClassPNG")
    (root / "SegmentationClass").mkdir()
    np.save(root / "SegmentationClass" / "a.npy", own["a"].astype(np.int32))
    ds = open_dataset(root)
    np.testing.assert_array_equal(ds.labels("a"), own["a"])
    run(ds.check())


def test_labelme2voc_class_names_are_the_classes(make_voc):
    """labelme2voc.py writes class_names.txt (label id 0, _background_, first)
    and paints its PNGs in VOC's colours by position."""
    own = {"a": lab(4, 6, top=3)}
    root = make_voc({"a": rgb(4, 6)}, own)
    (root / "class_names.txt").write_text("_background_\ncat\ndog\n")
    ds = open_dataset(root)
    assert ds.classes.names == ("_background_", "cat", "dog")
    assert ds.classes.colors == VOC_CLASSES.colors[:3]
    np.testing.assert_array_equal(ds.labels("a"), own["a"])
    run(ds.check())
    # A classes.json there would make it a generic folder: said so, not "no images/".
    (root / "classes.json").write_text(json.dumps(ds.classes.to_json()))
    with pytest.raises(DatasetError, match="makes the folder a generic one") as error:
        open_dataset(root)
    assert error.value.path == root / "classes.json"


def test_cityscapes_layout(make_cityscapes):
    labels = lab(8, 16, top=19)
    labels[-1] = 255
    val, train = "val/frankfurt/frankfurt_000000_000294", "train/aachen/aachen_000000_000019"
    root = make_cityscapes(
        {val: rgb(8, 16), train: rgb(8, 16),
         "test/berlin/berlin_000000_000019": rgb(8, 16)},  # no trainIds: skipped
        {val: labels, train: lab(8, 16, top=19)})
    ds = open_dataset(root)
    assert ds.layout == "cityscapes" and ds.classes == CITYSCAPES_CLASSES
    assert ds.names == [train, val]
    np.testing.assert_array_equal(ds.labels(val), labels)
    assert ds.shape(train) == (8, 16)
    run(ds.check())


# --- labels_dir override -------------------------------------------------------

def test_labels_dir_voc_makes_gt(make_voc, tmp_path):
    own = {"a": lab(4, 6, top=21), "b": lab(4, 6, top=21)}
    root = make_voc({"a": rgb(4, 6), "b": rgb(4, 6), "c": rgb(4, 6)}, own)
    pseudo = {"a": lab(4, 6, top=21), "c": lab(4, 6, top=21)}  # "c" has no VOC label
    for name, labels in pseudo.items():
        save_label(tmp_path / "pseudo" / f"{name}.png", labels)
    ds = open_dataset(root, labels_dir=tmp_path / "pseudo")
    assert ds.labels_dir == tmp_path / "pseudo"
    assert ds.names == ["a", "c"]
    assert ds.left_out == ["b"]  # labelled, but no pseudo-label: said so
    assert ds.left_out_note() == (f"1 image with labels in {root} has no pseudo-label in "
                                  f"{tmp_path / 'pseudo'} and is left out (b)")
    assert open_dataset(root).left_out == []
    np.testing.assert_array_equal(ds.labels("a"), pseudo["a"])
    np.testing.assert_array_equal(ds.gt("a"), own["a"])
    assert ds.gt("c") is None and not ds.has_gt
    run(ds.check())


def test_labels_dir_cityscapes_subfolders(make_cityscapes, tmp_path):
    name = "val/lindau/lindau_000000_000019"
    own = lab(4, 8, top=19)
    root = make_cityscapes({name: rgb(4, 8)}, {name: own})
    pseudo = lab(4, 8, top=19)
    save_label(tmp_path / "pseudo" / f"{name}.png", pseudo, palette=False)
    ds = open_dataset(root, labels_dir=tmp_path / "pseudo")
    assert ds.names == [name] and ds.has_gt
    np.testing.assert_array_equal(ds.labels(name), pseudo)
    np.testing.assert_array_equal(ds.gt(name), own)


def test_a_flat_label_of_a_name_two_cities_share_is_said_so(make_cityscapes, tmp_path):
    names = ["train/aachen/x_000000_000019", "val/lindau/x_000000_000019",
             "val/lindau/y_000000_000019"]
    root = make_cityscapes({n: rgb(4, 8) for n in names}, {n: lab(4, 8) for n in names})
    for stem in ("x", "y"):
        save_label(tmp_path / "flat" / f"{stem}_000000_000019.png", lab(4, 8), palette=False)
    with pytest.raises(DatasetError, match=r"x_000000_000019.png: is a label whose name "
                       rf"matches several images \({names[0]}, {names[1]}\): give it its "
                       "image's folders"):
        run(open_dataset(root, labels_dir=tmp_path / "flat").check())


def test_a_label_saved_as_jpeg_is_refused_not_left_out(make_voc, make_cityscapes, tmp_path):
    """VOC and Cityscapes take the images with a label PNG; one saved as JPEG
    would leave its image out without a word."""
    from PIL import Image

    root = make_voc({"a": rgb(4, 6), "b": rgb(4, 6)}, {"a": lab(4, 6, top=21)})
    Image.fromarray(lab(4, 6, top=21)).save(root / "SegmentationClass" / "b.jpg")
    with pytest.raises(DatasetError, match=r"SegmentationClass/b.jpg: is a label saved as "
                       r"\.jpg: labels must be PNG files"):
        run(open_dataset(root).check())
    name = "train/aachen/aachen_000000_000019"
    other = "train/aachen/aachen_000001_000019"
    root = make_cityscapes({name: rgb(4, 8), other: rgb(4, 8)},
                           {name: lab(4, 8, top=19), other: lab(4, 8, top=19)})
    save_label(tmp_path / "pseudo" / "aachen_000000_000019.png", lab(4, 8), palette=False)
    Image.fromarray(lab(4, 8)).save(tmp_path / "pseudo" / "aachen_000001_000019.tif")
    with pytest.raises(DatasetError, match=r"pseudo/aachen_000001_000019.tif: is a label "
                       r"saved as \.tif"):
        run(open_dataset(root, labels_dir=tmp_path / "pseudo").check())
    # A PNG beside it is the label: the other file is the person's own business.
    save_label(tmp_path / "pseudo" / "aachen_000001_000019.png", lab(4, 8), palette=False)
    run(open_dataset(root, labels_dir=tmp_path / "pseudo").check())
    # Colour previews named like an unlabelled image, in two formats, are no
    # label: the image is left out, as one with no file is.
    voc = make_voc({"a": rgb(4, 6), "b": rgb(4, 6)}, {"a": lab(4, 6, top=21)})
    for suffix in (".jpg", ".tif"):
        save_image(tmp_path / "previews" / f"b{suffix}", rgb(4, 6))
    shutil.copy(voc / "SegmentationClass" / "a.png", tmp_path / "previews" / "a.png")
    ds = open_dataset(voc, labels_dir=tmp_path / "previews")
    assert ds.names == ["a"] and ds.left_out == []
    run(ds.check())
    # ... but beside labels in the class colours, a colour JPEG is a label too
    # (found in a walk-through: its image was left out).
    colours = np.array(VOC_CLASSES.colors, np.uint8)
    save_image(tmp_path / "coloured" / "a.png", colours[lab(4, 6, top=21)])
    save_image(tmp_path / "coloured" / "b.jpg", colours[lab(4, 6, top=21)])
    with pytest.raises(DatasetError, match=r"coloured/b.jpg: is a label saved as \.jpg"):
        run(open_dataset(voc, labels_dir=tmp_path / "coloured").check())
    # Every label a JPEG: that is what is said, not how to name them.
    (tmp_path / "jpegs").mkdir()
    for name in ("a", "b"):
        Image.fromarray(lab(4, 6, top=21)).save(tmp_path / "jpegs" / f"{name}.jpg")
    with pytest.raises(DatasetError, match=r"jpegs/a.jpg: is a label saved as \.jpg"):
        open_dataset(voc, labels_dir=tmp_path / "jpegs")


def test_a_labels_folder_named_unlike_the_images_says_how_to_name_them(
        make_voc, make_cityscapes, tmp_path):
    name = "train/aachen/aachen_000000_000019"
    root = make_cityscapes({name: rgb(4, 8)}, {name: lab(4, 8, top=19)})
    save_label(tmp_path / "pseudo" / "aachen_000000_000019_pseudo.png", lab(4, 8),
               palette=False)
    with pytest.raises(DatasetError, match=r"pseudo: has no label PNG named like an image "
                       r"of .*leftImg8bit \(it holds 1 image files, e.g. "
                       r"aachen_000000_000019_pseudo.png\); name each NAME.png after its "
                       rf"image, e.g. {name}.png"):
        open_dataset(root, labels_dir=tmp_path / "pseudo")
    root = make_voc({"a": rgb(4, 6)}, {"a": lab(4, 6, top=21)})
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty: has no label PNG named like an image "
                       r"of .*JPEGImages \(it holds no image file\); name each NAME.png "
                       r"after its image, e.g. a.png, flat or in"):
        open_dataset(root, labels_dir=tmp_path / "empty")
    # The folder's own labels match by their exact names; two files of one name
    # in two formats only describe it.
    own = root / "SegmentationClass"
    (own / "a.png").rename(own / "x.png")
    save_image(own / "x.jpg", rgb(4, 6))
    with pytest.raises(DatasetError, match=r"SegmentationClass: has no label PNG named like "
                       r"an image .*\(it holds 2 image files, e.g. x.jpg\); name each "
                       r"NAME.png after its image, e.g. a.png$"):
        open_dataset(root)


def test_labels_dir_generic_keeps_gt(make_dataset, tmp_path):
    gt = lab(4, 5)
    root = make_dataset({"a": rgb(4, 5)}, {"a": lab(4, 5)}, gt={"a": gt})
    pseudo = lab(4, 5)
    save_label(tmp_path / "pseudo" / "a.png", pseudo, palette=False)
    ds = open_dataset(root, labels_dir=tmp_path / "pseudo")
    np.testing.assert_array_equal(ds.labels("a"), pseudo)
    np.testing.assert_array_equal(ds.gt("a"), gt)
    run(ds.check())


# --- generated regions and the cache ------------------------------------------

def test_regions_cached_outside_dataset(generic, tmp_path):
    before = listing(generic)
    cache = tmp_path / "cache"
    ds = open_dataset(generic)
    ds.use_regions(RegionsConfig("slic"))
    run(ds.check())
    run(make_region_cache(ds, cache))
    regions = ds.regions("sub/b")
    assert regions.shape == (6, 7) and regions.dtype == np.int32 and regions.min() == 1
    # no region straddles two pseudo-label values
    pairs = np.unique(regions.astype(np.int64) * 256 + ds.labels("sub/b"))
    assert pairs.size == regions.max()
    cached = cache / "sub" / "b.npy"
    np.testing.assert_array_equal(np.load(cached), regions)
    # read back from the cache next time, the inputs being the same
    np.save(cached, np.full((6, 7), 7, np.int32))
    again = open_dataset(generic)
    again.use_regions(RegionsConfig("slic"))
    run(make_region_cache(again, cache))
    assert (again.regions("sub/b") == 7).all()
    # a cache entry of the wrong size is an error naming it
    np.save(cached, np.ones((2, 2), np.int32))
    with pytest.raises(DatasetError, match="2x2") as e:
        again.regions("sub/b")
    assert e.value.path == cached
    assert listing(generic) == before


def test_regions_without_cache_write_nothing(generic):
    before = listing(generic)
    ds = open_dataset(generic)
    assert ds.regions("a").shape == (8, 10)
    assert listing(generic) == before


def test_region_cache_inside_dataset_is_refused(generic):
    with pytest.raises(DatasetError, match="inside the dataset folder"):
        open_dataset(generic, region_cache=generic / "cache")


# --- bad input -------------------------------------------------------------------

def test_not_a_folder(tmp_path):
    with pytest.raises(DatasetError, match="nowhere"):
        open_dataset(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError, match="file.txt.*not a folder"):
        open_dataset(tmp_path / "file.txt")


def test_unknown_layout(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(DatasetError) as info:
        open_dataset(tmp_path / "stuff")
    message = str(info.value)
    assert "stuff" in message
    assert all(w in message for w in ("classes.json", "JPEGImages", "leftImg8bit"))


def write_garbage(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an image at all")


def unparseable_classes(root):
    (root / "classes.json").write_text("{names: oops")


def invalid_classes(root):
    (root / "classes.json").write_text(json.dumps({"colors": []}))


def no_images(root):
    for p in (root / "images").rglob("*.*"):
        p.unlink()


def images_unreadable(root):  # as a folder without read permission is, for root too
    shutil.rmtree(root / "images")
    (root / "images").write_text("")


def no_labels_folder(root):
    for p in (root / "labels").rglob("*.*"):
        p.unlink()
    for p in sorted((root / "labels").rglob("*"), reverse=True):
        p.rmdir()
    (root / "labels").rmdir()


def duplicate_image(root):
    save_image(root / "images" / "a.jpg", rgb(8, 10))


def duplicate_regions(root):
    np.save(root / "regions" / "a.npy", np.ones((8, 10), int))
    save_label(root / "regions" / "a.png", np.ones((8, 10), np.uint8))


OPEN_ERRORS = {
    "classes.json": unparseable_classes,
    "classes.json ": invalid_classes,
    "images": no_images,
    "images: cannot be read": images_unreadable,
    "labels": no_labels_folder,
    "a.jpg": duplicate_image,
    "a.png": duplicate_regions,
}


@pytest.mark.parametrize("fragment,corrupt", OPEN_ERRORS.items(), ids=list(OPEN_ERRORS))
def test_open_errors(generic, fragment, corrupt):
    (generic / "regions").mkdir()
    corrupt(generic)
    with pytest.raises(DatasetError, match=fragment.strip()):
        open_dataset(generic)


def missing_label(root):
    save_image(root / "images" / "lonely.png", rgb(8, 10))


def folder_label(root):
    (root / "labels" / "a.png").unlink()
    (root / "labels" / "a.png").mkdir()


def grey_alpha_label(root):
    Image.fromarray(np.zeros((8, 10, 2), np.uint8), mode="LA").save(root / "labels" / "a.png")


def jpeg_label(root):
    save_image(root / "images" / "lonely.png", rgb(8, 10))
    save_image(root / "labels" / "lonely.jpg", np.zeros((8, 10), np.uint8))


def jpeg_named_png(root):
    from PIL import Image

    Image.fromarray(lab(8, 10)).save(root / "labels" / "a.png", format="JPEG")


def orphan_label(root):
    save_label(root / "labels" / "orphan.png", lab(8, 10))


def orphan_gt(root):
    save_label(root / "gt" / "stray.png", lab(8, 10))


def unreadable_image(root):
    write_garbage(root / "images" / "sub" / "b.png")


def unreadable_label(root):
    write_garbage(root / "labels" / "a.png")


def unreadable_gt(root):
    write_garbage(root / "gt" / "a.png")


def unreadable_regions(root):
    write_garbage(root / "regions" / "a.npy")


def rgb_label(root):
    save_image(root / "labels" / "a.png", rgb(8, 10))


def small_label(root):
    save_label(root / "labels" / "a.png", lab(8, 9))


def small_gt(root):
    save_label(root / "gt" / "a.png", lab(7, 10))


def small_regions(root):
    np.save(root / "regions" / "a.npy", np.ones((8, 11), np.int32))


def float_regions(root):
    np.save(root / "regions" / "a.npy", np.ones((8, 10)))


def bad_label_values(root):
    labels = lab(8, 10)
    labels[1, 1], labels[2, 2] = 7, 254
    save_label(root / "labels" / "a.png", labels)


def bad_gt_values(root):
    save_label(root / "gt" / "a.png", np.full((8, 10), 3, np.uint8))


CHECK_ERRORS = {
    "labels/lonely.png.*missing.*images/lonely.png": missing_label,
    "labels/a.png: is a folder, where the pseudo-label file of image .*images/a.png": folder_label,
    "orphan.png": orphan_label,
    "stray.png": orphan_gt,
    "b.png": unreadable_image,
    "labels/a.png.*cannot be read": unreadable_label,
    "gt/a.png.*cannot be read": unreadable_gt,
    "a.npy.*cannot be read": unreadable_regions,
    "labels/a.png.*colours that are not in the colour map.*class colours "
    r"\(classes.json's, or its layout's": rgb_label,
    "labels/lonely.png.*missing.*found lonely.jpg: labels must be PNG": jpeg_label,
    "labels/a.png: is a JPEG image, whatever its name: labels must be PNG": jpeg_named_png,
    "labels/a.png: has image mode LA; a label map must hold one class id": grey_alpha_label,
    "labels/a.png.*9x8": small_label,
    "gt/a.png.*10x7": small_gt,
    "a.npy.*11x8": small_regions,
    "a.npy.*float64": float_regions,
    "labels/a.png.*values 7, 254": bad_label_values,
    "gt/a.png.*values 3": bad_gt_values,
}


# read_images=False: the image's size from its header; every problem is still found
@pytest.mark.parametrize("read_images", [True, False])
@pytest.mark.parametrize("fragment,corrupt", CHECK_ERRORS.items(), ids=list(CHECK_ERRORS))
def test_check_errors(generic, fragment, corrupt, read_images):
    save_label(generic / "gt" / "a.png", lab(8, 10))
    (generic / "regions").mkdir()
    np.save(generic / "regions" / "a.npy", np.ones((8, 10), np.int32))
    run(open_dataset(generic).check(read_images=read_images))  # valid before the damage
    corrupt(generic)
    ds = open_dataset(generic)
    with pytest.raises(DatasetError, match=fragment.replace("/", r"[/\\]")):
        run(ds.check(read_images=read_images))


def test_rgb_labels_are_read_in_the_class_colours_and_the_ignore_colour(generic):
    labels = lab(8, 10)
    labels[0, :3] = 255
    colored = np.array([*TINY_CLASSES.colors, *[(0, 0, 0)] * 252, IGNORE_COLOR],
                       np.uint8)[labels]
    save_image(generic / "labels" / "a.png", colored)
    save_image(generic / "gt" / "a.png", colored)
    ds = open_dataset(generic)
    run(ds.check())
    np.testing.assert_array_equal(ds.labels("a"), labels)
    np.testing.assert_array_equal(ds.gt("a"), labels)


def test_a_header_only_check_reads_no_image_past_its_header(generic):
    path = generic / "images" / "sub" / "b.png"
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])  # header intact, pixels cut off
    ds = open_dataset(generic)
    run(ds.check(read_images=False))
    with pytest.raises(DatasetError, match="b.png.*cannot be read"):
        run(ds.check())


def test_an_image_past_pillows_size_guard_is_named_not_a_traceback(generic, monkeypatch):
    # Pillow refuses images over twice its limit (179 million pixels by default).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30)
    ds = open_dataset(generic)
    with pytest.raises(DatasetError, match=r"images/a.png: is too large to read: Image size "
                       r"\(80 pixels\) exceeds limit of 60 pixels \(Pillow's guard"):
        run(ds.check())


def test_voc_label_without_jpeg(make_voc):
    root = make_voc({"a": rgb(4, 4)}, {"a": lab(4, 4), "ghost": lab(4, 4)})
    ds = open_dataset(root)
    assert ds.names == ["a"]
    with pytest.raises(DatasetError, match="ghost.png.*JPEGImages"):
        run(ds.check())


def test_voc_without_labels(tmp_path):
    save_image(tmp_path / "JPEGImages" / "a.jpg", rgb(4, 4))
    with pytest.raises(DatasetError, match="SegmentationClass"):
        open_dataset(tmp_path)


def test_cityscapes_without_train_ids(make_cityscapes):
    root = make_cityscapes({"val/x/x_1": rgb(4, 4)}, {"val/x/x_1": lab(4, 4)})
    (root / "gtFine" / "val" / "x" / "x_1_gtFine_labelTrainIds.png").unlink()
    with pytest.raises(DatasetError, match="gtFine.*createTrainIdLabelImgs"):
        open_dataset(root)


def test_labels_dir_not_a_folder(generic, tmp_path):
    with pytest.raises(DatasetError, match="missing_pseudo"):
        open_dataset(generic, labels_dir=tmp_path / "missing_pseudo")


def test_classes_json_naming_a_class_twice_is_refused_and_a_byte_order_mark_read(generic):
    path = generic / "classes.json"
    data = json.loads(path.read_text())
    path.write_text("\ufeff" + json.dumps(data), encoding="utf-8")  # as some editors save
    assert open_dataset(generic).classes.names == tuple(data["names"])
    data["names"][1] = data["names"][0]  # other tools read classes by name: two become one
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=f"{data['names'][0]!r} names more than one class"
                       ) as refused:
        open_dataset(generic)
    assert refused.value.path == path
    # A shared colour, or a class with no name: exports would merge or lose it.
    names = [data["names"][0], "other", *data["names"][2:]]
    colors = [data["colors"][0], *data["colors"][1:]]
    colors[1] = colors[0]
    path.write_text(json.dumps({**data, "names": names, "colors": colors}))
    with pytest.raises(DatasetError, match=re.escape(f"classes {names[0]!r} and 'other' share "
                                                     f"the colour {colors[0]}")):
        open_dataset(generic)
    colors[1] = [224, 224, 192]  # the ignore value's: RGB labels would lose the ignore pixels
    path.write_text(json.dumps({**data, "names": names, "colors": colors}))
    with pytest.raises(DatasetError, match=re.escape(
            "class 'other' has the colour [224, 224, 192], which stands for the ignore value")):
        open_dataset(generic)
    path.write_text(json.dumps({**data, "names": [names[0], " ", *names[2:]]}))
    with pytest.raises(DatasetError, match="class 1 has no name"):
        open_dataset(generic)
    # Colours as web pages write them are read; other text is named, not int()'s words.
    hex_colors = ["#{:02x}{:02x}{:02X}".format(*c) for c in data["colors"]]
    path.write_text(json.dumps({**data, "names": names, "colors": hex_colors}))
    assert open_dataset(generic).classes.colors == tuple(map(tuple, data["colors"]))
    path.write_text(json.dumps({**data, "names": names, "colors": ["#4682b", *hex_colors[1:]]}))
    with pytest.raises(DatasetError, match=re.escape(
            "colour '#4682b' is not [r, g, b] with values 0-255, nor '#rrggbb'")):
        open_dataset(generic)
    path.write_text(json.dumps(names))  # a bare list of names
    with pytest.raises(DatasetError, match="is not a valid class list: it holds a JSON list, "
                       "not an object"):
        open_dataset(generic)
    path.write_text(json.dumps({"colors": data["colors"]}))  # words, not Python's KeyError
    with pytest.raises(DatasetError, match="is not a valid class list: it has no 'names' "
                       "entry"):
        open_dataset(generic)
    for ignore in (254.7, "255"):  # read as some value, silently, until this was refused
        path.write_text(json.dumps({**data, "names": names, "ignore_index": ignore}))
        with pytest.raises(DatasetError, match=re.escape(
                f"is not a valid class list: ignore_index {ignore!r} is not a whole number")):
            open_dataset(generic)


def test_a_link_back_up_the_images_folder_is_named_not_walked_round(generic):
    # images/up -> the dataset: every walk round it would be 'more images'.
    (generic / "images" / "up").symlink_to(generic, target_is_directory=True)
    with pytest.raises(DatasetError, match="is a link to .*, a folder read already") as loop:
        open_dataset(generic)
    assert str(loop.value.path).startswith(str(generic / "images" / "up"))
    (generic / "images" / "up").unlink()
    (generic / "images" / "elsewhere").symlink_to(generic / "images" / "sub")  # a second way in
    with pytest.raises(DatasetError, match="a folder read already"):
        open_dataset(generic)


def test_a_region_file_that_is_not_numpy_s_is_named_so_not_pickled_data(generic):
    (generic / "regions").mkdir()
    (generic / "regions" / "a.npy").write_bytes(b"P6 not a numpy file")
    with pytest.raises(DatasetError, match=re.escape(
            "cannot be read as a NumPy array (not a .npy file: it does not start as NumPy "
            "writes one)")) as refused:
        list(open_dataset(generic).check())
    assert refused.value.path == generic / "regions" / "a.npy"


def test_a_label_drawn_on_the_upright_view_of_a_photo_stored_on_its_side_says_why(
        make_dataset):
    # A phone photo: its pixels stored 6 x 4, an EXIF tag turning it upright to 4 x 6;
    # the label was drawn on what viewers show.
    root = make_dataset({"photo": rgb(6, 4)}, {"photo": lab(4, 6)}, image_ext=".jpg")
    path = root / "images" / "photo.jpg"
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    Image.open(path).save(path, exif=exif)
    with pytest.raises(DatasetError, match=re.escape(
            f"is 6x4 pixels but its image {path} is 4x6; the image is stored on its side, "
            "with an EXIF orientation (6)")):
        list(open_dataset(root).check())


def test_a_folder_of_images_without_classes_json_is_told_to_add_it(generic, tmp_path):
    (generic / "classes.json").unlink()
    with pytest.raises(DatasetError, match="missing: a dataset folder with images/ needs it"
                       ) as missing:
        open_dataset(generic)
    assert missing.value.path == generic / "classes.json"
    with pytest.raises(DatasetError, match="is not a dataset folder of a known layout"):
        open_dataset(tmp_path)  # nothing of a dataset at all
    (tmp_path / "session.json").write_text("{}")  # found in a walk-through: a session folder
    with pytest.raises(DatasetError, match="is a session folder, not a dataset: name it as "
                       "the session folder, and the dataset it corrects as the dataset"):
        open_dataset(tmp_path)
