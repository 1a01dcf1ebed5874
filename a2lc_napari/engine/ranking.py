"""Ranking every region of a dataset from precomputed probabilities."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import acquisition as acq
from .dataset import Dataset
from .errors import DatasetError
from .io import load_npy
from .progress import Progress, Steps

#: method name → acquisition score
RANKINGS = {"alc": "sim", "a2lc": "abc"}


def read_probs(path: Path, num_classes: int, shape: tuple[int, int]) -> np.ndarray:
    """Read a (K, H, W) float16/float32 softmax map, checking it fits the image."""
    probs = load_npy(path, missing="missing: every image needs its probability map")
    if probs.dtype not in (np.float16, np.float32):
        raise DatasetError(path, f"has dtype {probs.dtype}; expected float32 or float16")
    if probs.shape != (num_classes, *shape):
        raise DatasetError(path, f"has shape {probs.shape}; expected "
                           f"(K, H, W) = {(num_classes, *shape)}")
    return probs


def rank_precomputed(dataset: Dataset, probs_dir: Path, method: str,
                     top: int | None = None) -> Steps[list[dict]]:
    """Rank every region for round 1 (nothing corrected yet).

    Parameters
    ----------
    probs_dir : Path
        Holds ``NAME.npy``, a (K, H, W) softmax map per image.
    method : {"alc", "a2lc"}
    top : int, optional
        Keep only the best ``top`` regions.

    Returns
    -------
    list of dict
        ``{"image", "region", "score"}`` (ALC adds ``"pixel": [row, col]``),
        highest score first; ties in dataset order.
    """
    ranking = RANKINGS[method]
    parts = []
    for i, name in enumerate(dataset.names):
        probs = read_probs(Path(probs_dir) / f"{name}.npy", dataset.classes.num_classes,
                           dataset.shape(name))
        parts.append(acq.summarize_image(probs, dataset.labels(name), dataset.regions(name),
                                         dataset.classes.ignore_index, image_index=i,
                                         representative=ranking == "sim"))
        yield Progress(i + 1, len(dataset.names), "Ranking regions")
    summary = acq.RegionSummary.concatenate(parts)
    score = acq.region_scores(summary, ranking)
    order = acq.rank(score)[:top]
    out = [{"image": dataset.names[summary.image[r]], "region": int(summary.ids[r]),
            "score": float(score[r])} for r in order]
    if ranking == "sim":
        for entry, r in zip(out, order):
            entry["pixel"] = summary.pixel[r].tolist()
    return out
