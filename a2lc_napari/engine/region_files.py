"""Regions that other programs wrote: region maps, Segment Anything masks, COCO.

:class:`RegionFiles` reads one of four kinds of input (:data:`REGION_FILE_KINDS`),
told apart by what the path holds:

maps
    A folder of region maps ``NAME.npy`` (int) or ``NAME.png`` (8- or 16-bit),
    0 = no region; e.g. the object ids of Grounded-SAM's ``obj_jpg/``.
amg
    The output folder of Segment Anything's ``scripts/amg.py``: per image a
    folder ``NAME/`` with binary masks ``0.png, 1.png, …`` and
    ``metadata.csv``.
amg_rle
    The same with ``--convert-to-rle``: per image ``NAME.json``, a list of
    records whose ``segmentation`` is a COCO RLE.
coco
    A COCO instances JSON, polygons or RLE per annotation.

Masks are painted smaller on top (:func:`~a2lc_napari.engine.regions.paint_masks`);
the gaps are filled by the dataset. Files are matched to the dataset's
images by name (flat names match nested ones, see
:class:`~a2lc_napari.engine.dataset.NameMatcher`). Nothing is ever written
here.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import DatasetError
from .io import check_size, index_files, read_regions
from .regions import paint_masks

if TYPE_CHECKING:  # the dataset module builds this one's readers
    from .dataset import NameMatcher

#: What each kind of region input looks like.
REGION_FILE_KINDS = {
    "maps": "a folder of region maps NAME.npy (int) or NAME.png (8- or 16-bit)",
    "amg": "Segment Anything amg.py output: NAME/0.png, 1.png, ... and NAME/metadata.csv",
    "amg_rle": "Segment Anything amg.py --convert-to-rle output: NAME.json",
    "coco": "a COCO instances JSON (polygon or RLE segmentations)",
}

#: What to do when amg.py made no mask for an image.
NO_MASKS = ("Segment Anything's quality filters can drop every mask of an image: run "
            "amg.py again on it with lower --pred-iou-thresh and --stability-score-thresh, "
            "or choose --regions slic for the whole dataset")


def region_file_kind(path: Path) -> str:
    """Which of :data:`REGION_FILE_KINDS` ``path`` holds.

    Raises
    ------
    DatasetError
        ``path`` is missing, or a folder with none of them.
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".json":
        return "coco"
    if not path.exists():
        raise DatasetError(path, "does not exist (--regions: a folder of regions or a COCO "
                           ".json file)")
    if not path.is_dir():
        raise DatasetError(path, "is neither a folder of regions nor a COCO .json file. "
                           f"Expected {'; '.join(REGION_FILE_KINDS.values())}")
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    if any((p / "metadata.csv").is_file() for p in entries if p.is_dir()):
        return "amg"
    # By what most of its files are: a stray info.json beside maps, or a
    # preview PNG beside amg.py's JSON files, does not decide.
    rles = sum(p.suffix.lower() == ".json" and p.is_file() for p in entries)
    maps = len(index_files(path, (".npy", ".png")))
    if rles or maps:
        return "amg_rle" if rles > maps else "maps"
    raise DatasetError(path, "holds no regions. Expected "
                       f"{'; '.join(REGION_FILE_KINDS.values())}")


