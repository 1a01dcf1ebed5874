"""The typed state of a correction session, and its versioned JSON form.

One :class:`SessionState` holds everything a session needs to go on where
it stopped; ``session.json`` is its JSON form (:func:`state_to_json`,
:func:`state_from_json`). Every change to the labels is an :class:`Event`
of the session's journal, in the order the person acted, so that undo and
redo follow that order across images and a resume finds exactly what was
saved.
"""
from __future__ import annotations

import json
from dataclasses import asdict, astuple, dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple, get_args

from .config import SessionConfig
from .errors import DatasetError

if TYPE_CHECKING:  # for the types only: region_summary loads numba
    import numpy as np

    from .region_summary import RegionSummary

#: Version of ``session.json``; older versions are refused with a message.
FORMAT = 2

#: Phases of a round: train θ and rank, answer queries, apply the LCM.
Phase = Literal["train", "query", "lcm"]
PHASES: tuple[Phase, ...] = get_args(Phase)


def review_waits(round_: int) -> str:
    """Why the LCM's changes cannot be reviewed while round ``round_`` is
    being finished (phase ``"lcm"``), and when they can: one text for the
    engine's refusal and the widget's status line."""
    return (f"Round {round_} is being finished: review the LCM's changes once they are "
            "applied, while the next model trains.")


#: Kinds of journal events: what changed the labels (or the review of them).
#: ("unanswer": an answer taken back alone, in sessions of earlier versions.)
EventKind = Literal["answer", "unanswer", "hand_edit", "lcm_apply", "lcm_accept", "lcm_reject"]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)
#: The events of the person's review decisions on the LCM's changes.
DECISION_EVENTS: tuple[EventKind, ...] = ("lcm_accept", "lcm_reject")


class RegionKey(NamedTuple):
    """One region of one image; saved as the row ``[image, region]``."""

    image: str
    region: int





@dataclass
class Query:
    """One question to the annotator: "is this region (pixel) of class ``label``?"

    ``pixel`` is the representative pixel (row, col) for ALC's pixel query,
    None for a region query. ``answer`` is None until answered; ``rewrite``
    says that the answer rewrote the region's pixels (an answer equal to
    ``label`` only confirms them, unless the annotator says they are wrong).
    ``check`` is the class the LCM proposed for the region where the query
    checks the LCM (:mod:`~a2lc_napari.engine.lcm_checks`), None where the
    ranking picked it; ``strict`` that it checks proposals of the LCM's
    strictest gate, made while too few answers confirmed a label (judged
    apart from the other checks).
    """

    index: int
    image: str
    region: int
    row: int
    label: int
    score: float
    pixel: tuple[int, int] | None = None
    answer: int | None = None
    rewrite: bool = False
    check: int | None = None
    strict: bool = False


@dataclass(frozen=True)
class LCMUpdate:
    """One region the LCM relabels from ``old`` to ``new``, with its confidence;
    ``correct`` says whether ``new`` is the ground truth's (None without it)."""

    image: str
    region: int
    old: int
    new: int
    confidence: float
    correct: bool | None = None

    @property
    def key(self) -> tuple[str, int]:
        return self.image, self.region

    @classmethod
    def of_row(cls, summary: RegionSummary, row: int, names: Sequence[str], old: int,
               new: int, confidence: float, gt: np.ndarray | None) -> "LCMUpdate":
        """The update of the region in ``summary``'s ``row``; ``gt``: (R,) the
        ground truth's majority class per region, or None."""
        return cls(image=names[summary.image[row]], region=int(summary.ids[row]),
                   old=int(old), new=int(new), confidence=float(confidence),
                   correct=None if gt is None else bool(gt[row] == new))


@dataclass
class LCMProposal:
    """What the LCM would change now, and how sure it is.

    ``tau`` is the confidence threshold used, ``reach`` how far from the
    answers it changed regions (a quantile of the answers' spacing, None
    for the paper's LCM); ``estimated_precision`` the share of its changes
    expected to be right, in percent, from ``held_out_changes`` changes it
    would have made to answered regions held out of its training (None
    where not estimated); ``lower_precision`` the precision those vouch for
    with 90% confidence (:meth:`~a2lc_napari.engine.lcm_precision.Gate.lower_bound`);
    ``reason``, in plain words, why it proposes nothing and what would let
    it (None when it chose a τ); ``checks`` the answered checks of its
    proposals so far, all rounds, and ``checks_right`` those answered with
    the class it had proposed; ``strict`` that it proposes at its strictest
    gate because too few answers confirmed a label
    (:func:`~a2lc_napari.engine.lcm_precision.threshold_for`): then no
    estimate, and the checks and ``lower_precision`` are those of that
    gate's proposals, which alone vouch for it.
    """

    updates: list[LCMUpdate] = field(default_factory=list)
    tau: float | None = None
    reach: float | None = None
    estimated_precision: float | None = None
    held_out_changes: int = 0
    lower_precision: float | None = None
    reason: str | None = None
    checks: int = 0
    checks_right: int = 0
    strict: bool = False


