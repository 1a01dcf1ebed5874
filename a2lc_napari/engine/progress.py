"""Progress reporting for long steps.

Every long step of the engine is a generator that yields :class:`Progress`
and returns its result. The CLI drives it with a progress bar
(:func:`drive`); the napari widget runs it in a generator
``thread_worker``, which can stop it at any yield.
"""
from __future__ import annotations

from typing import Generator, NamedTuple, TypeVar

T = TypeVar("T")


class Progress(NamedTuple):
    done: int
    total: int
    desc: str


Steps = Generator[Progress, None, T]


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
