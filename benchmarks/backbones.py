"""Which segmentation model gives the best data mIoU per second?

Runs A²LC on the sample dataset with each backbone and training length, and
prints data mIoU per round next to the run's wall-clock time (training,
prediction, ranking and LCM together).

    python benchmarks/backbones.py --out runs/backbones
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.config import ModelConfig, SessionConfig
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.driver import simulate
from a2lc_napari.engine.session import Session

#: (backbone, training steps per round)
SETTINGS = [("scratch", 150), ("efficientnet_lite0", 40), ("efficientnet_lite0", 150)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/backbones"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=30)
    args = parser.parse_args()

    dataset = args.out / "demo"
    if not (dataset / "classes.json").exists():
        make_demo_dataset(dataset)
    rows = []
    for backbone, steps in SETTINGS:
        out = args.out / f"{backbone}_{steps}"
        config = SessionConfig(method="a2lc", budget=args.budget,
                               model=ModelConfig(backbone=backbone, steps=steps))
        start = time.perf_counter()
        session = drive(Session.create(out, open_dataset(dataset, region_cache=out / "regions"),
                                       config), quiet=True)
        history = drive(simulate(session, args.rounds), quiet=True)
        rows.append((backbone, steps, time.perf_counter() - start, history))
        print(rows[-1][:3], [h.data_miou for h in history], flush=True)

    print(f"\nA²LC on the sample dataset, {args.budget} queries per round, seed 0\n")
    print("| backbone | steps/round | run time (s) | "
          + " | ".join(["init"] + [f"R{r}" for r in range(1, args.rounds + 1)]) + " |")
    print("|---" * (args.rounds + 4) + "|")
    for backbone, steps, seconds, history in rows:
        print(f"| {backbone} | {steps} | {seconds:.0f} | "
              + " | ".join(f"{h.data_miou:.2f}" for h in history) + " |")


if __name__ == "__main__":
    main()
