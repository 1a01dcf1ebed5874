"""A correction session: the round loop of ALC / A²LC, kept in an output folder.

The folder holds everything, so a session stopped at any moment resumes
where it stopped::

    OUT/session.json         config and progress (rewritten atomically)
    OUT/labels/NAME.png      current labels, palette PNGs in the dataset's colours
    OUT/regions/NAME.npy     generated regions (SLIC or SAM), made once at creation
    OUT/model.pt             the latest model θ
    OUT/log/round_NN.json    every query, answer and LCM update of round NN
    OUT/metrics.json         data mIoU and counts per round (with ground truth)
    OUT/work/                per-round region summaries

A round goes through three phases, driven step by step:
``prepare_round()`` (train θ, predict, rank: phase ``"query"``), one
``answer()`` per query, ``finish_round()`` (LCM, metrics, log: next round).
The input dataset folder is never written to.
"""
from __future__ import annotations

import copy
import functools
import json
import shutil
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import acquisition as acq
from .dataset import Dataset, open_dataset
from .errors import DatasetError
from .io import atomic_path, read_label, write_json, write_label
from .lcm import LCMConfig, select_updates, train_lcm
from .metrics import class_iou, confusion, mean_iou
from .model import ModelConfig, train_segmenter
from .progress import Progress, Steps
from .regions import RegionsConfig, region_values

FORMAT = 1


