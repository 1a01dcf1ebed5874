"""What a person does in napari, as a script run in a fresh process.

``python napari_person.py DATASET SESSION ANSWERS [--close-busy | --exit-open]``:
opens napari, then the widget through the Plugins menu's own action,
presses Start / resume, and answers ``ANSWERS`` queries with Enter, each to
the widget that has the keyboard focus; then closes napari once nothing
runs, or with ``--close-busy`` at once (the last answer's round still being
finished, or with no answer the session still being opened), or with
``--exit-open`` not at all: the script ends at once, napari still open and
the last answer still being written (as a notebook's kernel ends). Prints one
JSON line: the queries answered (round, index, image, region, class),
whether the panel had the focus at each, whether the canvas showed the
query at each (the image layer's pixels, the query layer's outline, the
camera centred on the region), the status line at the first query and at
the end, whether torch's compiler got
imported, the threads that imported torch, and how many objects were left
out of Python's garbage collections.
"""
import gc
import json
import sys
import threading
import time

import napari
import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QApplication, QMenu, QPushButton

WIDGET = "A²LC label correction"
TIMEOUT = 240.0


class ImportWatch:
    """Notes the thread of each first import of a module in ``names``."""

    def __init__(self, *names):
        self.names, self.threads = names, []
        sys.meta_path.insert(0, self)

    def find_spec(self, name, path=None, target=None):
        if name in self.names:
            self.threads.append(threading.current_thread().name)
        return None  # the usual finders import it


def actions(menu: QMenu):
    for action in menu.actions():
        if action.menu() is not None:
            yield from actions(action.menu())
        else:
            yield action


def wait(app, ready) -> None:
    end = time.monotonic() + TIMEOUT
    while not ready():
        if time.monotonic() > end:
            raise TimeoutError("the widget never got ready")
        app.processEvents()
        time.sleep(0.01)


def on_screen(viewer, session, q) -> bool:
    """The canvas shows query ``q``: its image's pixels, its region ringed,
    the camera centred on it."""
    from a2lc_napari._layers import IMAGE_LAYER, QUERY_LAYER, QUERY_RING, ring_around

    mask = session.dataset.regions(q.image) == q.region
    rows, cols = np.nonzero(mask)
    y, x = viewer.scene.camera.center[-2:]
    return bool(np.array_equal(viewer.layers[IMAGE_LAYER].data, session.dataset.image(q.image))
                and np.array_equal(viewer.layers[QUERY_LAYER].data,
                                   ring_around(mask, QUERY_RING))
                and rows.min() <= y <= rows.max() and cols.min() <= x <= cols.max())


def main(dataset: str, session_dir: str, answers: int, close_busy: bool,
         exit_open: bool) -> None:
    torch_imports = ImportWatch("torch")
    viewer = napari.Viewer()
    viewer.window.activate()  # as the window a person clicks into
    app = QApplication.instance()
    app.processEvents()
    next(a for a in actions(viewer.window.plugins_menu) if a.text().startswith(WIDGET)).trigger()
    app.processEvents()
    (widget,) = viewer.window.dock_widgets.values()
    s = widget.settings
    s.dataset.value, s.session_dir.value = dataset, session_dir
    s.budget.value, s.steps.value, s.tau.value = 3, 4, "0.3"
    s.review_above.value = 100000  # apply the LCM without asking
    next(b for b in widget.findChildren(QPushButton) if b.text() == "Start / resume").click()
    done, first_status = [], None
    for _ in range(answers):
        wait(app, lambda: widget.query_index is not None and not widget.busy
             and not widget.runner.writing)
        settle = time.monotonic() + 0.3  # a person looks before pressing a key
        while time.monotonic() < settle:
            app.processEvents()
            time.sleep(0.01)
        session, index = widget.session, widget.query_index
        q = session.queries[index]
        focused = app.focusWidget()
        if not done:
            first_status = widget.status.text()
        done.append({"round": session.round, "index": index, "image": q.image,
                     "region": q.region, "class": q.label,
                     "focus": focused is widget.panel.class_list,
                     "on screen": on_screen(viewer, session, q)})
        QTest.keyClick(focused or widget.panel.class_list, Qt.Key_Return)
        if not exit_open:  # else exit before napari hears that the answer was written
            app.processEvents()
    if not (close_busy or exit_open):
        wait(app, lambda: widget.runner.idle)
    status = widget.status.text()
    if not exit_open:
        viewer.close()
    print(json.dumps({"answered": done, "status": status, "first status": first_status,
                      "compiler": [m for m in ("torch._dynamo", "triton") if m in sys.modules],
                      "torch imported by": torch_imports.threads,
                      "frozen": gc.get_freeze_count()}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), "--close-busy" in sys.argv[4:],
         "--exit-open" in sys.argv[4:])
