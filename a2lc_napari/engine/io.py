"""Reading images, label maps and region maps; writing files atomically.

Every reader raises :class:`~a2lc_napari.engine.errors.DatasetError` naming the
file when it cannot be read. Every writer writes to a temporary file in the
same folder and renames it into place, so a crash never leaves a half-written
file behind.
"""
from __future__ import annotations

import errno
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image

from .classes import ClassSet
from .errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: Why a label file must be a PNG, in an error message.
PNG_ONLY = ("labels must be PNG files (lossless: JPEG's compression changes class ids "
            "along every edge)")
#: PIL's image modes of a label map: one value per pixel.
LABEL_MODES = ("P", "L", "I", "I;16", "I;16B")
#: How many unknown colours an error message lists.
MAX_LISTED_COLORS = 3
#: How many offending label values an error message lists.
MAX_LISTED_VALUES = 5



def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


#: The mode ``open()`` gives a new file: 0o666 less the umask, read once at
#: import because reading it means setting it, which other threads would see.
FILE_MODE = 0o666 & ~_umask()


def user_cache() -> Path:
    """The user's cache folder of this tool (``$XDG_CACHE_HOME/a2lc-napari``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "a2lc-napari"


@contextmanager
def _reading(path: Path, what: str, errors: tuple = (OSError, SyntaxError, ValueError),
             missing: str = "file not found"):
    """Turn a reader's failures into :class:`DatasetError` naming ``path``."""
    try:
        yield
    except FileNotFoundError:
        raise DatasetError(path, missing) from None
    except Image.DecompressionBombError as e:
        raise DatasetError(path, f"is too large to read: {e.args[0].split(', could')[0]} "
                           "(Pillow's guard against decompression bombs); cut it into "
                           "tiles, each with its own labels") from None
    except errors as e:
        raise DatasetError(path, f"cannot be read as {what} ({e})") from None


def _open(path: Path) -> Image.Image:
    with _reading(path, "an image"):
        img = Image.open(path)
        img.load()
        return img


#: EXIF orientations that show the stored pixels turned a quarter (5-8).
QUARTER_TURNS = (5, 6, 7, 8)


