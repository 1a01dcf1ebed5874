"""Per-region summaries of a round: what the model and the image say about
each region, the quantities ALC's and A²LC's scores are made of (ALGORITHM.md).

One compiled pass over an image's K×H×W probability map (two for ALC's
representative pixels) reduces it to per-region summaries, a few numbers
per region; the map itself is then dropped, so memory does not grow with
the number of images. In a session the map is never made: the pass
resizes the network's smaller output to each pixel as it goes
(:mod:`~a2lc_napari.engine.network_output`). One more pass sums what the
image itself looks like in each region (colour, gradients, place).

The passes stay few because the region's reference vector is constant over
the region: with ``g(x) = f(x) · a_CIL(x) / |f(x)|``,
``Σ_x cos(f(x), f(m')) · a_CIL(x) = f(m')/|f(m')| · Σ_x g(x)``, and the
same holds for ALC's ``a_SIM`` with ``f(x_m)``. So the pass scatters into
two K×K tables per region: ``Σ g`` split by ``ỹ`` (both scores), and
``Σ f`` split by predicted class (``f(m')`` is its row ``D(m)``, the mean
feature its sum).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numba
import numpy as np

from .io import write_npz
from .network_output import NetworkOutput, bilinear_grid
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
    gt_agree : (R,) int64 or None
        Labelled pixels whose current label is the ground truth's, when
        known: with ``label_hist``, the annotator's ``acc(m)``.
    appearance : (R, 6 + C) float32 or None
        What the region looks like, for the LCM: mean and standard
        deviation of its colour (RGB / 255), then the mean of the model's C
        decoder features over it, when the image was given.
    layout : (R, 4) float32 or None
        Where the region is and how textured: mean absolute horizontal and
        vertical gradient of its grey values (/ 255), and its centroid as
        (row / H, col / W), when the image was given.
    oof_prob : (R, K) float32 or None
        Class probabilities of each region from a classifier that never saw
        its image (:mod:`~a2lc_napari.engine.region_classifier`), when made.
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
    gt_agree: np.ndarray | None = None
    appearance: np.ndarray | None = None
    layout: np.ndarray | None = None
    oof_prob: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def concatenate(cls, parts: list["RegionSummary"]) -> "RegionSummary":
        def cat(name):
            arrays = [getattr(p, name) for p in parts]
            return None if any(a is None for a in arrays) else np.concatenate(arrays)

        return cls(**{f.name: cat(f.name) for f in fields(cls)})

    def save(self, path) -> None:
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


#: Contiguous pixel blocks per image, each summed apart and in parallel: a
#: fixed number, so that the sums do not depend on a machine's threads.
#: The passes are compiled without ``fastmath``: it lets LLVM reorder sums,
#: and a pass compiled in a process and one loaded from numba's cache are
#: optimised differently, so their sums differed in the last bits.
BLOCKS = 4

#: The grid of a pass over full-size probabilities: none.
_NO_GRID = (np.empty((0, 2), np.int64), np.empty((0, 2), np.float32))


def _blocks(n_pix: int) -> np.ndarray:
    """Bounds of the :data:`BLOCKS` blocks of pixels, in raster order."""
    return np.linspace(0, n_pix, BLOCKS + 1).astype(np.int64)


@numba.njit(inline="always")
def _resized_row(out, low, y, ys, wy):
    """``out`` (w, C) = the (h, w, C) ``low`` resized to output row ``y``
    along its rows (the grid's ``ys``, ``wy``)."""
    y0, y1, a, b = ys[y, 0], ys[y, 1], wy[y, 0], wy[y, 1]
    for j in range(low.shape[1]):
        for k in range(low.shape[2]):
            out[j, k] = a * low[y0, j, k] + b * low[y1, j, k]


@numba.njit(inline="always")
def _resized_pixel(out, row, x, xs, wx):
    """``out`` (C,) = a :func:`_resized_row` resized to output column ``x``."""
    x0, x1, c, d = xs[x, 0], xs[x, 1], wx[x, 0], wx[x, 1]
    for k in range(len(out)):
        out[k] = c * row[x0, k] + d * row[x1, k]


@numba.njit(inline="always")
def _resized_at(out, low, row, row_y, i, grid):
    """``out`` (C,) = the (h, w, C) ``low`` resized to pixel ``i`` (``grid``:
    the image's width and its bilinear grid), through ``row``, ``low``
    resized to output row ``row_y``, remade here when ``i`` lies on another
    row. Returns the row ``row`` is of."""
    width, ys, wy, xs, wx = grid
    y = i // width
    if y != row_y:
        _resized_row(row, low, y, ys, wy)
    _resized_pixel(out, row, i - y * width, xs, wx)
    return y


#: Pixels whose f(x) a pass works out together before it sums them: one
#: loop over all their exponentials, which the compiler vectorizes, and
#: one sweep per class plane of a (K, N) map instead of K strided reads per
#: pixel.
CHUNK = 256

# exp(x) for x <= 0 in float32, the way Cephes' expf does it: x = n·ln 2 + r
# with |r| <= ln 2 / 2, exp(r) by a degree-7 polynomial, 2^n put straight
# into the exponent bits. No branch and no call, so the compiler vectorizes
# the loop (three times faster than np.exp per value here).
_LOG2E = np.float32(1.4426950408889634)
_LN2_HI, _LN2_LO = np.float32(0.693359375), np.float32(-2.12194440e-4)
_EXP_POLY = tuple(np.float32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                          4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))
#: Below this, exp(x) comes out 2^-126 · exp(r) (< 1e-37, next to nothing
#: beside a softmax's largest value, 1) instead of a subnormal number.
_EXP_FLOOR = np.float32(-87.0)


