"""The segmentation network's output at its own, smaller size, and the
bilinear grid that maps it onto the image's pixels.

The network works on a downscaled image; what it says of a full-size
pixel is its output resized bilinearly (as ``torch.nn.functional.interpolate``
with ``align_corners=False``), then softmaxed. The region summaries
(:func:`~a2lc_napari.engine.region_summary.summarize_image`) resize it pixel
by pixel as they sum the regions, so no full-size map is ever made.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class NetworkOutput:
    """The network's logits and decoder features for one image.

    Attributes
    ----------
    logits : (K, h, w) float32
        Before the softmax, at the network's size.
    features : (C, h, w) float32 or None
        Its decoder's last activation, at the same size.
    """

    logits: np.ndarray
    features: np.ndarray | None = None


def bilinear_grid(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``n_out`` output pixels reads an axis of ``n_in`` input
    pixels when resized bilinearly with ``align_corners=False``.

    Parameters
    ----------
    n_in, n_out : int
        Pixels along the axis, in and out.

    Returns
    -------
    index : (n_out, 2) int64
        The two input pixels each output pixel lies between (equal at the
        last input pixel).
    weight : (n_out, 2) float32
        Their weights, summing to 1.

    Examples
    --------
    Doubling 2 pixels: the outer output pixels copy the input's, the inner
    ones mix them 3:1.

    >>> index, weight = bilinear_grid(2, 4)
    >>> index.tolist(), weight.tolist()
    ([[0, 1], [0, 1], [0, 1], [1, 1]], [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [1.0, 0.0]])
    """
    # The pixel centres' coordinates in the input (torch's, in float32).
    src = (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) \
        * (np.float32(n_in) / np.float32(n_out)) - np.float32(0.5)
    src = np.maximum(src, np.float32(0))
    low = np.minimum(src.astype(np.int64), n_in - 1)
    high = np.minimum(low + 1, n_in - 1)
    frac = (src - low).astype(np.float32)
    frac[low == high] = 0  # past the last pixel's centre: that pixel alone
    return np.stack([low, high], axis=1), np.stack([1 - frac, frac], axis=1)
