"""Checks of the LCM: a round's last few queries, on a random sample of the
changes it proposes from the round's answers, whose answers say how often
its changes are right before it makes them.

The held-out estimate (:mod:`~a2lc_napari.engine.lcm_precision`) comes from
answers the ranking picked because they looked wrong, so it sees fewer
right labels than the LCM's candidates hold. A random sample of the
changes it proposes has no such bias; and since most of them are right,
most checks correct a wrong label, as a query should.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
import itertools

import numpy as np
from scipy.stats import beta

from .lcm_precision import Gate
from .state import LCMUpdate, Query


def draw_checks(queries: Sequence[Query], proposed: Sequence[LCMUpdate], rows: np.ndarray,
                labels: np.ndarray, count: int, seed: int, strict: bool = False
                ) -> list[Query]:
    """Checks to ask after a round's queries: a random sample of the
    changes the LCM proposes from their answers.

    Parameters
    ----------
    queries : sequence of Query
        The round's queries so far.
    proposed : sequence of LCMUpdate
        What the LCM would change now.
    rows, labels : (len(proposed),) int
        Their rows in the round's summary, and their labels as a query
        states them (the majority label).
    count : int
        Checks wanted: at most this many.
    seed : int
        The random sample's.
    strict : bool
        The proposals come from the LCM's strictest gate (``Query.strict``).

    Returns
    -------
    list of Query
        Up to ``count`` checks drawn at random among the proposed changes
        of regions not among ``queries``, each with ``check`` the class
        proposed, ``score`` the LCM's confidence in it and ``strict``,
        indexed after ``queries``.
    """
    asked = {(q.image, q.region) for q in queries}
    free = [j for j, u in enumerate(proposed) if (u.image, u.region) not in asked]
    sample = sorted(np.random.default_rng(seed).permutation(len(free))[:count])
    return [Query(index=len(queries) + i, image=proposed[j].image, region=proposed[j].region,
                  row=int(rows[j]), label=int(labels[j]), score=proposed[j].confidence,
                  check=proposed[j].new, strict=strict)
            for i, j in enumerate(free[k] for k in sample)]


def tally(pairs: Iterable[tuple[int | None, int | None]], ignore_index: int) -> tuple[int, int]:
    """Answered checks and the right ones, from ``(check, answer)`` pairs.

    A pair counts where both are set and the answer is a class (not
    ``ignore_index``); it is right where the answer is the class checked.

    Returns
    -------
    checks, right : int
    """
    counted = [(c, a) for c, a in pairs if c is not None and a is not None and a != ignore_index]
    return len(counted), sum(c == a for c, a in counted)


def below_target(right: int, checks: int, target: float, confidence: float = 0.9) -> bool:
    """Whether the checks show, with ``confidence``, a precision below
    ``target``: the one-sided Clopper-Pearson upper bound of ``right`` of
    ``checks`` is under it (0 right of 2 and 3 of 5 are; 1 of 2 and 4 of 5
    are not)."""
    if not checks or right == checks:
        return False
    return float(beta.ppf(confidence, right + 1, checks - right)) < target


def vouched_strictly(right: int, checks: int, target: float) -> bool:
    """Whether ``right`` of ``checks`` vouch for a precision of ``target``
    by the rule of succession, ``(right + 1) / (checks + 2) ≥ target``: at
    0.9, 8 right of 8, 17 of 18, 26 of 28."""
    return (right + 1) / (checks + 2) >= target


def needed_to_vouch(target: float) -> str:
    """What vouches for ``target`` (:func:`vouched_strictly`), in words:
    the fewest checks all right and with one wrong (at 0.9, "8 of 8, 17
    of 18 or better are needed"); no number of them where it is 100%."""
    if target >= 1:
        return "no number of checks can vouch for 100%"

    def fewest(wrong: int) -> int:
        return next(n for n in itertools.count(wrong + 1)
                    if vouched_strictly(n - wrong, n, target))
    all_right, one_wrong = fewest(0), fewest(1)
    return f"{all_right} of {all_right}, {one_wrong - 1} of {one_wrong} or better are needed"


def heed(gate: Gate, checked: tuple[int, int], target: float | None,
         strict_checked: tuple[int, int] | None = (0, 0)) -> tuple[Gate, str | None]:
    """``gate``, unless the checks show a precision below ``target``
    (:func:`below_target`; None: no target, nothing to heed). A ``strict``
    gate, taken where no precision could be estimated, needs positive
    evidence instead: the checks of strict proposals so far,
    ``strict_checked``, must vouch for the target (:func:`vouched_strictly`;
    None: not heeded, as when the checks are being drawn).

    Returns
    -------
    gate : Gate
        Without τ where the checks fall short: the LCM then changes nothing.
    reason : str or None
        Why, in plain words, where they fall short.
    """
    if gate.tau is None or target is None:
        return gate, None
    if gate.strict:
        if strict_checked is None:
            return gate, None
        checks, right = strict_checked
        if vouched_strictly(right, checks, target):
            return gate, None
        return (Gate(reach=gate.reach, strict=True),
                f"Meanwhile its surest proposals are checked, and change once the checks "
                f"are right often enough: {right} of {checks} so far, where "
                f"{needed_to_vouch(target)}.")
    checks, right = checked
    if not below_target(right, checks, target):
        return gate, None
    return (Gate(reach=gate.reach, right=gate.right, changes=gate.changes),
            f"Of its proposals you checked, {right} of {checks} were right: too few to trust "
            f"its changes. It proposes again once more checks come out right.")