@numba.njit(inline="always")
def exp_nonpositive(x, bits, n):
    """``x[:n]`` (float32, each <= 0) = their exp, in place, within 1e-7
    of ``np.exp`` relatively (from ~1e-37 up); ``bits`` (>= n,) int32 is
    scratch."""
    p0, p1, p2, p3, p4, p5 = _EXP_POLY
    for i in range(n):
        v = max(x[i], _EXP_FLOOR)
        m = np.floor(v * _LOG2E + np.float32(0.5))
        r = v - m * _LN2_HI - m * _LN2_LO
        poly = ((((p0 * r + p1) * r + p2) * r + p3) * r + p4) * r + p5
        x[i] = poly * r * r + r + np.float32(1)
        bits[i] = (np.int32(m) + np.int32(127)) << 23  # the float 2^m
    scale = bits.view(np.float32)
    for i in range(n):
        x[i] *= scale[i]


@numba.njit(inline="always")
def _chunk_probs(out, bits, start, stop, probs, logits, row, row_y, grid):
    """``out[:stop - start]`` ((CHUNK, K) float32) = f(x) at pixels
    ``start`` to ``stop - 1``: their columns of ``probs`` (K, N), or, when
    ``logits`` (h, w, K) is not empty, their softmax resized to each pixel
    (:func:`_resized_at`; ``bits`` (CHUNK·K,) int32 scratch). Returns the
    row ``row`` is of."""
    n, num_classes = stop - start, out.shape[1]
    if logits.shape[0] == 0:
        for k in range(num_classes):
            for i in range(n):
                out[i, k] = probs[k, start + i]
        return row_y
    for i in range(n):
        f = out[i]
        row_y = _resized_at(f, logits, row, row_y, start + i, grid)
        top = f.max()
        for k in range(num_classes):
            f[k] -= top
    exp_nonpositive(out.reshape(-1), bits, n * num_classes)
    for i in range(n):
        f = out[i]
        total = np.float32(0)
        for k in range(num_classes):
            total += f[k]
        for k in range(num_classes):
            f[k] /= total
    return row_y


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _region_tables(probs, logits, features, grid, labels, gt, reg, n_bins, bounds):
    """One pass over the pixels. Per region: pixels per predicted class,
    Σ f(x) split by predicted class, Σ g(x) split by ỹ(x), histograms of
    the labels and (when ``gt`` is not empty) the ground truth, with ignore
    in the last column, and Σ of the resized ``features`` (when not empty).

    f(x) comes from ``probs`` or the resized ``logits``, :data:`CHUNK`
    pixels at a time (:func:`_chunk_probs`; ``features`` (h, w, C) are
    resized the same way; ``grid``: the image's width and its bilinear
    grid, rows then columns). Any label value >= K counts as ignore (the
    ignore value always is), so no value can index outside the tables.
    """
    num_classes = probs.shape[0]  # (K, 0) when resized
    n_feat = features.shape[2]
    n_threads = len(bounds) - 1
    counts = np.zeros((n_threads, n_bins, num_classes), np.int64)
    label_hist = np.zeros((n_threads, n_bins, num_classes + 1), np.int64)
    gt_hist = np.zeros((n_threads, n_bins if len(gt) else 0, num_classes + 1), np.int64)
    by_pred = np.zeros((n_threads, n_bins, num_classes, num_classes))
    by_label = np.zeros((n_threads, n_bins, num_classes, num_classes))
    feat_sums = np.zeros((n_threads, n_bins, n_feat))
    for t in numba.prange(n_threads):
        chunk = np.empty((CHUNK, num_classes), np.float32)
        bits = np.empty(CHUNK * num_classes, np.int32)
        v = np.empty(n_feat, np.float32)
        row = np.empty((logits.shape[1], num_classes), np.float32)
        feat_row = np.empty((features.shape[1], n_feat), np.float32)
        row_y = feat_y = -1
        for start in range(bounds[t], bounds[t + 1], CHUNK):
            stop = min(start + CHUNK, bounds[t + 1])
            row_y = _chunk_probs(chunk, bits, start, stop, probs, logits, row, row_y, grid)
            for i in range(start, stop):
                f = chunk[i - start]
                top, arg, sq = f[0], 0, np.float32(0)
                for k in range(num_classes):
                    sq += f[k] * f[k]
                    if f[k] > top:  # strict: ties go to the lowest class
                        top, arg = f[k], k
                r, lab = reg[i], min(labels[i], num_classes)
                y = arg if lab == num_classes else lab
                w = (1 - f[y]) / np.sqrt(sq)
                counts[t, r, arg] += 1
                label_hist[t, r, lab] += 1
                if len(gt):
                    gt_hist[t, r, min(gt[i], num_classes)] += 1
                row_pred, row_label = by_pred[t, r, arg], by_label[t, r, y]
                for k in range(num_classes):
                    row_pred[k] += f[k]
                    row_label[k] += f[k] * w
                if n_feat:
                    feat_y = _resized_at(v, features, feat_row, feat_y, i, grid)
                    row_feat = feat_sums[t, r]
                    for c in range(n_feat):
                        row_feat[c] += v[c]
    return (counts.sum(axis=0), by_pred.sum(axis=0), by_label.sum(axis=0),
            label_hist.sum(axis=0), gt_hist.sum(axis=0), feat_sums.sum(axis=0))


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _representative_pass(probs, logits, grid, reg, unit_in, n_bins, bounds):
    """Per region: the first pixel (raster order) of highest cos(f(x), f(m'))
    (f(x) as in :func:`_region_tables`), and its f(x)."""
    num_classes = unit_in.shape[1]
    n_threads = len(bounds) - 1
    best = np.full((n_threads, n_bins), -np.inf)
    first = np.zeros((n_threads, n_bins), np.int64)
    for t in numba.prange(n_threads):
        chunk = np.empty((CHUNK, num_classes), np.float32)
        bits = np.empty(CHUNK * num_classes, np.int32)
        row = np.empty((logits.shape[1], num_classes), np.float32)
        row_y = -1
        for start in range(bounds[t], bounds[t + 1], CHUNK):
            stop = min(start + CHUNK, bounds[t + 1])
            row_y = _chunk_probs(chunk, bits, start, stop, probs, logits, row, row_y, grid)
            for i in range(start, stop):
                f = chunk[i - start]
                r = reg[i]
                dot, sq = 0.0, 0.0
                for k in range(num_classes):
                    dot += f[k] * unit_in[r, k]
                    sq += f[k] * f[k]
                cos = dot / np.sqrt(sq)
                if cos > best[t, r]:
                    best[t, r], first[t, r] = cos, i
    # Blocks are in raster order: on a tie, the earlier block's pixel wins.
    out = first[0].copy()
    top = best[0].copy()
    for t in range(1, n_threads):
        for r in range(n_bins):
            if best[t, r] > top[r]:
                top[r], out[r] = best[t, r], first[t, r]
    at = np.empty((n_bins, num_classes), np.float32)
    chunk = np.empty((CHUNK, num_classes), np.float32)
    bits = np.empty(CHUNK * num_classes, np.int32)
    row = np.empty((logits.shape[1], num_classes), np.float32)
    for r in range(n_bins):
        _chunk_probs(chunk, bits, out[r], out[r] + 1, probs, logits, row, -1, grid)
        at[r] = chunk[0]
    return out, at


