"""The pure steps of a round: summarise the regions, pick the queries, measure
the labels, and the round's record and log.

Functions of arrays and of the dataset, without a session: the session's
round (:mod:`~a2lc_napari.engine.session`) and the benchmarks call the same
ones, so that a benchmark measures the product.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from . import acquisition as acq
from .dataset import Dataset
from .image_cache import ImageCache
from .methods import OUT_OF_FOLD_RANKINGS, Method
from .inference import summarize_dataset
from .metrics import class_iou, class_pixels, confusion, mean_iou
from .progress import Progress, Steps
from .query_stats import hit_rate, wrong_share
from .region_classifier import summary_probabilities
from .region_summary import RegionSummary, region_keys
from .state import Event, LCMProposal, LCMUpdate, Query, RoundRecord, SessionState


def summarize_regions(model: Path, device: str | None, dataset: Dataset,
                      images: ImageCache, label_path: Callable[[str], Path], ranking: str,
                      seed: int, executor: Executor | None = None,
                      oof_prob: np.ndarray | None = None) -> Steps[RegionSummary]:
    """Every region's summary under the prediction of the model saved in
    ``model`` and the current labels in ``label_path(name)``
    (:func:`~a2lc_napari.engine.inference.summarize_dataset`, on
    ``executor`` if given), with what ``ranking`` needs: a representative
    pixel for ``"sim"``, out-of-fold probabilities for the rankings in
    :data:`~a2lc_napari.engine.methods.OUT_OF_FOLD_RANKINGS` (drawn with
    ``seed``; their folds on ``executor`` too), or ``oof_prob`` (R, K)
    where they were made from the same labels before θ trained
    (:func:`~a2lc_napari.engine.label_pruning.judge_labels`)."""
    classes = dataset.classes
    summary = yield from summarize_dataset(model, device, dataset, images, label_path,
                                           ranking == "sim", executor)
    if oof_prob is not None:
        if len(oof_prob) != len(summary):
            raise ValueError(f"{len(oof_prob)} out-of-fold rows for {len(summary)} regions")
        summary.oof_prob = oof_prob
    elif ranking in OUT_OF_FOLD_RANKINGS:
        summary.oof_prob = yield from summary_probabilities(
            summary, classes.num_classes, classes.ignore_index, seed=seed, executor=executor)
    return summary


def region_mask(summary: RegionSummary, pairs: Iterable[tuple[str, int]],
                names: list[str]) -> np.ndarray:
    """(R,) bool: the summary's regions among the ``(image, region)`` ``pairs``."""
    name_index = {n: i for i, n in enumerate(names)}
    pairs = list(pairs)
    image = np.array([name_index[n] for n, _ in pairs], dtype=np.int64)
    ids = np.array([r for _, r in pairs], dtype=np.int64)
    return np.isin(summary.keys(), region_keys(image, ids))


def manual_mask(summary: RegionSummary, manual: dict[str, list[int]],
                names: list[str]) -> np.ndarray:
    """(R,) bool: the summary's regions in ``manual`` (``{image: [region]}``)."""
    return region_mask(summary, ((n, r) for n, ids in manual.items() for r in ids), names)


def pick_queries(summary: RegionSummary, manual: np.ndarray, method: Method, budget: int,
                 names: list[str], ignore_index: int, ranking: str | None = None
                 ) -> list[Query]:
    """The round's queries: the ``budget`` best-ranked regions not in
    ``manual`` (R,) bool, best first, by ``ranking`` (default: the method's)."""
    score = acq.region_scores(summary, ranking or method.ranking, manual)
    current = summary.majority_label(ignore_index)
    return [Query(index=j, image=names[summary.image[r]], region=int(summary.ids[r]),
                  row=int(r), label=int(current[r]), score=float(score[r]),
                  pixel=None if method.region_query else tuple(summary.pixel[r].tolist()))
            for j, r in enumerate(acq.rank(score, manual)[:budget])]


def label_metrics(dataset: Dataset, labels: Callable[[str], np.ndarray]) -> Steps[dict]:
    """Pixels per class of the current ``labels(name)`` and, with ground
    truth, their data mIoU and per-class IoU: the fields of a
    :class:`~a2lc_napari.engine.state.RoundRecord` they fill."""
    classes = dataset.classes
    conf = np.zeros((classes.num_classes + 1, classes.num_classes), dtype=np.int64)
    pixels = np.zeros(classes.num_classes + 1, dtype=np.int64)  # last: ignore
    for i, name in enumerate(dataset.names):
        current = labels(name)
        pixels += class_pixels(current, classes.num_classes, classes.ignore_index)
        if dataset.has_gt:
            conf += confusion(current, dataset.gt(name), classes.num_classes,
                              classes.ignore_index)
        yield Progress(i + 1, len(dataset.names), "Measuring labels")
    out = {"class_pixels": pixels[:-1].tolist(), "ignore_pixels": int(pixels[-1])}
    if dataset.has_gt:
        iou = class_iou(conf)
        out.update(data_miou=round(mean_iou(conf), 3),
                   class_iou={n: None if np.isnan(v) else round(float(v) * 100, 3)
                              for n, v in zip(classes.names, iou)})
    return out


