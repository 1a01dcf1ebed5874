"""A²LC's Label Correction Module: learn from the answers, then relabel
the regions it can vouch for (ALGORITHM.md, "LCM").

Two variants share STEP 1's MLP. The paper's (``LCMConfig.paper``): this
round's answers, mean probabilities as features, criteria J1-J3 at a fixed
τ (:func:`select_updates`). Ours (default): every answer so far, richer
region features (:func:`lcm_features`), and a change must also be
supported by answers nearby in feature space (:func:`neighbour_agreement`), be
a confusion the answers showed (:func:`confusions_seen`) and agree with the
segmentation model (J4) (all in :func:`decide`); τ is then chosen from the
precision estimated on held-out answers
(:mod:`~a2lc_napari.engine.lcm_precision`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .config import LCMConfig
from .model import one_thread
from .optim import Adam


def make_mlp(in_features: int, num_classes: int, hidden: tuple[int, ...]) -> nn.Sequential:
    """F → hidden… → K with ReLU between layers; outputs logits."""
    sizes = (in_features, *hidden)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], num_classes))


def class_balance_weights(targets: np.ndarray, num_classes: int) -> np.ndarray:
    """(K,) float32 ``total / count(c)`` normalised to sum 1; 0 for absent classes."""
    counts = np.bincount(targets, minlength=num_classes).astype(np.float64)
    w = np.zeros(num_classes)
    present = counts > 0
    w[present] = counts.sum() / counts[present]
    return (w / w.sum()).astype(np.float32)


def train_lcm(features: np.ndarray, targets: np.ndarray, num_classes: int,
              config: LCMConfig, seed: int = 0) -> nn.Sequential:
    """STEP 1: fit the MLP on answered regions.

    Parameters
    ----------
    features : (n, F) float32
        Feature vector of each answered region (the paper: its K mean
        probabilities).
    targets : (n,) int
        The answered class of each (answers "ignore" must be left out).
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    mlp = make_mlp(features.shape[1], num_classes, config.hidden)
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(targets, dtype=torch.long)
    loss_fn = nn.CrossEntropyLoss(weight=torch.from_numpy(
        class_balance_weights(targets, num_classes)))
    opt = Adam(mlp.parameters(), lr=config.lr)
    # Ours: full batch for full_batch_steps (it runs once per fold).
    if config.paper:
        batch_size = config.batch_size
        epochs = max(config.epochs, -(-config.min_steps // -(-len(x) // batch_size)))
    else:
        batch_size, epochs = len(x), config.full_batch_steps
    with one_thread():
        for _ in range(epochs):
            for batch in torch.randperm(len(x), generator=gen).split(batch_size):
                opt.zero_grad()
                loss_fn(mlp(x[batch]), y[batch]).backward()
                opt.step()
    return mlp.eval()


def tail_classes(answer_counts: np.ndarray, alpha: float) -> tuple[np.ndarray, int]:
    """The classes the LCM must not predict, and the single rarest class.

    Classes are ranked by how many answers they got this round, fewest
    first, ties in class order; the tail is the first ``floor(alpha * K)``.

    Returns
    -------
    tail : (K,) bool
    rarest : int
    """
    order = np.argsort(answer_counts, kind="stable")
    tail = np.zeros(len(answer_counts), dtype=bool)
    tail[order[:int(alpha * len(answer_counts))]] = True
    return tail, int(order[0])


@dataclass
class LCMUpdates:
    """STEP 2's decisions over the candidate regions.

    Attributes
    ----------
    update : (R,) bool
        Regions to relabel.
    predicted : (R,) int64
        ``ĉ``, the MLP's class for every candidate.
    confidence : (R,) float64
        ``max p`` for every candidate.
    """

    update: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray


def select_updates(mlp: nn.Module, features: np.ndarray, current: np.ndarray,
                   eligible: np.ndarray, answer_counts: np.ndarray, tau: float,
                   alpha: float) -> LCMUpdates:
    """The paper's STEP 2: relabel a region with ``ĉ`` only where J1, J2
    and J3 all hold.

    Parameters
    ----------
    mlp : the STEP 1 model
    features : (R, K) float32
        Mean probability vector of each region.
    current : (R,) int
        Current majority label of each region (ignore allowed).
    eligible : (R,) bool
        Regions that may change: not queried this round, never manually corrected.
    answer_counts : (K,) int
        Answers per class this round.
    tau : float
        Confidence threshold of J1.
    """
    pred, conf = _probabilities(mlp, features)
    tail, rarest = tail_classes(answer_counts, alpha)
    update = (eligible
              & (conf >= tau)          # J1
              & ~tail[pred]            # J2
              & (current != rarest)    # J3
              & (pred != current))
    return LCMUpdates(update, pred, conf)


def _probabilities(mlp: nn.Module, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ĉ, max p)`` of the MLP for (M, F) features, as (M,) int64 and float64.

    The softmax is taken in float64: in float32 every p above 1 - 6e-8
    rounds to 1, so τ = 0.9999999 would pass confidences below it."""
    with torch.no_grad(), one_thread():
        logits = mlp(torch.as_tensor(features, dtype=torch.float32))
        p = torch.softmax(logits.double(), dim=1)
    conf, pred = p.max(dim=1)
    return pred.numpy().astype(np.int64), conf.numpy()


def lcm_features(mean_prob: np.ndarray, appearance: np.ndarray | None = None) -> np.ndarray:
    """(R, F) float32 region features for our LCM, standardised over the R regions.

    Each column gets zero mean and unit variance; each group of columns
    (the K mean probabilities, the 6 colour statistics, the decoder
    features) is then divided by the square root of its width, so that
    every group weighs the same in a distance whatever its width.

    Parameters
    ----------
    mean_prob : (R, K) float
    appearance : (R, 6 + C) float, optional
        :attr:`RegionSummary.appearance`.
    """
    groups = [np.asarray(mean_prob, dtype=np.float64)]
    if appearance is not None:
        groups += [appearance[:, :6], appearance[:, 6:]]
    out = []
    for g in groups:
        if g.shape[1] == 0:
            continue
        std = g.std(axis=0)
        z = (g - g.mean(axis=0)) / np.where(std > 1e-9, std, 1.0)
        out.append(z / np.sqrt(g.shape[1]))
    return np.concatenate(out, axis=1).astype(np.float32)


def neighbour_agreement(train: np.ndarray, train_old: np.ndarray, answers: np.ndarray,
                        queries: np.ndarray, current: np.ndarray, predicted: np.ndarray,
                        num_classes: int, k: int,
                        chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """How far the nearest answers agree with the LCM's class: the
    per-label evidence shrunk toward the pooled one.

    Two neighbourhoods of each query vote: its ``k`` nearest answered
    regions (pooled: what regions looking like it turned out to be), and its
    up to ``k`` nearest answered regions that had its current label (what
    regions labelled like it, and looking like it, turned out to be). A
    label with few answers thus weighs little, and none at all where no
    answered region had it, instead of silencing the gate.

    Parameters
    ----------
    train : (n, F) float
        Features of the answered regions (n >= 1).
    train_old : (n,) int
        Their labels before the answer; labels >= ``num_classes`` (ignore)
        form one group.
    answers : (n,) int
        Their answered classes.
    queries : (M, F) float
    current : (M,) int
        The queries' current labels.
    predicted : (M,) int
        The class each query would change to.
    k : int

    Returns
    -------
    agreement : (M,) float64
        The share of the votes of both neighbourhoods (the pooled one
        counted whole, ``min(k, n)`` votes) that are ``predicted``.
    distance : (M,) float32
        Distance to the ``min(k, n)``-th nearest answered region.
    """
    train_t = torch.as_tensor(train, dtype=torch.float32)
    answers = np.asarray(answers, dtype=np.int64)
    group = np.minimum(np.asarray(train_old, dtype=np.int64), num_classes)
    query_group = np.minimum(np.asarray(current, dtype=np.int64), num_classes)
    predicted = np.asarray(predicted, dtype=np.int64)
    k = min(k, len(answers))
    agree = np.zeros(len(queries))
    dist = np.zeros(len(queries), np.float32)
    for start in range(0, len(queries), chunk):
        part = slice(start, start + chunk)
        d = torch.cdist(torch.as_tensor(queries[part], dtype=torch.float32), train_t)
        near_d, near = d.topk(k, dim=1, largest=False)
        votes = (answers[near.numpy()] == predicted[part, None]).sum(axis=1)
        other = torch.as_tensor(group[None, :] != query_group[part, None])
        same_d, same = d.masked_fill(other, np.inf).topk(k, dim=1, largest=False)
        counted = np.isfinite(same_d.numpy())
        same_votes = ((answers[same.numpy()] == predicted[part, None]) & counted).sum(axis=1)
        agree[part] = (votes + same_votes) / (k + counted.sum(axis=1))
        dist[part] = near_d[:, -1].numpy()
    return agree, dist


def confusions_seen(old: np.ndarray, answers: np.ndarray, num_classes: int) -> np.ndarray:
    """(K + 1, K) bool: ``[a, b]`` where some answer turned label ``a`` into
    ``b ≠ a`` (row K: an unlabelled region, any label value >= K)."""
    seen = np.zeros((num_classes + 1, num_classes), dtype=bool)
    old = np.minimum(np.asarray(old, dtype=np.int64), num_classes)
    answers = np.asarray(answers, dtype=np.int64)
    changed = old != answers
    seen[old[changed], answers[changed]] = True
    return seen


@dataclass
class Decisions:
    """What our LCM would do to each candidate region, before τ.

    Attributes
    ----------
    predicted : (M,) int64
        ``ĉ``, the MLP's class.
    confidence : (M,) float64
        ``max p``.
    supported : (M,) bool
        ``ĉ`` differs from the current label, the nearest answers voted for
        it, and the confusion gate and J4 hold.
    reach : (M,) float64
        The smallest of ``LCMConfig.reaches`` within which those answers
        lie (inf: none; 0 without the neighbour gate).

    A candidate changes where it is supported, within the chosen reach,
    and ``confidence >= τ``.
    """

    predicted: np.ndarray
    confidence: np.ndarray
    supported: np.ndarray
    reach: np.ndarray

    def changes(self, tau: float | None, reach: float = np.inf) -> np.ndarray:
        """(M,) bool: the candidates changed at threshold ``tau`` (None: none)
        and reach ``reach``."""
        if tau is None:
            return np.zeros(len(self.predicted), dtype=bool)
        return self.supported & (self.reach <= reach) & (self.confidence >= tau)


def decide(train: np.ndarray, train_old: np.ndarray, answers: np.ndarray,
           candidates: np.ndarray, current: np.ndarray, num_classes: int,
           config: LCMConfig, model_class: np.ndarray | None = None,
           seed: int = 0) -> Decisions:
    """Our LCM: STEP 1 on the answers, then every gate but τ on the candidates.

    Parameters
    ----------
    train : (n, F) float32
        Features of the answered regions (:func:`lcm_features`).
    train_old : (n,) int
        Their labels before the answer (majority; ignore allowed).
    answers : (n,) int
        Their answered classes (no ignore).
    candidates : (M, F) float32
        Features of the regions that may change.
    current : (M,) int
        Their current majority labels (ignore allowed).
    model_class : (M,) int, optional
        The segmentation model's class per candidate (argmax of its mean
        probability), for J4 when ``config.agree_with_model``.
    """
    mlp = train_lcm(train, answers, num_classes, config, seed=seed)
    pred, conf = _probabilities(mlp, candidates)
    ok = pred != np.asarray(current)
    reach = np.zeros(len(pred))
    if config.neighbours:
        k = config.neighbours
        agree, dist = neighbour_agreement(train, train_old, answers, candidates, current,
                                          pred, num_classes, k)
        ok &= agree >= config.agreement
        reach = reach_of(dist, answer_spacings(train, k), config.reaches)
    if config.confusion_gate:
        seen = confusions_seen(train_old, answers, num_classes)
        ok &= seen[np.minimum(np.asarray(current, dtype=np.int64), num_classes), pred]
    if config.agree_with_model and model_class is not None:
        ok &= pred == np.asarray(model_class)
    return Decisions(pred, conf, ok, reach)


def answer_spacings(train: np.ndarray, k: int) -> np.ndarray:
    """(n,) float32: the distance from each answered region to its k-th
    nearest other answered region (inf for all where n <= k)."""
    if len(train) <= k:
        return np.full(len(train), np.inf, np.float32)
    d = torch.cdist(*(torch.as_tensor(train, dtype=torch.float32),) * 2)
    return d.topk(k + 1, dim=1, largest=False).values[:, -1].numpy()


def reach_of(distance: np.ndarray, spacings: np.ndarray, reaches) -> np.ndarray:
    """(M,) float64: for each distance, the smallest quantile in ``reaches``
    of the answers' ``spacings`` that it does not exceed (inf: none).

    A region whose k-th nearest answer lies farther than the answers lie
    from each other is unlike the answers; the quantile says how far out
    the LCM may reach."""
    out = np.full(len(distance), np.inf)
    if not np.isfinite(spacings).any():  # too few answers to have a k-th neighbour
        return out
    for q in sorted(reaches, reverse=True):
        out[distance <= np.quantile(spacings, q)] = q
    return out
