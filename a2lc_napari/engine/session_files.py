"""A session folder made and read back: the files a new session starts
from, and the dataset and state a saved one resumes with (the paths are
:mod:`~a2lc_napari.engine.session_folder`'s)."""
from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path

from .config import SessionConfig
from .dataset import Dataset, open_dataset
from .errors import DatasetError
from .image_cache import ImageCache, keep_images
from .io import image_size, index_files, write_label
from .label_store import LabelStore
from .progress import Progress, Steps
from .region_cache import (changed_input, inputs_fingerprint, make_region_cache,
                           read_fingerprint, write_inputs)
from .rounds import label_metrics
from .session_folder import SessionFolder, saved_path
from .state import RoundRecord, SessionState, read_state


def make_session_files(folder: SessionFolder, dataset: Dataset, config: SessionConfig,
                       executor: Executor | None = None) -> Steps[SessionState]:
    """Make every image's regions and kept files (:mod:`~a2lc_napari.engine.image_cache`;
    on ``executor`` if given) and copy the pseudo-labels into ``folder``
    (which must hold no session); the new state, round 0 measured (not saved)."""
    if folder.state.exists():
        raise DatasetError(folder.root, "already holds a session; open it to resume, "
                           "or choose another output folder")
    # Generated regions live in the session, so that a resume finds the same ones.
    # They are made here, once: SAM takes seconds to minutes per image.
    dataset.use_regions(config.regions)
    yield from make_region_cache(dataset, folder.regions_dir, executor)
    yield from keep_images(dataset, ImageCache(folder.images_dir, config.model.max_side),
                           executor)
    names = dataset.names
    for i, name in enumerate(names):
        write_label(folder.labels(name), dataset.labels(name), dataset.classes)
        yield Progress(i + 1, len(names), "Copying pseudo-labels")
    state = SessionState(dataset=str(dataset.root.resolve()),
                         labels_dir=saved_path(dataset.labels_dir), config=config,
                         classes=list(dataset.classes.names),
                         ignore_index=dataset.classes.ignore_index)
    stats = yield from label_metrics(dataset, LabelStore(folder, dataset.classes).labels)
    state.history.append(RoundRecord(round=0, queries=0, manual_changes=0, hand_pixels=0,
                                     lcm_changes=0, lcm_correct=0, **stats))
    return state


def read_session_files(folder: SessionFolder, named: tuple[Path, Path | None] | None = None,
                       writer: bool = False) -> tuple[Dataset, SessionState, dict[str, str]]:
    """The dataset and the state of the session saved in ``folder``, and
    the folders it followed to where they moved (recorded path → new one).

    ``named``: the dataset folder, and the labels folder or None, that the
    person names now. A folder the session recorded that is gone is followed
    to the one named in its place, once that holds the session's images
    (:func:`check_image_sizes`); the state then names it (the caller saves
    it). A recorded folder still in place is kept, whatever is named.
    ``writer``: the caller holds the session, and may keep what the checks
    learnt (:func:`check_contents_kept`).
    """
    state = read_state(folder.state)
    moved = {} if named is None else _follow_moved(state, *named)
    config = state.config
    for kept in filter(None, (state.dataset, state.labels_dir)):
        if not Path(kept).is_dir():  # moved or deleted since the session began
            raise DatasetError(kept, f"is missing: the session in {folder.root} reads its "
                               "images and labels there, by that path; put the folder back "
                               "there, or name its new place (resume the session on it, or "
                               "export with --dataset, or --labels, naming it)")
    dataset = open_dataset(state.dataset, labels_dir=state.labels_dir,
                           region_cache=folder.regions_dir,
                           background_is_ignore=config.background_is_ignore)
    dataset.use_regions(config.regions)
    check_same_classes(folder, state, dataset)
    check_same_images(folder, dataset)
    check_image_sizes(folder, dataset, moved)
    if moved:
        check_moved_contents(folder, dataset)
    else:
        check_contents_kept(folder, dataset, keep=writer)
    return dataset, state, moved


def _follow_moved(state: SessionState, dataset: Path, labels_dir: Path | None
                  ) -> dict[str, str]:
    """Point ``state`` at the folders named where those it records are gone."""
    moved = {}
    for attr, named in (("dataset", dataset), ("labels_dir", labels_dir)):
        kept, named = getattr(state, attr), saved_path(named)
        if None not in (kept, named) and kept != named and not Path(kept).is_dir() \
                and Path(named).is_dir():
            setattr(state, attr, named)
            moved[kept] = named
    return moved


