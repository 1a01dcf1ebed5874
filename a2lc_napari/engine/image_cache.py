"""What each round needs of an image that never changes, kept in the session folder.

Every round trains the network on each image downscaled to the network's
size (:func:`~a2lc_napari.engine.model.network_image`), runs the network on
it, and sums what each region looks like in the full-size image
(:func:`~a2lc_napari.engine.region_summary.image_look`). None of this changes
between rounds, and at street-camera size (1024×2048) making it costs more
than the network does: decoding the PNG 53 ms, downscaling it 14 ms, the
look 20 ms, against the forward pass's 30 ms. So a session makes them once
from one read of the full-size image, as it starts (:func:`keep_images`, on
worker processes where the images are many) or where an image has none yet
(a session begun by an earlier release), and keeps them in
``OUT/work/images/``:

- ``NAME.npz``: the downscaled image (0.4 MB at 1024×2048), for an image
  larger than the network's size (a smaller one is read as it is);
- ``NAME.look.npz``: its regions' look ((regions + 1) × 10 numbers).

Each file records the size and modification time of the files it was made
from (the image; the image and the region map): where they changed, it is
made again. Where an image's regions are made when asked (no region file),
its look is made each time.
"""
from __future__ import annotations

import functools
import zipfile
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .io import write_npz
from .model import network_image, network_size
from .parallel import map_ordered
from .progress import Progress, Steps
from .region_summary import image_look


def _stamp(path: Path) -> str:
    """The size and modification time of ``path``: what tells a changed file."""
    stat = Path(path).stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _read(path: Path, source: str) -> np.ndarray | None:
    """The array kept in ``path`` if it was made from ``source``, else None."""
    try:
        with np.load(path) as kept:
            return kept["array"] if str(kept["source"]) == source else None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # not made yet, or unreadable: made again


def _kept(path: Path, source: str, make: Callable[[], np.ndarray]) -> np.ndarray:
    """The array kept in ``path`` if it was made from ``source``; otherwise
    ``make()``, kept there."""
    array = _read(path, source)
    if array is None:
        array = make()
        write_npz(path, array=array, source=np.array(source))
    return array


@dataclass(frozen=True)
class ImageCache:
    """The kept downscaled images and region looks of a session's images.

    Attributes
    ----------
    folder : Path
        Where the files are kept (``OUT/work/images``).
    max_side : int
        The network's size: ``ModelConfig.max_side``.
    """

    folder: Path
    max_side: int

    def network_image(self, dataset: Dataset, name: str) -> np.ndarray:
        """(h, w, 3) uint8: image ``name`` as the network trains and runs on
        it. Made the first time with its regions' look, from one read of the
        full-size image (training reads most images before the summaries do)."""
        if self._fits(dataset, name):
            return dataset.image(name)
        small = _read(self.folder / f"{name}.npz", _stamp(dataset.image_path(name)))
        if small is not None:
            return small
        return self.keep(dataset, name)

    def _fits(self, dataset: Dataset, name: str) -> bool:
        """Whether the network takes image ``name`` at its own size."""
        shape = tuple(dataset.shape(name))
        return network_size(shape, self.max_side) == shape

    def keep(self, dataset: Dataset, name: str) -> np.ndarray:
        """Make (or read) both kept files of image ``name``; return its
        network image."""
        regions = None if dataset.region_file(name) is None else dataset.regions(name)
        return self.for_round(dataset, name, regions)[0]

    def for_round(self, dataset: Dataset, name: str,
                  regions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Image ``name`` as the network sees it, and the look of its
        ``regions`` (H, W) int (its region map; None: no look).

        Returns
        -------
        image : (h, w, 3) uint8
            :func:`~a2lc_napari.engine.model.network_image`.
        look : (n + 1, 10) float64 or None
            :func:`~a2lc_napari.engine.region_summary.image_look`.
        """
        full = functools.cache(lambda: dataset.image(name))  # read at most once
        image_source = _stamp(dataset.image_path(name))
        if self._fits(dataset, name):
            small = full()
        else:
            small = _kept(self.folder / f"{name}.npz", image_source,
                          lambda: network_image(full(), self.max_side))
        if regions is None:
            return small, None
        region_file = dataset.region_file(name)
        if region_file is None:  # regions made when asked: nothing to tie a kept look to
            return small, image_look(full(), regions)
        return small, _kept(self.folder / f"{name}.look.npz",
                            f"{image_source} {_stamp(region_file)}",
                            lambda: image_look(full(), regions))


def keep_images(dataset: Dataset, cache: ImageCache,
                executor: Executor | None = None) -> Steps[None]:
    """Make every image's kept files (on ``executor`` if given), as a new
    session starts: the per-image part of round 1's training and summaries,
    done where it spreads over worker processes like the regions.

    Yields
    ------
    Progress
        ``(images done, number of images, "Preparing images")``.
    """
    names, keep = dataset.names, functools.partial(_keep, dataset, cache)
    for done, _ in enumerate(map_ordered(keep, names, executor), 1):
        yield Progress(done, len(names), "Preparing images")


def _keep(dataset: Dataset, cache: ImageCache, name: str) -> None:
    cache.keep(dataset, name)  # a module-level function: it runs on workers