def _locked(method):
    """Run a method under the session's lock: the napari widget saves hand
    edits from its main thread while a worker thread runs a round step."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return run


@dataclass(frozen=True)
class Method:
    """How a method ranks, asks and propagates."""

    ranking: str       # "sim" (ALC's a_SIM) or "abc" (A²LC's a_ABC)
    region_query: bool  # region query (majority) rather than pixel query (x_m)
    lcm: bool          # run the Label Correction Module after the answers


METHODS = {
    "alc": Method("sim", region_query=False, lcm=False),
    "abc": Method("abc", region_query=True, lcm=False),
    "lcm": Method("sim", region_query=False, lcm=True),
    "a2lc": Method("abc", region_query=True, lcm=True),
}


@dataclass
class SessionConfig:
    """Settings of a session.

    ``tau`` holds the LCM confidence threshold per round; the last value
    holds for all later rounds. ``regions`` says where the regions come from.
    """

    method: str = "a2lc"
    budget: int = 30
    seed: int = 0
    tau: tuple[float, ...] = (0.99, 0.999)
    model: ModelConfig = field(default_factory=ModelConfig)
    lcm: LCMConfig = field(default_factory=LCMConfig)
    regions: RegionsConfig = field(default_factory=RegionsConfig)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose from {sorted(METHODS)}")
        if self.budget < 1:
            raise ValueError("the budget must be at least one query per round")
        self.tau = tuple(float(t) for t in self.tau)
        if not self.tau or not all(0 <= t <= 1 for t in self.tau):
            raise ValueError("every tau must be in [0, 1]")

    def tau_for(self, round_: int) -> float:
        return self.tau[min(round_, len(self.tau)) - 1]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "SessionConfig":
        return cls(**{**data, "model": ModelConfig(**data["model"]),
                      "lcm": LCMConfig(**{**data["lcm"], "hidden": tuple(data["lcm"]["hidden"])}),
                      # sessions older than the regions setting used the default
                      "regions": RegionsConfig(**data.get("regions", {}))})


@dataclass
class Query:
    """One question to the annotator: "is this region (pixel) of class ``label``?"

    ``pixel`` is the representative pixel (row, col) for ALC's pixel query,
    None for a region query. ``answer`` is None until answered.
    """

    index: int
    image: str
    region: int
    row: int
    label: int
    score: float
    pixel: tuple[int, int] | None = None
    answer: int | None = None


class Session:
    """An output folder and the state of its correction rounds.

    Use :meth:`create` for a new session and :meth:`open` to resume one.
    """

    def __init__(self, out: Path, dataset: Dataset, config: SessionConfig, state: dict):
        self.out, self.dataset, self.config, self.state = Path(out), dataset, config, state
        self.method = METHODS[config.method]
        self._summary: acq.RegionSummary | None = None
        self._lock = threading.RLock()

    # ---- creating and opening -------------------------------------------------

    @classmethod
    def create(cls, out: Path, dataset: Dataset, config: SessionConfig) -> Steps["Session"]:
        """Start a session in ``out`` (must not hold one): make every image's
        regions, copy the pseudo-labels."""
        out = Path(out)
        if (out / "session.json").exists():
            raise DatasetError(out, "already holds a session; open it to resume, "
                               "or choose another output folder")
        if out.resolve().is_relative_to(dataset.root.resolve()):
            raise DatasetError(out, "is inside the dataset folder, which is never written to")
        # Generated regions live in the session, so that open() finds the same ones.
        # They are made here, once: SAM takes seconds to minutes per image.
        dataset.region_cache = out / "regions"
        dataset.use_regions(config.regions)
        names = dataset.names
        for i, name in enumerate(names):
            dataset.regions(name)
            yield Progress(i + 1, len(names), "Making regions")
        for i, name in enumerate(names):
            write_label(out / "labels" / f"{name}.png", dataset.labels(name), dataset.classes)
            yield Progress(i + 1, len(names), "Copying pseudo-labels")
        state = {"format": FORMAT,
                 "dataset": {"path": str(dataset.root.resolve()),
                             "labels_dir": _str_or_none(dataset.labels_dir)},
                 "config": config.to_json(), "round": 1, "phase": "train",
                 "queries": [], "manual": {}, "lcm_pending": None, "history": []}
        session = cls(out, dataset, config, state)
        state["history"].append({"round": 0, **(yield from session._label_metrics()),
                                 "queries": 0, "manual_changes": 0, "hand_pixels": 0,
                                 "lcm_changes": 0, "lcm_correct": 0})
        session._save()
        return session

    @classmethod
    def open(cls, out: Path) -> "Session":
        """Reopen the session in ``out`` where it stopped."""
        out = Path(out)
        path = out / "session.json"
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise DatasetError(path, "missing: this folder holds no session") from None
        except json.JSONDecodeError as e:
            raise DatasetError(path, f"is corrupt ({e})") from None
        if state.get("format") != FORMAT:
            raise DatasetError(path, f"has format {state.get('format')}; expected {FORMAT}")
        ds = state["dataset"]
        dataset = open_dataset(ds["path"], labels_dir=ds["labels_dir"],
                               region_cache=out / "regions")
        config = SessionConfig.from_json(state["config"])
        dataset.use_regions(config.regions)
        return cls(out, dataset, config, state)

    # ---- state ----------------------------------------------------------------

    @property
    def round(self) -> int:
        return self.state["round"]

    @property
    def phase(self) -> str:
        """``"train"``, ``"query"`` or ``"lcm"``."""
        return self.state["phase"]

    @property
    def history(self) -> list[dict]:
        return self.state["history"]

    @property
    def queries(self) -> list[Query]:
        return [Query(**{**q, "pixel": tuple(q["pixel"]) if q["pixel"] else None})
                for q in self.state["queries"]]

    def next_query(self) -> Query | None:
        """The first unanswered query of this round, or None."""
        return next((q for q in self.queries if q.answer is None), None)

    def labels(self, name: str) -> np.ndarray:
        """(H, W) uint8 current labels of an image."""
        return read_label(self.out / "labels" / f"{name}.png")

    @_locked
    def _save(self) -> None:
        write_json(self.out / "session.json", self.state)

    def _manual_mask(self, summary: acq.RegionSummary) -> np.ndarray:
        manual = self.state["manual"]
        name_index = {n: i for i, n in enumerate(self.dataset.names)}
        image = [name_index[n] for n, ids in manual.items() for _ in ids]
        ids = [r for ids in manual.values() for r in ids]
        return np.isin(summary.keys(), acq.region_keys(np.array(image, dtype=np.int64),
                                                        np.array(ids, dtype=np.int64)))

    @property
    def _summary_path(self) -> Path:
        return self.out / "work" / f"round_{self.round:02d}_regions.npz"

    @property
    def summary(self) -> acq.RegionSummary:
        """This round's per-region summaries (after :meth:`prepare_round`)."""
        if self._summary is None:
            self._summary = acq.RegionSummary.load(self._summary_path)
        return self._summary

    # ---- one round ------------------------------------------------------------

    def prepare_round(self) -> Steps[None]:
        """Train θ on the current labels, summarise every region, pick the queries."""
        if self.phase != "train":
            raise RuntimeError(f"round {self.round} is already prepared")
        ds, cfg = self.dataset, self.config
        segmenter = yield from train_segmenter(
            lambda n: (ds.image(n), self.labels(n)), ds.names, ds.classes.num_classes,
            ds.classes.ignore_index, cfg.model, seed=cfg.seed * 1000 + self.round)
        segmenter.save(self.out / "model.pt")
        parts = []
        for i, name in enumerate(ds.names):
            parts.append(acq.summarize_image(
                segmenter.predict(ds.image(name)), self.labels(name), ds.regions(name),
                ds.classes.ignore_index, gt=ds.gt(name), image_index=i,
                representative=self.method.ranking == "sim"))
            yield Progress(i + 1, len(ds.names), "Ranking regions")
        summary = acq.RegionSummary.concatenate(parts)
        summary.save(self._summary_path)
        self._summary = summary

        manual = self._manual_mask(summary)
        score = acq.region_scores(summary, self.method.ranking, manual)
        current = summary.majority_label(ds.classes.ignore_index)
        queries = []
        for j, r in enumerate(acq.rank(score, manual)[:cfg.budget]):
            queries.append(asdict(Query(
                index=j, image=ds.names[summary.image[r]], region=int(summary.ids[r]),
                row=int(r), label=int(current[r]), score=float(score[r]),
                pixel=None if self.method.region_query else summary.pixel[r].tolist())))
        with self._lock:
            self.state.update(queries=queries, phase="query")
            self._save()

    def simulated_answer(self, query: Query) -> int:
        """The ground truth's answer: majority over the region (region query)
        or the value at the representative pixel (pixel query)."""
        s = self.summary
        if s.gt_hist is None:
            raise RuntimeError("the simulated annotator needs ground truth")
        if self.method.region_query:
            return int(acq.majority(s.gt_hist[[query.row]], self.dataset.classes.ignore_index)[0])
        return int(s.gt_pixel[query.row])

    @_locked
    def answer(self, answers: dict[int, int]) -> None:
        """Record answers ``{query index: class (or ignore)}`` and write them
        to the regions' labels at once. Answering a query again replaces its
        answer."""
        if self.phase != "query":
            raise RuntimeError("no queries are open")
        ignore = self.dataset.classes.ignore_index
        num_classes = self.dataset.classes.num_classes
        for cls in answers.values():
            if not (0 <= cls < num_classes or cls == ignore):
                raise ValueError(f"answer {cls} is neither a class id nor ignore ({ignore})")
        queries = self.state["queries"]
        # Labels first, state second: a crash in between only re-asks a query.
        self._write_regions([(queries[i]["image"], queries[i]["region"], c)
                             for i, c in answers.items()])
        for i, cls in answers.items():
            queries[i]["answer"] = int(cls)
            manual = self.state["manual"].setdefault(queries[i]["image"], [])
            if queries[i]["region"] not in manual:
                manual.append(queries[i]["region"])
        self._save()

    @_locked
    def unanswer(self, index: int) -> None:
        """Take back the answer to query ``index``: its region gets back the
        labels it had when the round's queries were made."""
        if self.phase != "query":
            raise RuntimeError("no queries are open")
        q = self.state["queries"][index]
        if q["answer"] is None:
            return
        name, region = q["image"], q["region"]
        mask = self.dataset.regions(name) == region
        labels = self.labels(name)
        labels[mask] = self.round_start_labels(self.round, name)[mask]
        write_label(self.out / "labels" / f"{name}.png", labels, self.dataset.classes)
        q["answer"] = None
        self.state["manual"][name].remove(region)
        self._save()

    @_locked
    def edit_labels(self, name: str, labels: np.ndarray) -> int:
        """Save labels of image ``name`` edited by hand (painting, filling).

        Every region holding an edited pixel becomes manual: it is never
        queried or changed by the LCM again. Returns the number of pixels
        that changed.
        """
        labels = np.asarray(labels)
        old = self.labels(name)
        if labels.shape != old.shape:
            raise ValueError(f"labels of {name} have shape {labels.shape}, "
                             f"expected {old.shape}")
        changed = labels != old
        count = int(changed.sum())
        if not count:
            return 0
        self._keep_round_start(name)
        write_label(self.out / "labels" / f"{name}.png", labels.astype(np.uint8),
                    self.dataset.classes)
        manual = self.state["manual"].setdefault(name, [])
        touched = np.unique(self.dataset.regions(name)[changed])
        manual.extend(int(r) for r in touched if r != 0 and r not in manual)
        self.state["hand_pixels"] = self.state.get("hand_pixels", 0) + count
        self._save()
        return count

    def _round_start_path(self, round_: int, name: str) -> Path:
        return self.out / "work" / f"round_{round_:02d}_start" / f"{name}.png"

    def round_start_labels(self, round_: int, name: str) -> np.ndarray:
        """(H, W) uint8 labels of image ``name`` before round ``round_`` changed
        them (by answers, hand edits or the LCM)."""
        path = self._round_start_path(round_, name)
        return read_label(path if path.exists() else self.out / "labels" / f"{name}.png")

    def _keep_round_start(self, name: str) -> None:
        """Keep the labels an image had before this round's first change to it."""
        path = self._round_start_path(self.round, name)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                shutil.copyfile(self.out / "labels" / f"{name}.png", tmp)

    def round_log(self, round_: int) -> dict:
        """The log of a finished round: its queries, LCM updates and metrics."""
        return json.loads((self.out / "log" / f"round_{round_:02d}.json").read_text())

    @_locked
    def snapshot(self) -> Session:
        """A copy of this session whose state later answers leave alone, for
        work in another thread (e.g. :meth:`propose_lcm`). It shares the
        dataset and the read-only region summaries; do not answer through it."""
        twin = copy.copy(self)
        twin.state = copy.deepcopy(self.state)
        return twin

    def propose_lcm(self) -> list[dict]:
        """The LCM updates that the answers so far would make, written nowhere.

        Same form as the round log's ``lcm_updates``; empty for methods
        without the LCM.
        """
        return self._lcm_updates() if self.method.lcm else []

    def finish_round(self) -> Steps[dict]:
        """Run the LCM (A²LC, LCM methods), log the round, measure, move on.

        Returns the round's metrics (also appended to :attr:`history`).
        """
        if self.phase == "query":
            # Unanswered (skipped) queries stay as they are, and stay askable.
            pending = self._lcm_updates() if self.method.lcm else []
            with self._lock:
                self.state.update(lcm_pending=pending, phase="lcm")
                self._save()
        if self.phase != "lcm":
            raise RuntimeError(f"round {self.round} has not been prepared")
        pending = self.state["lcm_pending"]
        self._write_regions([(u["image"], u["region"], u["new"]) for u in pending])
        yield Progress(1, 1, "Applying LCM updates")

        answered = [q for q in self.state["queries"] if q["answer"] is not None]
        entry = {"round": self.round, "queries": len(answered),
                 "manual_changes": sum(q["answer"] != q["label"] for q in answered),
                 "hand_pixels": self.state.get("hand_pixels", 0),
                 "lcm_changes": len(pending),
                 "lcm_correct": sum(bool(u.get("correct")) for u in pending)}
        if self.dataset.has_gt:
            entry["lcm_precision"] = (round(100 * entry["lcm_correct"] / len(pending), 2)
                                      if pending else None)
        entry.update((yield from self._label_metrics()))
        write_json(self.out / "log" / f"round_{self.round:02d}.json",
                   {"round": self.round, "method": self.config.method,
                    "tau": self.config.tau_for(self.round) if self.method.lcm else None,
                    "queries": self.state["queries"], "lcm_updates": pending,
                    "metrics": entry})
        with self._lock:
            self.history.append(entry)
            self.state.update(round=self.round + 1, phase="train", queries=[],
                              lcm_pending=None, hand_pixels=0)
            self._summary = None
            self._save()
        if self.dataset.has_gt:
            write_json(self.out / "metrics.json",
                       {"method": self.config.method, "rounds": self.history})
        return entry

    def _lcm_updates(self) -> list[dict]:
        """LCM STEP 1 + STEP 2 on this round's answers so far; the updates to write."""
        s, classes = self.summary, self.dataset.classes
        answered = [q for q in self.state["queries"] if q["answer"] is not None]
        rows = np.array([q["row"] for q in answered], dtype=np.int64)
        answers = np.array([q["answer"] for q in answered], dtype=np.int64)
        # An answered region was relabelled whole: its majority is the answer.
        current = s.majority_label(classes.ignore_index)
        current[rows] = answers
        valid = answers != classes.ignore_index
        if not valid.any():
            return []
        mlp = train_lcm(s.mean_prob[rows[valid]], answers[valid], classes.num_classes,
                        self.config.lcm, seed=self.config.seed * 1000 + self.round)
        eligible = ~self._manual_mask(s)  # this round's queries are manual by now
        upd = select_updates(mlp, s.mean_prob, current, eligible,
                             np.bincount(answers[valid], minlength=classes.num_classes),
                             self.config.tau_for(self.round), self.config.lcm.alpha,
                             self.config.lcm.agree_with_model)
        gt = None if s.gt_hist is None else acq.majority(s.gt_hist, classes.ignore_index)
        out = []
        for r in np.flatnonzero(upd.update):
            u = {"image": self.dataset.names[s.image[r]], "region": int(s.ids[r]),
                 "old": int(current[r]), "new": int(upd.predicted[r]),
                 "confidence": float(upd.confidence[r])}
            if gt is not None:
                u["correct"] = bool(gt[r] == upd.predicted[r])
            out.append(u)
        return out

    # ---- labels on disk ---------------------------------------------------------

    @_locked
    def _write_regions(self, changes: list[tuple[str, int, int]]) -> None:
        """Write ``(image, region id, class)`` changes, one file per image."""
        by_image: dict[str, list[tuple[int, int]]] = {}
        for name, region, cls in changes:
            by_image.setdefault(name, []).append((region, cls))
        for name, pairs in by_image.items():
            self._keep_round_start(name)
            ids, classes = np.array(pairs, dtype=np.int64).T
            new = region_values(self.dataset.regions(name), ids, classes)
            labels = self.labels(name)
            labels[new >= 0] = new[new >= 0]
            write_label(self.out / "labels" / f"{name}.png", labels, self.dataset.classes)

    def _label_metrics(self) -> Steps[dict]:
        """Pixels per class of the current labels and, with ground truth, their
        data mIoU and per-class IoU."""
        classes = self.dataset.classes
        conf = np.zeros((classes.num_classes + 1, classes.num_classes), dtype=np.int64)
        pixels = np.zeros(classes.num_classes + 1, dtype=np.int64)  # last: ignore
        for i, name in enumerate(self.dataset.names):
            labels = self.labels(name)
            values = np.where(labels == classes.ignore_index, classes.num_classes, labels)
            pixels += np.bincount(values.ravel(), minlength=classes.num_classes + 1)
            if self.dataset.has_gt:
                conf += confusion(labels, self.dataset.gt(name), classes.num_classes,
                                  classes.ignore_index)
            yield Progress(i + 1, len(self.dataset.names), "Measuring labels")
        out = {"class_pixels": pixels[:-1].tolist(), "ignore_pixels": int(pixels[-1])}
        if self.dataset.has_gt:
            iou = class_iou(conf)
            out.update(data_miou=round(mean_iou(conf), 3),
                       class_iou={n: None if np.isnan(v) else round(float(v) * 100, 3)
                                  for n, v in zip(classes.names, iou)})
        return out

    # ---- export -----------------------------------------------------------------

    def export(self, folder: Path) -> Steps[Path]:
        """Write the current labels (palette PNGs) and ``classes.json`` to ``folder``."""
        folder = Path(folder).expanduser().resolve()
        if folder.is_relative_to(self.dataset.root):
            raise DatasetError(folder, "is inside the dataset folder, which is never "
                               "written to; choose a folder outside it")
        names = self.dataset.names
        for i, name in enumerate(names):
            write_label(folder / f"{name}.png", self.labels(name), self.dataset.classes)
            yield Progress(i + 1, len(names), "Exporting labels")
        write_json(folder / "classes.json", self.dataset.classes.to_json())
        return folder


