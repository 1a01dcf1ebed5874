"""Opening a session and driving its rounds: :func:`start_session` resumes
the session in a folder or creates one, :func:`simulate` answers its
queries with the simulated annotator, round after round.
"""
from __future__ import annotations

import shutil
from concurrent.futures import Executor
from contextlib import nullcontext
from pathlib import Path

from .config import SessionConfig
from .dataset import Dataset, open_dataset
from .errors import DatasetError
from .io import image_size
from .parallel import cpu_count, executor as local_executor
from .progress import Steps
from .session import Session
from .session_folder import SessionFolder, saved_path
from .session_lock import LOCK_FILE, lock_session
from .state import RoundRecord


#: Pixels of images from which worker processes pay for their start and
#: stop at Start (~2 s on 2 cores): about 10 street-camera images, 15 s of
#: SLIC on one core.
POOL_MIN_PIXELS = 20_000_000


def start_workers(dataset: Dataset) -> int:
    """Worker processes worth starting for a new session's per-image work
    (its regions, then each image's kept files): one per core, at most one
    per image, where the images hold :data:`POOL_MIN_PIXELS` or more pixels
    in all (read from their headers); else 1, this process. With SAM
    regions, 1: each process would load its own copy of the model, on the
    GPU or in memory."""
    if dataset.regions_config.source == "sam":
        return 1
    pixels = 0
    for name in dataset.names:
        h, w = image_size(dataset.image_path(name))
        pixels += h * w
        if pixels >= POOL_MIN_PIXELS:
            return max(1, min(cpu_count(), len(dataset.names)))
    return 1


def start_session(out: Path, dataset: Path, config: SessionConfig,
                  labels_dir: Path | None = None, executor: Executor | None = None,
                  spread_start: bool = False) -> Steps[Session]:
    """Resume the session in ``out``, or check the dataset and create one
    (the per-image checks, regions and kept images on ``executor`` if
    given; without one, with ``spread_start``, on worker processes of
    this machine where the images are worth them: :func:`start_workers`).

    A session in ``out`` keeps its own settings (``config`` only serves a new
    one); a session on another dataset or label folder is refused, unless
    the one it recorded is gone and the one named holds its images: then it
    follows the folder there (:attr:`Session.moved`).
    """
    out = Path(out).expanduser()
    if SessionFolder(out).state.exists():
        session = Session.open(out, named=(dataset, labels_dir))
        root = Path(dataset).expanduser().resolve()
        kept, labels = saved_path(session.dataset.labels_dir), saved_path(labels_dir)
        if (session.dataset.root, kept) != (root, labels):
            session.close()
            raise DatasetError(session.folder.state,
                               f"holds a session on {_with_labels(session.dataset.root, kept)}, "
                               f"not on {_with_labels(root, labels)}; choose another "
                               "session folder, or the folders it holds")
        return session
    # Refused before the dataset's checks: a folder of other files, and
    # another writer creating a session here.
    SessionFolder(out).check_new()
    if out.is_dir():
        lock_session(out).release()
    made_here = not out.exists()
    try:
        data = open_dataset(dataset, labels_dir=labels_dir,
                            background_is_ignore=config.background_is_ignore)
        if executor is None and spread_start:
            data.use_regions(config.regions)
            pool = local_executor(start_workers(data))
        else:
            pool = nullcontext(executor)
        with pool as executor:
            # Headers only: the regions and the kept images decode every image
            # next, and an image that cannot be decoded stops Start there, named.
            yield from data.check(executor, read_images=False)
            return (yield from Session.create(out, data, config, executor))
    except BaseException:
        # A start that failed before it kept anything leaves no folder behind
        # (regions already made stay, for the next try).
        if made_here and out.is_dir() and {p.name for p in out.iterdir()} <= {LOCK_FILE}:
            shutil.rmtree(out)
        raise


def _with_labels(dataset: Path, labels: str | None) -> str:
    """A dataset folder and whose labels are corrected, in words."""
    return f"{dataset} with {'its own labels' if labels is None else f'the labels of {labels}'}"


def simulate(session: Session, rounds: int, on_round=None,
             executor: Executor | None = None) -> Steps[list[RoundRecord]]:
    """Run rounds up to ``rounds`` with the simulated annotator; resumes
    wherever the session stands. ``on_round(record)`` is called as each
    round ends; each round's images run on ``executor`` if given. Returns
    the history."""
    while session.round <= rounds:
        if session.phase == "train":
            yield from session.prepare_round(executor)
        if session.phase == "query":
            _answer_open_queries(session)
            if (yield from session.ask_checks()):
                _answer_open_queries(session)
        record = yield from session.finish_round()
        if on_round is not None:
            on_round(record)
    return session.history


def _answer_open_queries(session: Session) -> None:
    """The simulated annotator's answers to the round's unanswered queries."""
    answers, rewrite = {}, []
    for q in session.queries:
        if q.answer is None:
            answers[q.index], rewrites = session.simulated_answer(q)
            if rewrites:
                rewrite.append(q.index)
    if answers:
        session.answer(answers, rewrite)
