"""Makes the README's pictures from the real widget on the sample dataset:
resources/screenshot.png, the first query asked (the widget opened from the
Plugins menu), and resources/review.png, the LCM review: one round answered
by confirming each proposed class, the LCM's proposals listed and the first
one shown. Prints the menu entries a person clicks.

    xvfb-run -a -s "-screen 0 1600x1000x24" python resources/screenshots.py OUT_DIR
"""
import sys
import time
from pathlib import Path

import napari
from PIL import Image
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QApplication, QPushButton, QScrollArea

from a2lc_napari.engine.demo import make_demo_dataset


def wait_until(ready, timeout=600):
    end = time.monotonic() + timeout
    while not ready():
        QApplication.processEvents()
        time.sleep(0.02)
        if time.monotonic() > end:
            raise TimeoutError("the widget did not get there in time")


def actions(menu):
    for action in menu.actions():
        if action.menu() is not None:
            yield from actions(action.menu())
        else:
            yield action


def save(viewer, name: str) -> None:
    for _ in range(20):
        QApplication.processEvents()
    Image.fromarray(viewer.screenshot(canvas_only=False, flash=False)).save(
        Path(__file__).parent / name)


def main(out: Path) -> None:
    dataset = make_demo_dataset(out / "demo", n_images=8, seed=3)
    viewer = napari.Viewer(title="a2lc-napari")
    viewer.window._qt_window.resize(1600, 1000)
    window = viewer.window._qt_window
    for path in (("Plugins", "A²LC"), ("File", "Sample dataset")):
        menu = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "")
                    == path[0])
        print(f"{path[0]} →", *[a.text() for a in actions(menu) if path[1] in a.text()])
    entry = next(a for a in actions(viewer.window.plugins_menu) if "A²LC" in a.text())
    entry.trigger()
    (widget,) = viewer.window.dock_widgets.values()
    s = widget.settings
    s.dataset.value, s.session_dir.value = dataset, out / "session"
    s.budget.value, s.steps.value, s.review_above.value = 10, 60, 0
    s.lcm.value, s.tau.value = "paper", "0.5"
    next(b for b in widget.findChildren(QPushButton) if b.text() == "Start / resume").click()
    wait_until(lambda: widget.query_index is not None and not widget.busy)
    save(viewer, "screenshot.png")
    session = widget.session
    for _ in range(len(session.queries) - 1):
        q = session.queries[widget.query_index]
        QTest.keyClick(widget.panel.class_list, Qt.Key_Return)  # confirm each
        wait_until(lambda q=q: not widget.busy and widget.query_index is not None
                   and session.queries[q.index].answer is not None)
    wait_until(lambda: not widget.runner.lcm_busy and widget.review.table.rowCount() > 0)
    table = widget.review.table
    table.setFocus()
    table.setCurrentCell(0, 0)
    QTest.keyClick(table, Qt.Key_Return)
    widget.findChild(QScrollArea).ensureWidgetVisible(widget.review)  # the person scrolls to it
    save(viewer, "review.png")
    viewer.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
