"""COCO segmentations: reading instances files, encoding masks as RLE.

A COCO JSON lists ``images`` (``id``, ``file_name``, ``height``,
``width``) and ``annotations`` (``image_id``, ``category_id``,
``segmentation``). A segmentation is a list of polygons, an uncompressed
RLE (``counts`` a list of run lengths) or a compressed RLE (``counts`` a
string), the last also being what Segment Anything's ``amg.py
--convert-to-rle`` writes. All are decoded by ``pycocotools``.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from .classes import ClassSet
from .errors import DatasetError


def decode_segmentation(segmentation, shape: tuple[int, int], path: Path,
                        where: str) -> np.ndarray:
    """One COCO segmentation as an (H, W) bool mask.

    Parameters
    ----------
    segmentation : list of list of float, or dict
        Polygons ``[[x0, y0, x1, y1, ...], ...]`` or an RLE
        ``{"size": [H, W], "counts": ...}``.
    shape : tuple of int
        (H, W) of the image it belongs to.
    path : Path
        The file it came from, for errors.
    where : str
        Which record it is, for errors (e.g. ``"annotation 7"``).

    Raises
    ------
    DatasetError
        Not a segmentation, an RLE whose size is not ``shape``, or an
        uncompressed RLE whose counts do not add up to ``H * W``.
    """
    height, width = shape
    try:
        if isinstance(segmentation, list):
            polygons = [p for p in segmentation if len(p) >= 6]  # a polygon needs 3 points
            if not polygons:
                return np.zeros(shape, bool)
            rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
        elif isinstance(segmentation, dict) and "counts" in segmentation:
            size = tuple(segmentation.get("size") or ())
            if size != (height, width):
                raise DatasetError(path, f"{where} has an RLE of size {list(size)} "
                                   f"([height, width]) but its image is {[height, width]}")
            counts = segmentation["counts"]
            if isinstance(counts, list):
                if sum(counts) != height * width:
                    raise DatasetError(path, f"{where} has an uncompressed RLE whose counts "
                                       f"add up to {sum(counts)} pixels, but its size "
                                       f"{[height, width]} has {height * width}")
                rle = mask_utils.frPyObjects(segmentation, height, width)
            else:
                rle = {"size": [height, width],
                       "counts": counts.encode() if isinstance(counts, str) else counts}
        else:
            raise DatasetError(path, f"{where} has a segmentation that is neither polygons "
                               "nor an RLE")
        mask = mask_utils.decode(rle)
    except DatasetError:  # already says which record and why
        raise
    except (TypeError, ValueError, KeyError) as e:
        raise DatasetError(path, f"{where} has a segmentation pycocotools cannot decode "
                           f"({e})") from None
    return mask.astype(bool)


def encode_mask(mask: np.ndarray) -> dict:
    """(H, W) bool mask as a compressed COCO RLE with a string ``counts`` (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask, dtype=np.uint8))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode()}


@dataclass
class CocoImage:
    """One entry of a COCO file's ``images`` and its annotations, in file order."""

    file_name: str
    shape: tuple[int, int]
    annotations: list[dict]


def read_coco(path: Path) -> tuple[list[CocoImage], dict[int, str]]:
    """Read a COCO JSON's images with their annotations (not decoded yet),
    and the name of each category id (``categories``, optional).

    Raises
    ------
    DatasetError
        The file is missing or not JSON, lacks ``images`` or ``annotations``,
        an image entry lacks ``id``, ``file_name``, ``height`` or ``width``,
        or an annotation names an image id not listed.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(path, "file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(path, f"cannot be read as a COCO JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise DatasetError(path, "is not a COCO JSON: expected an object with \"images\" "
                           "and \"annotations\" lists")
    images: dict[int, CocoImage] = {}
    seen: dict = {}  # an image's id and file name -> its place in "images"
    for i, entry in enumerate(data["images"]):
        try:
            image_id = entry["id"]
            images[image_id] = image = CocoImage(
                str(entry["file_name"]), (int(entry["height"]), int(entry["width"])), [])
        except (KeyError, TypeError, ValueError):
            raise DatasetError(path, f"images[{i}] needs id, file_name, height and "
                               "width") from None
        # Twice, as when COCO files are merged: one entry would hide the other's masks.
        first = seen.get(("id", image_id), seen.get(("name", image.file_name)))
        if first is not None:
            raise DatasetError(path, f"images[{i}] repeats the id or file_name "
                               f"({image.file_name!r}) of images[{first}]; keep one")
        seen[("id", image_id)] = seen[("name", image.file_name)] = i
    for i, ann in enumerate(data["annotations"]):
        image = images.get(ann.get("image_id")) if isinstance(ann, dict) else None
        if image is None or "segmentation" not in ann:
            raise DatasetError(path, f"annotations[{i}] needs a segmentation and the "
                               "image_id of an entry of images")
        image.annotations.append({**ann, "index": i})
    try:
        categories = {c["id"]: str(c["name"]) for c in data.get("categories", [])}
    except (KeyError, TypeError):
        raise DatasetError(path, "has categories without an id and a name") from None
    return list(images.values()), categories


def read_coco_labels(path: Path, classes: ClassSet,
                     match_name: Callable[[str], str | None]) -> dict[str, np.ndarray]:
    """Label maps painted from a COCO JSON's annotations, as ``coco`` exports write them.

    Each annotation paints its category, read as the class of the same name,
    in file order; pixels no annotation covers are ``classes.ignore_index``.

    Parameters
    ----------
    path : Path
        The COCO JSON.
    classes : ClassSet
        The classes the category names are looked up in.
    match_name : callable
        ``match_name(file_name) -> image name or None``; images it matches
        to no name are left out.

    Returns
    -------
    dict of str to (H, W) uint8 array
    """
    images, categories = read_coco(path)
    ids = {n: c for c, n in enumerate(classes.names)}
    labels = {}
    for image in images:
        name = match_name(image.file_name)
        if name is None:
            continue
        out = np.full(image.shape, classes.ignore_index, np.uint8)
        for ann in image.annotations:
            cls = ids.get(categories.get(ann.get("category_id")))
            if cls is None:
                raise DatasetError(path, f"annotations[{ann['index']}] has category "
                                   f"{ann.get('category_id')}, which names none of the "
                                   f"classes ({', '.join(classes.names)})")
            out[decode_segmentation(ann["segmentation"], image.shape, path,
                                    f"annotations[{ann['index']}]")] = cls
        labels[name] = out
    return labels
