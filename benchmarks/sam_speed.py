"""How long SAM regions take per image on this machine.

Builds the real vit_b architecture with random weights (no checkpoint is
downloaded), then times one region map of a 512×512 sample image in each
mode:

- ``auto``: SAM's automatic mask generator at its default settings (32×32
  point prompts). Random weights pass few masks through its quality
  filters, so the row with the filters off (every mask kept) bounds the
  time from above;
- ``boxes``: one mask per box around each piece of the pseudo-labels.

Prints a Markdown table.

    python benchmarks/sam_speed.py --out runs/sam_speed
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from segment_anything import sam_model_registry

from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.sam import SamRegions, label_boxes

#: (row label, mode, generator options)
SETTINGS = [("auto", "auto", None),
            ("auto, quality filters off", "auto",
             {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}),
            ("boxes", "boxes", None)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/sam_speed"))
    args = parser.parse_args()
    ds = open_dataset(make_demo_dataset(args.out / "data", n_images=1, size=(512, 512)))
    name = ds.names[0]
    image, labels = ds.image(name), ds.labels(name)
    torch.manual_seed(0)
    model = sam_model_registry["vit_b"]().eval()
    n_boxes = len(label_boxes(labels, ds.classes.ignore_index))
    print(f"vit_b, random weights, one 512×512 image, {torch.get_num_threads()} CPU threads, "
          f"{n_boxes} pseudo-label pieces")
    print("| mode | masks | regions | seconds per image |")
    print("|---|---|---|---|")
    for row, mode, options in SETTINGS:
        make = SamRegions.from_model(model, mode, options)
        start = time.perf_counter()
        regions = make(image, labels, ds.classes.ignore_index)
        seconds = time.perf_counter() - start
        masks = sum(1 for _ in make.masks(image, labels, ds.classes.ignore_index))
        print(f"| {row} | {masks} | {regions.max()} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
