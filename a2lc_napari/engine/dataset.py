"""A folder of images with noisy pseudo-labels, read in one of three layouts.

Layouts (see :func:`open_dataset`):

generic
    ``classes.json``, ``images/NAME.(png|jpg|jpeg|tif|tiff)``,
    ``labels/NAME.png``, optional ``regions/NAME.(npy|png)``, optional
    ``gt/NAME.png``.
voc
    A PASCAL VOC folder as is: ``JPEGImages/`` and ``SegmentationClass/``
    (or ``SegmentationClassPNG/``). With a ``labelmap.txt`` (CVAT's
    "Segmentation mask 1.1"), the classes are its labels and the label PNGs
    are colour-coded by it; else with labelme2voc.py's ``class_names.txt``,
    its names; else PASCAL VOC's 21 classes.
cityscapes
    A Cityscapes folder as is: ``leftImg8bit/<split>/<city>/`` and
    ``gtFine/<split>/<city>/*_gtFine_labelTrainIds.png``.

Pseudo-labels from another folder (``labels_dir``) and region files
(:mod:`~a2lc_napari.engine.region_files`) are matched to the images by name,
where flat names (``aachen_000000_000019``, as Grounded-SAM writes them)
match the nested names of a layout (``train/aachen/aachen_000000_000019``);
see :class:`NameMatcher`.

The dataset folder is only ever read. Generated region maps go to a separate
cache folder.
"""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from .classes import (
    CITYSCAPES_CLASSES,
    VOC_CLASSES,
    ClassSet,
    labelmap_classes,
    labelmap_colormap,
    labelme_classes,
    read_labelmap,
)
from .errors import DatasetError
from .io import (
    IMAGE_SUFFIXES,
    LABEL_MODES,
    PNG_ONLY,
    check_label_values,
    check_size,
    image_size,
    index_files,
    outside_dataset,
    read_color_label,
    read_image,
    read_label,
    read_regions,
)
from .parallel import map_ordered
from .progress import Progress, Steps
from .region_files import RegionFiles
from .regions import RegionMaker, RegionsConfig, fill_gaps, superpixel_regions
from .session_folder import SessionFolder

LAYOUTS = (
    "a generic folder with classes.json, images/ and labels/ "
    "(optional regions/ and gt/); "
    "a PASCAL VOC folder with JPEGImages/ and SegmentationClass/ (and labelmap.txt "
    "for CVAT's colour-coded Segmentation mask 1.1); "
    "a Cityscapes folder with leftImg8bit/ and gtFine/ (*_gtFine_labelTrainIds.png)"
)
#: Endings that label files of known layouts add to an image's name.
LABEL_ENDINGS = ("_gtFine_labelTrainIds",)
#: CVAT's list of label names and colours, beside or in a label folder.
LABELMAP = "labelmap.txt"
#: labelme2voc.py's list of the class names, one per line in label id order.
LABELME_CLASSES = "class_names.txt"


class NameMatcher:
    """The image that a file written by another program belongs to.

    A key (a file's path without its suffix, or a COCO ``file_name``)
    matches an image name exactly, or else, in this order, once its image
    suffix, then a label ending (:data:`LABEL_ENDINGS`), then its folders
    are dropped, matches an image's name, the last part of its name, or its
    file's stem (``aachen_000000_000019_leftImg8bit``). A name that several
    images share in one of these ways matches none of them.

    Parameters
    ----------
    images : dict of str to Path
        Image file of every image name.
    """

    def __init__(self, images: dict[str, Path]):
        self.names = set(images)
        named: dict[str, list[str]] = {}  # each alias's images
        for name, path in images.items():
            for alias in {name.rsplit("/", 1)[-1], Path(path).stem}:
                named.setdefault(alias, []).append(name)
        self.aliases = {a: names[0] if len(names) == 1 else None for a, names in named.items()}
        self.shared = {a: sorted(names) for a, names in named.items() if len(names) > 1}

    def __call__(self, key: str) -> str | None:
        """The image name ``key`` belongs to, or ``None``."""
        forms = _key_forms(key)
        # Without its folders a key may name another image's last part: no exact match.
        exact = next((f for f in forms[:-1] if f in self.names), None)
        return exact or next((self.aliases[f] for f in forms if self.aliases.get(f)), None)

    def sharing(self, key: str) -> list[str]:
        """The images whose shared name ``key`` matches (so it matches none)."""
        return next((self.shared[f] for f in _key_forms(key) if f in self.shared), [])

    def shared_key(self, name: str, keys) -> str | None:
        """The first of ``keys`` that would be image ``name``'s but for the
        other images of that name (so it matches none), or None: why a file
        of ``name`` seems missing."""
        return next((k for k in keys if name in self.sharing(k)), None)