@dataclass
class RoundRecord:
    """Counts and metrics of a finished round (round 0: the pseudo-labels).

    With ground truth, ``wrong_share`` is the percentage of wrong regions
    among those the round could query, and ``hit_rate`` the share of its
    queries that changed a label as a multiple of it
    (:mod:`~a2lc_napari.engine.query_stats`). ``lcm_checks`` and
    ``lcm_checks_right``: :attr:`LCMProposal.checks` and ``checks_right``;
    ``lcm_reason``: its ``reason``, why it proposed nothing.
    """

    round: int
    queries: int
    manual_changes: int
    hand_pixels: int
    lcm_changes: int
    lcm_correct: int
    class_pixels: list[int]
    ignore_pixels: int
    lcm_rejected: int = 0
    lcm_accepted: int = 0
    lcm_tau: float | None = None
    lcm_reach: float | None = None
    lcm_estimated_precision: float | None = None
    lcm_held_out_changes: int = 0
    lcm_lower_precision: float | None = None
    lcm_precision: float | None = None
    lcm_checks: int = 0
    lcm_checks_right: int = 0
    lcm_reason: str | None = None
    wrong_share: float | None = None
    hit_rate: float | None = None
    data_miou: float | None = None
    class_iou: dict[str, float | None] | None = None


@dataclass(frozen=True)
class AnswerChange:
    """What an event did to query ``index``: its ``answer`` and ``rewrite``
    (:class:`Query`) before and after. Saved as the row ``[index, answer
    before, rewrite before, answer after, rewrite after]``."""

    index: int
    answer_before: int | None
    rewrite_before: bool
    answer_after: int | None
    rewrite_after: bool

    @property
    def before(self) -> tuple[int | None, bool]:
        return self.answer_before, self.rewrite_before

    @property
    def after(self) -> tuple[int | None, bool]:
        return self.answer_after, self.rewrite_after


@dataclass
class Event:
    """One change to the labels or to what the session knows of them.

    An event holds its effects as deltas, so that undo reverses them and
    redo repeats them: the pixels of ``images`` before and after (kept in
    the journal folder under ``seq``); the queries' answers before and
    after (``answers``); the regions made manual or no
    longer manual (``manual_added``, ``manual_removed``) or rejected for
    the round (``rejected_added``); LCM changes put in place or taken out
    of it (``applied_added``, ``applied_removed``). ``changes`` are the LCM
    updates an ``lcm_*`` event is about. ``undone`` is True while undone.
    """

    seq: int
    kind: EventKind
    round: int
    images: tuple[str, ...] = ()
    answers: list[AnswerChange] = field(default_factory=list)
    manual_added: list[RegionKey] = field(default_factory=list)
    manual_removed: list[RegionKey] = field(default_factory=list)
    rejected_added: list[RegionKey] = field(default_factory=list)
    applied_added: list[LCMUpdate] = field(default_factory=list)
    applied_removed: list[LCMUpdate] = field(default_factory=list)
    changes: list[LCMUpdate] = field(default_factory=list)
    undone: bool = False

    @property
    def query(self) -> int | None:
        """The query index of an answer event (the first, if several)."""
        return self.answers[0].index if self.answers else None


