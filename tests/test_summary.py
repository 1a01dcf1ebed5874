"""The round summary: the table of what each round changed and how sure the
LCM was, and the chart of the classes."""
import re
import subprocess
import sys

import numpy as np

from a2lc_napari._summary import class_chart, premultiplied_argb32, summary_table
from a2lc_napari.engine.classes import ClassSet
from a2lc_napari.engine.state import RoundRecord


def record(round_, **kw):
    return RoundRecord(round=round_, queries=kw.pop("queries", 0), manual_changes=0,
                       hand_pixels=0, lcm_changes=kw.pop("lcm_changes", 0), lcm_correct=0,
                       class_pixels=[1, 1], ignore_pixels=0, **kw)


def cells(html):
    return [[c.replace("<br>", " ") for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", html)]


def test_the_table_shows_the_lcm_estimate_and_with_ground_truth_its_precision():
    history = [record(0, data_miou=50.0),
               record(1, queries=30, lcm_changes=12, lcm_estimated_precision=93.24,
                      lcm_lower_precision=81.05, lcm_precision=91.67, data_miou=55.54)]
    assert cells(summary_table(history)) == [
        ["round", "answered", "corrected", "by LCM", "LCM sure %", "LCM at least %",
         "LCM right %", "data mIoU %"],
        ["0", "0", "0", "0", "", "", "", "50.0"],
        ["1", "30", "0", "12", "93.2", "81.0", "91.7", "55.5"]]


def test_without_ground_truth_only_the_estimate():
    history = [record(0), record(1, lcm_changes=3, lcm_estimated_precision=100.0,
                                 lcm_lower_precision=74.99)]
    assert cells(summary_table(history))[0][-1] == "LCM at least %"
    assert cells(summary_table(history))[2] == ["1", "0", "0", "3", "100.0", "75.0"]


def test_the_lcm_s_count_adds_the_proposals_accepted_before_the_round_s_end():
    """Found in a walk-through: the table said 45 where 47 regions changed."""
    history = [record(0), record(1, lcm_changes=45, lcm_accepted=2), record(2, lcm_accepted=3)]
    assert [row[3] for row in cells(summary_table(history))[1:]] == ["0", "45 + 2", "0 + 3"]


def test_a_method_without_the_lcm_has_no_lcm_columns():
    history = [record(0, data_miou=50.0), record(1, queries=30, data_miou=55.54)]
    assert cells(summary_table(history, lcm=False)) == [
        ["round", "answered", "corrected", "data mIoU %"],
        ["0", "0", "0", "50.0"], ["1", "30", "0", "55.5"]]


def test_pixels_painted_have_a_column_once_there_are_any():
    history = [record(0), record(1, queries=8)]
    assert "painted px" not in cells(summary_table(history, lcm=False))[0]
    history.append(record(2, queries=8))
    history[2].hand_pixels = 142  # a brush stroke in round 2
    assert cells(summary_table(history, lcm=False)) == [
        ["round", "answered", "corrected", "painted px"],
        ["0", "0", "0", "0"], ["1", "8", "0", "0"], ["2", "8", "0", "142"]]


def test_the_chart_has_a_bar_in_each_present_class_colour():
    classes = ClassSet(names=("sky", "road", "car"),
                       colors=((10, 200, 30), (200, 20, 250), (250, 250, 0)))
    history = [RoundRecord(round=r, queries=0, manual_changes=0, hand_pixels=0, lcm_changes=0,
                           lcm_correct=0, class_pixels=pixels, ignore_pixels=0)
               for r, pixels in ((0, [5, 5, 5]), (1, [8, 2, 0]))]
    rgba = class_chart(history, classes)
    assert rgba.dtype == np.uint8 and rgba.shape == (200, 320, 4)
    colours = {tuple(c) for c in rgba[..., :3].reshape(-1, 3)}
    assert (10, 200, 30) in colours and (200, 20, 250) in colours
    assert (250, 250, 0) not in colours  # no car pixels left: no filled bar


def test_the_chart_is_drawn_in_the_panel_s_ink_on_a_transparent_ground():
    classes = ClassSet(names=("sky", "road"), colors=((10, 200, 30), (200, 20, 250)))
    history = [RoundRecord(round=r, queries=0, manual_changes=0, hand_pixels=0, lcm_changes=0,
                           lcm_correct=0, class_pixels=pixels, ignore_pixels=0)
               for r, pixels in ((0, [5, 5]), (1, [8, 2]))]
    rgba = class_chart(history, classes, ink="#f0f1f2")  # napari's dark theme's text
    assert rgba[0, 0, 3] == 0 and rgba[-1, -1, 3] == 0  # the panel shows through
    opaque = {tuple(c) for c in rgba[rgba[..., 3] == 255][:, :3]}
    assert (240, 241, 242) in opaque  # text, axes and outlines in the ink
    assert (0, 0, 0) not in opaque  # nothing black that a dark panel would swallow


def test_premultiplied_argb32_by_hand():
    rgba = np.array([[[200, 100, 50, 128], [1, 2, 3, 255], [9, 9, 9, 0]]], np.uint8)
    # (c · a + 127) // 255 per colour: 200 → 100, 100 → 50, 50 → 25 at alpha 128
    np.testing.assert_array_equal(premultiplied_argb32(rgba),
                                  [[0x80643219, 0xFF010203, 0x00000000]])


SHOW_WHILE_WORKERS_RUN_PYTHON = """
import time
import numpy as np
from napari.qt.threading import thread_worker
from qtpy.QtCore import QThreadPool
from qtpy.QtWidgets import QApplication
app = QApplication([])
from a2lc_napari._summary import RoundSummary, premultiplied_argb32

@thread_worker
def python_work():
    end = time.monotonic() + 3
    while time.monotonic() < end:
        pass

workers = [python_work() for _ in range(QThreadPool.globalInstance().maxThreadCount())]
for w in workers:
    w.start()
time.sleep(0.3)  # every thread of Qt's global pool runs Python now
summary = RoundSummary()
rgba = np.random.default_rng(0).integers(0, 256, (200, 320, 4)).astype(np.uint8)
summary.show_chart(rgba.copy())
garbage = [np.full(320 * 200, 0x5A5A5A5A, np.uint32) for _ in range(50)]  # over freed memory
image = summary.chart.pixmap().toImage()
bits = image.constBits()
bits.setsize(image.sizeInBytes())
shown = np.frombuffer(bits, np.uint32).reshape(200, 320)
print("shown", image.width(), image.height(), (shown == premultiplied_argb32(rgba)).all(),
      flush=True)
QThreadPool.globalInstance().waitForDone()
"""


def test_the_chart_is_shown_while_napari_s_workers_run_python():
    """napari froze for good here: Qt split the chart's conversion among its
    global thread pool and waited holding Python's lock, while the pool's
    threads, napari's workers, waited for that lock."""
    done = subprocess.run([sys.executable, "-c", SHOW_WHILE_WORKERS_RUN_PYTHON],
                          capture_output=True, text=True, timeout=120)
    assert "shown 320 200 True" in done.stdout, done.stderr[-2000:]  # the chart's pixels
