"""A small synthetic street-scene dataset with Grounded-SAM-like noisy labels.

:func:`make_demo_dataset` draws street scenes (sky, buildings, trees, a road
vanishing into the horizon, cars, people, poles, ...) and derives from each
one what an active-label-correction run needs:

- an RGB image in which every class has a texture (stripes, checker, dots,
  smooth noise) on top of a base colour that is jittered per image, so that
  confusable pairs (road/sidewalk, vegetation/terrain, car/truck,
  person/rider) share a colour and differ only by texture;
- the ground truth;
- SAM-like regions: objects with boundaries off by a pixel or two, sometimes
  split in two or merged with a neighbour or a piece of background, and stuff
  cut into a few large pieces;
- pseudo-labels built from region x class, as Grounded-SAM does: every region
  carries one class, which is wrong when the detector confused an object with
  its partner class, missed a small object (which then takes the class of the
  stuff behind it), confused a stuff area, or found nothing (ignore).

Everything is drawn from ``numpy.random.default_rng`` and ``skimage.draw``,
so the same seed writes byte-identical files.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image
from skimage import draw, measure, morphology, transform

from . import io
from .classes import ClassSet
from .errors import DatasetError


class _Look(NamedTuple):
    """How one class is named, shown as a label and rendered in the image."""

    name: str
    label_rgb: tuple[int, int, int]  # label colour (Cityscapes palette)
    image_rgb: tuple[int, int, int]  # base colour in the image
    texture: str  # "noise", "stripes", "checker" or "dots"
    period: float  # texture period, pixels
    angle: float  # texture orientation, degrees
    amplitude: float  # texture contrast, grey levels


_LOOKS = (
    _Look("sky", (70, 130, 180), (150, 185, 225), "noise", 40, 0, 14),
    _Look("building", (70, 70, 70), (125, 110, 100), "checker", 6, 0, 22),
    _Look("vegetation", (107, 142, 35), (72, 118, 52), "dots", 5, 30, 30),
    _Look("terrain", (152, 251, 152), (80, 122, 56), "stripes", 3, 80, 24),
    _Look("road", (128, 64, 128), (108, 106, 110), "noise", 3, 0, 16),
    _Look("sidewalk", (244, 35, 232), (116, 112, 112), "checker", 9, 0, 16),
    _Look("car", (0, 0, 142), (150, 45, 45), "stripes", 6, 0, 22),
    _Look("truck", (0, 0, 70), (158, 52, 44), "stripes", 5, 90, 22),
    _Look("person", (220, 20, 60), (185, 140, 115), "dots", 4, 0, 26),
    _Look("rider", (255, 0, 0), (180, 135, 118), "stripes", 4, 45, 26),
    _Look("pole", (153, 153, 153), (85, 85, 90), "noise", 3, 0, 10),
    _Look("traffic sign", (220, 220, 0), (215, 180, 40), "checker", 3, 0, 30),
)
(SKY, BUILDING, VEGETATION, TERRAIN, ROAD, SIDEWALK,
 CAR, TRUCK, PERSON, RIDER, POLE, SIGN) = range(len(_LOOKS))
IGNORE = 255

#: Class the detector mistakes a class for, and how often (per region). Rare
#: classes are mistaken for their frequent partner more often than the reverse.
_CONFUSION = {VEGETATION: (TERRAIN, 0.15), TERRAIN: (VEGETATION, 0.3),
              ROAD: (SIDEWALK, 0.1), SIDEWALK: (ROAD, 0.25),
              CAR: (TRUCK, 0.2), TRUCK: (CAR, 0.5),
              PERSON: (RIDER, 0.2), RIDER: (PERSON, 0.5)}

#: Mean number of objects of each class per image, placed on which ground.
_OBJECT_RATES = ((CAR, 3.0, ROAD), (TRUCK, 0.35, ROAD), (RIDER, 0.45, ROAD),
                 (PERSON, 2.5, SIDEWALK), (POLE, 1.5, SIDEWALK))


def demo_classes() -> ClassSet:
    """The 12 classes of the demo dataset (Cityscapes names and colours)."""
    return ClassSet(names=tuple(lk.name for lk in _LOOKS),
                    colors=tuple(lk.label_rgb for lk in _LOOKS), ignore_index=IGNORE)


def make_demo_dataset(out: Path, n_images: int = 40, size: tuple[int, int] = (128, 160),
                      seed: int = 0) -> Path:
    """Write a synthetic dataset with noisy Grounded-SAM-like pseudo-labels.

    Parameters
    ----------
    out : Path
        Dataset folder; created if missing, files of the same names overwritten.
    n_images : int
        Number of images, named ``demo_000``, ``demo_001``, ...
    size : (int, int)
        (height, width) of every image.
    seed : int
        Same seed, same bytes. Image ``i`` does not depend on ``n_images``.

    Returns
    -------
    Path
        ``out``, holding ``classes.json``, ``images/NAME.png`` (RGB),
        ``labels/NAME.png`` (pseudo-labels, palette PNG), ``gt/NAME.png``
        (ground truth, palette PNG) and ``regions/NAME.npy`` ((H, W) int32,
        ids from 1).
    """
    out = Path(out)
    check_demo_folder(out, n_images)
    classes = demo_classes()
    seeds = np.random.SeedSequence(seed).spawn(n_images)
    for i, ss in enumerate(seeds):
        scene = _scene(np.random.default_rng(ss), size)
        name = f"demo_{i:03d}"
        _write_rgb(out / "images" / f"{name}.png", scene.image)
        io.write_label(out / "labels" / f"{name}.png", scene.labels, classes)
        io.write_label(out / "gt" / f"{name}.png", scene.gt, classes)
        io.write_npy(out / "regions" / f"{name}.npy", scene.regions)
    # Last, so that a folder with classes.json holds the whole dataset.
    io.write_json(out / "classes.json", classes.to_json())
    return out


def demo_files(n_images: int) -> set[str]:
    """The paths (relative, ``/``-separated) of a sample dataset of ``n_images``."""
    names = [f"demo_{i:03d}" for i in range(n_images)]
    return {"classes.json", *(f"{folder}/{n}.png" for folder in ("images", "labels", "gt")
                              for n in names), *(f"regions/{n}.npy" for n in names)}


def check_demo_folder(out: Path, n_images: int) -> None:
    """Raise DatasetError unless ``out`` is missing, empty, or holds exactly
    the files of a sample dataset of ``n_images`` (written again, whatever
    its seed), or some of them but its ``classes.json`` (one whose writing
    was stopped): a dataset of one's own is never written over, nor is a
    sample of another size left mixed with this one."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(out, "is a file, not a folder")
    if not out.is_dir():
        return
    held = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    # Part of one, with no classes.json (written last): its writing was stopped.
    stopped = held < demo_files(n_images) and "classes.json" not in held
    if held and held != demo_files(n_images) and not stopped:
        other = next((n for n in range(1, len(held) // 4 + 1) if held == demo_files(n)),
                     None)
        raise DatasetError(out, f"holds a sample dataset of {other} images, not {n_images}; "
                           f"choose an empty folder, or --images {other}" if other else
                           f"is not empty and holds no sample dataset of {n_images} "
                           "images; choose an empty folder")


def demo_folder() -> Path:
    """Default place of the sample dataset: the user's cache."""
    return io.user_cache() / "demo"


class _Scene(NamedTuple):
    image: np.ndarray  # (H, W, 3) uint8
    gt: np.ndarray  # (H, W) uint8 class ids
    labels: np.ndarray  # (H, W) uint8 pseudo-labels, IGNORE where unlabeled
    regions: np.ndarray  # (H, W) int32 region ids from 1


class _Object(NamedTuple):
    cls: int
    mask: np.ndarray  # (H, W) bool, before occlusion
    depth: float  # 0 at the horizon, 1 at the bottom row; nearer is painted later


class _Street(NamedTuple):
    """Ground geometry: edges are lines from the vanishing point to the bottom row."""

    horizon: float  # row
    vanish: float  # column of the vanishing point
    road: tuple[float, float]  # road edge columns at the bottom row
    walk: tuple[float, float]  # outer sidewalk edge columns at the bottom row


def _scene(rng: np.random.Generator, shape: tuple[int, int]) -> _Scene:
    """One street scene of ``shape`` (H, W) with its labels and regions."""
    stuff, street = _stuff(rng, shape)
    objects = _objects(rng, street, stuff)
    inst = np.zeros(shape, np.int32)  # 1 + index into objects, 0 = stuff
    for k, obj in enumerate(objects, 1):
        inst[obj.mask] = k  # nearer objects occlude farther ones
    object_cls = np.array([0] + [obj.cls for obj in objects], np.uint8)
    gt = np.where(inst > 0, object_cls[inst], stuff)
    regions, labels = _pseudo_labels(rng, stuff, inst, objects)
    return _Scene(_render(rng, gt, inst), gt, labels, regions)


# --- layout ----------------------------------------------------------------

def _edges(street: _Street, rows: np.ndarray | float, bottom: tuple[float, float],
           height: int) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Columns of two ground edges at ``rows``; they meet at the vanishing point."""
    t = (rows - street.horizon) / (height - 1 - street.horizon)
    return (street.vanish + t * (bottom[0] - street.vanish),
            street.vanish + t * (bottom[1] - street.vanish))


def _stuff(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, _Street]:
    """Background layers: (H, W) uint8 stuff classes and the ground geometry."""
    h, w = shape
    road = (rng.uniform(-0.3, 0.2) * w, rng.uniform(0.8, 1.3) * w)
    margins = rng.uniform(0.15, 0.45, 2) * w
    street = _Street(horizon=rng.uniform(0.38, 0.5) * h, vanish=rng.uniform(0.3, 0.7) * w,
                     road=road, walk=(road[0] - margins[0], road[1] + margins[1]))
    rows, cols = np.mgrid[0:h, 0:w]
    ground = rows >= street.horizon
    stuff = np.full(shape, SKY, np.uint8)
    stuff[ground] = TERRAIN
    for cls, bottom in ((SIDEWALK, street.walk), (ROAD, street.road)):
        lo, hi = _edges(street, rows, bottom, h)
        stuff[ground & (cols >= lo) & (cols <= hi)] = cls
    _skyline(rng, stuff, street.horizon)
    return stuff, street


def _skyline(rng: np.random.Generator, stuff: np.ndarray, horizon: float) -> None:
    """Draw buildings and tree canopies standing on the horizon into ``stuff``."""
    h, w = stuff.shape
    x = rng.uniform(-0.1, 0.05) * w
    while x < w:
        width = rng.uniform(0.12, 0.3) * w
        if rng.random() < 0.7:
            top = horizon - rng.uniform(0.12, 0.42) * h
            stuff[_box(stuff.shape, top, x, horizon + 1, x + width)] = BUILDING
        else:
            stuff[_tree(rng, stuff.shape, horizon, x + width / 2, width / 2)] = VEGETATION
        x += width + rng.uniform(0, 0.1) * w
    for _ in range(rng.integers(0, 3)):  # trees in front of the buildings
        col, radius = rng.uniform(0, w), rng.uniform(0.05, 0.12) * w
        stuff[_tree(rng, stuff.shape, horizon, col, radius)] = VEGETATION


def _tree(rng: np.random.Generator, shape: tuple[int, int], horizon: float, col: float,
          radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates of a canopy of half-width ``radius`` on the horizon."""
    r_row = radius * rng.uniform(0.8, 1.4)
    return draw.ellipse(horizon - 0.7 * r_row, col, r_row, radius, shape=shape)


def _box(shape: tuple[int, int], top: float, left: float, bottom: float,
         right: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates of an axis-aligned box, clipped to ``shape``."""
    return draw.polygon([top, top, bottom, bottom], [left, right, right, left], shape=shape)


def _objects(rng: np.random.Generator, street: _Street, stuff: np.ndarray) -> list[_Object]:
    """Things standing on the ground, sorted far to near (painting order)."""
    objects = []
    for cls, rate, ground in _OBJECT_RATES:
        for _ in range(rng.poisson(rate)):
            objects += _place(rng, cls, ground, street, stuff.shape)
    return sorted(objects, key=lambda o: o.depth)


def _place(rng: np.random.Generator, cls: int, ground: int, street: _Street,
           shape: tuple[int, int]) -> list[_Object]:
    """One object (a pole maybe with its sign) on a random spot of ``ground``."""
    h, w = shape
    depth = rng.uniform(0.12, 1.0)
    row = street.horizon + depth * (h - 1 - street.horizon)
    lo, hi = _edges(street, row, street.road, h)
    if ground == ROAD:
        spans = [(lo, hi)]
    else:
        walk_lo, walk_hi = _edges(street, row, street.walk, h)
        spans = [(walk_lo, lo), (hi, walk_hi)]
        if cls == POLE:  # poles line the kerb
            spans = [(lo - 0.15 * (lo - walk_lo), lo), (hi, hi + 0.15 * (walk_hi - hi))]
    spans = [(max(a, 0.0), min(b, w - 1.0)) for a, b in spans]
    spans = [s for s in spans if s[1] > s[0]]
    if not spans:
        return []
    col = rng.uniform(*spans[rng.integers(len(spans))])
    scale = depth * h / 128  # perspective: sizes below are for a 128-row image
    mask = np.zeros(shape, bool)
    mask[_SHAPES[cls](rng, shape, row, col, scale)] = True
    objects = [_Object(cls, mask, depth)]
    if cls == POLE and rng.random() < 0.6:
        top = np.nonzero(mask.any(axis=1))[0][0]
        sign = np.zeros(shape, bool)
        sign[_sign(rng, shape, top, col, scale)] = True
        objects.append(_Object(SIGN, sign, depth + 1e-6))
    return objects


# Object drawers: (rng, shape, row, col, scale) -> (rows, cols) pixel coordinates
# of an object standing at (row, col), sized for a 128-row image times scale.

def _car(rng, shape, row, col, scale):
    w = rng.uniform(40, 60) * scale
    h = 0.5 * w
    rr_body, cc_body = _box(shape, row - 0.55 * h, col - w / 2, row, col + w / 2)
    rr_cab, cc_cab = draw.polygon(
        [row - 0.55 * h, row - h, row - h, row - 0.55 * h],
        [col - 0.38 * w, col - 0.22 * w, col + 0.2 * w, col + 0.32 * w], shape=shape)
    return np.r_[rr_body, rr_cab], np.r_[cc_body, cc_cab]


def _truck(rng, shape, row, col, scale):
    w = rng.uniform(55, 75) * scale
    h = 0.85 * w
    rr_box, cc_box = _box(shape, row - h, col - w / 2, row - 0.1 * h, col + 0.2 * w)
    rr_cab, cc_cab = _box(shape, row - 0.6 * h, col + 0.2 * w, row, col + w / 2)
    return np.r_[rr_box, rr_cab], np.r_[cc_box, cc_cab]


def _person(rng, shape, row, col, scale):
    h = rng.uniform(38, 50) * scale
    w = 0.3 * h
    rr_t, cc_t = draw.ellipse(row - 0.6 * h, col, 0.22 * h, 0.5 * w, shape=shape)
    rr_l, cc_l = _box(shape, row - 0.45 * h, col - 0.35 * w, row, col + 0.35 * w)
    rr_h, cc_h = draw.ellipse(row - 0.9 * h, col, 0.1 * h, 0.1 * h, shape=shape)
    return np.r_[rr_t, rr_l, rr_h], np.r_[cc_t, cc_l, cc_h]


def _rider(rng, shape, row, col, scale):
    # A person on a bicycle; the bicycle counts as rider (no bicycle class).
    h = rng.uniform(36, 46) * scale
    w = 0.3 * h
    rr_t, cc_t = draw.ellipse(row - 0.65 * h, col, 0.2 * h, 0.5 * w, shape=shape)
    rr_b, cc_b = draw.polygon([row, row - 0.45 * h, row], [col - 0.9 * w, col, col + 0.9 * w],
                              shape=shape)
    rr_h, cc_h = draw.ellipse(row - 0.92 * h, col, 0.1 * h, 0.1 * h, shape=shape)
    return np.r_[rr_t, rr_b, rr_h], np.r_[cc_t, cc_b, cc_h]


def _pole(rng, shape, row, col, scale):
    h = rng.uniform(70, 100) * scale
    half = max(1.0, 1.6 * scale)  # at least 2 pixels wide
    return _box(shape, row - h, col - half, row, col + half)


def _sign(rng, shape, top, col, scale):
    s = rng.uniform(12, 18) * scale
    kind = rng.integers(3)
    if kind == 0:
        return _box(shape, top - 0.2 * s, col - s / 2, top + 0.8 * s, col + s / 2)
    if kind == 1:
        return draw.ellipse(top + 0.3 * s, col, s / 2, s / 2, shape=shape)
    return draw.polygon([top + 0.8 * s, top - 0.2 * s, top + 0.8 * s],
                        [col - s / 2, col, col + s / 2], shape=shape)


_SHAPES = {CAR: _car, TRUCK: _truck, PERSON: _person, RIDER: _rider, POLE: _pole}


# --- rendering ---------------------------------------------------------------

def _render(rng: np.random.Generator, gt: np.ndarray, inst: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 image: textured class colours, jittered per image and object."""
    img = np.zeros((*gt.shape, 3))
    for c, look in enumerate(_LOOKS):
        rgb = np.asarray(look.image_rgb) + rng.normal(0, 12, 3)
        texture = look.amplitude * _texture(rng, look, gt.shape)
        where = gt == c
        img[where] = rgb + texture[where, None]
    for k in range(1, inst.max() + 1):  # each car etc. has its own shade
        img[inst == k] += rng.normal(0, 8, 3)
    img = img * rng.uniform(0.75, 1.2) + rng.normal(0, 6, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _texture(rng: np.random.Generator, look: _Look, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float64 pattern in about [-1, 1]; period and angle jittered per image."""
    h, w = shape
    period = look.period * rng.uniform(0.85, 1.15)
    if look.texture == "noise":
        coarse = rng.standard_normal((int(h / period) + 2, int(w / period) + 2))
        return transform.resize(coarse, shape, order=1, mode="reflect", anti_aliasing=False)
    angle = np.deg2rad(look.angle + rng.uniform(-8, 8))
    rows, cols = np.mgrid[0:h, 0:w]
    u = cols * np.cos(angle) + rows * np.sin(angle) + rng.uniform(0, period)
    v = rows * np.cos(angle) - cols * np.sin(angle) + rng.uniform(0, period)
    if look.texture == "stripes":
        return np.sin(2 * np.pi * u / period)
    if look.texture == "checker":
        return np.where((u // period + v // period) % 2 == 0, 1.0, -1.0)
    wave = np.sin(2 * np.pi * u / period) * np.sin(2 * np.pi * v / period)
    return np.where(wave > 0.5, 1.0, -0.4)  # dots


def _write_rgb(path: Path, image: np.ndarray) -> None:
    with io.atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


# --- regions and pseudo-labels -------------------------------------------------

def _pseudo_labels(rng: np.random.Generator, stuff: np.ndarray, inst: np.ndarray,
                   objects: list[_Object]) -> tuple[np.ndarray, np.ndarray]:
    """SAM-like regions and the Grounded-SAM pseudo-labels they carry.

    Parameters
    ----------
    stuff : (H, W) uint8
        Background classes, as if no object stood in front.
    inst : (H, W) int32
        Visible object ``k - 1`` where ``inst == k``; 0 where stuff shows.
    objects : list of _Object
        The objects, in painting order.

    Returns
    -------
    regions : (H, W) int32
        Region ids 1..N covering every pixel.
    labels : (H, W) uint8
        One class (or IGNORE) per region.
    """
    regions, region_cls = _stuff_regions(rng, stuff)
    first_object = len(region_cls)
    for k, obj in enumerate(objects, 1):
        visible = inst == k
        if not visible.any():
            continue
        mask = _jitter_boundary(rng, visible)
        cls = _detected_class(rng, obj.cls, visible, stuff)
        merge = rng.random()
        if merge < 0.1:  # under-segmented with the ground it stands on
            mask |= _skirt(rng, mask)
        elif merge < 0.2:  # under-segmented with a touching object: keep its id and class
            neighbour = _touching_region(regions, mask, first_object)
            if neighbour:
                regions[mask] = neighbour
                continue
        pieces = _split(rng, mask) if merge > 0.75 else [mask]  # over-segmented
        for piece in pieces:
            regions[piece] = len(region_cls)
            region_cls.append(cls)
    ids, inverse = np.unique(regions, return_inverse=True)  # drop ids painted over
    regions = inverse.reshape(stuff.shape)
    region_cls = _unlabel_some(rng, np.array(region_cls, np.uint8)[ids],
                               np.bincount(regions.ravel()), regions.size)
    return (regions + 1).astype(np.int32), region_cls[regions]


def _stuff_regions(rng: np.random.Generator, stuff: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Stuff cut into a few large pieces by random Voronoi cells.

    Returns (H, W) int32 region ids from 1 and the pseudo-class of each id
    (index 0 unused).
    """
    h, w = stuff.shape
    seeds = rng.uniform((0, 0), (h, w), (rng.integers(4, 9), 2))
    rows, cols = np.mgrid[0:h, 0:w]
    cell = np.argmin((rows[..., None] - seeds[:, 0]) ** 2 + (cols[..., None] - seeds[:, 1]) ** 2,
                     axis=-1)
    regions = measure.label(stuff.astype(np.int32) * len(seeds) + cell + 1, background=0,
                            connectivity=1)
    _, first = np.unique(regions, return_index=True)  # one pixel of each region 1..N
    truth = stuff.ravel()[first]
    return regions.astype(np.int32), [IGNORE] + [_confuse(rng, int(c)) for c in truth]


def _confuse(rng: np.random.Generator, cls: int) -> int:
    """``cls`` or, as often as the detector confuses them, its partner class."""
    partner, rate = _CONFUSION.get(cls, (cls, 0.0))
    return partner if rng.random() < rate else cls


def _detected_class(rng: np.random.Generator, cls: int, visible: np.ndarray,
                    stuff: np.ndarray) -> int:
    """Class a text-prompted detector gives an object; small ones are mostly missed."""
    area = visible.sum()
    if rng.random() < (0.6 if area < 50 else 0.05):
        return int(np.bincount(stuff[visible]).argmax())  # the stuff behind it
    return _confuse(rng, cls)


def _jitter_boundary(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """``mask`` grown, shrunk or shifted by a pixel or two, as SAM outlines are."""
    op = rng.choice(["grow1", "grow2", "shrink", "shift", "keep"], p=[0.3, 0.15, 0.2, 0.2, 0.15])
    if op.startswith("grow"):
        return morphology.dilation(mask, morphology.disk(int(op[-1])))
    if op == "shrink":
        shrunk = morphology.erosion(mask, morphology.disk(1))
        return shrunk if shrunk.sum() >= 0.5 * mask.sum() else mask  # thin poles stay
    if op == "shift":
        return _shift(mask, *rng.choice([-1, 1], 2))
    return mask.copy()


def _shift(mask: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """``mask`` moved by (dr, dc) pixels; what leaves the frame is dropped."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    out[max(dr, 0):h + min(dr, 0), max(dc, 0):w + min(dc, 0)] = \
        mask[max(-dr, 0):h + min(-dr, 0), max(-dc, 0):w + min(-dc, 0)]
    return out


def _skirt(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """A band of ground around the lower half of ``mask`` (shadow, kerb)."""
    grown = morphology.dilation(mask, morphology.disk(int(rng.integers(3, 6))))
    rows = np.nonzero(mask)[0]
    below = np.arange(mask.shape[0])[:, None] > rows.mean()
    return grown & below


def _touching_region(regions: np.ndarray, mask: np.ndarray, first_object: int) -> int:
    """Id of the object region sharing most border with ``mask``, or 0."""
    ring = morphology.dilation(mask, morphology.disk(1)) & ~mask
    ids = regions[ring]
    ids = ids[ids >= first_object]
    return int(np.bincount(ids).argmax()) if ids.size else 0


def _split(rng: np.random.Generator, mask: np.ndarray) -> list[np.ndarray]:
    """``mask`` cut in two by a random line through its centre (if both halves are big)."""
    rows, cols = np.nonzero(mask)
    angle = rng.uniform(0, np.pi)
    side = (rows - rows.mean()) * np.cos(angle) + (cols - cols.mean()) * np.sin(angle) > 0
    if min(side.sum(), (~side).sum()) < 15:
        return [mask]
    half = np.zeros_like(mask)
    half[rows[side], cols[side]] = True
    return [half, mask & ~half]


def _unlabel_some(rng: np.random.Generator, region_cls: np.ndarray, areas: np.ndarray,
                  n_pixels: int) -> np.ndarray:
    """Leave a few small regions unlabeled, as when no box prompt covered them."""
    small = areas < 0.03 * n_pixels
    return np.where(small & (rng.random(len(region_cls)) < 0.06), IGNORE, region_cls)
