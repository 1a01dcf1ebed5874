"""The correction methods: how each ranks, asks and propagates.

The one list of methods for the engine, the CLI and the widget.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """How a method ranks, asks and propagates."""

    ranking: str        # "sim" (ALC's a_SIM) or "abc" (A²LC's a_ABC; see query_ranking)
    region_query: bool  # region query (majority) rather than pixel query (x_m)
    lcm: bool           # run the Label Correction Module after the answers
    title: str          # what a person reads

    @property
    def takes_confidence(self) -> bool:
        """Whether ``SessionConfig.confidence`` decides its ranking (A²LC's
        a_ABC; see :func:`query_ranking`)."""
        return self.ranking == "abc"


METHODS = {
    "a2lc": Method("abc", region_query=True, lcm=True,
                   title="A²LC (class-balanced queries + LCM)"),
    "alc": Method("sim", region_query=False, lcm=False, title="ALC"),
    "abc": Method("abc", region_query=True, lcm=False, title="A²LC's queries, no LCM"),
    "lcm": Method("sim", region_query=False, lcm=True, title="ALC's queries + LCM"),
}


#: Values of ``SessionConfig.confidence``: where A²LC's ranking takes the
#: probabilities that judge a region's label (see :func:`query_ranking`).
CONFIDENCES = ("both", "model", "out_of_fold")

#: The rankings that need out-of-fold region probabilities (``oof_prob``).
OUT_OF_FOLD_RANKINGS = ("doubt", "abc_doubt", "turns")

#: What each confidence ranks A²LC's queries by
#: (:func:`~a2lc_napari.engine.acquisition.region_scores`).
_ABC_RANKING = {"both": "abc_doubt", "model": "abc", "out_of_fold": "doubt"}


def query_ranking(method: Method, confidence: str, round_: int) -> str:
    """The acquisition score a session ranks by in round ``round_``
    (:func:`~a2lc_napari.engine.acquisition.region_scores`). A²LC's queries
    go, with ``"model"`` confidence, to the authors' ``a_ABC`` over the
    segmentation model's probabilities (``"abc"``); with ``"out_of_fold"``,
    to the regions whose label out-of-fold region probabilities doubt most
    (``"doubt"``); with ``"both"`` (the default), to ``a_ABC`` times that
    doubt (``"abc_doubt"``), except in round 1, where they take turns with
    the doubt (``"turns"``). ALC's ranking is always the authors' ``a_SIM``.
    """
    if not method.takes_confidence:
        return method.ranking
    if confidence == "both" and round_ == 1:
        return "turns"
    return _ABC_RANKING[confidence]


def ranks_with_trees(method: Method, confidence: str) -> bool:
    """Whether some round of a session ranks by the out-of-fold trees'
    doubts (:data:`OUT_OF_FOLD_RANKINGS`), which pruning θ's training labels
    (``ModelConfig.prune``) uses; in sessions that do not, it does nothing."""
    return any(query_ranking(method, confidence, r) in OUT_OF_FOLD_RANKINGS for r in (1, 2))
