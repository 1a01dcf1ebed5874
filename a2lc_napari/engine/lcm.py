"""A²LC's Label Correction Module: learn from this round's answers, then
relabel the regions it is sure about (ALGORITHM.md, "LCM")."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .optim import Adam


@dataclass
class LCMConfig:
    """LCM hyper-parameters.

    The authors train 100 epochs at lr 1e-4 with batch 8 on thousands of
    answers; with the few dozen answers of a small budget that is a few
    hundred steps and the MLP never reaches τ, so we train for at least
    ``min_steps`` optimiser steps at a larger rate.

    ``agree_with_model`` adds a criterion of ours, J4: the MLP's class must
    also be the segmentation model's class for the region (the argmax of
    its mean probability). Trained on a few dozen answers that cover only
    some classes, the MLP extrapolates confidently to regions unlike any
    answer; J4 keeps its updates where both models agree. Off = the
    paper's criteria only.
    """

    hidden: tuple[int, ...] = (256, 128, 64)
    lr: float = 1e-3
    epochs: int = 100
    min_steps: int = 500
    batch_size: int = 8
    alpha: float = 0.5
    agree_with_model: bool = True


def make_mlp(num_classes: int, hidden: tuple[int, ...]) -> nn.Sequential:
    """K → hidden… → K with ReLU between layers; outputs logits."""
    sizes = (num_classes, *hidden)
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
    """STEP 1: fit the MLP on this round's answered regions.

    Parameters
    ----------
    features : (n, K) float32
        Mean probability vector of each answered region.
    targets : (n,) int
        The answered class of each (answers "ignore" must be left out).
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    mlp = make_mlp(num_classes, config.hidden)
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(targets, dtype=torch.long)
    loss_fn = nn.CrossEntropyLoss(weight=torch.from_numpy(
        class_balance_weights(targets, num_classes)))
    opt = Adam(mlp.parameters(), lr=config.lr)
    steps_per_epoch = -(-len(x) // config.batch_size)
    epochs = max(config.epochs, -(-config.min_steps // steps_per_epoch))
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=gen).split(config.batch_size):
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
    confidence : (R,) float32
        ``max p`` for every candidate.
    """

    update: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray


def select_updates(mlp: nn.Module, features: np.ndarray, current: np.ndarray,
                   eligible: np.ndarray, answer_counts: np.ndarray, tau: float,
                   alpha: float, agree_with_model: bool = False) -> LCMUpdates:
    """STEP 2: relabel a region with ``ĉ`` only where J1, J2 and J3 (and,
    with ``agree_with_model``, J4) all hold.

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
    agree_with_model : bool
        J4: ``ĉ`` must be the argmax of the region's mean probability.
    """
    with torch.no_grad():
        p = torch.softmax(mlp(torch.as_tensor(features, dtype=torch.float32)), dim=1)
    conf, pred = (t.numpy() for t in p.max(dim=1))
    tail, rarest = tail_classes(answer_counts, alpha)
    update = (eligible
              & (conf >= tau)          # J1
              & ~tail[pred]            # J2
              & (current != rarest)    # J3
              & (pred != current))
    if agree_with_model:
        update &= pred == np.asarray(features).argmax(axis=1)  # J4
    return LCMUpdates(update, pred.astype(np.int64), conf.astype(np.float32))
