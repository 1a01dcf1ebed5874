"""Open a dataset folder (generic, PASCAL VOC or Cityscapes layout) in napari.

The images and pseudo-labels come as two layers, named like the correction
widget's layers so that the widget takes them over. Images of one size are
stacked lazily (one slider step per image); otherwise the first image is
shown, and napari's notifications say so.
"""
from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
from dask import delayed
from napari.utils.notifications import show_info

from ._layers import IMAGE_LAYER, LABELS_LAYER, labels_kwargs
from .engine.dataset import Dataset, open_dataset
from .engine.errors import DatasetError


def get_reader(path):
    """napari reader hook: a reader for a dataset folder, or None.

    The manifest offers only folders; any other folder gets None, so napari
    reads it with its own readers. One with a ``classes.json``, meant as a
    dataset, gets a reader that says what is wrong with it."""
    if isinstance(path, list) or not Path(path).is_dir():
        return None
    try:
        open_dataset(path)
    except DatasetError as error:
        if not (Path(path) / "classes.json").is_file():
            return None
        problem = error  # the except clause's own name ends with it

        def refuse(path):
            raise problem
        return refuse
    return read_dataset


def read_dataset(path) -> list[tuple]:
    """Layer data of a dataset folder: its images and pseudo-labels."""
    return dataset_layers(open_dataset(path))


def _lazy_stack(read, names: list[str], shape: tuple, dtype) -> da.Array:
    return da.stack([da.from_delayed(delayed(read)(n), shape, dtype) for n in names])


def dataset_layers(dataset: Dataset) -> list[tuple]:
    """(data, kwargs, type) tuples for the images and pseudo-labels of ``dataset``."""
    names = dataset.names
    shape = dataset.shape(names[0])
    if all(dataset.shape(n) == shape for n in names):
        images = _lazy_stack(dataset.image, names, (*shape, 3), np.uint8)
        labels = _lazy_stack(dataset.labels, names, shape, np.uint8)
    else:
        show_info(f"{dataset.root}: its {len(names)} images are not all of one size, so "
                  f"only the first, {names[0]}, is shown; the correction panel (Plugins "
                  "menu) shows each of them")
        names = names[:1]
        images, labels = dataset.image(names[0]), dataset.labels(names[0])
    root = str(dataset.root)
    labels_meta = labels_kwargs(dataset.classes, root)
    if labels.ndim == 3:  # the writer names a stack's PNGs after the images
        labels_meta["metadata"]["a2lc_names"] = list(names)
    return [(images, {"name": IMAGE_LAYER, "rgb": True, "metadata": {"a2lc_dataset": root}},
             "image"),
            (labels, {"name": LABELS_LAYER, "opacity": 0.5, **labels_meta}, "labels")]