def check_size(shape: tuple[int, ...], path: Path, size: tuple[int, int],
               image_path: Path) -> None:
    """Raise :class:`DatasetError` naming ``path`` where its (H, W) ``shape``
    is not its image's ``size``, and saying so where the image's EXIF
    orientation is why: a2lc reads pixels as stored, as PIL and torchvision
    do, where a viewer shows them turned."""
    if tuple(shape[:2]) == tuple(size):
        return
    turned = ""
    if tuple(shape[:2]) == tuple(size)[::-1]:
        try:
            with Image.open(image_path) as img:
                orientation = img.getexif().get(ExifTags.Base.Orientation)
        except OSError:
            orientation = None
        if orientation in QUARTER_TURNS:
            turned = (f"; the image is stored on its side, with an EXIF orientation "
                      f"({orientation}) that viewers apply and a2lc does not (as PIL and "
                      "torchvision): save it upright, e.g. with PIL's ImageOps.exif_transpose")
    raise DatasetError(path, f"is {shape[1]}x{shape[0]} pixels but its image {image_path} "
                       f"is {size[1]}x{size[0]}{turned}")


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file, read from its header only (a TIFF
    is read whole: its axes are known once :func:`read_image` has read it)."""
    if Path(path).suffix.lower() in (".tif", ".tiff"):
        return read_image(path).shape[:2]
    with _reading(path, "an image"), Image.open(path) as img:
        return img.height, img.width


def read_image(path: Path) -> np.ndarray:
    """Read an RGB or greyscale image as (H, W, 3) uint8.

    16-bit and float images are rescaled to 0-255 by their own maximum;
    an alpha channel is dropped.
    """
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        arr = _read_tiff(path)
    else:
        img = _open(path)
        if img.mode in ("P", "PA", "LA", "RGBA", "CMYK", "YCbCr", "1"):
            img = img.convert("RGB")
        arr = np.array(img)
    return _to_rgb8(arr, path)


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    # tifffile raises many types for corrupt files
    with _reading(path, "a TIFF image", errors=(Exception,)):
        return tifffile.imread(path)


def _to_rgb8(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[-1] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # channels-first TIFF
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 2, 3, 4):
        raise DatasetError(path, f"has shape {arr.shape}; expected an RGB or greyscale image")
    arr = arr[..., :3] if arr.shape[-1] >= 3 else arr[..., :1]
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float64)
        top = arr.max()
        arr = (arr * (255.0 / top) if top > 0 else arr).clip(0, 255).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.ascontiguousarray(arr)


def read_label(path: Path, colors: dict[tuple[int, int, int], int] | None = None
               ) -> np.ndarray:
    """Read a label map as (H, W) uint8 class ids: an 8-bit greyscale or
    palette PNG holds them; given ``colors`` ((r, g, b) to label value: the
    class colours, :meth:`ClassSet.colormap`), an RGB one is read in them."""
    img = _open_label(Path(path))
    if img.mode in ("RGB", "RGBA") and colors is not None:
        return _color_ids(img, colors, path, "the dataset's class colours (classes.json's, or "
                          "its layout's: VOC's, Cityscapes'), or the "
                          "ignore colour, are expected; fix the mask")
    if img.mode not in LABEL_MODES:
        raise DatasetError(path, f"has image mode {img.mode}; a label map must hold one "
                           "class id per pixel (8-bit greyscale or palette PNG)")
    arr = np.array(img)  # a writable copy: callers edit labels in place
    if arr.dtype != np.uint8:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise DatasetError(path, f"has label values up to {arr.max()}; "
                               "class ids must fit in 8 bits")
        arr = arr.astype(np.uint8)
    return arr


def check_label_values(labels: np.ndarray, path: Path, classes: ClassSet) -> None:
    """Raise :class:`DatasetError` naming ``path`` where the (H, W) uint8
    ``labels`` hold values that are neither a class id nor the ignore value."""
    present = np.flatnonzero(np.bincount(labels.ravel(), minlength=256))
    bad = present[(present >= classes.num_classes) & (present != classes.ignore_index)]
    if bad.size:
        listed = ", ".join(str(v) for v in bad[:MAX_LISTED_VALUES])
        more = (f" and {bad.size - MAX_LISTED_VALUES} more"
                if bad.size > MAX_LISTED_VALUES else "")
        raise DatasetError(path, f"has label values {listed}{more}, which are neither "
                           f"a class id (0-{classes.num_classes - 1}) nor the ignore "
                           f"value {classes.ignore_index}")


def read_color_label(path: Path, colormap: dict[tuple[int, int, int], int]) -> np.ndarray:
    """Read a colour-coded label map (RGB, or palette PNG shown in colours) as class ids.

    Parameters
    ----------
    path : Path
        The label image; every pixel's colour must be in ``colormap``.
    colormap : dict of (r, g, b) to int
        Label value (class id or ignore value) of each colour.

    Returns
    -------
    (H, W) uint8 array

    Raises
    ------
    DatasetError
        The file is unreadable, or has colours not in ``colormap`` (the
        message lists them with their pixel counts).
    """
    return _color_ids(_open_label(Path(path)), colormap, path,
                      "add them to labelmap.txt or fix the mask")


def _open_label(path: Path) -> Image.Image:
    """A label file opened; one that is a JPEG under any name is refused."""
    img = _open(path)
    if img.format == "JPEG":  # its compression blurs class ids along every edge
        raise DatasetError(path, f"is a JPEG image, whatever its name: {PNG_ONLY}")
    return img


def _color_ids(img: Image.Image, colormap: dict[tuple[int, int, int], int], path: Path,
               advice: str) -> np.ndarray:
    """(H, W) uint8 label values of ``img``'s colours (:func:`read_color_label`);
    ``advice`` ends the message about colours not in ``colormap``."""
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint32)  # alpha dropped
    codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    known = np.array(sorted((r << 16) | (g << 8) | b for r, g, b in colormap), np.uint32)
    values = np.array([colormap[((c >> 16) & 255, (c >> 8) & 255, c & 255)] for c in known],
                      np.uint8)
    pos = np.minimum(np.searchsorted(known, codes), len(known) - 1)
    unknown = known[pos] != codes
    if unknown.any():
        colors, counts = np.unique(codes[unknown], return_counts=True)
        order = np.argsort(-counts, kind="stable")[:MAX_LISTED_COLORS]
        listed = ", ".join(f"({c >> 16}, {(c >> 8) & 255}, {c & 255}) in {n} pixels"
                           for c, n in zip(colors[order], counts[order]))
        more = (f" and {colors.size - MAX_LISTED_COLORS} more colours"
                if colors.size > MAX_LISTED_COLORS else "")
        raise DatasetError(path, f"has colours that are not in the colour map: {listed}"
                           f"{more}; {advice}")
    return values[pos]


def load_npy(path: Path, missing: str = "file not found",
             mmap_mode: str | None = None) -> np.ndarray:
    """``np.load`` raising :class:`DatasetError` with ``missing`` when absent."""
    with _reading(path, "a NumPy array", (OSError, ValueError, EOFError), missing):
        with open(path, "rb") as f:  # else numpy calls any other file pickled data
            if f.read(len(np.lib.format.MAGIC_PREFIX)) != np.lib.format.MAGIC_PREFIX:
                raise ValueError("not a .npy file: it does not start as NumPy writes one")
        return np.load(path, mmap_mode=mmap_mode)


def read_regions(path: Path) -> np.ndarray:
    """Read a region map (``.npy`` int or 16-bit PNG) as (H, W) int32; 0 = no region."""
    path = Path(path)
    if path.suffix == ".npy":
        arr = load_npy(path)
    else:
        arr = np.array(_open(path))
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise DatasetError(path, f"is {arr.dtype} with shape {arr.shape}; a region "
                           "map must be a 2-D integer array")
    if arr.size and arr.min() < 0:
        raise DatasetError(path, "has negative region ids; ids must be >= 0")
    if arr.size and int(arr.max()) > np.iinfo(np.int32).max:
        raise DatasetError(path, f"has region id {arr.max()}; ids must fit in int32")
    return arr.astype(np.int32, copy=False)


def outside_dataset(path: Path | str, dataset_root: Path | str) -> Path:
    """``path`` resolved, if it lies outside the dataset folder ``dataset_root``,
    which is never written to; else DatasetError naming it."""
    return outside_inputs(path, {"the dataset folder": dataset_root})


def outside_inputs(path: Path | str, inputs: dict[str, Path | str]) -> Path:
    """``path`` resolved, if it lies outside each of ``inputs`` (what each
    is, in words: its folder or file), which are never written to, and
    holds none of those that are folders (an export writes sub-folders of
    its own: VOC's ``VOCdevkit/VOC2012/SegmentationClass``); else
    DatasetError naming it."""
    path = Path(path).expanduser().resolve()
    for what, where in inputs.items():
        root = Path(where).expanduser().resolve()
        if path.is_relative_to(root):
            place = f"is {what}" if path == root else f"is inside {what} {root}"
            raise DatasetError(path, f"{place}, which is never written to; choose a place "
                               "outside it")
        if root.is_relative_to(path) and root.is_dir():  # a file's name is its own
            raise DatasetError(path, f"holds {what} {root}, which is never written to; "
                               "choose a place that does not hold it")
    return path


def index_files(folder: Path, endings: tuple[str, ...]) -> dict[str, Path]:
    """Files under ``folder`` ending in one of ``endings`` (any case), by name.

    A file's name is its POSIX path relative to ``folder`` without the ending.
    Hidden files and folders are skipped; a missing folder has no files, a
    folder that cannot be read (no permission, not a folder) is an error.
    """
    def unreadable(error: OSError) -> None:
        if not (isinstance(error, FileNotFoundError) and Path(error.filename) == Path(folder)):
            raise DatasetError(error.filename, f"cannot be read ({error.strerror})")

    found: dict[str, Path] = {}
    endings = tuple(e.lower() for e in endings)
    walked: dict[str, str] = {}  # each real folder, by the first path it was reached by
    for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in walked:  # a link to a folder walked already: a loop, or a second way in
            raise DatasetError(dirpath, f"is a link to {walked[real]}, a folder read already "
                               "(a loop, or a second way to the same files); remove the link")
        walked[real] = dirpath
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = Path(dirpath).relative_to(folder).as_posix()
        for filename in filenames:
            end = next((e for e in endings if filename.lower().endswith(e)), None)
            if end is None or filename.startswith("."):
                continue
            stem = filename[:-len(end)]
            name = stem if rel_dir == "." else f"{rel_dir}/{stem}"
            path = Path(dirpath, filename)
            if name in found:
                raise DatasetError(path, f"has the same name {name!r} as {found[name]}; "
                                   "keep one of them")
            found[name] = path
    return found


# What marks a file being written by atomic_path: ".NAME.partial-XXXXXXXX.png".
_PARTIAL = ".partial-"


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The file gets the mode a plain ``open()`` would give it (0644 under the
    usual umask), not the temporary file's private 0600. A kill leaves the
    temporary file behind: :func:`remove_unfinished_writes` takes it away.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{_PARTIAL}",
                                   suffix=path.suffix)
    except OSError as e:  # named as the file meant, not the temporary one
        raise OSError(e.errno, e.strerror, str(path)) from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        # Named as the file meant: a full disk is the target's, whatever the
        # error named (a copy names its source), or nothing (a write).
        if isinstance(e, OSError) and e.errno is not None and (
                e.filename in (tmp, None) or e.errno in (errno.ENOSPC, errno.EDQUOT)):
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise


def remove_unfinished_writes(folder: Path) -> None:
    """Delete the temporary files that :func:`atomic_path` left under
    ``folder`` (any depth) when a kill stopped a write.

    Only the folder's single writer may call this: another writer's
    temporary files are files still being written.
    """
    for dirpath, _, names in os.walk(folder):
        for name in names:
            if name.startswith(".") and _PARTIAL in name:
                Path(dirpath, name).unlink(missing_ok=True)


def write_label(path: Path, labels: np.ndarray, classes: ClassSet) -> None:
    """Write (H, W) uint8 class ids as a palette PNG in the dataset's colours."""
    img = Image.fromarray(np.asarray(labels, dtype=np.uint8), mode="P")
    img.putpalette(classes.palette())
    with atomic_path(path) as tmp:
        # Light compression: written after every answer, and labels compress
        # well anyway (half the time of the default level, a quarter more bytes).
        img.save(tmp, format="PNG", compress_level=1)


def read_json(path: Path):
    """The JSON value in ``path``; :class:`DatasetError` naming it where it
    is missing or corrupt."""
    with _reading(path, "JSON"):
        return json.loads(Path(path).read_text())


def write_json(path: Path, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
