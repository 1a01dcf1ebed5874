"""What an answer or a hand edit does to the labels, before the journal records it.

Pure functions of arrays and of the round's queries: the session
(:meth:`~a2lc_napari.engine.session.Session.answer`,
:meth:`~a2lc_napari.engine.session.Session.edit_labels`) checks the phase,
holds the lock and records the result.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from .classes import ClassSet
from .label_changes import LabelChange
from .metrics import class_pixels
from .region_summary import majority
from .state import AnswerChange, Query, RegionKey


def check_classes(values: Iterable[int], classes: ClassSet, what: str) -> None:
    """Refuse (ValueError) values that are neither a class id nor the ignore value."""
    ignore, k = classes.ignore_index, classes.num_classes
    bad = sorted({int(v) for v in values if not (0 <= v < k or v == ignore)})
    if bad:
        raise ValueError(f"{what} {', '.join(map(str, bad))}: neither a class id "
                         f"(0-{k - 1}) nor ignore ({ignore}); nothing was saved")


def new_manual(pairs: Iterable[tuple[str, int]], manual: dict[str, list[int]]
               ) -> list[RegionKey]:
    """The ``(image, region)`` pairs not yet in ``manual`` (nor region 0), each once."""
    out = []
    for image, region in pairs:
        key = RegionKey(image, int(region))
        if region != 0 and region not in manual.get(image, ()) and key not in out:
            out.append(key)
    return out


def answer_changes(answers: dict[int, int], rewrite: set[int], queries: list[Query],
                   labels: Callable[[str], np.ndarray], regions: Callable[[str], np.ndarray],
                   classes: ClassSet, painted: Callable[[str], np.ndarray] | None = None,
                   answered: Callable[[str, int], list[LabelChange]] | None = None
                   ) -> tuple[dict[str, LabelChange], list[AnswerChange]]:
    """The label changes of ``answers`` ``{query index: class (or ignore)}``
    and what they do to the queries.

    A region whose answer differs from its majority label in ``labels(image)``
    ((H, W) uint8, a copy) is written whole with the answer; one whose answer
    is its majority label keeps its pixels, unless its index is in ``rewrite``
    and a pixel of it has another label (an answer that changes no pixel is
    no correction).
    Either way the pixels ``painted(image)`` ((n,) flat indices: strokes the
    person made since the query was asked) keep their labels: the stroke is
    the finer answer.

    A query answered again is answered as if for the first time: the pixels
    its earlier answers wrote, ``answered(image, index)`` (their changes,
    oldest first), are first taken back in its region, so that confirming
    the label after a detour through another class keeps the region's
    pixels as they were, as confirming it at once does.
    """
    ignore, k = classes.ignore_index, classes.num_classes
    by_image: dict[str, list[int]] = {}
    for i in answers:
        by_image.setdefault(queries[i].image, []).append(i)
    changes, deltas = {}, []
    for image, indices in by_image.items():  # one image's labels in memory at a time
        new, region_map = labels(image), regions(image)
        kept = np.zeros(new.shape, bool)
        if painted is not None:
            kept.ravel()[painted(image)] = True
        for i in indices:
            q, cls = queries[i], answers[i]
            mask = region_map == q.region
            if q.rewrite and answered is not None:
                for change in reversed(answered(image, i)):
                    new[mask] = change.applied(new, reverse=True)[mask]
            hist = class_pixels(new[mask], k, ignore)[None]
            rewrites = bool(cls != majority(hist, ignore)[0]
                            or (i in rewrite and (new[mask & ~kept] != cls).any()))
            deltas.append(AnswerChange(i, q.answer, q.rewrite, int(cls), rewrites))
            if rewrites:
                new[mask & ~kept] = cls
        changes[image] = LabelChange.between(labels(image), new)
    return changes, deltas