def _key_forms(key: str) -> list[str]:
    """``key``, then without image suffix, label ending and (last) folders, in turn."""
    forms = [key]
    if key.lower().endswith(IMAGE_SUFFIXES):
        forms.append(key.rsplit(".", 1)[0])
    for ending in LABEL_ENDINGS:
        if forms[-1].endswith(ending):
            forms.append(forms[-1][:-len(ending)])
    forms.append(forms[-1].rsplit("/", 1)[-1])
    return forms


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
        Folder of generated region maps (``NAME.npy``) made for this very
        dataset and :attr:`regions_config`, read as they are:
        :func:`~a2lc_napari.engine.region_cache.make_region_cache` makes it
        and checks it was made for the same inputs.
    labels_dir : Path, optional
        The pseudo-label folder given to :func:`open_dataset`, if any.
    label_colormap, gt_colormap : dict of (r, g, b) to int, optional
        Label value of each colour, when the pseudo-label or ground-truth
        files are colour-coded rather than class ids.
    label_classes : ClassSet, optional
        The classes the pseudo-label files are numbered by, where a
        ``classes.json`` beside them lists others than ``classes`` (another
        order, a subset): their values are read by class name
        (:func:`ids_by_name`).
    layout : str
        ``"generic"``, ``"voc"`` or ``"cityscapes"``.
    unmatched : sequence of (Path, str)
        Files that match no image and why they matter; :meth:`check` reports them.
    left_out : sequence of str
        Images of a VOC or Cityscapes folder opened with ``labels_dir`` that
        have the folder's own label but no pseudo-label there: not part of
        the dataset (the pseudo-labels may cover a subset), and said so.

    Attributes
    ----------
    names : list of str
        Sorted image names; may contain ``/``.
    left_out : list of str
        The ``left_out`` images, sorted.
    has_gt : bool
        Every image has a ground-truth file. :meth:`gt` returns ``None`` for
        images without one.
    has_regions : bool
        Every image has a provided region map. Images without one get
        generated regions.
    regions_config : RegionsConfig
        Where :meth:`regions` takes region maps from; set with
        :meth:`use_regions`. Default: the provided maps, else SLIC.
    match_name : NameMatcher
        ``match_name(key)``: the image name a file's name belongs to.
    """

    def __init__(self, root: Path, classes: ClassSet, images: dict[str, Path],
                 labels: dict[str, Path], gt: dict[str, Path] | None = None,
                 regions: dict[str, Path] | None = None,
                 region_cache: Path | None = None, labels_dir: Path | None = None,
                 label_colormap: dict[tuple[int, int, int], int] | None = None,
                 gt_colormap: dict[tuple[int, int, int], int] | None = None,
                 label_classes: ClassSet | None = None,
                 layout: str = "generic",
                 unmatched: Sequence[tuple[Path, str]] = (),
                 left_out: Sequence[str] = ()):
        self.root = Path(root)
        self.classes = classes
        self.layout = layout
        self.names = sorted(images)
        self.region_cache = None if region_cache is None else Path(region_cache)
        self.labels_dir = None if labels_dir is None else Path(labels_dir)
        self.label_colormap, self.gt_colormap = label_colormap, gt_colormap
        self.label_classes = label_classes
        self._label_ids = (None if label_classes is None
                           else ids_by_name(label_classes, classes, labels_dir))
        self.match_name = NameMatcher(images)
        self._images = images
        self._labels = labels
        self._gt = {n: p for n, p in (gt or {}).items() if n in images}
        self._regions = {n: p for n, p in (regions or {}).items() if n in images}
        self._unmatched = list(unmatched)
        self.left_out = sorted(left_out)
        self.has_gt = len(self._gt) == len(images)
        self.has_regions = len(self._regions) == len(images)
        self.use_regions(RegionsConfig())

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, {self.layout}, {len(self.names)} images)"

    def left_out_note(self) -> str | None:
        """What :attr:`left_out` says, in words (None: no image left out)."""
        n = len(self.left_out)
        if not n:
            return None
        return (f"{n} image{'s' if n > 1 else ''} with labels in {self.root} "
                f"{'have' if n > 1 else 'has'} no pseudo-label in {self.labels_dir} and "
                f"{'are' if n > 1 else 'is'} left out ({self.left_out[0]}"
                f"{', …' if n > 1 else ''})")

    @property
    def without_gt(self) -> list[str]:
        """The images with no ground truth, in dataset order."""
        return [n for n in self.names if n not in self._gt]

    def __len__(self) -> int:
        return len(self.names)

    def shape(self, name: str) -> tuple[int, int]:
        """(H, W) of image ``name``, read from its label file's header.

        The label is always a PNG, whose header is cheap to read; :meth:`check`
        makes sure the image has the same size.
        """
        return image_size(self._labels[name])

    def image_path(self, name: str) -> Path:
        """The image file of image ``name``."""
        return self._images[name]

    def label_path(self, name: str) -> Path:
        """The pseudo-label file of image ``name``."""
        return self._labels[name]

    @property
    def inputs(self) -> dict[str, Path]:
        """What the dataset is read from, never written to, by what each is:
        its folders, and the region files or SAM checkpoint it takes its
        regions from."""
        regions = self.regions_config
        return {"the dataset folder": self.root,
                **({} if self.labels_dir is None else
                   {"the pseudo-labels' folder": self.labels_dir}),
                **({"the region files": Path(regions.path)}
                   if regions.source == "files" else {}),
                **({"the SAM checkpoint": Path(regions.sam_checkpoint)}
                   if regions.source == "sam" else {})}

    def image(self, name: str) -> np.ndarray:
        """(H, W, 3) uint8 RGB image."""
        return read_image(self._images[name])

    def labels(self, name: str) -> np.ndarray:
        """(H, W) uint8 pseudo-labels: class ids or ``classes.ignore_index``."""
        path = self._labels[name]
        if self._label_ids is None:
            return self._read_label(path, self.label_colormap)
        labels = read_label(path, self.label_classes.colormap())
        check_label_values(labels, path, self.label_classes)  # its own numbering first
        return self._label_ids[labels]

    def gt(self, name: str) -> np.ndarray | None:
        """(H, W) uint8 ground-truth labels, or ``None`` if the image has none."""
        path = self._gt.get(name)
        return None if path is None else self._read_label(path, self.gt_colormap)

    def _read_label(self, path: Path, colormap: dict | None) -> np.ndarray:
        """A label file's class ids: colour-coded by ``colormap`` where the
        folder has one (a labelmap.txt), else class ids, or RGB in the class colours."""
        return (read_color_label(path, colormap) if colormap is not None
                else read_label(path, self.classes.colormap()))

    def use_regions(self, config: RegionsConfig) -> None:
        """Take region maps from ``config`` from now on.

        Only sets it up: a SAM model is loaded when the first map is made,
        region files are looked at when the first map is read.
        """
        self.regions_config = config
        if config.source == "files":
            self._region_files = RegionFiles(config.path, self.match_name)
            self._make_regions = self._regions_from_files
        else:
            self._region_files = None
            self._region_maker = region_maker(config)
            self._make_regions = self._regions_made

    def _regions_made(self, name: str) -> np.ndarray:
        return self._region_maker(self.image(name), self.labels(name),
                                  self.classes.ignore_index)

    def _file_regions(self, name: str) -> np.ndarray:
        """Region map ``name`` as the region files have it; 0 where no mask is."""
        return self._region_files.region_map(name, self.shape(name), self._images[name])

    def _regions_from_files(self, name: str) -> np.ndarray:
        """Region map ``name`` of the region files, its gaps filled."""
        return fill_gaps(self._file_regions(name), self.image(name), self.labels(name),
                         self.regions_config.min_gap_area)

    def _provided_regions(self, name: str) -> Path | None:
        return self._regions.get(name) if self.regions_config.source == "auto" else None

    def generates_regions(self, name: str) -> bool:
        """Whether image ``name``'s regions are generated (not a provided map)."""
        return self._provided_regions(name) is None

    def generate_regions(self, name: str) -> np.ndarray:
        """(H, W) int32 region map of image ``name`` made now as
        :attr:`regions_config` says (ids 1..n, every pixel in a region)."""
        return self._make_regions(name)

    def regions(self, name: str) -> np.ndarray:
        """(H, W) int32 region map of image ``name``.

        The provided map as is (0 = no region) if the image has one and the
        source is ``"auto"``; otherwise the map in ``region_cache`` if there
        is one, else a map generated now (:meth:`generate_regions`).
        """
        provided = self._provided_regions(name)
        if provided is not None:
            return read_regions(provided)
        cached = self.region_file(name)
        if cached is None:
            return self.generate_regions(name)
        regions = read_regions(cached)
        check_size(regions.shape, cached, self.shape(name), self._images[name])
        return regions

    def region_file(self, name: str) -> Path | None:
        """The file :meth:`regions` reads image ``name``'s map from; None
        where the map is generated when asked."""
        path = self._provided_regions(name)
        if path is not None:
            return path
        cached = None if self.region_cache is None else self.region_cache / f"{name}.npy"
        return cached if cached is not None and cached.is_file() else None

    def check(self, executor: Executor | None = None,
              read_images: bool = True) -> Steps[None]:
        """Read every file once; raise :class:`DatasetError` for the first problem.

        Finds missing, unreadable or unmatched files, size mismatches between
        an image and its label, ground truth and region map, label values
        that are neither a class id nor the ignore value, colours not in the
        colour map, and region files (``"files"`` regions) that are missing,
        unreadable or of another size.

        The images are checked on ``executor`` when given
        (:func:`~a2lc_napari.engine.parallel.executor`). With
        ``read_images=False`` only an image's header is read, for its size:
        for work that never reads the images themselves (``a2lc rank`` on
        region maps given), where decoding them cost more than the rest.

        Yields
        ------
        Progress
            ``(images checked, number of images, "Checking dataset")``.
        """
        if self._unmatched:
            raise DatasetError(*self._unmatched[0])
        total = len(self.names)
        yield Progress(0, total, "Checking dataset")
        check_one = partial(self._check_one, read_images=read_images)
        for done, _ in enumerate(map_ordered(check_one, self.names, executor), 1):
            yield Progress(done, total, "Checking dataset")

    def _check_one(self, name: str, read_images: bool = True) -> None:
        image_path, label_path = self._images[name], self._labels[name]
        if label_path.is_dir():
            raise DatasetError(label_path, f"is a folder, where the pseudo-label file of "
                               f"image {image_path} should be")
        if not label_path.is_file():
            raise DatasetError(label_path, f"missing: image {image_path} has no "
                               f"pseudo-label file{_not_png(label_path)}")
        size = read_image(image_path).shape[:2] if read_images else image_size(image_path)
        _check_labels(self.labels(name), label_path, size, image_path, self.classes)
        if name in self._gt:
            _check_labels(self.gt(name), self._gt[name], size, image_path, self.classes)
        if name in self._regions:
            check_size(read_regions(self._regions[name]).shape, self._regions[name],
                        size, image_path)
        if self._region_files is not None:
            self._file_regions(name)


