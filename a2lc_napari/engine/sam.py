"""Segment Anything (SAM) masks as region maps.

In both papers the regions a query corrects are the masks SAM produced, so a
correction can fix at most what one mask covers. :class:`SamRegions` makes
such a region map for an image, in one of two modes:

auto
    SAM's automatic mask generator ("segment everything" from a grid of
    point prompts).
boxes
    One mask per box around each connected piece of every pseudo-label
    class, the way Grounded-SAM's detector boxes prompt SAM in the papers.

Masks overlap; :func:`~a2lc_napari.engine.regions.paint_masks` puts smaller
masks on top, as the papers' pipeline paints them. Pixels no mask covers get
regions too (:func:`~a2lc_napari.engine.regions.fill_gaps`), so every pixel
can be queried.

The checkpoint is the user's: an official file, downloaded by hand, read by
:func:`load_sam`. Nothing is ever downloaded here.
"""
from __future__ import annotations

import pickle
import zipfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import find_objects
from segment_anything import SamAutomaticMaskGenerator, SamPredictor, sam_model_registry
from segment_anything.modeling import Sam
from segment_anything.utils.amg import rle_to_mask
from skimage.measure import label as connected_components

from .errors import DatasetError
from .regions import (
    MIN_GAP_AREA,
    SAM_CHECKPOINT_HELP,
    SAM_MODEL_TYPES,
    SAM_MODES,
    fill_gaps,
    paint_masks,
)

__all__ = ["SAM_MODEL_TYPES", "SAM_MODES", "SamRegions", "fill_gaps", "label_boxes",
           "load_sam", "paint_masks", "sam_model_type"]

#: Width of the image encoder's embedding, the shape that tells the models apart.
EMBED_WIDTHS = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}

#: Box prompts per decoder call in "boxes" mode.
BOX_BATCH = 64


def _checkpoint_error(path: Path, problem: str) -> DatasetError:
    """Every checkpoint error also says where to get a good one."""
    return DatasetError(path, f"{problem}. {SAM_CHECKPOINT_HELP}")


def _brief(error: Exception, limit: int = 300) -> str:
    """An exception's type and message on one line, cut to ``limit``
    characters (torch's messages run to dozens of lines)."""
    text = " ".join(f"{type(error).__name__}: {error}".split()).rstrip(":")
    return text if len(text) <= limit else text[:limit] + "..."


def sam_model_type(state_dict, checkpoint: Path | str) -> str:
    """The SAM model type of a state dict, from its image encoder's width.

    Parameters
    ----------
    state_dict : dict of str to torch.Tensor
        As read from a checkpoint file.
    checkpoint : Path or str
        The file it was read from, for the error message.

    Returns
    -------
    str
        ``"vit_b"``, ``"vit_l"`` or ``"vit_h"``.

    Raises
    ------
    DatasetError
        Not a SAM state dict, or an encoder width of no official model.
    """
    pos_embed = state_dict.get("image_encoder.pos_embed") if isinstance(state_dict, dict) else None
    if not isinstance(pos_embed, torch.Tensor) or pos_embed.ndim != 4:
        raise _checkpoint_error(Path(checkpoint), "is not a SAM checkpoint (it holds no "
                                "image_encoder.pos_embed weights)")
    width = pos_embed.shape[-1]
    if width not in EMBED_WIDTHS:
        raise _checkpoint_error(Path(checkpoint), f"has an image encoder of width {width}, "
                                "which is none of SAM's vit_b (768), vit_l (1024) or "
                                "vit_h (1280)")
    return EMBED_WIDTHS[width]


