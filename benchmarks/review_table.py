"""How long the LCM review table takes to refill, against its first fill.

The widget refills the review table whenever the round's changes or their
state change: after a decision (one change fewer) and after an undo or a
redo (often the same changes again). Fills a review panel with N synthetic
changes, then refills it both ways (after a decision, the row that
followed the decided one becomes current), and prints each time beside the
first fill's, for N = 100, 1,000 and 10,000 (``--changes``), best of
``--repeat``.

Needs a display: ``xvfb-run -a python benchmarks/review_table.py``.
"""
from __future__ import annotations

import argparse
import time

DECISION = "refill, one change fewer (a decision)"


def fill_times(n: int, repeat: int) -> dict[str, float]:
    """Best-of-``repeat`` seconds of the first fill and of two refills of n rows."""
    from qtpy.QtWidgets import QApplication

    from a2lc_napari._review import ReviewPanel
    from a2lc_napari.engine.classes import CITYSCAPES_CLASSES
    from a2lc_napari.engine.state import LCMUpdate

    app = QApplication.instance() or QApplication([])
    k = CITYSCAPES_CLASSES.num_classes
    changes = [LCMUpdate(f"image_{i % 40:03d}", i + 1, i % k, (i + 1) % k,
                         0.5 + (i % 100) / 200) for i in range(n)]
    best = {}
    for _ in range(repeat):
        panel = ReviewPanel()
        panel.show()
        for what, proposed in (("first fill", changes),
                               (DECISION, changes[1:]),
                               ("refill, the same changes (an undo)", changes[1:])):
            if what == DECISION:  # the first row decided, as a decision does
                panel.select(changes[0], quiet=True)
                panel.leaving(changes[0])
            start = time.perf_counter()
            panel.show_changes(CITYSCAPES_CLASSES, proposed, [])
            app.processEvents()
            seconds = time.perf_counter() - start
            best[what] = min(best.get(what, seconds), seconds)
        panel.close()
        panel.deleteLater()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| changes | fill | seconds | / first fill |\n|---|---|---|---|")
    for n in args.changes:
        times = fill_times(n, args.repeat)
        first = times["first fill"]
        for what, seconds in times.items():
            print(f"| {n} | {what} | {seconds:.3f} | {seconds / first:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