def _check_labels(labels: np.ndarray, path: Path, size: tuple[int, int],
                  image_path: Path, classes: ClassSet) -> None:
    check_size(labels.shape, path, size, image_path)
    check_label_values(labels, path, classes)


def open_dataset(path: Path | str, labels_dir: Path | str | None = None,
                 region_cache: Path | str | None = None,
                 background_is_ignore: bool = False) -> Dataset:
    """Open a dataset folder, detecting its layout from the folder's contents.

    Only lists files; call :meth:`Dataset.check` to read and validate them.

    Parameters
    ----------
    path : Path or str
        Generic folder (has ``classes.json``), PASCAL VOC folder (has
        ``JPEGImages/``) or Cityscapes folder (has ``leftImg8bit/``).
    labels_dir : Path or str, optional
        Folder of pseudo-labels ``NAME.png`` (a ``/`` in NAME is a subfolder)
        used instead of the dataset's own labels, matched to the images by
        :class:`NameMatcher`. For VOC and Cityscapes, the dataset's own labels
        become the ground truth, and the images are those with a pseudo-label
        in ``labels_dir``. For a generic folder it replaces ``labels/``;
        ``gt/`` stays the ground truth. With a ``labelmap.txt`` in the folder
        or the one above it (a CVAT export's ``SegmentationClass/``), the
        labels are colour-coded by it, its names being the dataset's classes.
    region_cache : Path or str, optional
        Folder of region maps made for this dataset (see :class:`Dataset`);
        must be outside the dataset folder.
    background_is_ignore : bool
        Read a ``labelmap.txt``'s ``background`` entry as the ignore value
        even where it names a class (CVAT and datumaro paint unannotated
        pixels ``background:0,0,0``; where ``background`` names no class of
        the dataset it is the ignore value anyway).

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
        region_cache = outside_dataset(region_cache, root)
    if (root / "classes.json").exists():
        layout, parts = "generic", _generic(root, labels_dir)
    elif (root / "JPEGImages").is_dir():
        layout, parts = "voc", _voc(root, labels_dir, background_is_ignore)
    elif (root / "leftImg8bit").is_dir():
        layout, parts = "cityscapes", _cityscapes(root, labels_dir)
    elif (root / "images").is_dir():  # a generic folder but for its classes
        raise DatasetError(root / "classes.json", "missing: a dataset folder with images/ "
                           'needs it, {"names": [...], "colors": [[r,g,b], ...], '
                           '"ignore_index": 255}')
    elif SessionFolder(root).state.is_file():
        raise DatasetError(root, "is a session folder, not a dataset: name it as the "
                           "session folder, and the dataset it corrects as the dataset")
    else:
        raise DatasetError(root, "is not a dataset folder of a known layout. "
                           f"Expected {LAYOUTS}")
    if labels_dir is not None:
        labelmap = next((d / LABELMAP for d in (labels_dir, labels_dir.parent)
                         if (d / LABELMAP).is_file()), None)
        if labelmap is not None:
            parts["label_colormap"] = labelmap_colormap(read_labelmap(labelmap),
                                                        parts["classes"], labelmap,
                                                        background_is_ignore)
        elif (labels_dir / "classes.json").is_file():  # as the palette export writes it
            theirs = ClassSet.read(labels_dir / "classes.json")
            if theirs != parts["classes"]:
                parts["label_classes"] = theirs
    return Dataset(root, region_cache=region_cache, labels_dir=labels_dir, layout=layout,
                   **parts)


def ids_by_name(theirs: ClassSet, ours: ClassSet, folder: Path | None = None) -> np.ndarray:
    """(256,) uint8 lookup from label values numbered by ``theirs`` to the
    same classes' values in ``ours``, by class name (their ignore value to
    ours); values that name no class of ``theirs`` stay as they are.

    Raises :class:`DatasetError` naming ``folder``'s ``classes.json`` where
    ``theirs`` has classes ``ours`` does not.
    """
    missing = [n for n in theirs.names if n not in ours.names]
    if missing:
        raise DatasetError(Path(folder or ".") / "classes.json",
                           f"numbers the pseudo-labels by classes the dataset does not have "
                           f"({', '.join(missing)}); the dataset's are "
                           f"{', '.join(ours.names)}")
    ids = np.arange(256, dtype=np.uint8)
    ids[:theirs.num_classes] = [ours.names.index(n) for n in theirs.names]
    ids[theirs.ignore_index] = ours.ignore_index
    return ids


def _generic(root: Path, labels_dir: Path | None) -> dict:
    classes = ClassSet.read(root / "classes.json")
    images = index_files(root / "images", IMAGE_SUFFIXES)
    if not images and (root / "JPEGImages").is_dir():
        raise DatasetError(root / "classes.json", "makes the folder a generic one, read "
                           "from images/ and labels/, but it is a PASCAL VOC folder "
                           "(JPEGImages/): take classes.json away, and name its classes "
                           f"in {LABELMAP} (name::: lines, in the order of the label ids)")
    if not images:
        raise DatasetError(root / "images", "has no images "
                           f"({'|'.join(IMAGE_SUFFIXES)}); expected images/NAME.png etc.")
    label_root = labels_dir or root / "labels"
    if not label_root.is_dir():
        raise DatasetError(label_root, "missing: a dataset folder needs labels/ with "
                           "a pseudo-label NAME.png per image")
    gt = index_files(root / "gt", (".png",))
    regions = index_files(root / "regions", (".npy", ".png"))
    labels = (_matched(labels_dir, images) if labels_dir is not None
              else index_files(label_root, (".png",)))
    suffixes = f".({'|'.join(s[1:] for s in IMAGE_SUFFIXES)})"
    unmatched = (_unmatched(labels, images, "pseudo-label", root / "images", suffixes)
                 + _unmatched(gt, images, "ground-truth label", root / "images", suffixes)
                 + _unmatched(regions, images, "region map", root / "images", suffixes))
    return dict(classes=classes, images=images,
                labels={n: labels.get(n, label_root / f"{n}.png") for n in images},
                gt=gt, regions=regions, unmatched=unmatched)


def _voc(root: Path, labels_dir: Path | None, background_is_ignore: bool) -> dict:
    # Named for JPEGs, but datumaro and CVAT put PNG (and other) images there too.
    jpegs = index_files(root / "JPEGImages", IMAGE_SUFFIXES)
    # labelme2voc.py writes SegmentationClass/*.npy and the PNGs beside them.
    folders = [root / d for d in ("SegmentationClass", "SegmentationClassPNG")
               if (root / d).is_dir()]
    own_dir = next((d for d in folders if index_files(d, (".png",))),
                   folders[0] if folders else None)
    if own_dir is None and labels_dir is None:
        raise DatasetError(root / "SegmentationClass", "missing: a VOC folder needs "
                           "SegmentationClass/ or SegmentationClassPNG/ label PNGs")
    own = index_files(own_dir, (".png",)) if own_dir is not None else {}
    if not jpegs:
        raise DatasetError(root / "JPEGImages", f"has no images ({', '.join(IMAGE_SUFFIXES)})")
    labels = _matched(labels_dir, jpegs) if labels_dir is not None else own
    images = {n: jpegs[n] for n in labels if n in jpegs}
    left_out = [n for n in own if n in jpegs and n not in labels]
    if not images:
        raise _no_label_matches(labels_dir or own_dir, jpegs, root / "JPEGImages",
                                flat=labels_dir is not None)
    parts = dict(classes=VOC_CLASSES, images=images, labels=labels, left_out=left_out,
                 gt=own if labels_dir is not None else {},
                 unmatched=_unmatched(labels, jpegs, "label", root / "JPEGImages",
                                      f".({'|'.join(s[1:] for s in IMAGE_SUFFIXES)})")
                 + _not_png_labels(labels_dir or own_dir, labels, jpegs))
    if (root / LABELME_CLASSES).is_file() and not (root / LABELMAP).is_file():
        parts["classes"] = labelme_classes(root / LABELME_CLASSES)
    if (root / LABELMAP).is_file():  # CVAT's Segmentation mask 1.1
        labelmap = read_labelmap(root / LABELMAP)
        parts["classes"] = labelmap_classes(labelmap, background_is_ignore)
        colormap = labelmap_colormap(labelmap, parts["classes"], root / LABELMAP,
                                     background_is_ignore)
        parts["gt_colormap" if labels_dir is not None else "label_colormap"] = colormap
    return parts


#: A Cityscapes folder's own labels, the train ids (its download ships label ids).
CITYSCAPES_LABELS = ("gtFine/<split>/<city>/<stem>_gtFine_labelTrainIds.png (made by "
                     "cityscapesscripts' createTrainIdLabelImgs)")


def _cityscapes(root: Path, labels_dir: Path | None) -> dict:
    leftimgs = index_files(root / "leftImg8bit", ("_leftImg8bit.png",))
    own_dir = root / "gtFine"
    if not own_dir.is_dir() and labels_dir is None:
        raise DatasetError(own_dir, f"missing: a Cityscapes folder needs {CITYSCAPES_LABELS}")
    own = index_files(own_dir, ("_gtFine_labelTrainIds.png",))
    if not leftimgs:
        raise DatasetError(root / "leftImg8bit", "has no images "
                           "(<split>/<city>/<stem>_leftImg8bit.png)")
    labels = _matched(labels_dir, leftimgs) if labels_dir is not None else own
    images = {n: leftimgs[n] for n in labels if n in leftimgs}
    left_out = [n for n in own if n in leftimgs and n not in labels]
    if not images and labels_dir is not None:
        raise _no_label_matches(labels_dir, leftimgs, root / "leftImg8bit")
    if not images:
        raise DatasetError(own_dir, "has no label matching an image in "
                           f"{root / 'leftImg8bit'}; Cityscapes labels must be "
                           f"{CITYSCAPES_LABELS}")
    return dict(classes=CITYSCAPES_CLASSES, images=images, labels=labels, left_out=left_out,
                gt=own if labels_dir is not None else {},
                unmatched=_unmatched(labels, leftimgs, "label", root / "leftImg8bit",
                                     "_leftImg8bit.png")
                + (_not_png_labels(labels_dir, labels, leftimgs)
                   if labels_dir is not None else []))


def _matched(labels_dir: Path, images: dict[str, Path]) -> dict[str, Path]:
    """The label PNGs of ``labels_dir`` by the name of the image each matches
    (:class:`NameMatcher`); a file that matches none keeps its own name."""
    return match_files(labels_dir, NameMatcher(images), (".png",), "label")


def _no_label_matches(folder: Path, images: dict[str, Path], image_dir: Path,
                      flat: bool = True) -> DatasetError:
    """The error for a label folder none of whose PNGs is named like an
    image: a label of an image saved in another format, or else what the
    folder holds and what a name should be (``flat``: a flat name matches a
    nested image), with an example of each."""
    if saved_otherwise := _not_png_labels(folder, {}, images):
        return DatasetError(*saved_otherwise[0])
    found = _image_files(folder)
    example = min(sorted(images), key=len)
    held = (f"it holds {len(found)} image files, e.g. {found[0].relative_to(folder)}"
            if found else "it holds no image file")
    return DatasetError(folder, f"has no label PNG named like an image of {image_dir} "
                        f"({held}); name each NAME.png after its image, e.g. "
                        f"{example}.png" + (", flat or in the image's folders" if flat else ""))


def _image_files(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    """The files under ``folder`` ending in one of ``suffixes`` (any case),
    hidden ones left out, sorted; none where it is missing. Unlike
    :func:`index_files`, two files of one name are no error: this only
    describes a folder."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in suffixes
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                  and p.is_file())


