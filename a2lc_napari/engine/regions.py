"""Region maps: the units a user corrects with one click.

A region map is an (H, W) integer array of region ids. Generated maps are
SLIC superpixels cut along the pseudo-label edges, so every region holds a
single pseudo-label value, or Segment Anything masks
(:mod:`~a2lc_napari.engine.sam`); masks and maps can also come from files
that other programs wrote (:mod:`~a2lc_napari.engine.region_files`).
:class:`RegionsConfig` chooses the source. Masks become a region map through
:func:`paint_masks` (smaller masks on top) and :func:`fill_gaps` (pixels no
mask covers get regions of their own).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

#: Default superpixel area in pixels: about 50 x 50.
PIXELS_PER_SEGMENT = 2500

#: Default :attr:`RegionsConfig.min_gap_area` in pixels: a hole between masks
#: smaller than this joins its neighbours, as SAM's ``min_mask_region_area``
#: of 100 in its examples fills the small holes of a mask.
MIN_GAP_AREA = 100
#: ``"files"``: masks or maps read from :attr:`RegionsConfig.path`.
REGION_SOURCES = ("auto", "slic", "sam", "files")
SAM_MODEL_TYPES = ("vit_b", "vit_l", "vit_h")
SAM_MODES = ("auto", "boxes")
#: Where a user gets a SAM checkpoint; nothing is downloaded at run time.
SAM_CHECKPOINT_HELP = ("Download an official SAM checkpoint by hand from the \"Model "
                       "Checkpoints\" section of https://github.com/facebookresearch/"
                       "segment-anything: sam_vit_b_01ec64.pth (vit_b), "
                       "sam_vit_l_0b3195.pth (vit_l) or sam_vit_h_4b8939.pth (vit_h).")

#: ``make(image, labels, ignore_index) -> (H, W) int32 region map``
RegionMaker = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class RegionsConfig:
    """Where the regions of a dataset come from.

    Parameters
    ----------
    source : {"auto", "slic", "sam", "files"}
        ``"auto"``: the dataset's own ``regions/`` maps where it has them,
        else SLIC superpixels cut along the pseudo-labels
        (:func:`superpixel_regions`); ``"slic"``: always those superpixels;
        ``"sam"``: Segment Anything masks with the gaps filled
        (:class:`~a2lc_napari.engine.sam.SamRegions`); ``"files"``: masks or
        maps read from ``path``, the gaps filled
        (:mod:`~a2lc_napari.engine.region_files`). The last three ignore the
        dataset's ``regions/``.
    path : str, optional
        Where ``"files"`` regions are read from; required by, and only
        allowed with, that source. Stored as an absolute path.
    sam_checkpoint : str, optional
        Official SAM checkpoint file; required by, and only allowed with,
        ``source="sam"``. Stored as an absolute path.
    sam_model_type : {"vit_b", "vit_l", "vit_h"}, optional
        Default: read from the checkpoint.
    sam_mode : {"auto", "boxes"}
        SAM's automatic masks, or masks prompted by boxes around the
        pseudo-labels' connected pieces.
    min_gap_area : int
        Holes between masks (``"sam"`` and ``"files"``) smaller than this
        many pixels join the regions around them instead of becoming
        regions of their own (:func:`fill_gaps`); 0 keeps every hole.
    """

    source: str = "auto"
    sam_checkpoint: str | None = None
    sam_model_type: str | None = None
    sam_mode: str = "auto"
    path: str | None = None
    min_gap_area: int = MIN_GAP_AREA

    def __post_init__(self):
        if self.min_gap_area < 0:
            raise ValueError(f"the minimum gap area must be >= 0, got {self.min_gap_area}")
        if self.source not in REGION_SOURCES:
            raise ValueError(f"unknown regions source {self.source!r}; expected one of "
                             f"{REGION_SOURCES}")
        if self.sam_mode not in SAM_MODES:
            raise ValueError(f"unknown SAM mode {self.sam_mode!r}; expected one of {SAM_MODES}")
        if self.sam_model_type not in (None, *SAM_MODEL_TYPES):
            raise ValueError(f"unknown SAM model type {self.sam_model_type!r}; expected "
                             f"one of {SAM_MODEL_TYPES}")
        if self.source == "sam" and not self.sam_checkpoint:
            raise ValueError("SAM regions need a SAM checkpoint file")
        if self.source != "sam" and (self.sam_checkpoint or self.sam_model_type):
            raise ValueError("a SAM checkpoint or model type only applies to SAM regions")
        if self.source == "files" and not self.path:
            raise ValueError("regions from files need the path of a folder or COCO JSON")
        if self.source != "files" and self.path:
            raise ValueError("a regions path only applies to regions from files")
        # Absolute, so that a session reopened from elsewhere finds the files.
        for key in ("sam_checkpoint", "path"):
            if getattr(self, key):
                object.__setattr__(self, key, os.path.abspath(
                    os.path.expanduser(getattr(self, key))))


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
    # skimage takes a fifth of a second to import: only where regions are made
    # (in a worker), not wherever the module's vocabulary is read (the widget).
    from skimage.measure import label as connected_components
    from skimage.segmentation import slic

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


def paint_masks(masks: Iterable[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Paint overlapping masks into one region map, smaller masks on top.

    The result equals painting the masks largest first (a stable sort, so of
    two masks of equal area the later one ends on top), but each pixel just
    keeps the smallest mask covering it, so masks can stream in one by one.

    Parameters
    ----------
    masks : iterable of (H, W) bool arrays
        The masks in input order; an (N, H, W) array works too.
    shape : tuple of int
        (H, W).

    Returns
    -------
    regions : (H, W) int32 array
        Ids ``1..n`` over the masks still visible, in input order, so a mask
        covered entirely by smaller ones gets no id; 0 where no mask is.
    """
    top = np.zeros(shape, np.int32)  # 1 + input index of the mask on top
    top_area = np.full(shape, np.iinfo(np.int64).max, np.int64)
    for i, mask in enumerate(masks, 1):
        mask = np.asarray(mask, bool)
        if mask.shape != tuple(shape):
            raise ValueError(f"mask {i - 1} has shape {mask.shape}; expected {tuple(shape)}")
        pixels = np.flatnonzero(mask)
        on_top = pixels[pixels.size <= top_area.flat[pixels]]
        top_area.flat[on_top] = pixels.size
        top.flat[on_top] = i
    return compact_ids(top)[0]


