"""How long SAM regions take per image on this machine.

Builds the real vit_b architecture with random weights (no checkpoint is
downloaded), or loads the SAM checkpoint given as a session does, then
times one region map of a ``--size`` sample image (512×512) in each mode:

- ``auto``: SAM's automatic mask generator at its default settings (32×32
  point prompts). Random weights pass few masks through its quality
  filters, so the row with the filters off (every mask kept) bounds the
  time from above;
- ``boxes``: one mask per box around each piece of the pseudo-labels.

Prints a Markdown table.

    python benchmarks/sam_speed.py --out runs/sam_speed [--checkpoint sam_vit_b_01ec64.pth]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from segment_anything import sam_model_registry

from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.sam import SamRegions, label_boxes, load_sam

#: (row label, mode, generator options)
SETTINGS = [("auto", "auto", None),
            ("auto, quality filters off", "auto",
             {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}),
            ("boxes", "boxes", None)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/sam_speed"))
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--checkpoint", type=Path,
                        help="a SAM checkpoint, loaded as a session loads it (default: vit_b "
                             "with random weights)")
    args = parser.parse_args()
    side = args.size
    ds = open_dataset(make_demo_dataset(args.out / "data", n_images=1, size=(side, side)))
    name = ds.names[0]
    image, labels = ds.image(name), ds.labels(name)
    torch.manual_seed(0)
    if args.checkpoint is None:
        model, weights = sam_model_registry["vit_b"]().eval(), "vit_b, random weights"
    else:
        model, weights = load_sam(args.checkpoint), args.checkpoint.name  # on CUDA if any
    n_boxes = len(label_boxes(labels, ds.classes.ignore_index))
    print(f"{weights}, one {side}×{side} image, on {next(model.parameters()).device} "
          f"({torch.get_num_threads()} CPU threads), {n_boxes} pseudo-label pieces")
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
