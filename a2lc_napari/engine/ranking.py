"""Ranking every region of a dataset from precomputed probabilities."""
from __future__ import annotations

from concurrent.futures import Executor
from functools import partial
from pathlib import Path

import numpy as np

from . import acquisition as acq
from .dataset import Dataset, match_files, shared_name
from .errors import DatasetError
from .io import load_npy
from .parallel import map_ordered
from .progress import Progress, Steps
from .region_summary import RegionSummary, summarize_image

#: method name → acquisition score
RANKINGS = {"alc": "sim", "a2lc": "abc"}

#: How far a region's mean probabilities may sum from 1 (float16 maps round).
SUM_TOLERANCE = 0.01


def read_probs(path: Path, num_classes: int, shape: tuple[int, int]) -> np.ndarray:
    """Read a (K, H, W) float16/float32 softmax map, checking it fits the image.

    The map is memory-mapped: the one pass over it reads the file's pages
    where they are, with no copy of the whole map first (a float64 map is
    read whole and made float32)."""
    probs = load_npy(path, missing="missing: every image needs its probability map",
                     mmap_mode="r")
    if probs.dtype not in (np.float16, np.float32, np.float64):
        raise DatasetError(path, f"has dtype {probs.dtype}; expected float32, float16 or "
                           "float64")
    if probs.shape != (num_classes, *shape):
        raise DatasetError(path, f"has shape {probs.shape}; expected "
                           f"(K, H, W) = {(num_classes, *shape)}")
    if probs.dtype == np.float64:  # numpy's own default: read whole, as float32
        probs = probs.astype(np.float32)
    return probs


def summarize_precomputed(dataset: Dataset, probs_dir: Path, maps: dict[str, Path],
                          representative: bool, item: tuple[int, str]) -> RegionSummary:
    """The region summaries of image ``item = (index, name)`` from its map
    (``maps``: by image name, :func:`~a2lc_napari.engine.dataset.match_files`;
    a module-level function: it runs on worker processes)."""
    i, name = item
    path = maps.get(name, Path(probs_dir) / f"{name}.npy")
    probs = read_probs(path, dataset.classes.num_classes, dataset.shape(name))
    summary = summarize_image(probs, dataset.labels(name), dataset.regions(name),
                              dataset.classes.ignore_index, image_index=i,
                              representative=representative)
    # Checked on the regions' means, not pixel by pixel (a second pass over
    # the map): a NaN or a pixel's values not summing to 1 show there.
    sums = summary.mean_prob.sum(axis=1)
    if not np.isfinite(sums).all() or np.abs(sums - 1).max() > SUM_TOLERANCE:
        raise DatasetError(path, "holds no probabilities: each pixel's K values must sum to "
                           "1 (a softmax map), not NaN, logits or scores")
    return summary


def rank_precomputed(dataset: Dataset, probs_dir: Path, method: str,
                     top: int | None = None,
                     executor: Executor | None = None) -> Steps[list[dict]]:
    """Rank every region for round 1 (nothing corrected yet).

    Parameters
    ----------
    probs_dir : Path
        Holds ``NAME.npy``, a (K, H, W) softmax map per image, its name flat
        or nested as the dataset's other files may be.
    method : {"alc", "a2lc"}
    top : int, optional
        Keep only the best ``top`` regions.
    executor : concurrent.futures.Executor, optional
        Summarize the images on it (:func:`~a2lc_napari.engine.parallel.executor`);
        default: in this process. The ranking is the same either way.

    Returns
    -------
    list of dict
        ``{"image", "region", "score"}`` (ALC adds ``"pixel": [row, col]``),
        highest score first; ties in dataset order.
    """
    ranking = RANKINGS[method]
    names = dataset.names
    maps = match_files(Path(probs_dir), dataset.match_name, (".npy",), "probability map")
    for name in names:  # seemingly missing: under a name that several images share
        if name not in maps and (key := dataset.match_name.shared_key(name, maps)):
            raise DatasetError(maps[key], shared_name("probability map",
                                                      dataset.match_name.sharing(key)))
    summarize = partial(summarize_precomputed, dataset, Path(probs_dir), maps, ranking == "sim")
    parts = []
    for part in map_ordered(summarize, enumerate(names), executor):
        parts.append(part)
        yield Progress(len(parts), len(names), "Ranking regions")
    summary = RegionSummary.concatenate(parts)
    score = acq.region_scores(summary, ranking)
    order = acq.rank(score)[:top]
    out = [{"image": names[summary.image[r]], "region": int(summary.ids[r]),
            "score": float(score[r])} for r in order]
    if ranking == "sim":
        for entry, r in zip(out, order):
            entry["pixel"] = summary.pixel[r].tolist()
    return out