def _not_png_labels(folder: Path, labels: dict[str, Path], images: dict[str, Path]
                    ) -> list[tuple[Path, str]]:
    """(file, problem) for each file of the label ``folder`` named like an
    image with no label PNG, that holds a label map in another image format
    (one value per pixel: greyscale or palette; or colour, where the
    folder's label PNGs are colour-coded): it would leave its image out,
    without a word. A colour photo or preview of that name beside labels of
    one value per pixel is left alone."""
    match = NameMatcher(images)
    modes = (*LABEL_MODES, "1")  # "1": a bilevel TIFF
    if labels and _mode(next(iter(labels.values()))) == "RGB":
        modes += ("RGB",)
    return [(path, f"is a label saved as {path.suffix}: {PNG_ONLY}; save it as PNG")
            for path in _image_files(folder, tuple(x for x in IMAGE_SUFFIXES if x != ".png"))
            if (name := match(path.relative_to(folder).with_suffix("").as_posix()))
            is not None and name not in labels and _mode(path) in modes]


def _mode(path: Path) -> str | None:
    """The PIL mode of the image file ``path`` (its header says), or None."""
    try:
        with Image.open(path) as img:
            return img.mode
    except (OSError, ValueError):
        return None


def _not_png(label_path: Path) -> str:
    """What a missing label PNG's folder holds under its name in another format, in words."""
    if not label_path.parent.is_dir():
        return ""
    other = next((p for p in sorted(label_path.parent.iterdir())
                  if p.stem == label_path.stem and p != label_path), None)
    return "" if other is None else f"; found {other.name}: {PNG_ONLY}"