class RegionFiles:
    """Region maps of a dataset's images, read from files other programs wrote.

    The path is looked at when first needed, so a session that keeps its own
    copies of the maps reopens even after the files have moved.

    Parameters
    ----------
    path : Path
        A folder or COCO JSON of one of :data:`REGION_FILE_KINDS`.
    match_name : NameMatcher
        ``match_name(key) -> image name or None``: the dataset image a file's
        name (a path without suffix, or a COCO ``file_name``) belongs to.
    """

    def __init__(self, path: Path | str, match_name: NameMatcher):
        self.path = Path(path)
        self._match_name = match_name
        self._entries: dict | None = None
        self._keys: list[str] = []  # every file's key, matched or not (by _index)
        self._kind: str | None = None

    @property
    def kind(self) -> str:
        """One of :data:`REGION_FILE_KINDS`."""
        if self._kind is None:
            self._kind = region_file_kind(self.path)
        return self._kind

    def _index(self) -> dict:
        """Image name -> what to read for it (file, folder or COCO image)."""
        if self._entries is not None:
            return self._entries
        kind = self.kind
        if kind == "coco":
            from .coco import read_coco  # pycocotools: only for COCO input

            found = {image.file_name: image for image in read_coco(self.path)[0]}
        elif kind == "amg":
            found = {p.name: p for p in sorted(self.path.iterdir())
                     if p.is_dir() and not p.name.startswith(".")}
        elif kind == "amg_rle":
            found = index_files(self.path, (".json",))
        else:
            found = index_files(self.path, (".npy", ".png"))
        entries, keys = {}, {}
        self._keys = list(found)
        for key, entry in found.items():
            name = self._match_name(key)
            if name in entries:
                raise DatasetError(self.path, f"has regions for image {name!r} twice: "
                                   f"{keys[name]!r} and {key!r}; keep one")
            if name is not None:
                entries[name], keys[name] = entry, key
        self._entries = entries
        return entries

    def region_map(self, name: str, shape: tuple[int, int], image_path: Path) -> np.ndarray:
        """(H, W) int32 region map of image ``name``; 0 where no mask is.

        Parameters
        ----------
        name : str
            The dataset's name of the image.
        shape : tuple of int
            The image's (H, W); every mask and map must have it.
        image_path : Path
            The image file, for error messages.

        Raises
        ------
        DatasetError
            No regions for this image, an unreadable file, a mask of another
            size, a mask listed in ``metadata.csv`` but missing, or no mask
            at all in amg.py's output for this image.
        """
        entry = self._index().get(name)
        if entry is None and self.kind == "coco":
            raise DatasetError(self.path, f"has no entry for image {image_path} in its "
                               "images: add one whose file_name is the image's (an entry "
                               "with no annotation gives the image SLIC regions)")
        if entry is None and (key := self._match_name.shared_key(name, self._keys)):
            raise DatasetError(self.path, f"has regions for image {image_path} under a name "
                               f"several images share ({key!r}: "
                               f"{', '.join(self._match_name.sharing(key))}): give them "
                               "the image's folders, or its full name")
        if entry is None:
            raise DatasetError(self.path, f"has no regions for image {image_path}: expected "
                               f"{REGION_FILE_KINDS[self.kind]}, NAME being {name!r} or "
                               "the image's file name without its suffix")
        if self.kind == "maps":
            regions = read_regions(entry)
            check_size(regions.shape, entry, shape, image_path)
            return regions
        if self.kind == "amg":
            masks = _amg_masks(entry, shape, image_path)
        elif self.kind == "amg_rle":
            masks = _rle_masks(entry, shape, image_path)
        else:
            masks = _coco_masks(entry, shape, image_path, self.path)
        return paint_masks(masks, shape)


def _amg_masks(folder: Path, shape: tuple[int, int], image_path: Path):
    """The binary masks ``ID.png`` of the ids ``metadata.csv`` lists, in its order."""
    table = folder / "metadata.csv"
    try:
        with open(table, newline="") as f:
            reader = csv.DictReader(f)
            rows, columns = list(reader), reader.fieldnames or ()
    except FileNotFoundError:
        raise DatasetError(table, "missing: each image's folder of amg.py masks needs "
                           "its metadata.csv") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(table, f"is not amg.py's metadata.csv ({e})") from None
    if "id" not in columns:
        raise DatasetError(table, "is not amg.py's metadata.csv: it has no id column "
                           f"(its columns: {', '.join(columns) or 'none'})")
    if not rows:
        raise DatasetError(table, f"lists no mask for image {image_path}. {NO_MASKS}")
    for row in rows:
        path = folder / f"{row['id']}.png"
        if not path.is_file():
            raise DatasetError(path, f"missing: {table} lists mask {row['id']}")
        mask = read_regions(path)
        check_size(mask.shape, path, shape, image_path)
        yield mask > 0


def _rle_masks(path: Path, shape: tuple[int, int], image_path: Path):
    """The RLE masks of an ``amg.py --convert-to-rle`` JSON."""
    from .coco import decode_segmentation

    try:
        records = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(path, f"cannot be read as amg.py's JSON ({e})") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) and "segmentation" in r
                                                for r in records):
        raise DatasetError(path, "is not amg.py's --convert-to-rle output: expected a "
                           "list of records with a \"segmentation\"")
    if not records:
        raise DatasetError(path, f"holds no mask for image {image_path}. {NO_MASKS}")
    for i, record in enumerate(records):
        yield decode_segmentation(record["segmentation"], shape, path,
                                  f"record {i} (for image {image_path})")


def _coco_masks(image, shape: tuple[int, int], image_path: Path, root: Path):
    """The annotations' masks of one COCO image entry."""
    from .coco import decode_segmentation

    if image.shape != tuple(shape):
        raise DatasetError(root, f"says {image.file_name} is {image.shape[1]}x"
                           f"{image.shape[0]} pixels but the image {image_path} is "
                           f"{shape[1]}x{shape[0]}")
    for ann in image.annotations:
        yield decode_segmentation(ann["segmentation"], shape, root,
                                  f"annotations[{ann['index']}] (for image {image_path})")
