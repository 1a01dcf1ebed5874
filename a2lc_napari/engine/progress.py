"""Progress reporting for long steps.

Every long step of the engine is a generator that yields :class:`Progress`
and returns its result. The CLI drives it with a progress bar
(:func:`drive`); the napari widget runs it in a generator
``thread_worker``, which can stop it at any yield.
"""
from __future__ import annotations

import math
from typing import Generator, NamedTuple, TypeVar

T = TypeVar("T")


class Progress(NamedTuple):
    done: int
    total: int
    desc: str


Steps = Generator[Progress, None, T]


def seconds_left(done: int, total: int, elapsed: float, done_before: int = 0) -> float | None:
    """Seconds a step needs to reach ``total`` at the pace it has kept: it
    went from ``done_before`` to ``done`` in ``elapsed`` seconds.

    None while that says nothing (no item done yet, no total, or finished).
    """
    if total <= 0 or done >= total or done <= done_before or elapsed <= 0:
        return None
    return (total - done) * elapsed / (done - done_before)


#: Any time left under 10 s, in words.
FEW_SECONDS = "a few seconds"


def duration_text(seconds: float) -> str:
    """A time left in words, rounded up: "a few seconds" (under 10 s), "40 s",
    "3 min", "1 h 20 min"."""
    if seconds < 10:
        return FEW_SECONDS
    if seconds < 60:
        return f"{math.ceil(seconds / 10) * 10} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"


def progress_text(what: str, done: int, total: int, left: float | None) -> str:
    """The status line of a step: "Ranking regions… 12 of 40 · about 3 min
    left", "… · a few seconds left" (no count without a total, no time
    without an estimate)."""
    text = f"{what}…"
    if total > 0:
        text += f" {done} of {total}"
    if left is not None:
        words = duration_text(left)
        text += f" · {words if words == FEW_SECONDS else 'about ' + words} left"
    return text


def drive(steps: Steps[T], quiet: bool = False) -> T:
    """Run a step generator to completion with a tqdm bar per description."""
    from tqdm.auto import tqdm

    bar, desc = None, None
    try:
        while True:
            try:
                p = next(steps)
            except StopIteration as stop:
                return stop.value
            if quiet:
                continue
            if p.desc != desc:
                if bar is not None:
                    bar.close()
                bar, desc = tqdm(total=p.total, desc=p.desc, leave=False), p.desc
            bar.total = p.total
            bar.n = p.done
            bar.refresh()
    finally:
        if bar is not None:
            bar.close()