def load_sam(checkpoint: Path | str, model_type: str | None = None,
             device: str | None = None) -> Sam:
    """Build SAM and load an official checkpoint into it.

    Parameters
    ----------
    checkpoint : Path or str
        An official SAM checkpoint (``sam_vit_b_01ec64.pth`` etc.).
    model_type : {"vit_b", "vit_l", "vit_h"}, optional
        Default: read from the file. When given, it must match the file.
    device : str, optional
        Default: ``"cuda"`` when available, else ``"cpu"``.

    Returns
    -------
    segment_anything.modeling.Sam
        In eval mode, on ``device``.

    Raises
    ------
    DatasetError
        The file is missing, not a file, unreadable, not a SAM checkpoint, or
        of another model type than ``model_type``. The message says where to
        get an official checkpoint.
    """
    path = Path(checkpoint).expanduser()
    if model_type is not None and model_type not in SAM_MODEL_TYPES:
        raise ValueError(f"unknown SAM model type {model_type!r}; expected one of "
                         f"{SAM_MODEL_TYPES}")
    if not path.exists():
        raise _checkpoint_error(path, "missing: no SAM checkpoint at this path")
    if not path.is_file():
        raise _checkpoint_error(path, "is not a file; expected a SAM checkpoint (.pth)")
    unreadable = _not_a_torch_file(path)
    if unreadable:
        raise _checkpoint_error(path, unreadable)
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise _checkpoint_error(path, "holds Python objects besides weights; only plain "
                                "state dicts, like the official checkpoints, are loaded "
                                "(unpickling objects could run code)") from None
    except Exception as e:  # noqa: BLE001 (torch.load raises many types for bad files)
        raise _checkpoint_error(path, "cannot be read as a PyTorch checkpoint "
                                f"({_brief(e)})") from None
    found = sam_model_type(state_dict, path)
    if model_type is not None and model_type != found:
        raise _checkpoint_error(path, f"is a {found} checkpoint, not {model_type}; leave "
                                "the model type out to read it from the file")
    sam = sam_model_registry[found]()
    try:
        sam.load_state_dict(state_dict)
    except RuntimeError as e:  # missing, unexpected or misshapen weights
        raise _checkpoint_error(path, f"does not fit SAM {found} ({_brief(e)})") from None
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return sam.to(device).eval()


def _not_a_torch_file(path: Path) -> str | None:
    """What keeps ``path`` from being a file torch.load reads, in the words a
    person acts on (torch's own are about zip internals); None if nothing."""
    with open(path, "rb") as f:
        start = f.read(2)
    if not start:
        return "is empty (an interrupted download?)"
    if start == b"PK":  # a zip archive, as torch.save writes
        if zipfile.is_zipfile(path):
            return None
        return "is cut short: a zip archive, as torch.save writes, whose end is missing " \
               "(an interrupted download?)"
    if start[:1] == b"\x80":  # a pickle, as torch's older files are
        return None
    return "is not a PyTorch checkpoint (neither a zip archive nor a pickle)"


def _file_version(path: Path | str) -> tuple[int, int] | None:
    try:
        stat = Path(path).expanduser().stat()
    except OSError:
        return None  # load_sam says what is wrong
    return stat.st_mtime_ns, stat.st_size


def _load_once(checkpoint: Path | str, model_type: str | None = None,
               device: str | None = None) -> Sam:
    """:func:`load_sam`, kept per process while the same file is asked for."""
    return _load_version(checkpoint, model_type, device, _file_version(checkpoint))


@lru_cache(maxsize=1)
def _load_version(checkpoint, model_type, device, version) -> Sam:
    return load_sam(checkpoint, model_type, device)


def _unpickled(state: dict) -> SamRegions:
    regions = SamRegions.__new__(SamRegions)
    regions.__dict__.update(state)
    return regions


def label_boxes(labels: np.ndarray, ignore_index: int) -> np.ndarray:
    """Boxes around the connected pieces of every class in the pseudo-labels.

    Pieces are 8-connected; ignore pixels belong to none.

    Parameters
    ----------
    labels : (H, W) uint8 array
        Pseudo-labels.
    ignore_index : int
        The ignore value.

    Returns
    -------
    boxes : (N, 4) float32 array
        ``x0, y0, x1, y1`` in pixel edge coordinates: a piece spanning
        columns 2..4 has ``x0 = 2, x1 = 5``. In raster order of each piece's
        first pixel.
    """
    pieces = connected_components(np.asarray(labels), background=ignore_index,
                                  connectivity=2)
    spans = find_objects(pieces)
    return np.array([[cols.start, rows.start, cols.stop, rows.stop]
                     for rows, cols in spans], np.float32).reshape(-1, 4)


