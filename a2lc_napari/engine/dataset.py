"""A folder of images with noisy pseudo-labels, read in one of three layouts.

Layouts (see :func:`open_dataset`):

generic
    ``classes.json``, ``images/NAME.(png|jpg|jpeg|tif|tiff)``,
    ``labels/NAME.png``, optional ``regions/NAME.(npy|png)``, optional
    ``gt/NAME.png``.
voc
    A PASCAL VOC folder as is: ``JPEGImages/`` and ``SegmentationClass/``
    (or ``SegmentationClassPNG/``).
cityscapes
    A Cityscapes folder as is: ``leftImg8bit/<split>/<city>/`` and
    ``gtFine/<split>/<city>/*_gtFine_labelTrainIds.png``.

The dataset folder is only ever read. Generated region maps go to a separate
cache folder.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .classes import CITYSCAPES_CLASSES, VOC_CLASSES, ClassSet
from .errors import DatasetError
from .io import IMAGE_SUFFIXES, image_size, read_image, read_label, read_regions, write_npy
from .progress import Progress, Steps
from .regions import RegionsConfig

LAYOUTS = (
    "a generic folder with classes.json, images/ and labels/ "
    "(optional regions/ and gt/); "
    "a PASCAL VOC folder with JPEGImages/ and SegmentationClass/; "
    "a Cityscapes folder with leftImg8bit/ and gtFine/ (*_gtFine_labelTrainIds.png)"
)
#: How many offending label values an error message lists.
MAX_LISTED = 5


class Dataset:
    """Images, pseudo-labels and optional ground truth and region maps, by name.

    Build one with :func:`open_dataset`. Nothing is read until asked for;
    :meth:`check` reads everything once and reports the first problem.

    Parameters
    ----------
    root : Path
        The dataset folder (never written to).
    classes : ClassSet
        Class names, colours and ignore value.
    images, labels : dict of str to Path
        Image and pseudo-label file of every image name. A label file may be
        missing; :meth:`check` reports it.
    gt, regions : dict of str to Path, optional
        Ground-truth labels and provided region maps of the names that have
        them.
    region_cache : Path, optional
        Folder for generated region maps (``NAME.npy``). Keyed by name only:
        use one cache folder per dataset, pseudo-label set and
        :attr:`regions_config`.
    labels_dir : Path, optional
        The pseudo-label folder given to :func:`open_dataset`, if any.
    layout : str
        ``"generic"``, ``"voc"`` or ``"cityscapes"``.
    unmatched : sequence of (Path, str)
        Files that match no image and why they matter; :meth:`check` reports them.

    Attributes
    ----------
    names : list of str
        Sorted image names; may contain ``/``.
    has_gt : bool
        Every image has a ground-truth file. :meth:`gt` returns ``None`` for
        images without one.
    has_regions : bool
        Every image has a provided region map. Images without one get
        generated regions.
    regions_config : RegionsConfig
        Where :meth:`regions` takes region maps from; set with
        :meth:`use_regions`. Default: the provided maps, else SLIC.
    """

    def __init__(self, root: Path, classes: ClassSet, images: dict[str, Path],
                 labels: dict[str, Path], gt: dict[str, Path] | None = None,
                 regions: dict[str, Path] | None = None,
                 region_cache: Path | None = None, labels_dir: Path | None = None,
                 layout: str = "generic",
                 unmatched: Sequence[tuple[Path, str]] = ()):
        self.root = Path(root)
        self.classes = classes
        self.layout = layout
        self.names = sorted(images)
        self.region_cache = None if region_cache is None else Path(region_cache)
        self.labels_dir = None if labels_dir is None else Path(labels_dir)
        self._images = images
        self._labels = labels
        self._gt = {n: p for n, p in (gt or {}).items() if n in images}
        self._regions = {n: p for n, p in (regions or {}).items() if n in images}
        self._unmatched = list(unmatched)
        self.has_gt = len(self._gt) == len(images)
        self.has_regions = len(self._regions) == len(images)
        self.use_regions(RegionsConfig())

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, {self.layout}, {len(self.names)} images)"

    def __len__(self) -> int:
        return len(self.names)

    def shape(self, name: str) -> tuple[int, int]:
        """(H, W) of image ``name``, read from its label file's header.

        The label is always a PNG, whose header is cheap to read; :meth:`check`
        makes sure the image has the same size.
        """
        return image_size(self._labels[name])

    def image(self, name: str) -> np.ndarray:
        """(H, W, 3) uint8 RGB image."""
        return read_image(self._images[name])

    def labels(self, name: str) -> np.ndarray:
        """(H, W) uint8 pseudo-labels: class ids or ``classes.ignore_index``."""
        return read_label(self._labels[name])

    def gt(self, name: str) -> np.ndarray | None:
        """(H, W) uint8 ground-truth labels, or ``None`` if the image has none."""
        path = self._gt.get(name)
        return None if path is None else read_label(path)

    def use_regions(self, config: RegionsConfig) -> None:
        """Take region maps from ``config`` from now on.

        Only sets it up: a SAM model is loaded when the first map is made.
        """
        self.regions_config = config
        self._make_regions = config.maker()

    def regions(self, name: str) -> np.ndarray:
        """(H, W) int32 region map of image ``name``.

        The provided map as is (0 = no region) if the image has one and the
        source is ``"auto"``; otherwise a generated map with every pixel in a
        region (ids 1..n): SLIC superpixels or SAM masks as
        :attr:`regions_config` says, read from or written to ``region_cache``
        when there is one.
        """
        path = self._regions.get(name) if self.regions_config.source == "auto" else None
        if path is not None:
            return read_regions(path)
        cached = None if self.region_cache is None else self.region_cache / f"{name}.npy"
        if cached is not None and cached.is_file():
            try:
                regions = read_regions(cached)
            except DatasetError:
                regions = None  # our own cache: regenerate rather than fail
            if regions is not None and regions.shape == self.shape(name):
                return regions
        regions = self._make_regions(self.image(name), self.labels(name),
                                     self.classes.ignore_index)
        if cached is not None:
            write_npy(cached, regions)
        return regions

    def check(self) -> Steps[None]:
        """Read every file once; raise :class:`DatasetError` for the first problem.

        Finds missing, unreadable or unmatched files, size mismatches between
        an image and its label, ground truth and region map, and label values
        that are neither a class id nor the ignore value.

        Yields
        ------
        Progress
            ``(images checked, number of images, "Checking dataset")``.
        """
        if self._unmatched:
            raise DatasetError(*self._unmatched[0])
        total = len(self.names)
        yield Progress(0, total, "Checking dataset")
        for done, name in enumerate(self.names, 1):
            self._check_one(name)
            yield Progress(done, total, "Checking dataset")

    def _check_one(self, name: str) -> None:
        image_path, label_path = self._images[name], self._labels[name]
        if not label_path.is_file():
            raise DatasetError(label_path, f"missing: image {image_path} has no "
                               "pseudo-label file")
        size = read_image(image_path).shape[:2]
        _check_labels(read_label(label_path), label_path, size, image_path, self.classes)
        if name in self._gt:
            _check_labels(read_label(self._gt[name]), self._gt[name], size,
                          image_path, self.classes)
        if name in self._regions:
            _check_size(read_regions(self._regions[name]).shape, self._regions[name],
                        size, image_path)


def _check_size(shape: tuple[int, ...], path: Path, size: tuple[int, int],
                image_path: Path) -> None:
    if tuple(shape) != tuple(size):
        raise DatasetError(path, f"is {shape[1]}x{shape[0]} pixels but its image "
                           f"{image_path} is {size[1]}x{size[0]}")


def _check_labels(labels: np.ndarray, path: Path, size: tuple[int, int],
                  image_path: Path, classes: ClassSet) -> None:
    _check_size(labels.shape, path, size, image_path)
    present = np.flatnonzero(np.bincount(labels.ravel(), minlength=256))
    bad = present[(present >= classes.num_classes) & (present != classes.ignore_index)]
    if bad.size:
        listed = ", ".join(str(v) for v in bad[:MAX_LISTED])
        more = f" and {bad.size - MAX_LISTED} more" if bad.size > MAX_LISTED else ""
        raise DatasetError(path, f"has label values {listed}{more}, which are neither "
                           f"a class id (0-{classes.num_classes - 1}) nor the ignore "
                           f"value {classes.ignore_index}")


def open_dataset(path: Path | str, labels_dir: Path | str | None = None,
                 region_cache: Path | str | None = None) -> Dataset:
    """Open a dataset folder, detecting its layout from the folder's contents.

    Only lists files; call :meth:`Dataset.check` to read and validate them.

    Parameters
    ----------
    path : Path or str
        Generic folder (has ``classes.json``), PASCAL VOC folder (has
        ``JPEGImages/``) or Cityscapes folder (has ``leftImg8bit/``).
    labels_dir : Path or str, optional
        Folder of pseudo-labels ``NAME.png`` (a ``/`` in NAME is a subfolder)
        used instead of the dataset's own labels. For VOC and Cityscapes, the
        dataset's own labels become the ground truth, and the images are those
        with a pseudo-label in ``labels_dir``. For a generic folder it replaces
        ``labels/``; ``gt/`` stays the ground truth.
    region_cache : Path or str, optional
        Folder for generated region maps; must be outside the dataset folder.

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        ``path`` is not a folder or has no known layout, ``classes.json`` is
        missing or invalid, a label folder is missing, two files have the
        same name, or there are no images.
    """
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise DatasetError(root, "is not a folder")
    if labels_dir is not None:
        labels_dir = Path(labels_dir).expanduser().resolve()
        if not labels_dir.is_dir():
            raise DatasetError(labels_dir, "is not a folder (expected the pseudo-label "
                               "folder, NAME.png per image)")
    if region_cache is not None:
        region_cache = Path(region_cache).expanduser().resolve()
        if region_cache.is_relative_to(root):
            raise DatasetError(region_cache, f"is inside the dataset folder {root}, "
                               "which is never written to; choose a cache folder "
                               "outside it")
    if (root / "classes.json").exists():
        layout, parts = "generic", _generic(root, labels_dir)
    elif (root / "JPEGImages").is_dir():
        layout, parts = "voc", _voc(root, labels_dir)
    elif (root / "leftImg8bit").is_dir():
        layout, parts = "cityscapes", _cityscapes(root, labels_dir)
    else:
        raise DatasetError(root, "is not a dataset folder of a known layout. "
                           f"Expected {LAYOUTS}")
    return Dataset(root, region_cache=region_cache, labels_dir=labels_dir, layout=layout,
                   **parts)


def _generic(root: Path, labels_dir: Path | None) -> dict:
    classes = ClassSet.read(root / "classes.json")
    images = _index(root / "images", IMAGE_SUFFIXES)
    if not images:
        raise DatasetError(root / "images", "has no images "
                           f"({'|'.join(IMAGE_SUFFIXES)}); expected images/NAME.png etc.")
    label_root = labels_dir or root / "labels"
    if not label_root.is_dir():
        raise DatasetError(label_root, "missing: a dataset folder needs labels/ with "
                           "a pseudo-label NAME.png per image")
    gt = _index(root / "gt", (".png",))
    regions = _index(root / "regions", (".npy", ".png"))
    labels = _index(label_root, (".png",))
    suffixes = f".({'|'.join(s[1:] for s in IMAGE_SUFFIXES)})"
    unmatched = (_unmatched(labels, images, "pseudo-label", root / "images", suffixes)
                 + _unmatched(gt, images, "ground-truth label", root / "images", suffixes)
                 + _unmatched(regions, images, "region map", root / "images", suffixes))
    return dict(classes=classes, images=images,
                labels={n: labels.get(n, label_root / f"{n}.png") for n in images},
                gt=gt, regions=regions, unmatched=unmatched)


def _voc(root: Path, labels_dir: Path | None) -> dict:
    jpegs = _index(root / "JPEGImages", (".jpg", ".jpeg"))
    own_dir = next((root / d for d in ("SegmentationClass", "SegmentationClassPNG")
                    if (root / d).is_dir()), None)
    if own_dir is None and labels_dir is None:
        raise DatasetError(root / "SegmentationClass", "missing: a VOC folder needs "
                           "SegmentationClass/ or SegmentationClassPNG/ label PNGs")
    own = _index(own_dir, (".png",)) if own_dir is not None else {}
    labels = _index(labels_dir, (".png",)) if labels_dir is not None else own
    images = {n: jpegs[n] for n in labels if n in jpegs}
    if not images:
        raise DatasetError(labels_dir or own_dir, "has no label PNG matching a JPEG "
                           f"in {root / 'JPEGImages'}")
    return dict(classes=VOC_CLASSES, images=images, labels=labels,
                gt=own if labels_dir is not None else {},
                unmatched=_unmatched(labels, images, "label", root / "JPEGImages", ".jpg"))


def _cityscapes(root: Path, labels_dir: Path | None) -> dict:
    leftimgs = _index(root / "leftImg8bit", ("_leftImg8bit.png",))
    own_dir = root / "gtFine"
    if not own_dir.is_dir() and labels_dir is None:
        raise DatasetError(own_dir, "missing: a Cityscapes folder needs "
                           "gtFine/<split>/<city>/*_gtFine_labelTrainIds.png")
    own = _index(own_dir, ("_gtFine_labelTrainIds.png",))
    labels = _index(labels_dir, (".png",)) if labels_dir is not None else own
    images = {n: leftimgs[n] for n in labels if n in leftimgs}
    if not images:
        raise DatasetError(labels_dir or own_dir, "has no label matching an image in "
                           f"{root / 'leftImg8bit'}; Cityscapes labels must be "
                           "<split>/<city>/<stem>_gtFine_labelTrainIds.png (made by "
                           "cityscapesscripts' createTrainIdLabelImgs)")
    return dict(classes=CITYSCAPES_CLASSES, images=images, labels=labels,
                gt=own if labels_dir is not None else {},
                unmatched=_unmatched(labels, images, "label", root / "leftImg8bit",
                                     "_leftImg8bit.png"))


def _index(folder: Path, endings: tuple[str, ...]) -> dict[str, Path]:
    """Files under ``folder`` ending in one of ``endings`` (any case), by name.

    A file's name is its POSIX path relative to ``folder`` without the ending.
    Hidden files and folders are skipped; a missing folder has no files.
    """
    found: dict[str, Path] = {}
    endings = tuple(e.lower() for e in endings)
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = Path(dirpath).relative_to(folder).as_posix()
        for filename in filenames:
            end = next((e for e in endings if filename.lower().endswith(e)), None)
            if end is None or filename.startswith("."):
                continue
            stem = filename[:-len(end)]
            name = stem if rel_dir == "." else f"{rel_dir}/{stem}"
            path = Path(dirpath, filename)
            if name in found:
                raise DatasetError(path, f"has the same name {name!r} as {found[name]}; "
                                   "keep one of them")
            found[name] = path
    return found


def _unmatched(files: dict[str, Path], images: dict[str, Path], kind: str,
               image_dir: Path, suffix: str) -> list[tuple[Path, str]]:
    """(file, problem) for each of ``files`` whose name has no image."""
    return [(path, f"is a {kind} with no matching image (expected {image_dir / name}"
             f"{suffix})") for name, path in sorted(files.items()) if name not in images]
