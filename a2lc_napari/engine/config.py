"""The settings of a session, as typed dataclasses.

They import no torch, so that the napari widget can build them (and read
them back from ``session.json``) without loading it: the engine loads in
a worker.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .methods import CONFIDENCES, METHODS
from .regions import RegionsConfig

#: Values of ``ModelConfig.backbone``.
BACKBONES = ("scratch", "efficientnet_lite0")

#: Training steps at which ``ModelConfig.prune`` pays (measured at 600: at the
#: default's 150 the model has not yet learnt the errors it would be kept from).
PRUNE_STEPS = 600


@dataclass
class ModelConfig:
    """Training settings of θ (one round).

    ``backbone`` is ``"scratch"`` or ``"efficientnet_lite0"`` (see
    :mod:`~a2lc_napari.engine.model`); ``width`` sets the decoder channels of both.
    ``prune``: θ does not train on the labels the out-of-fold trees doubt
    (:mod:`~a2lc_napari.engine.label_pruning`), where the round's ranking
    uses those trees.
    """

    width: int = 16
    max_side: int = 512
    crop: int = 128
    steps: int = 150
    batch_size: int = 8
    lr: float = 3e-3
    device: str | None = None  # None: CUDA when available, else CPU
    backbone: str = "scratch"
    prune: bool = False

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; expected one of {BACKBONES}")


@dataclass
class LCMConfig:
    """LCM hyper-parameters.

    The authors train 100 epochs at lr 1e-4 with batch 8 on thousands of
    answers; with the few dozen answers of a small budget that is a few
    hundred steps and the MLP never reaches τ, so we train for at least
    ``min_steps`` optimiser steps at a larger rate.

    ``paper`` selects the paper's LCM (J1-J3 on this round's answers, at
    the session's fixed τ); the other settings are ours and apply without it.

    ``agree_with_model`` (J4): the LCM's class must also be the
    segmentation model's class for the region (the argmax of its mean
    probability). ``neighbours``: of the k answered regions nearest in
    feature space, and of the up to k nearest among those that had the
    region's label, at least the share ``agreement`` must have been answered
    with the LCM's class (both counted together: a label with few answers
    weighs little), the k-th nearest no farther than answers are from each
    other: than one of the ``reaches``, quantiles of the distance from each
    answer to its k-th nearest other answer (0 neighbours: no such gate).
    ``confusion_gate``: the change old → new must be one that some answer
    made. ``appearance``: features hold the region's colour and the model's
    decoder features besides its mean probabilities.

    ``target_precision``: the reach and τ (one of ``thresholds``) are those
    whose precision estimated on held-out answers (``folds``-fold
    cross-validation, at least ``min_support`` held-out changes) reaches it
    with the most right held-out changes, once at least ``min_support``
    answers confirmed their label; None: the session's fixed τ per round,
    at the first (strictest) reach.

    Checks of our LCM: once a round's other queries are answered, a random
    sample of the changes it proposes from the answers so far, one for
    every ``1 / checks_share`` of them and at least ``checks``, is asked
    in a quarter of the round's budget, kept for them (at least ``checks``
    of it, at most half); the next regions of the ranking fill what they
    leave. Where the checks' answers show its precision below
    ``target_precision`` (90% confidence), it changes nothing.
    """

    hidden: tuple[int, ...] = (256, 128, 64)
    lr: float = 1e-3
    epochs: int = 100
    min_steps: int = 500
    batch_size: int = 8
    alpha: float = 0.5
    agree_with_model: bool = True
    paper: bool = False
    neighbours: int = 3
    reaches: tuple[float, ...] = (0.5, 0.75)
    confusion_gate: bool = True
    appearance: bool = True
    target_precision: float | None = 0.9
    thresholds: tuple[float, ...] = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
    folds: int = 5
    min_support: int = 5
    full_batch_steps: int = 200
    agreement: float = 1.0
    checks: int = 3
    checks_share: float = 0.1

    def __post_init__(self):
        # Tuples even when read back from JSON.
        self.hidden = tuple(int(h) for h in self.hidden)
        self.thresholds = tuple(sorted(float(t) for t in self.thresholds))
        self.reaches = tuple(sorted(float(q) for q in self.reaches))


def taus_in_range(tau: tuple[float, ...]) -> bool:
    """Whether ``tau`` holds one or more LCM thresholds, each in [0, 1]."""
    return bool(tau) and all(0 <= t <= 1 for t in tau)


@dataclass
class SessionConfig:
    """Settings of a session.

    ``tau`` holds the LCM confidence threshold per round; the last value
    holds for all later rounds. ``regions`` says where the regions come from.
    ``confidence`` (one of :data:`~a2lc_napari.engine.methods.CONFIDENCES`)
    says which probabilities A²LC's ranking judges labels by
    (:func:`~a2lc_napari.engine.methods.query_ranking`).
    ``background_is_ignore`` reads a labelmap.txt's ``background`` entry as
    the ignore value even where it names a class (CVAT and datumaro paint
    unannotated pixels ``background:0,0,0``).
    """

    method: str = "a2lc"
    budget: int = 30
    seed: int = 0
    tau: tuple[float, ...] = (0.99, 0.999)
    model: ModelConfig = field(default_factory=ModelConfig)
    lcm: LCMConfig = field(default_factory=LCMConfig)
    regions: RegionsConfig = field(default_factory=RegionsConfig)
    confidence: str = "both"
    background_is_ignore: bool = False

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose from {sorted(METHODS)}")
        if self.confidence not in CONFIDENCES:
            raise ValueError(f"unknown confidence {self.confidence!r}; choose from "
                             f"{CONFIDENCES}")
        if self.budget < 1:
            raise ValueError("the budget must be at least one query per round")
        self.tau = tuple(float(t) for t in self.tau)
        if not taus_in_range(self.tau):
            raise ValueError("every tau must be in [0, 1]")

    def tau_for(self, round_: int) -> float:
        return self.tau[min(round_, len(self.tau)) - 1]

    def to_json(self) -> dict:
        return asdict(self)

    def differences(self, other: "SessionConfig") -> list[str]:
        """The settings that differ, as ``"lcm.paper: True, not False"``
        (this one's value, then ``other``'s)."""
        def flat(value, path=""):
            if isinstance(value, dict):
                return {k: v for key, sub in value.items()
                        for k, v in flat(sub, f"{path}{key}.").items()}
            return {path[:-1]: value}
        mine, theirs = flat(self.to_json()), flat(other.to_json())
        return [f"{k}: {mine[k]!r}, not {theirs[k]!r}" for k in mine if mine[k] != theirs[k]]

    @classmethod
    def from_json(cls, data: dict) -> "SessionConfig":
        # JSON has lists where the configs hold tuples
        lcm = {k: tuple(v) if isinstance(v, list) else v for k, v in data["lcm"].items()}
        if "spacing_quantile" in lcm:  # a session begun with one fixed reach keeps it
            lcm["reaches"] = (lcm.pop("spacing_quantile"),)
        # A session begun before the choice ranked by the authors' a_ABC, and keeps it.
        data = {"confidence": "model", **data}
        return cls(**{**data, "model": ModelConfig(**data["model"]), "lcm": LCMConfig(**lcm),
                      "regions": RegionsConfig(**data["regions"])})
