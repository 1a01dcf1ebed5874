"""The peer baseline's round-1 picks, judged by the simulated annotator's rule.

The peer baseline (``region_error_baseline.py``, given with ``--tool``)
ranks regions by boosted trees on colour statistics, out of fold, and
counts a region wrong when its majority label is not the ground truth's.
The query hit rate that ``a2lc simulate`` prints counts a region wrong the
annotator's way: at most half of its labelled pixels right
(:func:`~a2lc_napari.engine.query_stats.wrong_regions`). The two shares of
wrong regions differ, so their multiples of random cannot be compared as
they are. This script ranks the regions as the tool does (its own region
table; 5 folds of images by index, ``HistGradientBoostingClassifier(max_iter
=200, random_state=0)``, the probability of the region's own label, lowest
first) and prints the wrong regions among its top ``--budget`` and 5 × that
many by both rules.

    python benchmarks/peer_baseline.py DATASET --tool PATH/region_error_baseline.py --budget B
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from a2lc_napari.engine.annotator import changes_labels
from a2lc_napari.engine.dataset import open_dataset

FOLDS = 5


def load_tool(path: Path):
    spec = importlib.util.spec_from_file_location("region_error_baseline", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def peer_order(features: np.ndarray, noisy: np.ndarray, image: np.ndarray) -> np.ndarray:
    """(R,) int64 regions, the least probable own label first, as the tool ranks."""
    p_own = np.zeros(len(noisy))
    for fold in range(FOLDS):
        train, test = image % FOLDS != fold, image % FOLDS == fold
        if not test.any():  # fewer images than folds
            continue
        trees = HistGradientBoostingClassifier(max_iter=200, random_state=0)
        trees.fit(features[train], noisy[train])
        proba, classes = trees.predict_proba(features[test]), list(trees.classes_)
        p_own[test] = [proba[i, classes.index(c)] if c in classes else 0.0
                       for i, c in enumerate(noisy[test])]
    return np.argsort(p_own, kind="stable")


def annotator_wrong(dataset: Path) -> np.ndarray:
    """(R,) bool in the tool's region order (files sorted by name, ids
    ascending, 0 left out): regions whose labels the simulated annotator
    would change (:func:`changes_labels`)."""
    ds = open_dataset(dataset)
    ign = ds.classes.ignore_index
    wrong = []
    for path in sorted((dataset / "regions").glob("*.npy")):
        ids = np.load(path).ravel()
        labels, gt = ds.labels(path.stem).ravel(), ds.gt(path.stem).ravel()
        order = np.argsort(ids, kind="stable")  # each region's pixels, side by side
        present, starts = np.unique(ids[order], return_index=True)
        for rid, pixels in zip(present, np.split(order, starts[1:])):
            if rid != 0:
                wrong.append(changes_labels(labels[pixels], gt[pixels],
                                            ds.classes.num_classes, ign))
    return np.array(wrong)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--tool", type=Path, required=True,
                        help="the peer baseline's region_error_baseline.py")
    parser.add_argument("--budget", type=int, default=30)
    args = parser.parse_args()
    features, noisy, true, image = load_tool(args.tool).region_table(str(args.dataset))
    order = peer_order(features, noisy, image)
    rules = {"the tool's (majority label)": noisy != true,
             "the annotator's (its answer changes a label)": annotator_wrong(args.dataset)}
    print(f"{len(noisy)} regions\n")
    print(f"| wrong by | wrong regions | top {args.budget} | × random "
          f"| top {5 * args.budget} | × random |\n|---|---|---|---|---|---|")
    for rule, wrong in rules.items():
        cells = [f"{100 * wrong.mean():.1f}%"]
        for b in (args.budget, 5 * args.budget):
            cells += [f"{wrong[order[:b]].sum()} of {b}",
                      f"{wrong[order[:b]].mean() / wrong.mean():.2f}"]
        print(f"| {rule} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
