"""Makes resources/review.png, the README's picture of the LCM review: the
sample dataset, one round answered with (deliberately) one wrong class,
the LCM's proposals listed and the first one shown.

    xvfb-run -a -s "-screen 0 1600x1000x24" python resources/review_screenshot.py OUT_DIR
"""
import sys
import time
from pathlib import Path

import napari
from PIL import Image
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QApplication, QPushButton

from a2lc_napari.engine.demo import make_demo_dataset


def wait_until(ready, timeout=600):
    end = time.monotonic() + timeout
    while not ready():
        QApplication.processEvents()
        time.sleep(0.02)
        if time.monotonic() > end:
            raise TimeoutError("the widget did not get there in time")


def main(out: Path) -> None:
    dataset = make_demo_dataset(out / "demo", n_images=8, seed=3)
    viewer = napari.Viewer(title="a2lc-napari")
    viewer.window._qt_window.resize(1600, 1000)
    _, widget = viewer.window.add_plugin_dock_widget("a2lc-napari", "A²LC label correction")
    s = widget.settings
    s.dataset.value, s.session_dir.value = dataset, out / "session"
    s.budget.value, s.steps.value, s.review_above.value = 10, 60, 0
    s.lcm.value, s.tau.value = "paper", "0.5"
    next(b for b in widget.findChildren(QPushButton) if b.text() == "Start / resume").click()
    wait_until(lambda: widget.query_index is not None and not widget.busy)
    session = widget.session
    for _ in range(len(session.queries) - 1):
        q = session.queries[widget.query_index]
        QTest.keyClick(widget.panel.class_list, Qt.Key_Return)  # confirm each
        wait_until(lambda: not widget.busy and widget.query_index is not None
                   and session.queries[q.index].answer is not None)
    wait_until(lambda: not widget.runner.lcm_busy and widget.review.table.rowCount() > 0)
    table = widget.review.table
    table.setFocus()
    table.setCurrentCell(0, 0)
    QTest.keyClick(table, Qt.Key_Return)
    for _ in range(20):
        QApplication.processEvents()
    Image.fromarray(viewer.screenshot(canvas_only=False, flash=False)).save(
        Path(__file__).parent / "review.png")
    viewer.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
