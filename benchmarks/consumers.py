"""Every export opened by the programs it is for, pixel for pixel.

Exports the sample dataset's labels (with an ignore patch per image) in
each format, opens each export with its consumers (torchvision's
VOCSegmentation and Cityscapes, pycocotools, datumaro) and prints, per
format and consumer, the images it found and the label pixels it reads
otherwise than exported. For cityscapes the sample dataset is laid out as
a Cityscapes folder first: its classes are Cityscapes classes by name.

    python benchmarks/consumers.py [--images N]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from a2lc_napari.engine.classes import CITYSCAPES_CLASSES
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.export import CITYSCAPES_LABEL_IDS, export_labels
from a2lc_napari.engine.progress import drive


def datumaro_labels(path: Path, format: str, names: list[str]) -> dict[str, np.ndarray]:
    """Label maps from datumaro's masks: class id by name, else 255."""
    import datumaro as dm

    data = dm.Dataset.import_from(str(path), format)
    categories = [c.name for c in data.categories()[dm.AnnotationType.label]]
    out = {}
    for item in data:
        painted = np.full(item.media.data.shape[:2], 255, np.uint8)
        for ann in item.annotations:
            if ann.type == dm.AnnotationType.mask:
                name = categories[ann.label]
                painted[ann.image.astype(bool)] = names.index(name) if name in names else 255
        out[item.id] = painted
    return out


def cityscapes_copy(dataset, labels: dict, root: Path) -> tuple:
    """The dataset as a Cityscapes folder, its labels as trainIds."""
    train_id = {n: CITYSCAPES_CLASSES.names.index(n) for n in dataset.classes.names}
    lut = np.full(256, 255, np.uint8)
    lut[:len(train_id)] = list(train_id.values())
    city = {}
    for name in dataset.names:
        stem = f"train/demo/{name}"
        (root / "leftImg8bit/train/demo").mkdir(parents=True, exist_ok=True)
        (root / "gtFine/train/demo").mkdir(parents=True, exist_ok=True)
        Image.fromarray(dataset.image(name)).save(root / f"leftImg8bit/{stem}_leftImg8bit.png")
        Image.fromarray(lut[dataset.labels(name)]).save(
            root / f"gtFine/{stem}_gtFine_labelTrainIds.png")
        city[stem] = lut[labels[name]]
    return open_dataset(root), city


def mismatched(read: dict, expected: dict) -> tuple[int, int, int]:
    """(images read, mismatched pixels, pixels) over the expected images."""
    bad = sum(int((read[k] != v).sum()) if k in read else v.size for k, v in expected.items())
    return sum(k in read for k in expected), bad, sum(v.size for v in expected.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    args = parser.parse_args()
    from pycocotools.coco import COCO
    from torchvision.datasets import Cityscapes, VOCSegmentation

    tmp = Path(tempfile.mkdtemp())
    dataset = open_dataset(make_demo_dataset(tmp / "demo", n_images=args.images, seed=0))
    labels = {n: dataset.labels(n) for n in dataset.names}
    for lab in labels.values():
        lab[:8, :16] = 255
    names = list(dataset.classes.names)
    rows = []

    def export(data, labs, format):
        out = tmp / format
        drive(export_labels(out, data.names, labs.__getitem__, data.classes, data.inputs,
                            format, image_of=data.image_path), quiet=True)
        return out

    out = export(dataset, labels, "voc")
    voc = VOCSegmentation(str(out), year="2012", image_set="train")
    rows.append(("voc", "torchvision VOCSegmentation", mismatched(
        {n: np.asarray(voc[i][1]) for i, n in enumerate(dataset.names)}, labels)))
    rows.append(("voc", "datumaro voc_segmentation", mismatched(
        datumaro_labels(out / "VOCdevkit/VOC2012", "voc_segmentation", names), labels)))
    out = export(dataset, labels, "cvat")
    # CVAT: ignore is unannotated, painted as background (no class of this dataset)
    rows.append(("cvat", "datumaro voc_segmentation", mismatched(
        datumaro_labels(out, "voc_segmentation", names), labels)))
    out = export(dataset, labels, "coco")
    coco = COCO(str(out / "annotations/instances_default.json"))
    read = {}
    for entry in coco.loadImgs(coco.getImgIds()):
        painted = np.full((entry["height"], entry["width"]), 255, np.uint8)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=[entry["id"]])):
            painted[coco.annToMask(ann).astype(bool)] = ann["category_id"] - 1
        assert (out / "images/default" / entry["file_name"]).is_file()
        read[entry["file_name"].rsplit(".", 1)[0]] = painted
    rows.append(("coco", "pycocotools COCO", mismatched(read, labels)))
    rows.append(("coco", "datumaro coco_instances", mismatched(
        datumaro_labels(out, "coco_instances", names), labels)))
    city_data, city_labels = cityscapes_copy(dataset, labels, tmp / "cityscapes_in")
    out = export(city_data, city_labels, "cityscapes")
    cs = Cityscapes(str(out), split="train", mode="fine", target_type="semantic")
    label_ids = np.zeros(256, np.uint8)
    label_ids[:19] = CITYSCAPES_LABEL_IDS
    read = {f"train/demo/{Path(p).name[:-len('_leftImg8bit.png')]}": np.asarray(cs[i][1])
            for i, p in enumerate(cs.images)}
    rows.append(("cityscapes", "torchvision Cityscapes (labelIds)", mismatched(
        read, {k: label_ids[v] for k, v in city_labels.items()})))
    squeezed = [n.replace(" ", "") for n in CITYSCAPES_CLASSES.names]
    read = datumaro_labels(out, "cityscapes", squeezed)
    # datumaro's Cityscapes loader skips label id 0 (road): `if label_id:`
    rows.append(("cityscapes", "datumaro cityscapes (road not read: its bug)", mismatched(
        {f"train/{k}": v for k, v in read.items()},
        {k: np.where(v == 0, 255, v) for k, v in city_labels.items()})))
    print("| format | opened by | images found | mismatched label pixels |")
    print("|---|---|---|---|")
    for format, consumer, (found, bad, total) in rows:
        print(f"| {format} | {consumer} | {found} / {args.images} | {bad} of {total:,} |")


if __name__ == "__main__":
    main()