def _str_or_none(path) -> str | None:
    return None if path is None else str(Path(path).resolve())


def start_session(out: Path, dataset: Path, config: SessionConfig,
                  labels_dir: Path | None = None) -> Steps[Session]:
    """Resume the session in ``out``, or check the dataset and create one.

    A session in ``out`` keeps its own settings (``config`` only serves a new
    one); a session on another dataset or label folder is refused.
    """
    out = Path(out)
    if (out / "session.json").exists():
        session = Session.open(out)
        root = Path(dataset).expanduser().resolve()
        labels = _str_or_none(labels_dir)
        if (session.dataset.root, _str_or_none(session.dataset.labels_dir)) != (root, labels):
            raise DatasetError(out / "session.json",
                               f"holds a session on {session.dataset.root}"
                               f"{'' if labels is None else ' with other labels'}, not on "
                               f"{root}; choose another session folder")
        return session
    data = open_dataset(dataset, labels_dir=labels_dir, region_cache=out / "regions")
    yield from data.check()
    return (yield from Session.create(out, data, config))


def simulate(session: Session, rounds: int) -> Steps[list[dict]]:
    """Run rounds up to ``rounds`` with the simulated annotator; resumes
    wherever the session stands. Returns the history."""
    while session.round <= rounds:
        if session.phase == "train":
            yield from session.prepare_round()
        if session.phase == "query":
            session.answer({q.index: session.simulated_answer(q)
                            for q in session.queries if q.answer is None})
        yield from session.finish_round()
    return session.history
