"""A real-data benchmark: slices of the MNI152 brain template with
tissue labels, and pseudo-labels with the errors of an automatic labeller.

The images are real MR intensities: the ICBM 2009a T1 template with its
grey- and white-matter probability maps, as shipped in nilearn's wheel
(``pip install nilearn``; only its data files are read, nilearn is not
imported). Ground truth per pixel: background (outside the brain), CSF
(inside the brain, neither grey nor white matter), grey matter, white
matter. Axial and coronal slices give images of two sizes.

The pseudo-labels are made the way a foundation-model pipeline makes them:
one class per region (SLIC superpixels of the image, standing in for SAM
masks), taken from a smoothly warped copy of the ground truth (boundaries
off by a few pixels), with class confusions that are likelier where a
region's intensity is ambiguous between the two tissues (partial volume,
deep grey matter), thin CSF missed as grey matter, and some regions left
unlabelled (ignore).

    python benchmarks/mni_dataset.py data/mni
"""
from __future__ import annotations

import argparse
import gzip
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.segmentation import slic

from a2lc_napari.engine import io
from a2lc_napari.engine.classes import ClassSet

BACKGROUND, CSF, GREY, WHITE = range(4)
IGNORE = 255
_NIFTI_DTYPES = {2: np.uint8, 4: np.int16, 8: np.int32, 16: np.float32, 64: np.float64,
                 512: np.uint16}


def mni_classes() -> ClassSet:
    return ClassSet(names=("background", "csf", "grey matter", "white matter"),
                    colors=((0, 0, 0), (60, 120, 220), (200, 120, 60), (240, 240, 200)),
                    ignore_index=IGNORE)


