"""A round's model run over every image, reduced to region summaries in memory.

Each image's logits and decoder features go straight from the model, at
its own size (:meth:`~a2lc_napari.engine.model.Segmenter.output`), into
:func:`~a2lc_napari.engine.region_summary.summarize_image`, which resizes them
pixel by pixel as it sums the regions: no full-size map is made, written
or read back, and memory does not grow with the images.

The images may run on worker processes
(:func:`~a2lc_napari.engine.parallel.executor`). Every process, this one
included, loads the round's model from its saved file and reads each
image's current labels from theirs, so a worker computes exactly what this
process would. The network runs on each image as it trains on it, downscaled
and kept between rounds with its regions' look (:mod:`~a2lc_napari.engine.image_cache`).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial
from pathlib import Path

from .dataset import Dataset
from .image_cache import ImageCache
from .io import check_size
from .label_store import read_session_label
from .model import Segmenter
from .parallel import map_ordered
from .progress import Progress, Steps
from .region_summary import RegionSummary, summarize_image

#: The model this process loaded last, under its file's identity.
_loaded: dict[tuple, Segmenter] = {}


def load_model(path: Path, device: str | None = None) -> Segmenter:
    """The model saved in ``path``, loaded once per process while the file
    stays the same (a new round's model is a new file: a new inode)."""
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_size, device)
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = Segmenter.load(path, device)
    return _loaded[key]


def summarize_with_model(model: Path, device: str | None, dataset: Dataset,
                         images: ImageCache, label_path: Callable[[str], Path],
                         representative: bool, item: tuple[int, str]) -> RegionSummary:
    """The region summaries of image ``item = (index, name)`` from the
    model's output on it, with the current labels read from
    ``label_path(name)`` (a module-level function: it runs on workers)."""
    i, name = item
    regions = dataset.regions(name)
    image, look = images.for_round(dataset, name, regions)
    path = label_path(name)
    labels = read_session_label(path, dataset.classes)
    # Its size too: a label cropped by hand would read the maps out of bounds.
    check_size(labels.shape, path, regions.shape, dataset.image_path(name))
    return summarize_image(load_model(model, device).output(image), labels, regions,
                           dataset.classes.ignore_index, gt=dataset.gt(name),
                           image_index=i, representative=representative, look=look)


def summarize_dataset(model: Path, device: str | None, dataset: Dataset,
                      images: ImageCache, label_path: Callable[[str], Path],
                      representative: bool,
                      executor: Executor | None = None) -> Steps[RegionSummary]:
    """The region summaries of every image of ``dataset``, in its order.

    Parameters
    ----------
    model : Path
        The round's saved :class:`~a2lc_napari.engine.model.Segmenter`.
    device : str, optional
        Where it runs (None: CUDA when available).
    images : ImageCache
        Where the network's images and the regions' looks are kept between rounds.
    label_path : callable
        ``label_path(name) -> Path`` of the image's current labels; picklable
        with ``executor`` (a bound method of a frozen dataclass is).
    representative : bool
        Also ALC's representative pixels (``summarize_image``).
    executor : concurrent.futures.Executor, optional
        Run the images on it; default: in this process. The summaries are
        the same either way.

    Yields
    ------
    Progress
        ``(images done, number of images, "Ranking regions")``; returns the
        concatenated :class:`~a2lc_napari.engine.region_summary.RegionSummary`.
    """
    names = dataset.names
    summarize = partial(summarize_with_model, Path(model), device, dataset, images,
                        label_path, representative)
    parts = []
    for part in map_ordered(summarize, enumerate(names), executor):
        parts.append(part)
        yield Progress(len(parts), len(names), "Ranking regions")
    return RegionSummary.concatenate(parts)
