"""Corrected labels written in the formats that training code and annotation tools read.

:data:`EXPORT_FORMATS` names them; :func:`export_labels` writes one. Each
reads back through this package's own readers to the same labels:

palette
    ``NAME.png`` palette PNGs in the class colours, and ``classes.json``
    (read back as ``--labels FOLDER``).
voc
    PASCAL VOC: ``SegmentationClass/NAME.png`` palette PNGs,
    ``ImageSets/Segmentation/train.txt`` and ``labelmap.txt`` (read back as
    ``--labels FOLDER/SegmentationClass``).
cityscapes
    ``gtFine/NAME_gtFine_labelTrainIds.png``, 8-bit class ids, so a
    Cityscapes dataset keeps its ``<split>/<city>/`` folders and names
    (read back as ``--labels FOLDER/gtFine``).
cvat
    CVAT's "Segmentation mask 1.1": ``SegmentationClass/NAME.png`` RGB
    masks, ``labelmap.txt`` and ``ImageSets/Segmentation/default.txt``
    (read back as ``--labels FOLDER/SegmentationClass``; import the folder,
    zipped, into CVAT).
coco
    ``annotations.json``: COCO with one RLE per class per image
    (stuff-style), category id = class id + 1 (read back with
    :func:`~a2lc_napari.engine.coco.read_coco_labels`).

Ignore pixels keep the dataset's ignore value (palette, voc, cityscapes),
are painted in :data:`~a2lc_napari.engine.classes.IGNORE_COLOR` under an
``ignore`` label (cvat), or are left out (coco). Every export also writes a
short ``README`` saying where the labels came from.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from .classes import IGNORE_COLOR, ClassSet, labelmap_text
from .errors import DatasetError
from .io import atomic_path, write_json, write_label, write_text
from .progress import Progress, Steps

#: Export formats and what each writes.
EXPORT_FORMATS = {
    "palette": "NAME.png palette PNGs in the class colours, and classes.json",
    "voc": "SegmentationClass/NAME.png palette PNGs, "
           "ImageSets/Segmentation/train.txt, labelmap.txt",
    "cityscapes": "gtFine/NAME_gtFine_labelTrainIds.png (class ids)",
    "cvat": "Segmentation mask 1.1: SegmentationClass/NAME.png RGB masks, "
            "labelmap.txt, ImageSets/Segmentation/default.txt",
    "coco": "annotations.json, one RLE per class per image",
}
#: The label file of image ``NAME`` in each format that writes one per image.
LABEL_FILES = {
    "palette": "{}.png",
    "voc": "SegmentationClass/{}.png",
    "cityscapes": "gtFine/{}_gtFine_labelTrainIds.png",
    "cvat": "SegmentationClass/{}.png",
}
COCO_FILE = "annotations.json"


def _write_grey(path: Path, labels: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(labels, np.uint8), mode="L").save(tmp, format="PNG")


def _write_rgb(path: Path, labels: np.ndarray, classes: ClassSet) -> None:
    colors = np.array(classes.palette(), np.uint8).reshape(256, 3)
    colors[classes.ignore_index] = IGNORE_COLOR
    with atomic_path(path) as tmp:
        Image.fromarray(colors[labels], mode="RGB").save(tmp, format="PNG")


def coco_annotations(labels: np.ndarray, image_id: int, first_id: int,
                     classes: ClassSet) -> list[dict]:
    """One COCO annotation per class present in ``labels`` (ignore left out).

    Parameters
    ----------
    labels : (H, W) uint8 array
        Class ids or the ignore value.
    image_id, first_id : int
        The image's COCO id, and the id of the first annotation.
    classes : ClassSet

    Returns
    -------
    list of dict
        ``id``, ``image_id``, ``category_id`` (class id + 1),
        ``segmentation`` (compressed RLE), ``area``, ``bbox`` ``[x, y, w, h]``
        and ``iscrowd`` 0.
    """
    from .coco import encode_mask  # pycocotools: only for COCO output

    out = []
    for cls in np.flatnonzero(np.bincount(labels.ravel(), minlength=256)[:classes.num_classes]):
        mask = labels == cls
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        out.append({"id": first_id + len(out), "image_id": image_id,
                    "category_id": int(cls) + 1, "segmentation": encode_mask(mask),
                    "area": int(mask.sum()),
                    "bbox": [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1),
                             int(rows[-1] - rows[0] + 1)],
                    "iscrowd": 0})
    return out


def check_export_folder(folder: Path | str, dataset_root: Path,
                        overwrite: bool = False) -> Path:
    """The resolved export folder, if it may be written.

    Raises
    ------
    DatasetError
        ``folder`` is inside the dataset folder (never written to), is not a
        folder, or is not empty and ``overwrite`` is false.
    """
    folder = Path(folder).expanduser().resolve()
    if folder.is_relative_to(Path(dataset_root).resolve()):
        raise DatasetError(folder, "is inside the dataset folder, which is never "
                           "written to; choose a folder outside it")
    if folder.exists() and not folder.is_dir():
        raise DatasetError(folder, "is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise DatasetError(folder, "is not empty; choose an empty folder, or overwrite "
                           "the files of the same names (--overwrite)")
    return folder


def export_labels(folder: Path | str, names: list[str], labels_of: Callable[[str], np.ndarray],
                  classes: ClassSet, dataset_root: Path, format: str = "palette",
                  overwrite: bool = False, image_files: dict[str, str] | None = None,
                  provenance: dict | None = None) -> Steps[Path]:
    """Write the labels of ``names`` to ``folder`` in ``format``.

    Parameters
    ----------
    folder : Path or str
        Where to write; created if missing. Must be empty unless
        ``overwrite``, and outside ``dataset_root``.
    names : list of str
        Image names (may hold ``/``).
    labels_of : callable
        ``labels_of(name) -> (H, W) uint8`` class ids or the ignore value.
    classes : ClassSet
    dataset_root : Path
        The dataset folder, never written to.
    format : str
        One of :data:`EXPORT_FORMATS`.
    overwrite : bool
        Write into a non-empty folder, replacing files of the same names.
    image_files : dict of str to str, optional
        COCO ``file_name`` of each image (default: ``NAME.png``).
    provenance : dict, optional
        ``key: value`` lines for the ``README`` (dataset, session, rounds,
        changes).

    Yields
    ------
    Progress
        ``(images written, number of images, "Exporting labels")``.

    Returns
    -------
    Path
        The resolved folder.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; expected one of "
                         f"{tuple(EXPORT_FORMATS)}")
    folder = check_export_folder(folder, dataset_root, overwrite)
    coco_images, coco_annots = [], []
    for i, name in enumerate(names):
        labels = np.asarray(labels_of(name), np.uint8)
        if format == "coco":
            coco_images.append({"id": i + 1, "file_name": (image_files or {}).get(
                name, f"{name}.png"), "height": labels.shape[0], "width": labels.shape[1]})
            coco_annots += coco_annotations(labels, i + 1, len(coco_annots) + 1, classes)
        else:
            path = folder / LABEL_FILES[format].format(name)
            if format in ("palette", "voc"):
                write_label(path, labels, classes)
            elif format == "cityscapes":
                _write_grey(path, labels)
            else:
                _write_rgb(path, labels, classes)
        yield Progress(i + 1, len(names), "Exporting labels")
    listing = "".join(f"{n}\n" for n in names)
    if format == "palette":
        write_json(folder / "classes.json", classes.to_json())
    elif format == "voc":
        write_text(folder / "ImageSets" / "Segmentation" / "train.txt", listing)
        write_text(folder / "labelmap.txt", labelmap_text(classes))
    elif format == "cvat":
        write_text(folder / "ImageSets" / "Segmentation" / "default.txt", listing)
        write_text(folder / "labelmap.txt", labelmap_text(classes))
    elif format == "coco":
        write_json(folder / COCO_FILE, {
            "info": {"description": "labels exported by a2lc-napari"},
            "images": coco_images, "annotations": coco_annots,
            "categories": [{"id": c + 1, "name": n, "supercategory": n}
                           for c, n in enumerate(classes.names)]})
    write_text(folder / "README", readme_text(format, len(names), classes, provenance or {}))
    return folder


def readme_text(format: str, n_images: int, classes: ClassSet, provenance: dict) -> str:
    """The export's ``README``: format, counts and ``provenance`` as ``key: value`` lines."""
    lines = [f"Labels corrected with a2lc-napari, exported as {format}: "
             f"{EXPORT_FORMATS[format]}.", "",
             f"images: {n_images}",
             f"classes: {classes.num_classes} ({', '.join(classes.names)}), "
             f"ignore value {classes.ignore_index}"]
    lines += [f"{key}: {value}" for key, value in provenance.items()]
    return "\n".join(lines) + "\n"
