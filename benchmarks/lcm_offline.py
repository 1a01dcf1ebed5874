"""The LCM's precision, round by round, on answers that the LCM does not
feed back: a quick check of its ingredients.

Runs ``--rounds`` rounds of A²LC's ranking (``--confidence``, as a session's)
with ``--budget`` region queries
answered from the ground truth (majority class) and written to the labels,
no LCM applied; the model retrains each round. At each round our LCM
proposes from the answers so far (as a session does), and the paper's LCM
from that round's answers at τ = 0.99, then 0.999. Prints per round:
changes, measured precision, estimated precision, τ, and our LCM's right
changes per correction by hand (answers that changed a label) so far.

    python benchmarks/lcm_offline.py DATASET [--set neighbours=3 appearance=0 ...]
"""
from __future__ import annotations

import argparse
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np


from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.image_cache import ImageCache
from a2lc_napari.engine.io import write_label
from a2lc_napari.engine.config import LCMConfig, ModelConfig
from a2lc_napari.engine.lcm import select_updates, train_lcm
from a2lc_napari.engine.lcm_proposal import examples, propose, region_features
from a2lc_napari.engine.methods import CONFIDENCES, METHODS, query_ranking
from a2lc_napari.engine.model import train_segmenter
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.region_summary import majority
from a2lc_napari.engine.regions import region_values
from a2lc_napari.engine.rounds import pick_queries, summarize_regions


def _precision(updates_right: list[bool]) -> str:
    return f"{100 * np.mean(updates_right):.0f}%" if updates_right else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--confidence", choices=CONFIDENCES, default="model")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="LCMConfig fields of our LCM, e.g. neighbours=3 reaches=0.5,1")
    args = parser.parse_args()
    config = LCMConfig()
    types = {f.name: type(getattr(config, f.name)) for f in fields(config)}
    for item in args.set:
        name, value = item.split("=")
        setattr(config, name, None if value == "None" else
                (value == "1") if types[name] is bool else
                tuple(float(v) for v in value.split(",")) if types[name] is tuple else
                types[name](value))
    paper = LCMConfig(paper=True)

    ds = open_dataset(args.dataset)
    ign, k = ds.classes.ignore_index, ds.classes.num_classes
    labels = {n: ds.labels(n) for n in ds.names}
    past, asked = [], set()
    corrections = right_changes = 0
    print("| round | answers | ours: changes | measured | estimated | τ "
          "| right per correction, so far | paper's: changes | measured |\n"
          "|---|---|---|---|---|---|---|---|---|")
    work = Path(tempfile.mkdtemp(prefix="lcm_offline_"))
    for r in range(1, args.rounds + 1):
        seg = drive(train_segmenter(lambda n: (ds.image(n), labels[n]), ds.names, k, ign,
                                    ModelConfig(steps=args.steps),
                                    seed=args.seed * 1000 + r), quiet=True)
        # The session's own steps: summarise (from the saved model and labels), rank, pick.
        method = METHODS["a2lc"]
        ranking = query_ranking(method, args.confidence, r)
        seg.save(work / "model.pt")
        for name, label in labels.items():
            write_label(work / f"{name}.png", label, ds.classes)
        s = drive(summarize_regions(work / "model.pt", None, ds,
                                    ImageCache(work / "images", ModelConfig().max_side),
                                    lambda n: work / f"{n}.png", ranking,
                                    seed=args.seed * 1000 + r), quiet=True)
        keys = s.keys()
        manual = np.isin(keys, list(asked))
        rows = np.array([q.row for q in pick_queries(s, manual, method, args.budget, ds.names,
                                                     ign, ranking)], dtype=np.int64)
        current = s.majority_label(ign)
        gt = majority(s.gt_hist, ign)
        old, answers = current[rows].copy(), gt[rows]
        for row, a in zip(rows, answers):
            name = ds.names[s.image[row]]
            new = region_values(ds.regions(name), np.array([s.ids[row]]), np.array([a]))
            labels[name][new >= 0] = new[new >= 0]
        current[rows] = answers
        asked |= set(keys[rows].tolist())
        eligible = ~np.isin(keys, list(asked))

        ours = propose(s, current, eligible, (rows, old, answers), past, ds.names, k, ign,
                       0.999, config, seed=r)
        valid = answers != ign
        mlp = train_lcm(s.mean_prob[rows[valid]], answers[valid], k, paper, seed=r)
        theirs = select_updates(mlp, s.mean_prob, current, eligible,
                                np.bincount(answers[valid], minlength=k),
                                0.99 if r == 1 else 0.999, paper.alpha)
        right = list(gt[theirs.update] == theirs.predicted[theirs.update])
        corrections += int(np.count_nonzero(old != answers))
        right_changes += sum(bool(u.correct) for u in ours.updates)
        est = "–" if ours.estimated_precision is None else (
            f"{ours.estimated_precision:.0f}% (≥ {ours.lower_precision:.0f}%, "
            f"{ours.held_out_changes} held out)")
        print(f"| {r} | {len(asked)} | {len(ours.updates)} | "
              f"{_precision([u.correct for u in ours.updates])} | {est} | "
              f"{'–' if ours.tau is None else ours.tau} | "
              f"{right_changes / max(corrections, 1):.2f} | {len(right)} | {_precision(right)} |",
              flush=True)
        past.append(examples(s, rows, old, answers, ign, config, region_features(s, config)))


if __name__ == "__main__":
    main()
