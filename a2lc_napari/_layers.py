"""How the plugin shows class labels in napari: fixed class colours and names."""
from __future__ import annotations

import numpy as np
from napari.utils.colormaps import DirectLabelColormap

from .engine.classes import ClassSet


def class_colormap(classes: ClassSet) -> DirectLabelColormap:
    """The dataset's class colours; the ignore value is napari's background
    (transparent, and what the eraser paints)."""
    colors = {i: np.append(np.asarray(c) / 255, 1.0) for i, c in enumerate(classes.colors)}
    colors[None] = "transparent"
    colors[classes.ignore_index] = "transparent"
    return DirectLabelColormap(color_dict=colors, background_value=classes.ignore_index)


def labels_kwargs(classes: ClassSet, dataset: str | None = None) -> dict:
    """Keyword arguments of a class-label layer: colours, class names shown
    on hover, and the classes kept in the metadata for the writer."""
    metadata = {"a2lc_classes": classes.to_json()}
    if dataset is not None:
        metadata["a2lc_dataset"] = dataset
    return {"colormap": class_colormap(classes),
            "features": {"index": np.arange(classes.num_classes),
                         "class": list(classes.names)},
            "metadata": metadata}