def template_folder() -> Path:
    """nilearn's data folder, found without importing nilearn."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None:
        raise SystemExit("this benchmark reads the MNI152 template from nilearn's wheel: "
                         "pip install nilearn")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


def read_nifti(path: Path) -> np.ndarray:
    """A gzipped NIfTI-1 volume as float32 (x, y, z), scaling applied."""
    raw = gzip.decompress(path.read_bytes())
    dim = np.frombuffer(raw, "<i2", 8, 40)
    dtype = _NIFTI_DTYPES[int(np.frombuffer(raw, "<i2", 1, 70)[0])]
    offset = int(np.frombuffer(raw, "<f4", 1, 108)[0])
    slope, inter = np.frombuffer(raw, "<f4", 2, 112)
    shape = tuple(int(d) for d in dim[1:1 + dim[0]])
    vol = np.frombuffer(raw, dtype, int(np.prod(shape)), offset).reshape(shape, order="F")
    vol = vol.astype(np.float32)
    return vol * slope + inter if slope not in (0, 1) else vol


def _volumes() -> tuple[np.ndarray, np.ndarray]:
    """T1 intensities (uint8) and the tissue ground truth (uint8), (x, y, z)."""
    folder = template_folder()
    t1, gm, wm = (read_nifti(folder / f"mni_icbm152_{n}_tal_nlin_sym_09a_converted.nii.gz")
                  for n in ("t1", "gm", "wm"))
    brain = t1 > 5
    gt = np.where(gm + wm < 0.5 * 255, CSF, np.where(gm >= wm, GREY, WHITE))
    gt[~brain] = BACKGROUND
    return np.clip(t1, 0, 255).astype(np.uint8), gt.astype(np.uint8)


def _slices(t1: np.ndarray, gt: np.ndarray):
    """(name, image, gt) of axial and coronal slices, top of the head up."""
    for z in range(40, 150, 5):
        yield f"axial_{z:03d}", np.rot90(t1[:, :, z]), np.rot90(gt[:, :, z])
    for y in range(50, 200, 10):
        yield f"coronal_{y:03d}", np.rot90(t1[:, y, :]), np.rot90(gt[:, y, :])


def warp(labels: np.ndarray, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """Labels moved by a smooth random displacement field (nearest neighbour)."""
    shape = labels.shape
    field = [ndimage.gaussian_filter(rng.normal(size=shape), 12) for _ in range(2)]
    field = [amplitude * f / max(np.abs(f).max(), 1e-9) for f in field]
    rows, cols = np.meshgrid(*map(np.arange, shape), indexing="ij")
    return ndimage.map_coordinates(labels, [rows + field[0] + rng.normal(0, 1),
                                            cols + field[1] + rng.normal(0, 1)],
                                   order=0, mode="nearest").astype(np.uint8)


def pseudo_labels(image: np.ndarray, gt: np.ndarray, rng: np.random.Generator,
                  region_pixels: int = 250, noise: float = 1.0):
    """Regions and their one-class-per-region pseudo-labels for one slice:
    SLIC regions of about ``region_pixels`` pixels, each rate of confusion
    times ``noise``.

    Returns
    -------
    regions : (H, W) int32, ids from 1
    labels : (H, W) uint8
    """
    regions = slic(image.astype(float), n_segments=max(1, image.size // region_pixels),
                   compactness=0.08, channel_axis=None, start_label=1).astype(np.int32)
    warped = warp(gt, rng, amplitude=3.0)
    n = regions.max() + 1
    hist = np.zeros((n, 4), np.int64)
    np.add.at(hist, (regions.ravel(), warped.ravel()), 1)
    cls = hist.argmax(axis=1)
    mean = ndimage.mean(image, regions, np.arange(n))
    # Grey/white intensities in this slice; a region between them is ambiguous.
    grey = np.median(image[gt == GREY]) if (gt == GREY).any() else 0
    white = np.median(image[gt == WHITE]) if (gt == WHITE).any() else 255
    mid, spread = (grey + white) / 2, max(abs(white - grey) / 2, 1)
    ambiguity = np.exp(-np.abs(mean - mid) / (0.35 * spread))
    u = rng.random(n)
    new = cls.copy()
    new[(cls == GREY) & (u < noise * (0.06 + 0.45 * ambiguity))] = WHITE
    new[(cls == WHITE) & (u < noise * (0.06 + 0.35 * ambiguity))] = GREY
    new[(cls == CSF) & (u < noise * 0.35)] = GREY  # thin CSF in sulci missed
    new[(cls == GREY) & (u > 1 - noise * 0.04)] = CSF
    missed = (cls != BACKGROUND) & (rng.random(n) < noise * 0.06)
    new = new.astype(np.uint8)
    new[missed] = IGNORE
    return regions, new[regions]


def make_mni_dataset(out: Path, seed: int = 0, region_pixels: int = 250,
                     noise: float = 1.0) -> Path:
    """Write the benchmark dataset to ``out``: ``images/``, ``labels/``,
    ``gt/``, ``regions/`` and ``classes.json`` (``region_pixels`` and
    ``noise``: :func:`pseudo_labels`)."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    classes = mni_classes()
    for name, image, gt in _slices(*_volumes()):
        image, gt = np.ascontiguousarray(image), np.ascontiguousarray(gt)
        write_image(out, name, image, gt,
                    *pseudo_labels(image, gt, rng, region_pixels, noise), classes)
    io.write_json(out / "classes.json", classes.to_json())
    return out


def write_image(out: Path, name: str, image: np.ndarray, gt: np.ndarray,
                regions: np.ndarray, labels: np.ndarray, classes: ClassSet) -> None:
    """One image of a benchmark dataset: ``images/``, ``gt/``, ``labels/``
    and ``regions/`` under ``out``."""
    io.write_label(out / "gt" / f"{name}.png", gt, classes)
    io.write_label(out / "labels" / f"{name}.png", labels, classes)
    io.write_npy(out / "regions" / f"{name}.npy", regions)
    with io.atomic_path(out / "images" / f"{name}.png") as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--region-pixels", type=int, default=250,
                        help="about how many pixels a SLIC region has (default 250)")
    parser.add_argument("--noise", type=float, default=1.0,
                        help="every rate of confusion times this (default 1)")
    args = parser.parse_args()
    make_mni_dataset(args.out, args.seed, args.region_pixels, args.noise)


if __name__ == "__main__":
    main()
