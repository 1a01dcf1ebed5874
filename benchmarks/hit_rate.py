"""Round-1 query hit rate of several rankings, side by side, on one trained model.

Trains the segmentation model once on the pseudo-labels (a session's
round 1), summarises every region, then ranks the regions each way and
prints the share of wrong regions (whose labels the annotator's answer
changes) among the top ``--budget`` and 5 × that many, as a multiple of
random picks:

- ALC: ``a_SIM`` over the model's probabilities (the authors' rule);
- ABC, model: ``a_ABC`` over the model's probabilities (the authors' rule);
- ABC, out of fold: ``a_ABC`` with ``f`` the out-of-fold region
  probabilities (:mod:`~a2lc_napari.engine.region_classifier`), one vector
  per region;
- doubt, out of fold: the mean ``a_CIL`` over each region with the same
  ``f`` (:func:`~a2lc_napari.engine.acquisition.label_doubt`), no class
  weights and no sum over pixels (``--confidence out_of_fold``);
- ABC × doubt: the authors' ``a_ABC`` over the model's probabilities times
  that doubt, what an A²LC session ranks by from round 2 (``--confidence
  both``, the default);
- turns: the doubt and ABC × doubt taking turns
  (:func:`~a2lc_napari.engine.acquisition.taking_turns`), what it ranks by
  in round 1.

Besides the wrong regions among the top picks, it prints the wrongly
labelled pixels their answers would set right (the annotator writes the
region's majority ground truth over it): a ranking can find more wrong
regions per query and still set fewer pixels right, by asking about
smaller ones.

The summary is kept in ``--out``, so a rerun skips the training.

With ``--prune`` the model is trained without the labels the out-of-fold
trees doubt (``ModelConfig.prune``), and the line on the model's class
shows what that does to the LCM's J4: on how many wrong regions the
model's class is the truth.

With ``--cross-fit F`` the model is cross-fitted instead: the images are
dealt into F folds, a model is trained on the pseudo-labels of each
fold's complement, and each image is judged by the model that never saw
it (confident learning's recipe, for the segmentation model itself).

    python benchmarks/hit_rate.py DATASET --out runs/hit_rate/NAME [--budget 30]
        [--cross-fit 2] [--prune] [--steps 600]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from a2lc_napari.engine import acquisition as acq
from a2lc_napari.engine import region_classifier as rc
from a2lc_napari.engine.config import ModelConfig
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.image_cache import ImageCache
from a2lc_napari.engine.label_pruning import judge_labels, without
from a2lc_napari.engine.model import train_segmenter
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.query_stats import wrong_regions
from a2lc_napari.engine.region_summary import RegionSummary, summarize_image


def summarise(dataset: Path, out: Path, seed: int, steps: int,
              folds: int = 1, prune: bool = False) -> RegionSummary:
    """Every region's summary under a model trained on the pseudo-labels:
    one model of all the images (``folds`` 1), or each image under the
    model trained on the other folds' images; with ``prune``, trained
    without the labels the out-of-fold trees doubt, as a session's round 1
    with ``ModelConfig.prune``."""
    tag = (f"_crossfit{folds}" if folds > 1 else "") + ("_pruned" if prune else "")
    path = out / f"summary_seed{seed}_steps{steps}{tag}.npz"
    if path.exists():
        return RegionSummary.load(path)
    ds = open_dataset(dataset)
    ign, k = ds.classes.ignore_index, ds.classes.num_classes
    config = ModelConfig(steps=steps)
    left_out = {}
    if prune:
        _, left_out = drive(judge_labels(ds, ImageCache(out / "images", config.max_side),
                                         ds.labels, {}, seed=seed * 1000 + 1), quiet=True)
    fold = (np.zeros(len(ds.names), dtype=np.int64) if folds == 1
            else rc.image_folds(np.arange(len(ds.names)), folds, seed))
    parts = [None] * len(ds.names)
    for f in np.unique(fold):
        train = [n for n, g in zip(ds.names, fold) if folds == 1 or g != f]
        seg = drive(train_segmenter(
            lambda n: (ds.image(n), without(ds.labels(n), ds.regions(n), left_out[n], ign)
                       if prune else ds.labels(n)),
            train, k, ign, config, seed=seed * 1000 + 1), quiet=True)
        for i in np.flatnonzero(fold == f):
            n = ds.names[i]
            image = ds.image(n)
            parts[i] = summarize_image(seg.output(image), ds.labels(n), ds.regions(n), ign,
                                       gt=ds.gt(n), image_index=int(i), image=image)
    s = RegionSummary.concatenate(parts)
    out.mkdir(parents=True, exist_ok=True)
    s.save(path)
    return s


def constant_f_parts(prob: np.ndarray, label_hist: np.ndarray) -> np.ndarray:
    """``RegionSummary.abc_parts`` when ``f`` is one vector ``prob`` (R, K)
    per region: ``cos = 1``, and each pixel's ``a_CIL`` goes to its label's
    class (an ignore pixel's to ``argmax prob``)."""
    parts = label_hist[:, :-1] * (1.0 - prob)
    rows, top = np.arange(len(prob)), prob.argmax(axis=1)
    parts[rows, top] += label_hist[:, -1] * (1.0 - prob[rows, top])
    return parts


def pixels_set_right(s: RegionSummary, wrong: np.ndarray) -> np.ndarray:
    """(R,) int64 labelled pixels an answer would set right: for a wrong
    region, those of its majority ground-truth class not labelled so now."""
    rows = np.arange(len(s))
    answer = s.gt_hist[:, :-1].argmax(axis=1)
    return np.where(wrong, s.gt_hist[rows, answer] - s.gt_agree, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=ModelConfig.steps)
    parser.add_argument("--cross-fit", type=int, default=1, metavar="FOLDS",
                        help="judge each image by a model trained on the other folds' images")
    parser.add_argument("--prune", action="store_true",
                        help="train the model without the labels the out-of-fold trees doubt")
    args = parser.parse_args()
    ds = open_dataset(args.dataset)
    ign, k = ds.classes.ignore_index, ds.classes.num_classes
    s = summarise(args.dataset, args.out, args.seed, args.steps, args.cross_fit, args.prune)
    wrong = wrong_regions(s)
    model_abc = acq.region_scores(s, "abc")
    s.oof_prob = drive(rc.summary_probabilities(s, k, ign, seed=args.seed), quiet=True)
    model_abc_doubt = acq.region_scores(s, "abc_doubt")
    turns = acq.region_scores(s, "turns")
    s.abc_parts = constant_f_parts(s.oof_prob, s.label_hist)
    scores = {
        "ALC (model)": acq.region_scores(s, "sim"),
        "ABC (model)": model_abc,
        "ABC (out of fold)": acq.region_scores(s, "abc"),
        "doubt (out of fold)": acq.region_scores(s, "doubt"),
        "ABC (model) × doubt (out of fold)": model_abc_doubt,
        "turns: doubt, then ABC (model) × doubt": turns,
    }
    fixed = pixels_set_right(s, wrong)
    model = "one model" if args.cross_fit == 1 else f"cross-fitted, {args.cross_fit} folds"
    model += ", trained without the doubted labels" if args.prune else ""
    print(f"{len(s)} regions, {100 * wrong.mean():.1f}% wrong (limit "
          f"{1 / wrong.mean():.1f}× random); {model}: {args.steps} steps, seed {args.seed}")
    # What the LCM's J4 needs: the model's class is the truth where the label is wrong.
    labels, classes = s.majority_label(ign), s.mean_prob.argmax(axis=1)
    labelled = labels < k
    truth = s.gt_hist[:, :-1].argmax(axis=1)
    on_wrong, on_right = wrong & labelled, ~wrong & labelled
    print(f"the model's class is the truth on {(classes == truth)[on_wrong].sum()} of "
          f"{on_wrong.sum()} wrong labelled regions, and not the label on "
          f"{(classes != labels)[on_right].sum()} of {on_right.sum()} right ones\n")
    print(f"| ranking | top {args.budget} | × random | pixels set right "
          f"| top {5 * args.budget} | × random | pixels set right |\n"
          "|---|---|---|---|---|---|---|")
    for name, score in scores.items():
        order = acq.rank(score)
        cells = []
        for b in (args.budget, 5 * args.budget):
            hit = wrong[order[:b]].mean()
            cells += [f"{wrong[order[:b]].sum()} of {b}", f"{hit / wrong.mean():.2f}",
                      f"{fixed[order[:b]].sum():,}"]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