def fill_gaps(regions: np.ndarray, image: np.ndarray, labels: np.ndarray,
              min_area: int = MIN_GAP_AREA, n_segments: int | None = None) -> np.ndarray:
    """Give every pixel outside the regions a region of its own kind.

    A hole of the gap (a 4-connected piece of region id 0) smaller than
    ``min_area`` pixels joins the regions around it, each pixel the nearest
    one's (so a 1-pixel gap between masks is no region of its own). The rest
    of the gap is cut into SLIC superpixels along the pseudo-label edges
    (:func:`superpixel_regions`), then into the 4-connected pieces of each
    inside the gap, so no new region reaches into an existing one.

    Parameters
    ----------
    regions : (H, W) int array
        Region ids, 0 = no region.
    image : (H, W, 3) uint8 array
        RGB image.
    labels : (H, W) uint8 array
        Pseudo-labels.
    min_area : int
        Smallest hole, in pixels, that gets regions of its own.
    n_segments : int, optional
        SLIC superpixels over the whole image, of which the gap keeps its
        share (:func:`superpixel_regions`'s default when None).

    Returns
    -------
    (H, W) int32 array
        ``regions`` where it is > 0; small holes take their nearest
        region's id; elsewhere new ids from ``regions.max() + 1`` on,
        consecutive. No pixel is 0.
    """
    from scipy import ndimage
    from skimage.measure import label as connected_components  # see superpixel_regions

    regions = np.asarray(regions)
    if regions.shape != np.shape(labels):
        raise ValueError(f"regions shape {regions.shape} does not match labels shape "
                         f"{np.shape(labels)}")
    filled = regions.astype(np.int32)
    gap = regions == 0
    if not gap.any():
        return filled
    if min_area > 1 and not gap.all():
        holes = connected_components(gap, background=0, connectivity=1)
        small = (np.bincount(holes.ravel()) < min_area)[holes] & gap
        if small.any():
            gap &= ~small
            # Each small-hole pixel takes the id of the nearest pixel outside the gap.
            nearest = ndimage.distance_transform_edt(regions == 0, return_distances=False,
                                                     return_indices=True)
            filled[small] = filled[tuple(index[small] for index in nearest)]
            if not gap.any():
                return filled
    superpixels = np.where(gap, superpixel_regions(image, labels, n_segments), 0)
    pieces = connected_components(superpixels, background=0, connectivity=1)
    filled[gap] = pieces[gap] + regions.max()
    return filled


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


def region_values(regions: np.ndarray, ids, values, fill: int = -1) -> np.ndarray:
    """Paint whole regions: ``values[k]`` wherever ``regions == ids[k]``, else ``fill``.

    Goes through :func:`compact_ids`, so region ids may be sparse and huge
    (SAM masks) without any table sized by the largest id.

    Parameters
    ----------
    regions : (H, W) int array
        Region ids; 0 is no region.
    ids, values : (n,) int arrays
        Regions to paint and their values. Ids absent from ``regions`` are ignored.
    fill : int
        Value everywhere else.

    Returns
    -------
    (H, W) int64 array
    """
    compact, present = compact_ids(regions)
    ids = np.asarray(ids, dtype=np.int64)
    pos = np.minimum(np.searchsorted(present, ids), len(present) - 1)
    found = present[pos] == ids
    lut = np.full(len(present), fill, dtype=np.int64)
    lut[pos[found]] = np.asarray(values, dtype=np.int64)[found]
    return lut[compact]
