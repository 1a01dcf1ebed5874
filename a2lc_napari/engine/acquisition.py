"""Per-region acquisition quantities of ALC and A²LC (ALGORITHM.md).

One pass over an image's K×H×W probability map reduces it to per-region
summaries (a few numbers per region); the map itself is then dropped, so
memory does not grow with the number of images. Every reduction is a
bincount / scatter over pixels: no Python loop over pixels or regions.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from .regions import compact_ids


@dataclass
class RegionSummary:
    """Per-region reductions of one image (or of many, concatenated).

    R regions, K classes. Region ``r`` is region id ``ids[r]`` of image
    ``image[r]``.

    Attributes
    ----------
    image : (R,) int32
        Index of the region's image in the dataset's name list.
    ids : (R,) int32
        Region id in the image's region map.
    size : (R,) int64
        Pixels in the region.
    label_hist : (R, K + 1) int64
        Current labels in the region per class; column K counts ignore.
    abc_parts : (R, K) float64
        ``Σ cos(f(x), f(m')) · a_CIL(x)`` over the region's pixels whose
        ``ỹ(x) = c``, per class c, so that ``a_ABC = abc_parts @ w``.
    mean_prob : (R, K) float32
        Mean probability vector over the region: the LCM's feature.
    sim : (R,) float64 or None
        ALC's look-ahead score ``a_SIM``.
    pixel : (R, 2) int32 or None
        ALC's representative pixel ``x_m`` as (row, col).
    gt_hist : (R, K + 1) int64 or None
        Like ``label_hist`` for the ground truth, when known.
    gt_pixel : (R,) int64 or None
        Ground truth at ``pixel``, when known.
    """

    image: np.ndarray
    ids: np.ndarray
    size: np.ndarray
    label_hist: np.ndarray
    abc_parts: np.ndarray
    mean_prob: np.ndarray
    sim: np.ndarray | None = None
    pixel: np.ndarray | None = None
    gt_hist: np.ndarray | None = None
    gt_pixel: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def concatenate(cls, parts: list["RegionSummary"]) -> "RegionSummary":
        def cat(name):
            arrays = [getattr(p, name) for p in parts]
            return None if any(a is None for a in arrays) else np.concatenate(arrays)

        return cls(**{f.name: cat(f.name) for f in fields(cls)})

    def save(self, path) -> None:
        from .io import write_npz

        write_npz(path, **{f.name: getattr(self, f.name) for f in fields(self)
                           if getattr(self, f.name) is not None})

    @classmethod
    def load(cls, path) -> "RegionSummary":
        with np.load(path) as data:
            return cls(**{f.name: data[f.name] if f.name in data else None
                          for f in fields(cls)})

    def keys(self) -> np.ndarray:
        """(R,) int64 keys ``image << 32 | id``, unique over a dataset."""
        return region_keys(self.image, self.ids)

    def majority_label(self, ignore_index: int) -> np.ndarray:
        """(R,) int64 majority current label (ignore where no pixel has a class)."""
        return majority(self.label_hist, ignore_index)

    def abc_score(self, weights: np.ndarray) -> np.ndarray:
        """(R,) float64 ``a_ABC`` for class weights ``w`` (K,)."""
        return self.abc_parts @ weights

    def set_label(self, rows: np.ndarray, classes: np.ndarray, ignore_index: int) -> None:
        """Record that regions ``rows`` were relabelled whole with ``classes``."""
        num_classes = self.label_hist.shape[1] - 1
        cols = np.where(np.asarray(classes) == ignore_index, num_classes, classes)
        self.label_hist[rows] = 0
        self.label_hist[rows, cols] = self.size[rows]


def region_keys(image: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return (np.asarray(image, dtype=np.int64) << 32) | np.asarray(ids, dtype=np.int64)


def majority(hist: np.ndarray, ignore_index: int) -> np.ndarray:
    """Majority class per row of a (R, K + 1) histogram, ignore column not voting.

    Ties go to the lowest class; rows with no class pixel give ``ignore_index``.
    """
    classes = hist[:, :-1]
    out = classes.argmax(axis=1)
    out[classes.sum(axis=1) == 0] = ignore_index
    return out


def _hist(keys: torch.Tensor, values: torch.Tensor, n_rows: int, n_cols: int) -> np.ndarray:
    return torch.bincount(keys * n_cols + values,
                          minlength=n_rows * n_cols).view(n_rows, n_cols).numpy()


# Reductions over the class axis loop over classes, one block of pixels at a
# time: each step is a contiguous vector operation on data that stays in the
# CPU cache. That is several times faster than torch's reductions over
# dim 0, and makes no K×N temporary.
_CHUNK = 1 << 15


def _chunks(n: int):
    return (slice(a, min(a + _CHUNK, n)) for a in range(0, n, _CHUNK))


def _argmax_and_norm(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) int64 class of highest probability (ties: lowest class) and (N,)
    Euclidean norm of each pixel's probability vector."""
    n_pix = probs.shape[1]
    arg = torch.zeros(n_pix, dtype=torch.uint8)
    top, norm = torch.empty(n_pix), torch.empty(n_pix)
    for c in _chunks(n_pix):
        p, a, t, sq = probs[:, c], arg[c], top[c], norm[c]
        t.copy_(p[0])
        torch.mul(p[0], p[0], out=sq)
        for k in range(1, probs.shape[0]):
            a.masked_fill_(p[k] > t, k)
            torch.maximum(t, p[k], out=t)
            sq.addcmul_(p[k], p[k])
    return arg.long(), norm.sqrt_()


def _gather_dot(probs: torch.Tensor, table: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """(N,) ``Σ_k probs[k, x] · table[k, reg[x]]`` for every pixel x."""
    out = torch.empty(probs.shape[1])
    for c in _chunks(probs.shape[1]):
        p, r, o = probs[:, c], reg[c], out[c]
        torch.mul(p[0], table[0].index_select(0, r), out=o)
        for k in range(1, probs.shape[0]):
            o.addcmul_(p[k], table[k].index_select(0, r))
    return out


def summarize_image(probs: np.ndarray, labels: np.ndarray, regions: np.ndarray,
                    ignore_index: int, gt: np.ndarray | None = None,
                    image_index: int = 0, representative: bool = True) -> RegionSummary:
    """Reduce one image's probabilities to per-region acquisition summaries.

    Parameters
    ----------
    probs : (K, H, W) float32 or float16
        Softmax probabilities ``f``.
    labels : (H, W) uint8
        Current labels ``ŷ`` (class ids or ``ignore_index``).
    regions : (H, W) int
        Region ids; 0 = no region (those pixels are left out).
    ignore_index : int
    gt : (H, W) uint8, optional
        Ground truth, for the simulated annotator.
    image_index : int
        Stored in :attr:`RegionSummary.image`.
    representative : bool
        Also find ALC's representative pixels and ``a_SIM`` (one more pass
        over ``probs``); otherwise ``sim``, ``pixel`` and ``gt_pixel`` are None.

    Returns
    -------
    RegionSummary
        One row per region id present in ``regions``, in increasing id order.
    """
    num_classes = probs.shape[0]
    compact, ids = compact_ids(regions)
    n_bins = len(ids)  # bin 0 collects the "no region" pixels and is dropped
    p = torch.from_numpy(np.ascontiguousarray(probs)).reshape(num_classes, -1).float()
    n_pix = p.shape[1]
    reg = torch.from_numpy(compact.ravel()).long()
    lab = torch.from_numpy(labels.ravel()).long()

    pred, norms = _argmax_and_norm(p)
    y_tilde = torch.where(lab == ignore_index, pred, lab)
    cil = 1.0 - p.gather(0, y_tilde[None])[0]

    # D(m): mode of the predicted class (ties: lowest class).
    dominant = torch.from_numpy(_hist(reg, pred, n_bins, num_classes)).argmax(dim=1)
    # One scatter gives the sums over m' (bins < n_bins) and over m \ m'.
    bins = reg + n_bins * (pred != dominant[reg]).long()
    sums = torch.zeros(num_classes, 2 * n_bins).index_add_(1, bins, p)
    sum_in = sums[:, :n_bins]
    size = torch.bincount(reg, minlength=n_bins)
    mean_prob = (sum_in + sums[:, n_bins:]) / size.clamp_min(1)

    # cos(f(x), f(m')): the scale of f(m') cancels, so use its unit sum.
    unit_in = sum_in / torch.linalg.vector_norm(sum_in, dim=0).clamp_min(1e-12)
    cos_in = _gather_dot(p, unit_in, reg) / norms
    abc_parts = torch.bincount(reg * num_classes + y_tilde, weights=(cos_in * cil).double(),
                               minlength=n_bins * num_classes).view(n_bins, num_classes)

    keep = slice(1, None)
    label_cols = torch.where(lab == ignore_index, num_classes, lab)
    out = RegionSummary(
        image=np.full(n_bins - 1, image_index, dtype=np.int32),
        ids=ids[keep].astype(np.int32),
        size=size.numpy()[keep],
        label_hist=_hist(reg, label_cols, n_bins, num_classes + 1)[keep],
        abc_parts=abc_parts.numpy()[keep],
        mean_prob=mean_prob.T.numpy()[keep].astype(np.float32),
    )
    g = None if gt is None else torch.from_numpy(gt.ravel()).long()
    if g is not None:
        out.gt_hist = _hist(reg, torch.where(g == ignore_index, num_classes, g),
                            n_bins, num_classes + 1)[keep]
    if representative:
        # x_m: the pixel of highest cos(f(x), f(m')); ties to the first in raster order.
        best = torch.full((n_bins,), -torch.inf).scatter_reduce_(0, reg, cos_in, "amax")
        is_best = cos_in == best[reg]
        first = torch.full((n_bins,), n_pix - 1).scatter_reduce_(
            0, reg[is_best], torch.arange(n_pix)[is_best], "amin")
        rep = p[:, first]
        unit_rep = rep / torch.linalg.vector_norm(rep, dim=0).clamp_min(1e-12)
        cos_rep = _gather_dot(p, unit_rep, reg) / norms
        out.sim = torch.bincount(reg, weights=(cos_rep * cil).double(),
                                 minlength=n_bins).numpy()[keep]
        first = first.numpy()[keep]
        out.pixel = np.stack(np.divmod(first, labels.shape[1]), axis=1).astype(np.int32)
        if g is not None:
            out.gt_pixel = g.numpy()[first]
    return out


def abc_class_weights(counts: np.ndarray) -> np.ndarray:
    """ABC's adaptive class weights ``w(c) = ŵ(c) ** KL³``.

    Parameters
    ----------
    counts : (K,) int
        Pixels per current label class ``n(c)`` (ignore not counted).

    Returns
    -------
    (K,) float64
        ``ŵ(c) = min n / n(c)`` raised to the cube of the KL divergence of
        the class distribution from uniform over the k present classes;
        0 for classes with no pixel.
    """
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    w = np.zeros_like(counts)
    if not present.any():
        return w
    n = counts[present]
    share = n / n.sum()
    kl = float(np.sum(share * np.log(share * present.sum())))
    w[present] = (n.min() / n) ** (kl ** 3)
    return w


def class_counts(summary: RegionSummary, exclude: np.ndarray | None = None) -> np.ndarray:
    """(K,) int64 pixels per current class over regions not in ``exclude`` (R,) bool."""
    hist = summary.label_hist[:, :-1]
    if exclude is not None:
        hist = hist[~exclude]
    return hist.sum(axis=0)


def region_scores(summary: RegionSummary, ranking: str,
                  exclude: np.ndarray | None = None) -> np.ndarray:
    """(R,) float64 acquisition score: ``"sim"`` (ALC's a_SIM) or ``"abc"``
    (A²LC's a_ABC, class counts taken over regions not in ``exclude``)."""
    if ranking == "sim":
        return summary.sim
    if ranking == "abc":
        return summary.abc_score(abc_class_weights(class_counts(summary, exclude)))
    raise ValueError(f"unknown ranking {ranking!r}")


def rank(score: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Row indices by descending score (stable: ties keep dataset order),
    leaving out rows where ``exclude`` is True."""
    order = np.argsort(-score, kind="stable")
    if exclude is not None:
        order = order[~exclude[order]]
    return order