def queryable_wrong_share(summary: RegionSummary, state: SessionState,
                          names: list[str]) -> float | None:
    """Percentage of wrong regions among those the round ``state`` is in
    could query (not manual before it: its queries count)."""
    exclude = manual_mask(summary, state.manual, names)
    exclude[[q.row for q in state.queries]] = False
    return wrong_share(summary, exclude)


def round_record(state: SessionState, proposal: LCMProposal, updates: list[LCMUpdate],
                 accepted: list[LCMUpdate], wrong: float | None, metrics: dict,
                 has_gt: bool) -> RoundRecord:
    """The record of the round ``state`` is in, its answers in: the LCM's
    ``proposal``, the ``updates`` it applied and the proposals the person
    ``accepted`` (:func:`accepted_proposals`), the share of ``wrong``
    regions it could query (percent) and the labels' ``metrics``
    (:func:`label_metrics`)."""
    answered = state.answered()
    corrections = sum(q.rewrite for q in answered)
    correct = sum(bool(u.correct) for u in updates)
    return RoundRecord(
        round=state.round, queries=len(answered), manual_changes=corrections,
        hand_pixels=state.hand_pixels, lcm_changes=len(updates), lcm_correct=correct,
        lcm_rejected=len(state.lcm_rejected),
        lcm_accepted=len(accepted),
        lcm_tau=proposal.tau, lcm_reach=proposal.reach,
        lcm_estimated_precision=proposal.estimated_precision,
        lcm_held_out_changes=proposal.held_out_changes,
        lcm_lower_precision=proposal.lower_precision,
        lcm_precision=round(100 * correct / len(updates), 2) if has_gt and updates else None,
        lcm_checks=proposal.checks, lcm_checks_right=proposal.checks_right,
        lcm_reason=proposal.reason,
        wrong_share=_rounded(wrong),
        hit_rate=_rounded(hit_rate(corrections, len(answered), wrong)),
        **metrics)


def round_log(state: SessionState, proposal: LCMProposal, updates: list[LCMUpdate],
              accepted: list[LCMUpdate], record: RoundRecord) -> dict:
    """The JSON log of a finished round: its queries, LCM updates, reviews and metrics."""
    return {"round": state.round, "method": state.config.method,
            "tau": proposal.tau, "reach": proposal.reach,
            "estimated_precision": proposal.estimated_precision,
            "held_out_changes": proposal.held_out_changes,
            "lower_precision": proposal.lower_precision,
            "queries": [asdict(q) for q in state.queries],
            "lcm_updates": [asdict(u) for u in updates],
            "lcm_rejected": state.lcm_rejected,
            "lcm_accepted": [asdict(u) for u in accepted],
            "metrics": asdict(record)}


def accepted_proposals(journal: list[Event], round_: int) -> list[LCMUpdate]:
    """The LCM's proposals of round ``round_`` the person accepted before its
    end (not undone): changes the round's ``lcm_updates`` do not hold."""
    return [u for e in journal if e.kind == "lcm_accept" and not e.undone and e.round == round_
            for u in e.changes if u not in e.applied_removed]


def session_totals(state: SessionState) -> dict:
    """What a session's rounds did so far, the open round's answers and
    paint included, in words (an export's provenance)."""
    done, answered = state.history[1:], state.answered()
    lcm_kept, lcm_taken_back = lcm_changes_kept(state.journal)
    return {"rounds finished": len(done),
            "queries answered": sum(r.queries for r in done) + len(answered),
            "labels changed by answers": (sum(r.manual_changes for r in done)
                                          + sum(q.rewrite for q in answered)),
            "pixels painted by hand": sum(r.hand_pixels for r in done) + state.hand_pixels,
            "regions changed by the LCM": lcm_kept,
            "LCM changes applied, then taken back by the person": lcm_taken_back}


def lcm_changes_kept(journal: list[Event]) -> tuple[int, int]:
    """The regions the LCM's changes hold in the labels (applied at a round's
    end or accepted before it), and how many applied changes the person took
    back since, over the events of ``journal`` not undone."""
    in_place, taken_back = set(), 0
    for event in journal:
        if event.undone:
            continue
        if event.kind in ("lcm_apply", "lcm_accept"):
            in_place |= {u.key for u in event.changes}
        elif event.kind == "lcm_reject":
            in_place -= {u.key for u in event.applied_removed}
            taken_back += len(event.applied_removed)
    return len(in_place), taken_back


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
