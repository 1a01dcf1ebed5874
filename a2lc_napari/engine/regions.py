"""Region maps: the units a user corrects with one click.

A region map is an (H, W) integer array of region ids. Generated maps are
SLIC superpixels cut along the pseudo-label edges, so every region holds a
single pseudo-label value.
"""
from __future__ import annotations

import numpy as np
from skimage.measure import label as connected_components
from skimage.segmentation import slic

#: Default superpixel area in pixels: about 50 x 50.
PIXELS_PER_SEGMENT = 2500


def superpixel_regions(image: np.ndarray, labels: np.ndarray,
                       n_segments: int | None = None) -> np.ndarray:
    """Superpixels of ``image`` split so that no region straddles two label values.

    Regions are the 4-connected components of (SLIC superpixel, pseudo-label)
    pairs. Ignore pixels are treated as one more label value, so they form
    regions of their own.

    Parameters
    ----------
    image : (H, W, 3) uint8 array
        RGB image.
    labels : (H, W) uint8 array
        Pseudo-labels (class ids or the ignore value).
    n_segments : int, optional
        Approximate number of SLIC superpixels before the cut. Default
        ``max(16, H * W // 2500)``: superpixels of about 50 x 50 pixels.

    Returns
    -------
    regions : (H, W) int32 array
        Region ids ``1..n``, consecutive; every pixel is in a region.
    """
    image, labels = np.asarray(image), np.asarray(labels)
    if image.shape[:2] != labels.shape or labels.ndim != 2:
        raise ValueError(f"image shape {image.shape} does not match labels shape "
                         f"{labels.shape}")
    if n_segments is None:
        n_segments = max(16, labels.size // PIXELS_PER_SEGMENT)
    superpixels = slic(image, n_segments=n_segments, compactness=10,
                       start_label=1, channel_axis=-1)
    # One value per (superpixel, label) pair; labels are 8-bit so 256 separates them.
    pairs = superpixels.astype(np.int64) * 256 + labels
    # Every pair value is >= 256, so no pixel is background.
    regions = connected_components(pairs, background=-1, connectivity=1)
    return regions.astype(np.int32)


def compact_ids(regions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relabel region ids to consecutive ``0..n``, keeping 0 as "no region".

    Runs in O(H * W) with a lookup table, unless the largest id exceeds
    ``4 * H * W``, where it falls back to :func:`numpy.unique`.

    Parameters
    ----------
    regions : (H, W) int array
        Region ids >= 0; 0 means "no region".

    Returns
    -------
    compact : (H, W) int32 array
        Ids ``0..n``; 0 exactly where ``regions`` is 0.
    ids : (n + 1,) int32 array
        ``ids[k]`` is the original id of compact id ``k``; ``ids[0] == 0``.
        So ``ids[compact]`` equals ``regions``.
    """
    regions = np.asarray(regions)
    if not np.issubdtype(regions.dtype, np.integer):
        raise ValueError(f"region ids must be integers, got {regions.dtype}")
    if regions.size == 0:
        return np.zeros(regions.shape, np.int32), np.zeros(1, np.int32)
    low, top = int(regions.min()), int(regions.max())
    if low < 0:
        raise ValueError(f"region ids must be >= 0, got {low}")
    if top > np.iinfo(np.int32).max:
        raise ValueError(f"region id {top} does not fit in int32")
    if top > 4 * regions.size:
        # A lookup table this long would cost more than sorting.
        ids, inverse = np.unique(regions, return_inverse=True)
        if ids[0] != 0:
            ids, inverse = np.concatenate(([0], ids)), inverse + 1
        return inverse.reshape(regions.shape).astype(np.int32), ids.astype(np.int32)
    present = np.bincount(regions.ravel().astype(np.intp, copy=False)) > 0
    present[0] = True
    if present.all():  # already consecutive: skip the lookup
        return regions.astype(np.int32, copy=False), np.arange(top + 1, dtype=np.int32)
    ids = np.flatnonzero(present).astype(np.int32)
    lookup = np.zeros(top + 1, np.int32)
    lookup[ids] = np.arange(ids.size, dtype=np.int32)
    return lookup[regions], ids