def _unit_rows(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _region_sums(values, reg, n_bins, bounds):
    """Per bin of ``reg``: the float64 sum of each of the C value rows."""
    n_threads = len(bounds) - 1
    sums = np.zeros((n_threads, n_bins, values.shape[0]))
    for t in numba.prange(n_threads):
        for i in range(bounds[t], bounds[t + 1]):
            row = sums[t, reg[i]]
            for c in range(values.shape[0]):
                row[c] += values[c, i]
    return sums.sum(axis=0)


def region_means(values: np.ndarray, reg: np.ndarray, n_bins: int) -> np.ndarray:
    """(n_bins, C) float64 mean of each of C value rows (C, N) float32 or
    float64 per bin of ``reg`` (N,) int; 0 for empty bins.

    One compiled pass over every row at once (one ``np.bincount`` per row
    read the region ids C times), summed in :data:`BLOCKS` fixed blocks.
    """
    sums = _region_sums(values, reg, n_bins, _blocks(len(reg)))
    return sums / np.maximum(np.bincount(reg, minlength=n_bins), 1)[:, None]


@numba.njit(inline="always")
def _grey(image, y, x):
    """The grey value of pixel (y, x) of an (H, W, 3) uint8 image, / 255."""
    return (np.float32(image[y, x, 0]) + np.float32(image[y, x, 1])
            + np.float32(image[y, x, 2])) / np.float32(3) / np.float32(255)


@numba.njit(inline="always")
def _gradient(image, y, x, axis):
    """``np.gradient`` of the grey image at (y, x) along ``axis``: central
    differences inside, one-sided at the borders (0 along an axis of 1)."""
    n = image.shape[axis]
    if n < 2:
        return np.float32(0)
    i = y if axis == 0 else x
    lo, hi = max(i - 1, 0), min(i + 1, n - 1)
    if axis == 0:
        diff = _grey(image, hi, x) - _grey(image, lo, x)
    else:
        diff = _grey(image, y, hi) - _grey(image, y, lo)
    return diff / np.float32(hi - lo)


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _image_sums(image, reg, n_bins, bounds):
    """Per bin of ``reg`` (H·W,): Σ of R, G, B and their squares (/ 255),
    of the grey image's absolute horizontal and vertical gradient, and of
    the row / H and column / W, in one pass over the (H, W, 3) uint8 image."""
    h, w = image.shape[0], image.shape[1]
    n_threads = len(bounds) - 1
    sums = np.zeros((n_threads, n_bins, 10))
    for t in numba.prange(n_threads):
        for i in range(bounds[t], bounds[t + 1]):
            y, x = i // w, i % w
            row = sums[t, reg[i]]
            for c in range(3):
                v = image[y, x, c] / 255.0
                row[c] += v
                row[3 + c] += v * v
            row[6] += abs(_gradient(image, y, x, 1))
            row[7] += abs(_gradient(image, y, x, 0))
            row[8] += np.float32(y) / np.float32(h)
            row[9] += np.float32(x) / np.float32(w)
    return sums.sum(axis=0)


def image_look(image: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """What each region looks like in ``image``: the part of its appearance
    that the model does not change, so a session keeps it between rounds
    (:mod:`~a2lc_napari.engine.image_cache`).

    Parameters
    ----------
    image : (H, W, 3) uint8
    regions : (H, W) int
        Region ids; 0 = no region.

    Returns
    -------
    (n + 1, 10) float64
        One row per id of ``compact_ids(regions)``, "no region" first: mean
        R, G, B and mean of their squares (/ 255), mean absolute horizontal
        and vertical gradient of the grey image (/ 255), mean row / H and
        column / W.
    """
    compact, ids = compact_ids(regions)
    return _bin_look(image, compact.ravel(), len(ids))


def _bin_look(image: np.ndarray, reg: np.ndarray, n_bins: int) -> np.ndarray:
    sums = _image_sums(np.ascontiguousarray(image), reg, n_bins, _blocks(len(reg)))
    return sums / np.maximum(np.bincount(reg, minlength=n_bins), 1)[:, None]


def region_look(look: np.ndarray, features: np.ndarray | None, reg: np.ndarray,
                n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Each bin's appearance and layout from its :func:`image_look` (n_bins,
    10) and the model's ``features``.

    Parameters
    ----------
    features : (C, H, W) float32, (n_bins, C) float64 or None
        Per pixel (of ``reg`` (H·W,)), or already their means per bin;
        None: C = 0.

    Returns
    -------
    appearance : (n_bins, 6 + C) float32
        Colour mean and std (RGB / 255), then the features' means.
    layout : (n_bins, 4) float32
        Mean absolute horizontal and vertical gradient of the grey image
        (/ 255), centroid row / H and column / W.
    """
    mean = look[:, :3]
    # float64: E[x²] - E[x]² of a flat region must come out 0, not float32's noise
    std = np.sqrt(np.maximum(look[:, 3:6] - mean * mean, 0))
    parts = [mean, std]
    if features is not None and features.ndim == 3:
        features = region_means(features.reshape(len(features), -1), reg, n_bins)
    if features is not None:
        parts.append(features)
    return (np.concatenate(parts, axis=1).astype(np.float32),
            look[:, 6:].astype(np.float32))


def summarize_image(probs: np.ndarray | NetworkOutput, labels: np.ndarray,
                    regions: np.ndarray, ignore_index: int, gt: np.ndarray | None = None,
                    image_index: int = 0, representative: bool = True,
                    image: np.ndarray | None = None,
                    features: np.ndarray | None = None,
                    look: np.ndarray | None = None) -> RegionSummary:
    """Reduce one image's probabilities to per-region acquisition summaries.

    Parameters
    ----------
    probs : (K, H, W) float32 or float16, or NetworkOutput
        Softmax probabilities ``f``; or the network's output at its own
        size, resized to each pixel and softmaxed as the pass goes
        (:mod:`~a2lc_napari.engine.network_output`): no (K, H, W) map is
        made. Its features then stand for ``features``.
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
    image : (H, W, 3) uint8, optional
        The image, for :attr:`RegionSummary.appearance` and
        :attr:`RegionSummary.layout` (None without it).
    features : (C, H, W) float32, optional
        The model's decoder features (:meth:`Segmenter.predict`), pooled
        into the appearance; needs ``image`` or ``look``.
    look : (n + 1, 10) float64, optional
        ``image_look(image, regions)``, as a session keeps it
        (:mod:`~a2lc_napari.engine.image_cache`): stands for ``image``.

    Returns
    -------
    RegionSummary
        One row per region id present in ``regions``, in increasing id order.
    """
    h, w = labels.shape
    # The compiled pass indexes by the labels' size: another size would read out of bounds.
    shapes = {"labels": labels.shape, "regions": regions.shape[:2],
              **({} if gt is None else {"ground truth": gt.shape[:2]}),
              **({} if isinstance(probs, NetworkOutput) else {"probabilities": probs.shape[1:]})}
    if len(set(shapes.values())) > 1:
        raise ValueError("an image's maps differ in size: "
                         + ", ".join(f"{k} {v[1]}x{v[0]}" for k, v in shapes.items()))
    compact, ids = compact_ids(regions)
    n_bins = len(ids)  # bin 0 collects the "no region" pixels and is dropped
    none = np.empty((0, 0, 0), np.float32)
    if isinstance(probs, NetworkOutput):
        # (h, w, C): a pixel's channels side by side, as the pass reads them
        logits = np.ascontiguousarray(probs.logits.transpose(1, 2, 0), dtype=np.float32)
        features = probs.features
        p = np.empty((logits.shape[2], 0), np.float32)
        grid = (w, *bilinear_grid(logits.shape[0], h), *bilinear_grid(logits.shape[1], w))
    else:
        logits = none
        p = np.ascontiguousarray(probs, dtype=np.float32).reshape(len(probs), -1)
        grid = (w, *_NO_GRID, *_NO_GRID)
    num_classes = len(p)
    reg = compact.ravel()
    if image is not None:
        look = _bin_look(image, reg, n_bins)
    resized_features = none
    if logits.size and features is not None and look is not None:
        resized_features = np.ascontiguousarray(features.transpose(1, 2, 0), dtype=np.float32)
    lab = np.ascontiguousarray(labels, dtype=np.uint8).ravel()
    g = np.empty(0, np.uint8) if gt is None else np.ascontiguousarray(gt, dtype=np.uint8).ravel()

    bounds = _blocks(len(reg))
    counts, by_pred, g_sum, label_hist, gt_hist, feature_sums = _region_tables(
        p, logits, resized_features, grid, lab, g, reg, n_bins, bounds)
    dominant = counts.argmax(axis=1)  # D(m), ties: lowest class
    unit_in = _unit_rows(by_pred[np.arange(n_bins), dominant])  # f(m'), as a direction
    size = counts.sum(axis=1)
    if resized_features.size:
        features = feature_sums / np.maximum(size, 1)[:, None]

    keep = slice(1, None)
    out = RegionSummary(
        image=np.full(n_bins - 1, image_index, dtype=np.int32),
        ids=ids[keep].astype(np.int32),
        size=size[keep],
        label_hist=label_hist[keep],
        abc_parts=np.einsum("rck,rk->rc", g_sum, unit_in)[keep],
        mean_prob=(by_pred.sum(axis=1) / np.maximum(size, 1)[:, None])[keep].astype(np.float32),
    )
    if gt is not None:
        out.gt_hist = gt_hist[keep]
        agree = (lab == g) & (lab < num_classes)
        out.gt_agree = np.bincount(reg, weights=agree, minlength=n_bins)[keep].astype(np.int64)
    if look is not None:
        if len(look) != n_bins:
            raise ValueError(f"look has {len(look)} rows for {n_bins} region ids")
        appearance, layout = region_look(look, features, reg, n_bins)
        out.appearance, out.layout = appearance[keep], layout[keep]
    if representative:
        first, at = _representative_pass(p, logits, grid, reg, unit_in, n_bins, bounds)
        unit_rep = _unit_rows(at[keep].astype(np.float64))
        out.sim = np.einsum("rk,rk->r", g_sum[keep].sum(axis=1), unit_rep)
        out.pixel = np.stack(np.divmod(first[keep], w), axis=1).astype(np.int32)
        if gt is not None:
            out.gt_pixel = g[first[keep]].astype(np.int64)
    return out
