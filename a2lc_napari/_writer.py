"""Save a label layer as palette PNGs in its class colours (like PASCAL VOC).

A 2D layer becomes the one PNG asked for. A stack (the reader's layer, one
image per slider step) becomes a folder named like that file without its
``.png``, with one PNG per image, named as the dataset's images.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .engine.classes import ClassSet, default_colors
from .engine.io import write_label


class CannotWrite(Exception):
    """Why a layer cannot be saved as palette PNGs.

    Not a ``ValueError``: napari takes those for "no writer" and drops the
    message, so the person would never read why."""


def write_labels(path: str, data, meta: dict) -> list[str]:
    """napari writer hook for a label layer; returns the written paths.

    The classes come from the layer's metadata when the plugin made the
    layer; otherwise label ``i`` gets the ``i``-th default colour.

    Raises
    ------
    CannotWrite
        The layer is neither 2D nor a stack of 2D images, or has values
        outside 0-255.
    """
    labels = np.asarray(data)
    if labels.ndim not in (2, 3):
        raise CannotWrite(f"cannot write {path}: palette PNGs hold 2D images or a "
                          f"stack of them, the layer has shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise CannotWrite(f"cannot write {path}: label values must be 0-255 for a "
                          f"palette PNG, the layer has {labels.min()}-{labels.max()}")
    metadata = meta.get("metadata", {})
    classes = metadata.get("a2lc_classes")
    if classes is not None:
        classes = ClassSet.from_json(classes)
    else:
        count = int(labels.max()) + 1 if labels.size else 1
        names = tuple(str(i) for i in range(min(count, 255)))
        classes = ClassSet(names, tuple(default_colors(len(names))), 255)
    if labels.ndim == 2:
        write_label(path, labels, classes)
        return [path]
    names = metadata.get("a2lc_names") or [f"{i:04d}" for i in range(len(labels))]
    if len(names) != len(labels):
        raise CannotWrite(f"cannot write {path}: the layer has {len(labels)} images but "
                          f"its metadata names {len(names)}")
    folder = Path(path).with_suffix("")
    written = [str(folder / f"{name}.png") for name in names]
    for file, image in zip(written, labels):
        write_label(file, image, classes)
    return written