def match_files(folder: Path, match: NameMatcher, endings: tuple[str, ...],
                kind: str) -> dict[str, Path]:
    """The files of ``folder`` ending in one of ``endings``, by the name of
    the image each matches (``match``, a dataset's :class:`NameMatcher`:
    flat and nested names alike); a file that matches none keeps its own
    name. Two files of one image: DatasetError naming both (``kind``: what
    a file is, in the message)."""
    found: dict[str, Path] = {}
    for key, path in index_files(folder, endings).items():
        name = match(key) or key
        if name in found:
            raise DatasetError(path, f"is a {kind} of the same image {name!r} as "
                               f"{found[name]}; keep one of them")
        found[name] = path
    return found


def shared_name(kind: str, images: list[str], image_dir: Path | None = None) -> str:
    """The problem of a ``kind`` of file whose name the ``images`` share
    (:meth:`NameMatcher.sharing`), in words; ``image_dir``: where their
    folders are seen."""
    under = "" if image_dir is None else f", as under {image_dir}"
    return (f"is a {kind} whose name matches several images ({', '.join(images)}): give "
            f"it its image's folders{under}, or its full name")


def _unmatched(files: dict[str, Path], images: dict[str, Path], kind: str,
               image_dir: Path, suffix: str) -> list[tuple[Path, str]]:
    """(file, problem) for each of ``files`` whose name has none of
    ``images`` (all of the folder's), or the name several of them share."""
    missing = [(name, path) for name, path in sorted(files.items()) if name not in images]
    sharing = NameMatcher(images).sharing if missing else None
    return [(path, shared_name(kind, shared, image_dir) if (shared := sharing(name)) else
             f"is a {kind} with no matching image (expected {image_dir / name}{suffix})")
            for name, path in missing]


def region_maker(config: RegionsConfig) -> RegionMaker:
    """The function that makes a region map from an image and its labels:
    SAM's masks or SLIC superpixels (regions from files are read instead)."""
    if config.source == "sam":
        from .sam import SamRegions  # imports torch: only for SAM regions

        return SamRegions(config.sam_checkpoint, config.sam_model_type, config.sam_mode,
                          min_gap_area=config.min_gap_area)
    return _superpixels


def _superpixels(image: np.ndarray, labels: np.ndarray, ignore_index: int) -> np.ndarray:
    return superpixel_regions(image, labels)