class SamRegions:
    """Region maps from SAM masks, every pixel in a region.

    Call it like ``regions = sam_regions(image, labels, ignore_index)``. The
    model is loaded at the first call and kept.

    Parameters
    ----------
    checkpoint : Path or str
        An official SAM checkpoint (see :func:`load_sam`).
    model_type : {"vit_b", "vit_l", "vit_h"}, optional
        Default: read from the checkpoint.
    mode : {"auto", "boxes"}
        ``"auto"``: SAM's automatic mask generator; ``"boxes"``: one mask per
        box of :func:`label_boxes`.
    device : str, optional
        Default: ``"cuda"`` when available, else ``"cpu"``.
    generator_options : dict, optional
        Keyword arguments of ``SamAutomaticMaskGenerator`` ("auto" mode), e.g.
        ``points_per_side`` or ``pred_iou_thresh``.
    min_gap_area : int
        Holes between the masks smaller than this join their neighbours
        (:func:`fill_gaps`).
    """

    def __init__(self, checkpoint: Path | str | None, model_type: str | None = None,
                 mode: str = "auto", device: str | None = None,
                 generator_options: dict | None = None, min_gap_area: int = MIN_GAP_AREA):
        if mode not in SAM_MODES:
            raise ValueError(f"unknown SAM mode {mode!r}; expected one of {SAM_MODES}")
        if generator_options and mode != "auto":
            raise ValueError("generator_options apply to the \"auto\" mode only")
        self.checkpoint, self.model_type, self.mode = checkpoint, model_type, mode
        self.device = device
        self.min_gap_area = min_gap_area
        # Masks come as run-length codes, decoded one at a time to save memory.
        self.generator_options = {**(generator_options or {}),
                                  "output_mode": "uncompressed_rle"}
        self._model: Sam | None = None
        self._in_worker = False
        self._prompter: SamAutomaticMaskGenerator | SamPredictor | None = None

    @classmethod
    def from_model(cls, model: Sam, mode: str = "auto",
                   generator_options: dict | None = None) -> SamRegions:
        """Use an already built SAM instead of loading a checkpoint."""
        regions = cls(None, mode=mode, generator_options=generator_options)
        regions._model = model
        return regions

    @property
    def model(self) -> Sam:
        if self._model is None:
            load = _load_once if self._in_worker else load_sam
            self._model = load(self.checkpoint, self.model_type, self.device)
        return self._model

    def __reduce__(self):
        """Pickled (for worker processes) without a model loaded from a
        checkpoint: a worker loads it at its first image, and keeps it for
        the next ones (:func:`_load_once`)."""
        if self.checkpoint is None:  # from_model: the model travels
            return super().__reduce__()
        state = {**self.__dict__, "_prompter": None, "_model": None, "_in_worker": True}
        return _unpickled, (state,)

    def masks(self, image: np.ndarray, labels: np.ndarray,
              ignore_index: int) -> Iterator[np.ndarray]:
        """SAM's (H, W) bool masks for ``image``, one at a time."""
        if self._prompter is None:
            self._prompter = (SamAutomaticMaskGenerator(self.model, **self.generator_options)
                              if self.mode == "auto" else SamPredictor(self.model))
        if self.mode == "auto":
            for record in self._prompter.generate(image):
                yield rle_to_mask(record["segmentation"])
            return
        boxes = label_boxes(labels, ignore_index)
        if not len(boxes):
            return
        predictor = self._prompter
        predictor.set_image(image)
        for start in range(0, len(boxes), BOX_BATCH):
            batch = torch.as_tensor(boxes[start:start + BOX_BATCH], device=predictor.device)
            masks, _, _ = predictor.predict_torch(
                None, None, boxes=predictor.transform.apply_boxes_torch(batch, image.shape[:2]),
                multimask_output=False)
            yield from masks[:, 0].cpu().numpy()
        predictor.reset_image()

    def __call__(self, image: np.ndarray, labels: np.ndarray, ignore_index: int) -> np.ndarray:
        """(H, W) int32 region map of one image: SAM masks, then the gaps filled.

        Parameters
        ----------
        image : (H, W, 3) uint8 array
            RGB image.
        labels : (H, W) uint8 array
            Pseudo-labels (the "boxes" mode prompts with their pieces; the gaps
            are cut along their edges).
        ignore_index : int
            The ignore value of ``labels``.

        Returns
        -------
        (H, W) int32 array
            Ids ``1..n``, consecutive: first the visible masks
            (:func:`paint_masks`), then the gap regions (:func:`fill_gaps`).
        """
        labels = np.asarray(labels)
        masks = paint_masks(self.masks(image, labels, ignore_index), labels.shape)
        return fill_gaps(masks, image, labels, self.min_gap_area)
