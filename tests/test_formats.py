"""Reading what other programs write: region files, flat names, colour-coded labels."""
import csv
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from a2lc_napari.engine.classes import IGNORE_COLOR, read_labelmap
from a2lc_napari.engine.dataset import NameMatcher, open_dataset
from a2lc_napari.engine.errors import DatasetError
from a2lc_napari.engine.io import write_json
from a2lc_napari.engine.region_files import region_file_kind
from a2lc_napari.engine.regions import RegionsConfig

RNG = np.random.default_rng(0)
SHAPE = (12, 16)


def known_masks():
    """Three masks on a 12x16 image: a big one, a small one on it, one apart."""
    big = np.zeros(SHAPE, bool)
    big[0:8, 0:10] = True
    small = np.zeros(SHAPE, bool)
    small[2:5, 2:5] = True
    apart = np.zeros(SHAPE, bool)
    apart[8:12, 10:16] = True  # the polygon [10, 8, 16, 8, 16, 12, 10, 12]
    return [small, big, apart]  # amg.py's order is not by area


def listing(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns
            for p in sorted(root.rglob("*"))}


def rle(mask):
    encoded = mask_utils.encode(np.asfortranarray(mask, dtype=np.uint8))
    return {"size": list(encoded["size"]), "counts": encoded["counts"].decode()}


