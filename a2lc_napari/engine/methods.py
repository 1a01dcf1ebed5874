"""The correction methods: how each ranks, asks and propagates.

The one list of methods for the engine, the CLI and the widget.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """How a method ranks, asks and propagates."""

    ranking: str        # "sim" (ALC's a_SIM) or "abc" (A²LC's a_ABC)
    region_query: bool  # region query (majority) rather than pixel query (x_m)
    lcm: bool           # run the Label Correction Module after the answers
    title: str          # what a person reads


METHODS = {
    "a2lc": Method("abc", region_query=True, lcm=True,
                   title="A²LC (class-balanced queries + LCM)"),
    "alc": Method("sim", region_query=False, lcm=False, title="ALC"),
    "abc": Method("abc", region_query=True, lcm=False, title="A²LC's queries, no LCM"),
    "lcm": Method("sim", region_query=False, lcm=True, title="ALC's queries + LCM"),
}
