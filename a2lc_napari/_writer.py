"""Save a label layer as a palette PNG in its class colours (like PASCAL VOC)."""
from __future__ import annotations

import numpy as np

from .engine.classes import ClassSet, default_colors
from .engine.io import write_label


def write_labels(path: str, data, meta: dict) -> list[str]:
    """napari writer hook for a 2D label layer; returns the written path.

    The classes come from the layer's metadata when the plugin made the
    layer; otherwise label ``i`` gets the ``i``-th default colour.
    """
    labels = np.asarray(data)
    if labels.ndim != 2:
        raise ValueError(f"cannot write {path}: a label PNG holds one 2D image, "
                         f"the layer has shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(f"cannot write {path}: label values must be 0-255 for a "
                         f"palette PNG, the layer has {labels.min()}-{labels.max()}")
    classes = meta.get("metadata", {}).get("a2lc_classes")
    if classes is not None:
        classes = ClassSet.from_json(classes)
    else:
        count = int(labels.max()) + 1 if labels.size else 1
        names = tuple(str(i) for i in range(min(count, 255)))
        classes = ClassSet(names, tuple(default_colors(len(names))), 255)
    write_label(path, labels, classes)
    return [path]