@dataclass
class SessionState:
    """Everything a session needs to resume, saved after every event.

    ``manual`` maps an image to the regions corrected by hand (answered,
    painted or confirmed): they are never queried or changed by the LCM
    again. ``lcm_applied`` are the LCM's changes of the last finished round
    still in place (for review); ``lcm_rejected`` the regions the person
    rejected this round (from the end of the last one: while its model
    trained too), never proposed or applied again in it. ``checks_due``: the
    queries kept for the round's end, where the LCM is checked, still to
    add (:meth:`~a2lc_napari.engine.session.Session.ask_checks`).
    ``undo_stack`` and ``redo_stack`` hold event numbers, newest last.
    ``classes`` and ``ignore_index``: the dataset's class names and ignore
    value when the session began, which its labels, answers and model use
    (None where an earlier release saved the state).
    """

    dataset: str
    labels_dir: str | None
    config: SessionConfig
    classes: list[str] | None = None
    ignore_index: int | None = None
    round: int = 1
    phase: Phase = "train"
    queries: list[Query] = field(default_factory=list)
    checks_due: int = 0
    manual: dict[str, list[int]] = field(default_factory=dict)
    lcm_applied: list[LCMUpdate] = field(default_factory=list)
    lcm_rejected: list[RegionKey] = field(default_factory=list)
    hand_pixels: int = 0
    history: list[RoundRecord] = field(default_factory=list)
    journal: list[Event] = field(default_factory=list)
    undo_stack: list[int] = field(default_factory=list)
    redo_stack: list[int] = field(default_factory=list)

    def answered(self) -> list[Query]:
        return [q for q in self.queries if q.answer is not None]


_UPDATE_LISTS = ("applied_added", "applied_removed", "changes")
_REGION_LISTS = ("manual_added", "manual_removed", "rejected_added")


def state_to_json(state: SessionState) -> dict:
    data = {"format": FORMAT, **asdict(state)}
    for event, saved in zip(state.journal, data["journal"]):
        saved["answers"] = [list(astuple(a)) for a in event.answers]  # rows, as format 2 saves them
    return data


def state_from_json(data: dict) -> SessionState:
    """Rebuild the state from its JSON form (raises KeyError/TypeError when malformed)."""
    data = dict(data)
    data.pop("format")
    data["config"] = SessionConfig.from_json(data["config"])
    _check_word(data["phase"], PHASES, "phase")
    for key in ("round", "checks_due", "hand_pixels"):
        if type(data[key]) is not int:
            raise ValueError(f"{key} {data[key]!r} is not a whole number")
    data["queries"] = [Query(**{**q, "pixel": tuple(q["pixel"]) if q["pixel"] else None})
                       for q in data["queries"]]
    data["lcm_applied"] = [LCMUpdate(**u) for u in data["lcm_applied"]]
    data["history"] = [RoundRecord(**h) for h in data["history"]]
    data["lcm_rejected"] = [RegionKey(*p) for p in data["lcm_rejected"]]
    for e in data["journal"]:
        _check_word(e["kind"], EVENT_KINDS, "event kind")
    data["journal"] = [Event(**{**e, "images": tuple(e["images"]),
                                "answers": [AnswerChange(*row) for row in e["answers"]],
                                **{k: [LCMUpdate(**u) for u in e[k]] for k in _UPDATE_LISTS},
                                **{k: [RegionKey(*p) for p in e[k]] for k in _REGION_LISTS}})
                       for e in data["journal"]]
    return SessionState(**data)


def _check_word(word: str, words: tuple[str, ...], what: str) -> None:
    if word not in words:
        raise ValueError(f"{what} {word!r} is none of {', '.join(words)}")


def read_state(path: Path) -> SessionState:
    """The state saved in ``session.json`` at ``path``; a
    :class:`~a2lc_napari.engine.errors.DatasetError` naming it when it is
    missing, corrupt, malformed or of another format."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise DatasetError(path.parent, "does not exist: no session there") from None
        raise DatasetError(path, "missing: this folder holds no session") from None
    except json.JSONDecodeError as e:
        raise DatasetError(path, f"is corrupt ({e})") from None
    if not isinstance(data, dict):
        raise DatasetError(path, f"is malformed (a JSON {type(data).__name__}, where a "
                           "session's state is an object)")
    if data.get("format") != FORMAT:
        raise DatasetError(path, f"has format {data.get('format')}; this version reads "
                           f"format {FORMAT}: finish it with the version that made it, "
                           "or start a new session")
    try:
        return state_from_json(data)
    except (KeyError, TypeError, ValueError) as e:
        if "unexpected keyword argument" in str(e):  # a setting added since this version
            raise DatasetError(path, f"holds a setting this version does not know ({e}): a "
                               "newer a2lc-napari wrote it; open it with that one") from None
        raise DatasetError(path, f"is malformed ({e})") from None
