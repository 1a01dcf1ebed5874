"""Generated region maps kept in a folder, tied to a fingerprint of their inputs.

Making regions can take minutes per image (SAM on a CPU), so they are made
once and kept: in a session's ``OUT/regions/``, or in the user's cache for
``a2lc rank``. Kept maps are only worth keeping while they are the maps of
the inputs at hand, so :func:`make_region_cache`:

- fingerprints the inputs (:func:`inputs_fingerprint`): the regions setting,
  and the content of every image, pseudo-label and region file;
- reuses the folder only when its ``inputs.json`` holds that fingerprint;
  beside it, each image's and pseudo-label's size, time and digest
  (:func:`input_records`), by which a session tells a file written over
  in place (:func:`changed_input`);
- otherwise makes every map into ``.NAME.<fingerprint>.partial/`` beside the
  folder and puts it in the folder's place only once all are made, so a run
  that stops half-way never leaves maps that a later run would take for
  finished ones (the same inputs pick the partial maps up again).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import Executor
from pathlib import Path

from .dataset import Dataset
from .io import write_json, write_npy
from .parallel import map_ordered
from .progress import Progress, Steps

#: The file of a finished region folder that holds its inputs' fingerprint.
FINGERPRINT_FILE = "inputs.json"
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """BLAKE2b digest of a file's bytes (``"missing"`` if there is none)."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        return "missing"
    return digest.hexdigest()


def tree_digest(path: Path) -> str:
    """Digest of a file, or of every file under a folder with its relative path."""
    path = Path(path)
    if not path.is_dir():
        return file_digest(path)
    digest = hashlib.blake2b(digest_size=16)
    for dirpath, dirnames, filenames in sorted(os.walk(path, followlinks=True)):
        dirnames.sort()
        for filename in sorted(filenames):
            file = Path(dirpath, filename)
            digest.update(os.fsencode(f"{file.relative_to(path).as_posix()}\0"
                                      f"{file_digest(file)}\0"))
    return digest.hexdigest()


def _stamp(path: Path) -> list:
    """``[size, mtime_ns]`` of a file, ``[None, None]`` if there is none."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return [None, None]
    return [stat.st_size, stat.st_mtime_ns]


def file_record(path: Path) -> list:
    """``[size, mtime_ns, digest]`` of a file (None, None, ``"missing"``
    if there is none): a later stat that differs tells to read it again."""
    return [*_stamp(path), file_digest(path)]


def input_records(dataset: Dataset) -> dict[str, list[list]]:
    """Per image name, the :func:`file_record` of its image and of its
    pseudo-label file."""
    return {name: [file_record(dataset.image_path(name)), file_record(dataset.label_path(name))]
            for name in dataset.names}


def changed_input(dataset: Dataset, records: dict[str, list[list]]
                  ) -> tuple[Path | None, dict[str, list[list]]]:
    """The first image or pseudo-label file of ``dataset`` whose content
    differs from its ``records`` (:func:`input_records`), or None; and the
    records brought up to date. Only a file whose size or modification time
    differs is read; one read and found the same takes its new size and
    time in the records returned, so that it need not be read again (a
    dataset copied without its files' times)."""
    current = {}
    for name in dataset.names:
        current[name] = kept = list(records.get(name, ()))
        for i, path in enumerate((dataset.image_path(name), dataset.label_path(name))[:len(kept)]):
            stamp = _stamp(path)
            if stamp != kept[i][:2]:
                if file_digest(path) != kept[i][2]:
                    return path, records
                kept[i] = [*stamp, kept[i][2]]
    return None, current


def inputs_fingerprint(dataset: Dataset, records: dict[str, list[list]] | None = None) -> str:
    """A digest of everything the generated region maps of ``dataset`` depend on.

    The regions setting (source, SAM checkpoint, model type and mode, path of
    region files, minimum gap area), the classes and how label colours (or
    the pseudo-labels' own class list) map to them, and per image its name
    and the content of its image and pseudo-label files (their ``records``,
    when given: :func:`input_records`); with regions from files, the content
    of every file under their path; with SAM, the checkpoint's content.
    """
    records = input_records(dataset) if records is None else records
    config = dataset.regions_config
    digest = hashlib.blake2b(digest_size=16)
    # The classes and colour map decide the label values read from the same files.
    digest.update(repr((config, dataset.classes, dataset.label_colormap)).encode())
    if dataset.label_classes is not None:  # the pseudo-labels read by their class names
        digest.update(repr(dataset.label_classes).encode())
    for key in ("path", "sam_checkpoint"):
        if getattr(config, key):
            digest.update(tree_digest(Path(getattr(config, key))).encode())
    for name in dataset.names:
        image, label = records[name]
        # os.fsencode: a file name need not be UTF-8 (its bytes come back as they are).
        digest.update(os.fsencode(f"{name}\0{image[2]}\0{label[2]}\0"))
    return digest.hexdigest()


def read_fingerprint(folder: Path, key: str = "fingerprint"):
    """The fingerprint a finished region folder was made for (or, ``key``
    ``"files"``, its inputs' :func:`input_records`), or None: none kept,
    or kept by a release before them."""
    try:
        return json.loads((Path(folder) / FINGERPRINT_FILE).read_text())[key]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_inputs(folder: Path, fingerprint: str, records: dict[str, list[list]]) -> None:
    """Keep in ``folder`` the ``fingerprint`` its maps were made for and
    their inputs' ``records`` (:func:`input_records`)."""
    write_json(Path(folder) / FINGERPRINT_FILE, {"fingerprint": fingerprint, "files": records})


def make_region_cache(dataset: Dataset, folder: Path,
                      executor: Executor | None = None) -> Steps[None]:
    """Make ``folder`` hold the generated region map of every image of
    ``dataset`` for its current inputs, and read them from there.

    Reuses ``folder`` if it was made for the same inputs; otherwise makes
    the maps into a partial folder beside it (picking up the maps of an
    earlier run on the same inputs that stopped half-way) and then replaces
    ``folder`` with it. Images with a provided region map (source
    ``"auto"``) get none. The maps are made on ``executor``
    (:func:`~a2lc_napari.engine.parallel.executor`) when given, and written
    here as they come, in image order.

    Yields
    ------
    Progress
        ``(images done, number of images, "Making regions")``.
    """
    folder = Path(folder)
    names = dataset.names
    records = input_records(dataset)
    fingerprint = inputs_fingerprint(dataset, records)
    if read_fingerprint(folder) != fingerprint:
        partial = folder.parent / f".{folder.name}.{fingerprint}.partial"
        for stale in folder.parent.glob(f".{folder.name}.*.partial"):
            if stale != partial:
                shutil.rmtree(stale, ignore_errors=True)
        todo = [name for name in names if dataset.generates_regions(name)
                and not (partial / f"{name}.npy").is_file()]
        done = len(names) - len(todo)
        if done:
            yield Progress(done, len(names), "Making regions")
        for name, regions in zip(todo, map_ordered(dataset.generate_regions, todo, executor)):
            write_npy(partial / f"{name}.npy", regions)
            done += 1
            yield Progress(done, len(names), "Making regions")
        write_inputs(partial, fingerprint, records)
        _replace(folder, partial)
    else:
        yield Progress(len(names), len(names), "Making regions")
    dataset.region_cache = folder


def _replace(folder: Path, new: Path) -> None:
    """Put the folder ``new`` in the place of ``folder`` (which may exist)."""
    old = folder.parent / f".{folder.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(new, folder)
    shutil.rmtree(old, ignore_errors=True)
