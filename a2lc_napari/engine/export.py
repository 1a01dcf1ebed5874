"""Corrected labels written in the formats that training code and annotation tools read.

:data:`EXPORT_FORMATS` names them; :func:`export_labels` writes one, with
the images (copied, or linked: :data:`IMAGE_MODES`), so that each program
opens the folder as it is:

palette
    ``NAME.png`` palette PNGs in the class colours, and ``classes.json``
    (read back as ``--labels FOLDER``); no images.
voc
    PASCAL VOC as its archive unpacks, under ``VOCdevkit/VOC2012/``:
    ``JPEGImages/NAME.jpg``, ``SegmentationClass/NAME.png`` palette PNGs
    with ignore pixels 255 (VOC's border value),
    ``ImageSets/Segmentation/train.txt`` and ``labelmap.txt``: the classes,
    and ``ignored`` for 255 in its border colour, as datumaro's VOC labelmap
    declares it (datumaro reads masks by colour). torchvision's
    ``VOCSegmentation(FOLDER)`` and datumaro's ``voc_segmentation``
    (``FOLDER/VOCdevkit/VOC2012``) open it.
cvat
    CVAT's "Segmentation mask 1.1": ``JPEGImages/NAME.<suffix>``,
    ``SegmentationClass/NAME.png`` RGB masks in the labelmap's colours,
    ``labelmap.txt`` with ``background:0,0,0`` first and
    ``ImageSets/Segmentation/default.txt``. Ignore pixels are painted in the
    background colour: unannotated, as CVAT reads it.
cityscapes
    Only for classes among Cityscapes' 19 training classes, in any order
    and number (refused otherwise: no Cityscapes id could name them), each
    written under its own Cityscapes ids, found by name:
    ``leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png`` and
    ``gtFine/<split>/<city>/<stem>_gtFine_labelIds.png`` and
    ``..._labelTrainIds.png``. torchvision's ``Cityscapes(FOLDER)`` opens it.
coco
    ``annotations/instances_default.json`` beside ``images/default/``,
    ``file_name`` relative to that folder: one RLE per class per image
    (stuff-style), category id = class id + 1, ignore pixels left out.

Every export also writes ``README.<format>``, saying what it holds and where
the labels came from; exports of several formats can share a folder.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image

from .classes import (
    BACKGROUND_NAME,
    CITYSCAPES_CLASSES,
    IGNORE_COLOR,
    VOC_IGNORE_NAME,
    ClassSet,
    Color,
    background_class,
    check_labelmap_names,
    labelmap_text,
)
from .errors import DatasetError
from .io import (atomic_path, outside_inputs, read_image, write_json, write_label,
                 write_text)
from .progress import Progress, Steps

#: Export formats and what each writes.
EXPORT_FORMATS = {
    "palette": "NAME.png palette PNGs in the class colours, and classes.json",
    "voc": "VOCdevkit/VOC2012/: JPEGImages/, SegmentationClass/ palette PNGs (ignore 255), "
           "ImageSets/Segmentation/train.txt, labelmap.txt (255 declared as datumaro's 'ignored')",
    "cityscapes": "leftImg8bit/ and gtFine/ *_gtFine_labelIds.png, *_labelTrainIds.png "
                  "(Cityscapes' own classes only)",
    "cvat": "Segmentation mask 1.1: JPEGImages/, SegmentationClass/ RGB masks, labelmap.txt "
            "(background first; ignore unannotated), ImageSets/Segmentation/default.txt",
    "coco": "annotations/instances_default.json and images/default/, one RLE per class "
            "per image",
}
#: How images go into an export: copied, or linked to the dataset's files.
IMAGE_MODES = ("copy", "link")
#: Where torchvision and the VOC archive put a VOC dataset.
VOC_ROOT = "VOCdevkit/VOC2012"
#: VOC's value for pixels left out of training and scoring.
VOC_VOID = 255
#: CVAT's background, the colour of unannotated pixels.
BACKGROUND = (BACKGROUND_NAME, (0, 0, 0))
#: The subset datumaro and CVAT name a dataset without splits.
COCO_SUBSET = "default"
COCO_FILE = f"annotations/instances_{COCO_SUBSET}.json"
#: Cityscapes' labelId of each of its 19 training classes (trainId 0..18), from
#: cityscapesscripts' label table; ignore (255) is labelId 0, "unlabeled".
CITYSCAPES_LABEL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31,
                        32, 33)
#: The label file of image ``NAME`` in each format, for reading it back.
LABEL_FILES = {
    "palette": "{}.png",
    "voc": f"{VOC_ROOT}/SegmentationClass/{{}}.png",
    "cityscapes": "gtFine/{}_gtFine_labelTrainIds.png",
    "cvat": "SegmentationClass/{}.png",
}


def put_image(source: Path, target: Path, mode: str = "copy") -> None:
    """Put image ``source`` at ``target``, converting it where the suffixes differ.

    Parameters
    ----------
    source, target : Path
        The dataset's image file, and where the export wants it.
    mode : {"copy", "link"}
        Copy the file, or link to it (a symbolic link to its absolute path).
        An image of another format than ``target``'s suffix is written anew
        either way: lossless for PNG, JPEG quality 95 for ``.jpg``. A JPEG
        copied keeps its pixels as stored, as its labels are, with its EXIF
        orientation set to 1 (as stored): OpenCV, which applies the tag,
        would otherwise read it turned against its labels.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    same = source.suffix.lower().replace("jpeg", "jpg") == target.suffix.lower()
    with atomic_path(target) as tmp:
        if not same:
            options = {"quality": 95} if target.suffix.lower() == ".jpg" else {}
            Image.fromarray(read_image(source)).save(tmp, **options)
        elif mode == "link":
            tmp.unlink()
            os.symlink(Path(source).resolve(), tmp)
        elif target.suffix.lower() == ".jpg":
            tmp.write_bytes(as_stored(Path(source).read_bytes()))
        else:
            shutil.copyfile(source, tmp)


