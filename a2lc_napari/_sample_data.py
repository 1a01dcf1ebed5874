"""The sample dataset in napari: File > Open Sample > a2lc-napari > demo."""
from __future__ import annotations

from ._reader import dataset_layers
from .engine.dataset import open_dataset
from .engine.demo import demo_folder, make_demo_dataset


def demo() -> list[tuple]:
    """Layer data of the sample dataset, written to the user's cache on first use."""
    folder = demo_folder()
    if not (folder / "classes.json").exists():
        make_demo_dataset(folder)
    return dataset_layers(open_dataset(folder))