def check_same_classes(folder: SessionFolder, state: SessionState, dataset: Dataset) -> None:
    """Raise DatasetError unless ``dataset`` has the classes (names, in
    order, and ignore value) that the session in ``folder`` began with:
    its labels, answers and model hold class ids of those."""
    if state.classes is None:  # saved by an earlier release
        return
    classes = dataset.classes
    names, began = list(classes.names), state.classes
    added = [n for n in names if n not in began]
    gone = [n for n in began if n not in names]
    changes = ([f"{', '.join(added)} added"] if added else []) + (
        [f"{', '.join(gone)} taken away"] if gone else [])
    if not changes and names != began:
        changes.append("the same names in another order")
    if classes.ignore_index != state.ignore_index:
        changes.append(f"ignore value {classes.ignore_index}, not {state.ignore_index}")
    if changes:
        raise DatasetError(dataset.root, f"now has {len(names)} classes where the session in "
                           f"{folder.root} began with {len(began)} ({'; '.join(changes)}); "
                           "put its classes back to resume it (its labels hold ids of "
                           "those), or begin another session")


def check_same_images(folder: SessionFolder, dataset: Dataset) -> None:
    """Raise DatasetError unless ``dataset`` holds the images of the session
    in ``folder`` (one labels file each), no fewer and no more."""
    held = set(index_files(folder.labels_dir, (".png",)))
    names = set(dataset.names)
    if gone := sorted(held - names):
        raise DatasetError(dataset.root, f"lacks {gone[0]}"
                           f"{f' and {len(gone) - 1} more' if len(gone) > 1 else ''}, "
                           f"images of the session in {folder.root}; put them back to "
                           "resume it")
    if new := sorted(names - held):
        # Either the image came since, or the session's label of it was deleted.
        raise DatasetError(folder.labels(new[0]),
                           f"is missing{f' (and {len(new) - 1} more)' if len(new) > 1 else ''}"
                           f": the session holds no labels of {new[0]}, an image of "
                           f"{dataset.root}. If the session began with it, put its labels "
                           "file back; if the image came since, begin another session for it")


def check_moved_contents(folder: SessionFolder, dataset: Dataset) -> None:
    """Raise DatasetError unless the images and pseudo-labels of ``dataset``
    are, byte for byte, those the session in ``folder`` began on (the
    fingerprint its regions were made for): a dataset it would follow to a
    new place may hold other pictures under the same names and sizes."""
    kept = read_fingerprint(folder.regions_dir)
    if kept is not None and kept != inputs_fingerprint(dataset):
        raise DatasetError(dataset.root, "holds images or pseudo-labels other than those the "
                           f"session in {folder.root} began on (named alike and of the same "
                           "sizes, but their contents differ): not the dataset it began on")


def check_contents_kept(folder: SessionFolder, dataset: Dataset, keep: bool = False) -> None:
    """Raise DatasetError where an image or pseudo-label file of ``dataset``
    was written over since the session in ``folder`` began on it (the
    same name and size, other contents: its labels would be paired with
    another picture). Only files whose size or time changed are read; with
    ``keep`` (the session's writer), the new size and time of those found
    unchanged are kept. A session begun by a release that kept no record
    of them is not checked."""
    records = read_fingerprint(folder.regions_dir, "files")
    if records is None:
        return
    changed, current = changed_input(dataset, records)
    if changed is not None:
        raise DatasetError(changed, f"is not the file the session in {folder.root} began "
                           "on: its contents changed since. Put the original back, or "
                           "begin another session on the dataset as it is now")
    if keep and current != records:  # files read again, unchanged: not again next time
        write_inputs(folder.regions_dir, read_fingerprint(folder.regions_dir), current)


def check_image_sizes(folder: SessionFolder, dataset: Dataset, moved: bool) -> None:
    """Raise DatasetError unless each image of ``dataset`` is the size of
    its labels in the session in ``folder`` (their headers only). Where
    the session ``moved`` to the dataset, the names alone would let it
    follow another dataset whose files are named alike."""
    for name in dataset.names:
        size = image_size(dataset.image_path(name))
        if size != (held := image_size(folder.labels(name))):
            why = ("not the dataset the session began on" if moved else
                   "the image or the session's labels of it changed since")
            raise DatasetError(dataset.image_path(name),
                               f"is {size[1]}x{size[0]} pixels where the session in "
                               f"{folder.root} holds labels of {held[1]}x{held[0]} for it "
                               f"({folder.labels(name)}): {why}")