def as_stored(jpeg: bytes) -> bytes:
    """The bytes of a JPEG file with its EXIF orientation, if any, set to 1
    (the pixels as stored); nothing else changes.

    The orientation is an entry of the first image directory (IFD0) of the
    TIFF structure inside the APP1 "Exif" segment, before the image data.
    """
    data = bytearray(jpeg)
    pos = 2  # after the start-of-image marker
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] != 0xDA:  # 0xDA: pixels
        end = pos + 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if data[pos + 1] == 0xE1 and data[pos + 4:pos + 10] == b"Exif\0\0":
            tiff = pos + 10
            order = "little" if data[tiff:tiff + 2] == b"II" else "big"
            ifd = tiff + int.from_bytes(data[tiff + 4:tiff + 8], order)
            count = int.from_bytes(data[ifd:ifd + 2], order)
            for entry in range(ifd + 2, min(ifd + 2 + 12 * count, end - 11), 12):
                if int.from_bytes(data[entry:entry + 2], order) == ExifTags.Base.Orientation:
                    data[entry + 8:entry + 10] = (1).to_bytes(2, order)  # a SHORT, in place
            break
        pos = end
    return bytes(data)


def _write_rgb(path: Path, labels: np.ndarray, colors: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(colors[labels], mode="RGB").save(tmp, format="PNG")


def _write_grey(path: Path, values: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(values, np.uint8), mode="L").save(tmp, format="PNG")


def voc_classes(classes: ClassSet) -> ClassSet:
    """``classes`` with VOC's ignore value 255."""
    return replace(classes, ignore_index=VOC_VOID)


def cvat_labelmap(classes: ClassSet) -> dict[str, Color]:
    """CVAT's labelmap of ``classes``: ``background`` black and first (the
    dataset's own background class, if it has one: :func:`background_class`),
    then the other classes.

    Raises
    ------
    ValueError
        A class other than background is black, the colour CVAT reserves
        for unannotated pixels.
    """
    name, black = BACKGROUND
    labelmap, background = {name: black}, background_class(classes)
    for k, (n, c) in enumerate(zip(classes.names, classes.colors)):
        if k == background:
            continue
        if tuple(c) == black:
            raise ValueError(f"class {n!r} is black, the colour CVAT keeps for "
                             "unannotated pixels; give it another colour in classes.json")
        labelmap[n] = tuple(c)
    return labelmap


def cvat_colors(classes: ClassSet) -> np.ndarray:
    """(256, 3) uint8: the CVAT mask colour of each label value (ignore and
    background black, unannotated)."""
    labelmap = cvat_labelmap(classes)
    colors = np.zeros((256, 3), np.uint8)
    for c, n in enumerate(classes.names):
        colors[c] = labelmap.get(n, BACKGROUND[1])  # labelme's _background_ is background
    return colors


def cityscapes_name(name: str) -> str:
    """``<split>/<city>/<stem>`` of an image name, as Cityscapes' folders need:
    kept if it has that form, else ``train/default/<name with / as _>``."""
    return name if name.count("/") == 2 else f"train/default/{name.replace('/', '_')}"


def cityscapes_ids(classes: ClassSet) -> tuple[np.ndarray, np.ndarray]:
    """(256,) uint8 lookups from ``classes``' label values to Cityscapes'
    trainIds and labelIds, by class name; the ignore value (and any value
    of no class) to trainId 255 and labelId 0, ``unlabeled``.

    Raises ValueError naming the classes that are not among Cityscapes' 19
    training classes.
    """
    cityscapes = CITYSCAPES_CLASSES.names
    others = [n for n in classes.names if n not in cityscapes]
    if others:
        raise ValueError(
            "the cityscapes format writes Cityscapes' own ids, and these classes ("
            f"{', '.join(others)}) are not among Cityscapes' 19 training classes: no "
            "Cityscapes id names them. Export as voc, cvat, coco or palette instead")
    train = np.array([cityscapes.index(n) for n in classes.names], np.uint8)
    train_ids, label_ids = np.full(256, 255, np.uint8), np.zeros(256, np.uint8)
    train_ids[:len(train)] = train
    label_ids[:len(train)] = np.asarray(CITYSCAPES_LABEL_IDS, np.uint8)[train]
    return train_ids, label_ids


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
        ``segmentation`` (compressed RLE), ``area`` and ``bbox``
        ``[x, y, w, h]`` (both by pycocotools) and ``iscrowd`` 0.
    """
    from pycocotools import mask as mask_utils  # only for COCO output

    from .coco import encode_mask

    out = []
    for cls in np.flatnonzero(np.bincount(labels.ravel(), minlength=256)[:classes.num_classes]):
        rle = encode_mask(labels == cls)
        coded = {**rle, "counts": rle["counts"].encode()}
        out.append({"id": first_id + len(out), "image_id": image_id,
                    "category_id": int(cls) + 1, "segmentation": rle,
                    "area": int(mask_utils.area(coded)),
                    "bbox": [int(v) for v in mask_utils.toBbox(coded)],
                    "iscrowd": 0})
    return out


def check_export(folder: Path | str, classes: ClassSet, inputs: dict[str, Path],
                 format: str = "palette", overwrite: bool = False) -> Path:
    """The resolved export folder, if the labels may be written there in ``format``.

    ``inputs``: what the labels came from, never written to
    (:attr:`Dataset.inputs`: the dataset folder, the pseudo-labels' folder;
    the region files).

    Raises
    ------
    DatasetError
        ``folder`` is inside one of ``inputs``, is not a
        folder, or is not empty and ``overwrite`` is false; or the format
        cannot hold these classes (:func:`format_problem`).
    """
    folder = outside_inputs(folder, inputs)
    if folder.exists() and not folder.is_dir():
        raise DatasetError(folder, "is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise DatasetError(folder, "is not empty; choose an empty folder, or overwrite "
                           "the files of the same names (--overwrite)")
    problem = format_problem(format, classes)
    if problem is not None:
        raise DatasetError(folder, f"gets no {format} export: {problem}")
    return folder


def format_problem(format: str, classes: ClassSet) -> str | None:
    """Why ``format`` cannot hold ``classes``, in words; None where it can
    (cityscapes: classes not among Cityscapes' training classes; cvat: a
    black class other than background; voc and cvat: a class name with ':',
    which their labelmap.txt cannot hold)."""
    try:
        if format == "cityscapes":
            cityscapes_ids(classes)  # raises for a class Cityscapes has not
        if format == "cvat":
            cvat_labelmap(classes)  # raises for a black class
        if format in ("voc", "cvat"):
            check_labelmap_names(classes.names)
    except ValueError as e:
        return str(e)
    return None


def export_labels(folder: Path | str, names: list[str], labels_of: Callable[[str], np.ndarray],
                  classes: ClassSet, inputs: dict[str, Path], format: str = "palette",
                  overwrite: bool = False, image_of: Callable[[str], Path] | None = None,
                  images: str = "copy", provenance: dict | None = None) -> Steps[Path]:
    """Write the labels of ``names`` to ``folder`` in ``format``, with their images.

    Parameters
    ----------
    folder : Path or str
        Where to write; created if missing. Must be empty unless
        ``overwrite``, and outside ``inputs``.
    names : list of str
        Image names (may hold ``/``).
    labels_of : callable
        ``labels_of(name) -> (H, W) uint8`` class ids or the ignore value.
    classes : ClassSet
    inputs : dict of str to Path
        What the labels came from, never written to (:func:`check_export`).
    format : str
        One of :data:`EXPORT_FORMATS`.
    overwrite : bool
        Write into a non-empty folder, replacing files of the same names.
    image_of : callable, optional
        ``image_of(name) -> Path``, the image file; without it no images
        are written (nor COCO ``file_name`` suffixes known: ``NAME.png``).
    images : {"copy", "link"}
        Copy the images, or link to them (:func:`put_image`).
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

    Raises
    ------
    ValueError
        An unknown format or image mode.
    DatasetError
        The folder may not be written, or the format cannot hold these
        classes (:func:`check_export`).
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; expected one of "
                         f"{tuple(EXPORT_FORMATS)}")
    if images not in IMAGE_MODES:
        raise ValueError(f"unknown image mode {images!r}; expected one of {IMAGE_MODES}")
    folder = check_export(folder, classes, inputs, format, overwrite)
    new = not folder.exists()
    try:
        colors = cvat_colors(classes) if format == "cvat" else None
        if format == "cityscapes":
            train_ids, label_ids = cityscapes_ids(classes)
        voc = voc_classes(classes)

        def image(name: str, target: str) -> None:
            if image_of is not None:
                put_image(Path(image_of(name)), folder / target, images)

        def suffix(name: str) -> str:
            return ".png" if image_of is None else Path(image_of(name)).suffix.lower()

        coco_images, coco_annots = [], []
        unannotated = 0  # cvat: unlabelled pixels, painted as unannotated
        for i, name in enumerate(names):
            labels = np.asarray(labels_of(name), np.uint8)
            if format == "palette":
                write_label(folder / f"{name}.png", labels, classes)
            elif format == "voc":
                write_label(folder / VOC_ROOT / "SegmentationClass" / f"{name}.png",
                            np.where(labels == classes.ignore_index, voc.ignore_index, labels), voc)
                image(name, f"{VOC_ROOT}/JPEGImages/{name}.jpg")
            elif format == "cvat":
                _write_rgb(folder / "SegmentationClass" / f"{name}.png", labels, colors)
                unannotated += int(np.count_nonzero(labels == classes.ignore_index))
                image(name, f"JPEGImages/{name}{suffix(name)}")
            elif format == "cityscapes":
                stem = cityscapes_name(name)
                _write_grey(folder / f"gtFine/{stem}_gtFine_labelTrainIds.png",
                            train_ids[labels])
                _write_grey(folder / f"gtFine/{stem}_gtFine_labelIds.png", label_ids[labels])
                image(name, f"leftImg8bit/{stem}_leftImg8bit.png")
            else:
                file_name = f"{name}{suffix(name)}"
                coco_images.append({"id": i + 1, "file_name": file_name,
                                    "height": labels.shape[0], "width": labels.shape[1]})
                coco_annots += coco_annotations(labels, i + 1, len(coco_annots) + 1, classes)
                image(name, f"images/{COCO_SUBSET}/{file_name}")
            yield Progress(i + 1, len(names), "Exporting labels")
        listing = "".join(f"{n}\n" for n in names)
        if format == "palette":
            write_json(folder / "classes.json", classes.to_json())
        elif format == "voc":
            write_text(folder / VOC_ROOT / "ImageSets" / "Segmentation" / "train.txt", listing)
            write_text(folder / VOC_ROOT / "labelmap.txt", labelmap_text(
                dict(zip(classes.names, classes.colors)) | {VOC_IGNORE_NAME: IGNORE_COLOR}))
        elif format == "cvat":
            write_text(folder / "ImageSets" / "Segmentation" / "default.txt", listing)
            write_text(folder / "labelmap.txt", labelmap_text(cvat_labelmap(classes)))
        elif format == "coco":
            write_json(folder / COCO_FILE, {
                "info": {"description": "labels exported by a2lc-napari"},
                "images": coco_images, "annotations": coco_annots,
                "categories": [{"id": c + 1, "name": n, "supercategory": n}
                               for c, n in enumerate(classes.names)]})
        notes = {}
        if format == "cvat" and background_class(classes) is not None:
            # CVAT has one mark for unannotated pixels and the background class.
            notes["unlabelled pixels, painted as CVAT's background"] = unannotated
        write_text(folder / f"README.{format}",
                   readme_text(format, len(names), classes, {**(provenance or {}), **notes}))
    except BaseException:  # a failure, or a cancel: no half-written export left
        if new:  # in a folder it made, which a retry would find not empty
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def readme_text(format: str, n_images: int, classes: ClassSet, provenance: dict) -> str:
    """The export's ``README.<format>``: format, counts and ``provenance`` as
    ``key: value`` lines."""
    lines = [f"Labels corrected with a2lc-napari, exported as {format}: "
             f"{EXPORT_FORMATS[format]}.", "",
             f"images: {n_images}",
             f"classes: {classes.num_classes} ({', '.join(classes.names)}), "
             f"ignore value {classes.ignore_index}"]
    lines += [f"{key}: {value}" for key, value in provenance.items()]
    return "\n".join(lines) + "\n"
