"""Quality: data mIoU per round of ALC, ABC, LCM and A²LC on the sample dataset.

Same budget for every method, several seeds; prints a Markdown table of
mean ± std data mIoU per round, and the LCM's precision. Each run is a
session folder under ``--out``: rerunning resumes unfinished runs.

    python benchmarks/quality.py --out runs/quality
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.session import Session, SessionConfig, simulate

#: row label → (method, LCM with our J4 criterion)
VARIANTS = {
    "ALC": ("alc", True),
    "ABC (no LCM)": ("abc", True),
    "LCM (ALC ranking)": ("lcm", True),
    "A²LC": ("a2lc", True),
    "A²LC, paper's LCM (J1-J3)": ("a2lc", False),
}


def run(dataset: Path, out: Path, method: str, agree: bool, seed: int, rounds: int,
        budget: int) -> list[dict]:
    if (out / "session.json").exists():
        session = Session.open(out)
    else:
        config = SessionConfig(method=method, budget=budget, seed=seed)
        config.lcm.agree_with_model = agree
        session = drive(Session.create(out, open_dataset(dataset, region_cache=out / "regions"),
                                       config), quiet=True)
    return drive(simulate(session, rounds), quiet=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/quality"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()

    dataset = args.out / "demo"
    if not (dataset / "classes.json").exists():
        make_demo_dataset(dataset)
    results = {}
    for name in args.variants:
        method, agree = VARIANTS[name]
        for seed in args.seeds:
            folder = args.out / f"{method}{'' if agree else '-paper'}_seed{seed}"
            history = run(dataset, folder, method, agree, seed, args.rounds, args.budget)
            results.setdefault(name, []).append(history)
            print(f"{name} seed {seed}: " + " ".join(f"{h['data_miou']:.1f}" for h in history),
                  flush=True)

    print(f"\nData mIoU (%) on the sample dataset, {args.budget} queries per round, "
          f"mean ± std over seeds {args.seeds}\n")
    print("| method | " + " | ".join(["init"] + [f"R{r}" for r in range(1, args.rounds + 1)])
          + " | LCM updates (right) |")
    print("|---" * (args.rounds + 3) + "|")
    for name, runs in results.items():
        miou = np.array([[h["data_miou"] for h in hist] for hist in runs])
        cells = [f"{m:.2f} ± {s:.2f}" for m, s in zip(miou.mean(0), miou.std(0))]
        made = sum(h["lcm_changes"] for hist in runs for h in hist)
        right = sum(h["lcm_correct"] for hist in runs for h in hist)
        lcm = f"{made / len(runs):.0f} ({100 * right / made:.0f}%)" if made else "–"
        print(f"| {name} | " + " | ".join(cells) + f" | {lcm} |")
    (args.out / "quality.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
