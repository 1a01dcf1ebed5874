"""Quality: data mIoU per round of ALC, ABC, LCM and A²LC, how well each
round's queries found wrong labels (hit rate), and what the LCM did in each
round (changes, measured and estimated precision, right changes per
correction by hand, τ).

Same budget for every method, several seeds. Three datasets: the synthetic
sample (``--dataset demo``), slices of the MNI152 brain template with
realistic pseudo-label errors (``--dataset mni``, built by
``benchmarks/mni_dataset.py``; needs nilearn's wheel), and PASCAL VOC photos
with detector + SAM errors (``--dataset voc``, ``benchmarks/voc_dataset.py``). Each run is a
session folder under ``--out``: rerunning resumes unfinished runs.

    python benchmarks/quality.py --dataset demo --out runs/quality
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, is_dataclass
from pathlib import Path

import numpy as np

from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.query_stats import right_per_correction
from a2lc_napari.engine.config import SessionConfig
from a2lc_napari.engine.driver import simulate, start_session

sys.path.insert(0, str(Path(__file__).parent))
from mni_dataset import make_mni_dataset  # noqa: E402
from voc_dataset import make_voc_dataset  # noqa: E402

DATASETS = {"demo": make_demo_dataset, "mni": make_mni_dataset, "voc": make_voc_dataset}

#: row label → (method, the paper's LCM, A²LC's confidence)
VARIANTS = {
    "ALC": ("alc", False, "model"),
    "ABC (no LCM)": ("abc", False, "model"),
    "LCM (ALC ranking)": ("lcm", False, "model"),
    "A²LC": ("a2lc", False, "model"),
    "A²LC, paper's LCM": ("a2lc", True, "model"),
    "ABC, out of fold": ("abc", False, "out_of_fold"),
    "A²LC, out of fold": ("a2lc", False, "out_of_fold"),
}


def run(dataset: Path, out: Path, method: str, paper: bool, confidence: str, seed: int,
        rounds: int, budget: int, steps: int | None) -> list[dict]:
    config = SessionConfig(method=method, budget=budget, seed=seed, confidence=confidence)
    config.lcm.paper = paper
    if steps:
        config.model.steps = steps
    session = drive(start_session(out, dataset, config), quiet=True)
    history = drive(simulate(session, rounds), quiet=True)
    return [asdict(h) if is_dataclass(h) else dict(h) for h in history]


def _mean_std(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}"


def _per_run(values) -> str:
    return " / ".join("–" if v is None else f"{v:g}" for v in values)


def miou_table(results: dict[str, list[list[dict]]], rounds: int) -> str:
    lines = ["| method | " + " | ".join(["init"] + [f"R{r}" for r in range(1, rounds + 1)])
             + " |", "|---" * (rounds + 2) + "|"]
    for name, runs in results.items():
        cells = [_mean_std([hist[r]["data_miou"] for hist in runs]) for r in range(rounds + 1)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def hit_table(results: dict[str, list[list[dict]]], rounds: int) -> str:
    """Per variant and round: the share of wrong regions among those that
    could be queried and the query hit rate (× random), mean ± std over
    runs; corrections by hand and, with an LCM, its right changes per
    correction (pooled over runs)."""
    lines = ["| method | round | wrong regions % | hit rate (× random) | corrections "
             "| LCM right per correction |", "|---|---|---|---|---|---|"]
    for name, runs in results.items():
        for r in range(1, rounds + 1):
            fixed = sum(hist[r]["manual_changes"] for hist in runs)
            right = sum(hist[r]["lcm_correct"] for hist in runs)
            per = right_per_correction(right, fixed)
            per = "–" if per is None or VARIANTS[name][0] not in ("lcm", "a2lc") else f"{per:.2f}"
            lines.append(f"| {name} | {r} | {_mean_std([h[r].get('wrong_share') for h in runs])} "
                         f"| {_mean_std([h[r].get('hit_rate') for h in runs])} | "
                         f"{' / '.join(str(h[r]['manual_changes']) for h in runs)} | {per} |")
    return "\n".join(lines)


def lcm_table(results: dict[str, list[list[dict]]], rounds: int) -> str:
    """Per LCM variant and round: changes per run, measured precision over all
    runs' changes, estimated precision and its 90% lower bound (means over
    runs where set), the held-out changes behind the estimate, τ and reach
    per run."""
    lines = ["| method | round | LCM changes | measured precision | estimated precision "
             "| at least (90%) | held-out changes | τ | reach |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, runs in results.items():
        if VARIANTS[name][0] not in ("lcm", "a2lc"):
            continue
        for r in range(1, rounds + 1):
            made = [hist[r]["lcm_changes"] for hist in runs]
            right = sum(hist[r]["lcm_correct"] for hist in runs)
            est = [hist[r].get("lcm_estimated_precision") for hist in runs]
            low = [hist[r].get("lcm_lower_precision") for hist in runs]
            held = [hist[r].get("lcm_held_out_changes", 0) for hist in runs]
            taus = [hist[r].get("lcm_tau") for hist in runs]
            reaches = [hist[r].get("lcm_reach") if tau is not None else None
                       for hist, tau in zip(runs, taus)]  # no τ: no reach either
            measured = f"{100 * right / sum(made):.0f}%" if sum(made) else "–"
            est = [100 * e if e is not None and e <= 1 else e for e in est]
            lines.append(f"| {name} | {r} | {' / '.join(map(str, made))} | {measured} | "
                         f"{_mean_std(est)} | {_mean_std(low)} | {_per_run(held)} | "
                         f"{_per_run(taus)} | {_per_run(reaches)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=list(DATASETS), default="demo")
    parser.add_argument("--out", type=Path, default=Path("runs/quality"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps of the segmentation model per round "
                             "(default: the session's)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS)[:5],
                        choices=list(VARIANTS))
    args = parser.parse_args()

    out = args.out / args.dataset
    dataset = out / "data"
    if not (dataset / "classes.json").exists():
        DATASETS[args.dataset](dataset)
    results = {}
    for name in args.variants:
        method, paper, confidence = VARIANTS[name]
        for seed in args.seeds:
            oof = "-oof" if confidence == "out_of_fold" else ""
            folder = out / f"{method}{'-paper' if paper else ''}{oof}_seed{seed}"
            history = run(dataset, folder, method, paper, confidence, seed, args.rounds,
                          args.budget, args.steps)
            results.setdefault(name, []).append(history)
            print(f"{name} seed {seed}: " + " ".join(f"{h['data_miou']:.1f}" for h in history),
                  flush=True)

    print(f"\nData mIoU (%) on {args.dataset}, {args.budget} queries per round, "
          f"mean ± std over seeds {args.seeds}\n")
    print(miou_table(results, args.rounds))
    print("\nThe LCM per round (changes per seed; measured precision over all seeds' "
          "changes; estimated precision and its lower bound mean ± std; held-out "
          "changes, τ and reach per seed)\n")
    print(lcm_table(results, args.rounds))
    print("\nQueries: wrong regions among those that could be queried, hit rate "
          "(mean ± std over seeds), corrections by hand per seed, the LCM's right "
          "changes per correction (all seeds)\n")
    print(hit_table(results, args.rounds))
    (out / "quality.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