def write_amg(folder: Path, name: str, masks) -> None:
    """amg.py's folder output: NAME/ID.png (0 or 255) and NAME/metadata.csv."""
    (folder / name).mkdir(parents=True)
    with open(folder / name / "metadata.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "area", "bbox_x0", "bbox_y0", "bbox_w", "bbox_h"])
        for i, mask in enumerate(masks):
            Image.fromarray(mask.astype(np.uint8) * 255).save(folder / name / f"{i}.png")
            writer.writerow([i, int(mask.sum()), 0, 0, 1, 1])


def write_amg_rle(folder: Path, name: str, masks) -> None:
    """amg.py --convert-to-rle output: NAME.json, a list of records."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(
        [{"segmentation": rle(m), "area": int(m.sum()), "predicted_iou": 0.9}
         for m in masks]))


def write_coco(path: Path, entries: dict[str, list]) -> None:
    """A COCO instances JSON: file_name -> segmentations; the third mask of
    :func:`known_masks` as a polygon, the others as RLE."""
    images, annotations = [], []
    for i, (file_name, segs) in enumerate(entries.items(), 1):
        images.append({"id": i, "file_name": file_name, "height": SHAPE[0],
                       "width": SHAPE[1]})
        annotations += [{"id": len(annotations) + k + 1, "image_id": i, "category_id": 1,
                         "segmentation": seg, "iscrowd": 0} for k, seg in enumerate(segs)]
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "thing"}]}))


def coco_segmentations():
    small, big, _ = known_masks()
    return [rle(small), rle(big), [[10, 8, 16, 8, 16, 12, 10, 12]]]


@pytest.fixture
def two_images(make_dataset):
    """A generic dataset of two 12x16 images, one of them nested (sub/b)."""
    images = {n: RNG.integers(0, 256, (*SHAPE, 3), dtype=np.uint8) for n in ("a", "sub/b")}
    labels = {n: RNG.integers(0, 3, SHAPE, dtype=np.uint8) for n in images}
    return make_dataset(images, labels)


def assert_regions_follow(regions, masks):
    """``regions`` holds each mask's visible part (smaller on top) as one region
    of its own, and every other pixel in regions of other ids."""
    small, big, apart = masks
    parts = [small, big & ~small, apart]
    ids = [np.unique(regions[p]) for p in parts]
    assert all(i.size == 1 for i in ids), ids
    ids = [int(i[0]) for i in ids]
    assert len(set(ids)) == 3
    gap = ~(small | big | apart)
    assert gap.any() and not np.isin(regions[gap], ids).any()
    assert regions.min() > 0 and regions.dtype == np.int32


@pytest.mark.parametrize("kind", ["amg", "amg_rle", "coco"])
def test_sam_and_coco_masks_become_regions(two_images, tmp_path, kind):
    masks = known_masks()
    source = tmp_path / "masks"
    if kind == "coco":
        source = tmp_path / "instances.json"
        # COCO file names may carry folders and suffixes; "b.png" is flat
        write_coco(source, {"images/a.png": coco_segmentations(), "b.png": []})
    else:
        write = write_amg if kind == "amg" else write_amg_rle
        write(source, "a", masks)
        write(source, "b", masks[2:])  # flat name of sub/b
    assert region_file_kind(source) == kind
    before = listing(tmp_path)
    ds = open_dataset(two_images)
    # Every hole kept: the gaps of these tiny images are smaller than the default.
    ds.use_regions(RegionsConfig("files", path=str(source), min_gap_area=0))
    list(ds.check())
    assert_regions_follow(ds.regions("a"), masks)
    # every pixel in a region, 1..n
    b = ds.regions("sub/b")
    np.testing.assert_array_equal(np.unique(b), np.arange(1, b.max() + 1))
    assert listing(tmp_path) == before  # the input is never written


def test_a_folder_is_read_as_what_most_of_its_files_are(tmp_path):
    maps, rles = tmp_path / "maps", tmp_path / "rles"
    maps.mkdir()
    for name in ("a", "b"):
        np.save(maps / f"{name}.npy", np.ones((4, 4), np.int32))
    (maps / "info.json").write_text("{}")  # a note beside the maps
    assert region_file_kind(maps) == "maps"
    masks = known_masks()
    write_amg_rle(rles, "a", masks)
    write_amg_rle(rles, "b", masks[2:])
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(rles / "preview.png")
    assert region_file_kind(rles) == "amg_rle"


def test_a_mistyped_regions_path_is_said_not_to_exist(tmp_path):
    with pytest.raises(DatasetError, match="does not exist") as error:
        region_file_kind(tmp_path / "sam_maks")
    assert error.value.path == tmp_path / "sam_maks"


def test_a_coco_file_listing_an_image_twice_is_refused(two_images, tmp_path):
    """Merged COCO files may list an image twice, its masks under one entry
    only: refused, naming both entries, not read as an image without masks."""
    source = tmp_path / "instances.json"
    write_coco(source, {"a.png": coco_segmentations(), "b.png": []})
    data = json.loads(source.read_text())
    data["images"].append({**data["images"][0], "id": 3})  # a.png again, no masks
    source.write_text(json.dumps(data))
    ds = open_dataset(two_images)
    ds.use_regions(RegionsConfig("files", path=str(source), min_gap_area=0))
    with pytest.raises(DatasetError, match=r"images\[2\] repeats the id or file_name "
                       r"\('a.png'\) of images\[0\]"):
        list(ds.check())


def test_region_maps_folder_fills_the_gaps(make_cityscapes, tmp_path):
    """Grounded-SAM's obj_jpg/NAME.png object ids (flat Cityscapes names) as
    regions, and its mask_jpg/NAME.png class ids as pseudo-labels."""
    name = "train/aachen/aachen_000000_000019"
    gt = RNG.integers(0, 19, SHAPE, dtype=np.uint8)
    root = make_cityscapes({name: RNG.integers(0, 256, (*SHAPE, 3), dtype=np.uint8)},
                           {name: gt})
    pseudo = RNG.integers(0, 19, SHAPE, dtype=np.uint8)
    (tmp_path / "mask_jpg").mkdir()
    Image.fromarray(pseudo).save(tmp_path / "mask_jpg" / "aachen_000000_000019.png")
    objects = np.zeros(SHAPE, np.uint8)
    objects[:6, :6], objects[6:, 8:] = 3, 7
    (tmp_path / "obj_jpg").mkdir()
    Image.fromarray(objects).save(tmp_path / "obj_jpg" / "aachen_000000_000019.png")
    ds = open_dataset(root, labels_dir=tmp_path / "mask_jpg")
    ds.use_regions(RegionsConfig("files", path=str(tmp_path / "obj_jpg")))
    list(ds.check())
    assert ds.names == [name]
    np.testing.assert_array_equal(ds.labels(name), pseudo)
    np.testing.assert_array_equal(ds.gt(name), gt)
    regions = ds.regions(name)
    # the objects keep their ids; the background gets new ones above them
    np.testing.assert_array_equal(regions[objects > 0], objects[objects > 0])
    assert regions[objects == 0].min() > 7


def test_name_matcher():
    match = NameMatcher({"train/aachen/x_1": Path("leftImg8bit/train/aachen/x_1_leftImg8bit.png"),
                         "a": Path("images/a.png"), "sub/a": Path("images/sub/a.png")})
    assert match("train/aachen/x_1") == "train/aachen/x_1"
    assert match("x_1") == "train/aachen/x_1"  # flat, as Grounded-SAM names it
    assert match("x_1_leftImg8bit") == "train/aachen/x_1"  # amg.py: the file's stem
    assert match("x_1_gtFine_labelTrainIds") == "train/aachen/x_1"
    assert match("leftImg8bit/train/aachen/x_1_leftImg8bit.png") == "train/aachen/x_1"
    assert match("a") == "a" and match("sub/a") == "sub/a"  # exact names win
    assert match("other/a") is None  # "a" is the last part of two names
    assert match("y") is None


def write_cvat(make_voc, colors: dict[str, tuple], labels: dict[str, np.ndarray]) -> Path:
    """A CVAT Segmentation mask 1.1 export with images: JPEGImages/, RGB
    SegmentationClass/ masks and labelmap.txt."""
    root = make_voc({n: RNG.integers(0, 256, (*SHAPE, 3), dtype=np.uint8) for n in labels}, {})
    (root / "labelmap.txt").write_text("# label:color_rgb:parts:actions\n" + "".join(
        f"{n}:{','.join(map(str, c))}::\n" for n, c in colors.items()))
    table = np.array(list(colors.values()) + [IGNORE_COLOR], np.uint8)
    (root / "SegmentationClass").mkdir()
    for name, lab in labels.items():
        rgb = table[np.where(lab == 255, len(colors), lab)]
        Image.fromarray(rgb).save(root / "SegmentationClass" / f"{name}.png")
    return root


COLORS = {"background": (0, 0, 0), "crack": (250, 50, 83), "rust": (36, 179, 83),
          "ignore": IGNORE_COLOR}


def test_cvat_colour_masks(make_voc):
    labels = RNG.integers(0, 3, SHAPE, dtype=np.uint8)
    labels[0, :3] = 255
    root = write_cvat(make_voc, COLORS, {"img1": labels})
    before = listing(root)
    ds = open_dataset(root)
    list(ds.check())
    assert ds.classes.names == ("background", "crack", "rust")
    assert ds.classes.colors == ((0, 0, 0), (250, 50, 83), (36, 179, 83))
    np.testing.assert_array_equal(ds.labels("img1"), labels)
    assert listing(root) == before


def test_cvat_colour_not_in_the_map(make_voc):
    labels = RNG.integers(0, 3, SHAPE, dtype=np.uint8)
    root = write_cvat(make_voc, COLORS, {"img1": labels})
    path = root / "SegmentationClass" / "img1.png"
    rgb = np.array(Image.open(path))
    rgb[3:5, 3:6] = (1, 2, 3)  # 6 pixels of an undeclared colour
    Image.fromarray(rgb).save(path)
    ds = open_dataset(root)
    with pytest.raises(DatasetError) as e:
        list(ds.check())
    assert e.value.path == path
    assert "(1, 2, 3) in 6 pixels" in str(e.value)


def test_background_names_no_class_so_it_is_ignore(make_voc, make_dataset, tmp_path):
    """CVAT's and datumaro's masks paint unannotated pixels background:0,0,0."""
    labels = RNG.integers(0, 3, SHAPE, dtype=np.uint8)
    root = write_cvat(make_voc, COLORS, {"img1": labels})
    # The CVAT folder's own classes: background is one, unless told otherwise.
    assert open_dataset(root).classes.names == ("background", "crack", "rust")
    ds = open_dataset(root, background_is_ignore=True)
    assert ds.classes.names == ("crack", "rust")
    np.testing.assert_array_equal(ds.labels("img1"),
                                  np.where(labels == 0, 255, labels - 1).astype(np.uint8))
    # As pseudo-labels of a dataset with no background class: ignore anyway.
    from a2lc_napari.engine.classes import ClassSet

    classes = ClassSet(("crack", "rust"), ((250, 50, 83), (36, 179, 83)))
    other = make_dataset({"img1": RNG.integers(0, 256, (*SHAPE, 3), dtype=np.uint8)},
                         {"img1": np.zeros(SHAPE, np.uint8)}, classes=classes)
    ds = open_dataset(other, labels_dir=root / "SegmentationClass")
    list(ds.check())
    np.testing.assert_array_equal(ds.labels("img1"),
                                  np.where(labels == 0, 255, labels - 1).astype(np.uint8))


def test_voc_that_datumaro_wrote_with_png_images(tmp_path):
    import datumaro as dm

    image = RNG.integers(0, 256, SHAPE + (3,), dtype=np.uint8)
    labels = RNG.integers(0, 3, SHAPE)
    bgr = np.ascontiguousarray(image[..., ::-1])  # datumaro holds images as OpenCV does
    item = dm.DatasetItem(id="img1", subset="default", media=dm.Image.from_numpy(bgr),
                          annotations=[dm.Mask(image=labels == c, label=c) for c in range(3)])
    dm.Dataset.from_iterable([item], categories={dm.AnnotationType.label: (
        dm.LabelCategories.from_iterable(["background", "cat", "dog"]))}).export(
        str(tmp_path / "voc"), "voc_segmentation", save_media=True, image_ext=".png")
    assert (tmp_path / "voc" / "JPEGImages" / "img1.png").is_file()
    ds = open_dataset(tmp_path / "voc")  # its labelmap.txt has no colours: VOC's, by place
    list(ds.check())
    assert ds.classes.names == ("background", "cat", "dog")
    np.testing.assert_array_equal(ds.image("img1"), image)
    np.testing.assert_array_equal(ds.labels("img1"), labels)


def test_voc_images_of_no_kind_we_read(make_voc, tmp_path):
    root = make_voc({}, {"img1": np.zeros(SHAPE, np.uint8)})
    (root / "JPEGImages").mkdir()
    Image.fromarray(np.zeros((*SHAPE, 3), np.uint8)).save(root / "JPEGImages" / "img1.bmp")
    with pytest.raises(DatasetError) as e:
        open_dataset(root)
    assert e.value.path == root / "JPEGImages"  # the images are what is wrong
    assert "has no images (.png, .jpg, .jpeg, .tif, .tiff)" in str(e.value)


def test_labelmap_errors(tmp_path):
    path = tmp_path / "labelmap.txt"
    for text, problem in [("a:1,2::\n", "no colour"), ("a:1,2,3::\nb:::\n", "no colour"),
                          ("a:1,2,3::\nb:1,2,3::\n", "colour"),
                          ("a:1,2,3::\na:4,5,6::\n", "second time"), ("# only\n", "no labels"),
                          ("hello world\n", "line 1 \\('hello world'\\) is not a labelmap line")]:
        path.write_text(text)
        with pytest.raises(DatasetError, match=problem):
            read_labelmap(path)


def region_error(dataset, source) -> DatasetError:
    """The error that checking ``dataset`` with regions from the files in
    ``source`` stops on."""
    ds = open_dataset(dataset)
    ds.use_regions(RegionsConfig("files", path=str(source)))
    with pytest.raises(DatasetError) as e:
        list(ds.check())
    return e.value


def test_rle_of_the_wrong_size(two_images, tmp_path):
    wrong = np.zeros((SHAPE[0] + 1, SHAPE[1]), bool)
    wrong[0, 0] = True
    write_amg_rle(tmp_path / "rle", "a", [wrong])
    write_amg_rle(tmp_path / "rle", "b", [])
    error = region_error(two_images, tmp_path / "rle")
    assert error.path == tmp_path / "rle" / "a.json"
    assert "[13, 16]" in str(error) and "[12, 16]" in str(error)
    assert str(error).count("a.json") == 1  # said once, not again in brackets


def test_an_image_without_an_entry_in_a_coco_file_is_told_what_to_add(two_images, tmp_path):
    source = tmp_path / "instances.json"
    write_coco(source, {"images/a.png": coco_segmentations()})  # no entry for b
    error = region_error(two_images, source)
    assert error.path == source
    assert "has no entry for image" in str(error) and "b.png" in str(error)
    assert "add one whose file_name is the image's" in str(error)


def test_mask_folder_missing_an_image(two_images, tmp_path):
    write_amg(tmp_path / "amg", "a", known_masks())
    # sub/b has no folder: found before any region is made
    error = region_error(two_images, tmp_path / "amg")
    assert error.path == tmp_path / "amg"
    assert "b.png" in str(error) and "'sub/b'" in str(error)


def test_mask_listed_but_missing(two_images, tmp_path):
    write_amg(tmp_path / "amg", "a", known_masks())
    write_amg(tmp_path / "amg", "b", [])
    (tmp_path / "amg" / "a" / "1.png").unlink()
    error = region_error(two_images, tmp_path / "amg")
    assert error.path == tmp_path / "amg" / "a" / "1.png"
    assert "metadata.csv" in str(error)


@pytest.mark.parametrize("kind", ["amg", "amg_rle", "amg_no_id"])
def test_no_mask_at_all_stops_naming_the_file(two_images, tmp_path, kind):
    """SAM's filters may drop every mask of an image: amg.py then writes an
    empty metadata.csv (or a JSON holding []); that is no region source."""
    source = tmp_path / "masks"
    write = write_amg_rle if kind == "amg_rle" else write_amg
    write(source, "a", [])
    write(source, "b", known_masks())
    if kind == "amg_no_id":
        (source / "a" / "metadata.csv").write_text("")
    bad = source / ("a.json" if kind == "amg_rle" else "a/metadata.csv")
    error = region_error(two_images, source)
    assert error.path == bad
    assert ("id column" if kind == "amg_no_id" else "no mask") in str(error)


def test_uncompressed_rle_counts_must_cover_the_image(two_images, tmp_path):
    (tmp_path / "rle").mkdir()
    good = {"size": list(SHAPE), "counts": [5, 10, SHAPE[0] * SHAPE[1] - 15]}
    short = {"size": list(SHAPE), "counts": [5, 10, 20]}
    for name, rle in (("a", short), ("b", good)):
        (tmp_path / "rle" / f"{name}.json").write_text(json.dumps([{"segmentation": rle}]))
    error = region_error(two_images, tmp_path / "rle")
    assert error.path == tmp_path / "rle" / "a.json"
    assert "add up to 35" in str(error) and "192" in str(error)
    (tmp_path / "rle" / "a.json").write_text(json.dumps([{"segmentation": good}]))
    ds = open_dataset(two_images)
    ds.use_regions(RegionsConfig("files", path=str(tmp_path / "rle")))
    list(ds.check())
    column = np.zeros(SHAPE, bool)  # column-major runs: 5 off, 10 on
    column.T.flat[5:15] = True
    assert np.unique(ds.regions("a")[column]).size == 1


def test_small_gap_holes_join_their_neighbours(make_dataset, tmp_path):
    """Two masks that leave a 1-pixel and a 3-pixel hole between them, and a
    big gap below: the holes join the masks, the big gap gets regions."""
    image = RNG.integers(0, 256, (20, 16, 3), dtype=np.uint8)
    ds_root = make_dataset({"a": image}, {"a": np.zeros((20, 16), np.uint8)})
    left, right = np.zeros((20, 16), bool), np.zeros((20, 16), bool)
    left[:10, :8] = True
    right[:10, 8:] = True
    left[4, 7] = False  # a 1-pixel hole
    right[6, 9:12] = False  # a 3-pixel hole
    write_amg(tmp_path / "amg", "a", [left, right])
    ds = open_dataset(ds_root)
    ds.use_regions(RegionsConfig("files", path=str(tmp_path / "amg"), min_gap_area=4))
    regions = ds.regions("a")
    assert regions[4, 7] == regions[0, 0]  # nearest: the left mask
    assert (regions[6, 9:12] == regions[0, 15]).all()
    assert np.unique(regions[:10]).size == 2  # no region of a hole
    assert not np.isin(regions[10:], regions[:10]).any()  # the big gap: regions of its own
    ds.use_regions(RegionsConfig("files", path=str(tmp_path / "amg"), min_gap_area=0))
    kept = ds.regions("a")
    assert np.unique(kept[:10]).size == 4  # each hole a region


def test_not_a_region_source(tmp_path):
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(DatasetError) as e:
            region_file_kind(path)
        assert e.value.path == path


def test_written_files_have_the_usual_mode(tmp_path):
    write_json(tmp_path / "x.json", {"a": 1})
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o666 & ~umask


def test_reading_mask_files_does_not_import_torch(two_images, tmp_path):
    write_amg(tmp_path / "amg", "a", known_masks())
    write_amg(tmp_path / "amg", "b", [])
    write_coco(tmp_path / "coco.json", {"a.png": coco_segmentations(), "b.png": []})
    code = ("import sys\n"
            "from a2lc_napari.engine.dataset import open_dataset\n"
            "from a2lc_napari.engine.regions import RegionsConfig\n"
            f"ds = open_dataset({str(two_images)!r})\n"
            f"for path in ({str(tmp_path / 'amg')!r}, {str(tmp_path / 'coco.json')!r}):\n"
            "    ds.use_regions(RegionsConfig('files', path=path))\n"
            "    ds.regions('a')\n"
            "assert 'torch' not in sys.modules and 'segment_anything' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[1])


def test_cvat_masks_as_labels_of_another_dataset(make_voc, tmp_path):
    """CVAT masks without images, given as --labels to the VOC folder they
    label: labelmap.txt's names are read as VOC's classes."""
    labels = RNG.integers(0, 3, SHAPE, dtype=np.uint8)
    voc = make_voc({"img1": RNG.integers(0, 256, (*SHAPE, 3), dtype=np.uint8)},
                   {"img1": np.zeros(SHAPE, np.uint8)})
    cvat = write_cvat(make_voc, {"background": (0, 0, 0), "aeroplane": (9, 9, 9),
                                 "bicycle": (0, 128, 0)}, {"img1": labels})
    ds = open_dataset(voc, labels_dir=cvat / "SegmentationClass")
    list(ds.check())
    np.testing.assert_array_equal(ds.labels("img1"), labels)  # ids of VOC's classes 0-2
    (cvat / "labelmap.txt").write_text("background:0,0,0::\ncrack:250,50,83::\n")
    with pytest.raises(DatasetError, match="'crack'") as e:
        open_dataset(voc, labels_dir=cvat / "SegmentationClass")
    assert e.value.path == cvat / "labelmap.txt"


def test_regions_for_one_image_twice(two_images, tmp_path):
    write_amg_rle(tmp_path / "rle", "a", [])
    write_amg_rle(tmp_path / "rle" / "other", "a", [])  # also matches image "a"
    write_amg_rle(tmp_path / "rle", "b", [])
    ds = open_dataset(two_images)
    ds.use_regions(RegionsConfig("files", path=str(tmp_path / "rle")))
    with pytest.raises(DatasetError, match="twice") as e:
        list(ds.check())
    assert e.value.path == tmp_path / "rle"


def test_a_session_keeps_background_is_ignore(make_voc, tmp_path):
    """A session made on a CVAT folder with background_is_ignore reads its
    background as ignore, and so does the same session reopened."""
    from a2lc_napari.engine.config import SessionConfig
    from a2lc_napari.engine.progress import drive
    from a2lc_napari.engine.driver import start_session
    from a2lc_napari.engine.session import Session

    root = write_cvat(make_voc, COLORS, {"img1": RNG.integers(0, 3, SHAPE, dtype=np.uint8)})
    config = SessionConfig(method="abc", budget=1, regions=RegionsConfig("slic"),
                           background_is_ignore=True)
    with drive(start_session(tmp_path / "session", root, config), quiet=True) as session:
        assert session.dataset.classes.names == ("crack", "rust")
        labels = session.labels("img1")
    written = session.dataset.labels("img1")
    assert labels.max() == 255 and (labels == written).all()
    with Session.open(tmp_path / "session", read_only=True) as again:
        assert again.dataset.classes.names == ("crack", "rust")
        assert (again.labels("img1") == labels).all()


def test_rank_background_is_ignore(make_voc, tmp_path, monkeypatch, capsys):
    """`a2lc rank --background-is-ignore` on a CVAT folder: two classes, not three."""
    from a2lc_napari.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = write_cvat(make_voc, COLORS, {"img1": RNG.integers(0, 3, SHAPE, dtype=np.uint8)})
    (tmp_path / "probs").mkdir()
    np.save(tmp_path / "probs" / "img1.npy", np.full((2, *SHAPE), 0.5, np.float32))
    args = ["rank", str(root), "--probs", str(tmp_path / "probs"), "--method", "a2lc",
            "--json", str(tmp_path / "rank.json"), "-q", "--regions", "slic"]
    assert main(args) == 2
    assert "(K, H, W) = (3, 12, 16)" in capsys.readouterr().err
    assert main(args + ["--background-is-ignore"]) == 0
    assert json.loads((tmp_path / "rank.json").read_text())
