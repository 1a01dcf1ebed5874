"""The session runner: its view cache (images read ahead in workers), and
what it lets go of when the widget closes."""
import subprocess
import sys
import threading
from types import SimpleNamespace

import numpy as np

from a2lc_napari._runner import SessionRunner, ViewCache
from a2lc_napari.engine.progress import Progress


class SlowSession:
    """What ``load_view`` reads of a session; ``labels`` waits until released,
    so that a change can land while a worker reads the image."""

    def __init__(self):
        regions = np.arange(12).reshape(3, 4) + 1
        self.dataset = SimpleNamespace(regions=lambda name: regions,
                                       image=lambda name: np.zeros((3, 4, 3), np.uint8))
        self.version = 0  # the labels on disk: all this value
        self.reading = threading.Event()
        self.release = threading.Event()

    def labels(self, name):
        value = self.version
        self.reading.set()
        self.release.wait(10)
        return np.full((3, 4), value, np.uint8)


def test_an_image_changed_while_it_is_read_is_read_again(qtbot):
    session, cache, shown = SlowSession(), ViewCache(), []
    cache.get(session, "a", shown.append)
    assert session.reading.wait(10)  # the worker has read the old labels...
    session.version = 1  # ...when an answer changes them on disk
    cache.forget(["a"])
    session.release.set()
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=10_000)
    assert (shown[0].labels == 1).all()  # the view shown is the new one
    cache.get(session, "a", shown.append)  # and it is the one kept
    assert len(shown) == 2 and (shown[1].labels == 1).all()


class Opening:
    """A step that opens something, as opening a session does: once started
    it waits until released, then returns itself, to be closed."""

    def __init__(self):
        self.started, self.release = threading.Event(), threading.Event()
        self.closed = False

    def close(self):
        self.closed = True

    def steps(self, reports_progress: bool):
        if reports_progress:  # else no progress at all, as opening a session
            yield Progress(0, 1, "Opening")
        self.started.set()
        self.release.wait(10)
        return self


def test_what_a_step_opened_is_let_go_once_the_runner_closed(qtbot):
    """The panel closed while a session was being opened: the step that
    cannot stop runs to its end, and what it returns is closed, not shown."""
    runner, step, shown = SessionRunner(), Opening(), []
    runner.run(step.steps(False), shown.append, "Opening",
               on_closed=lambda result: result.close())
    assert step.started.wait(10)
    threading.Timer(0.3, step.release.set).start()
    runner.cleanup()  # waits for the step
    qtbot.waitUntil(lambda: step.closed, timeout=10_000)
    assert shown == [] and runner.closed


def test_a_step_cancelled_as_it_returns_stops_and_lets_go_of_its_result(qtbot):
    """Cancel pressed after the step's last progress report: napari's worker
    then drops the result and says nothing. The runner is no longer busy,
    says the step stopped, and closes what the step opened."""
    runner, step, shown = SessionRunner(), Opening(), []
    with qtbot.waitSignal(runner.stopped, timeout=10_000) as stopped:
        runner.run(step.steps(True), shown.append, "Opening the session",
                   on_closed=lambda result: result.close())
        assert step.started.wait(10)
        runner.cancel()
        step.release.set()
    assert stopped.args == ["Opening the session: stopped. Press Start / resume to go on."]
    assert not runner.busy and shown == [] and step.closed
    runner.cleanup()


class DecidedMeanwhile:
    """What the background LCM reads of a session. ``propose_lcm`` waits
    until released; a decision made meanwhile (``version``) makes the
    proposal it returns out of date."""

    round, phase, method = 1, "query", SimpleNamespace(lcm=True)

    def __init__(self):
        self.version, self.latest = 0, None
        self.started, self.release = threading.Event(), threading.Event()

    def propose_lcm(self):
        version = self.version
        self.started.set()
        self.release.wait(10)
        self.latest = SimpleNamespace(version=version)
        return self.latest

    def is_current(self, proposal):
        return proposal is self.latest and proposal.version == self.version

    def close(self):  # the runner closes its session when cleaned up
        pass


def test_a_proposal_made_before_a_decision_is_not_shown_the_next_one_is(qtbot):
    """A change rejected while the LCM runs must not come back as proposed:
    the run that started before it is dropped, and the one the rejection
    started is shown."""
    runner, session, shown = SessionRunner(), DecidedMeanwhile(), []
    runner.session = session
    runner.lcm_proposed.connect(shown.append)
    runner.propose_lcm()  # it runs once the answers pause: the event loop turns
    qtbot.waitUntil(session.started.is_set, timeout=10_000)
    session.version = 1  # the person rejects a change...
    runner.propose_lcm()  # ...which runs the LCM again
    session.release.set()
    qtbot.waitUntil(lambda: not runner.lcm_busy and bool(shown), timeout=10_000)
    assert [p.version for p in shown] == [1]
    runner.cleanup()


# Workers beside the long steps, one more than the machine has cores, each
# a Python loop that keeps wanting Python's lock; then the main thread scales
# a large image smoothly, which Qt splits over its global thread pool.
SCALE_WHILE_WORKERS_RUN = """
import sys, threading
from qtpy.QtCore import QThread, Qt
from qtpy.QtGui import QImage
from qtpy.QtWidgets import QApplication
from a2lc_napari._runner import SessionRunner

app = QApplication([])
runner, stop = SessionRunner(), threading.Event()
running = threading.Semaphore(0)
def loop():
    running.release()
    while not stop.is_set():
        sum(range(1000))
for _ in range(QThread.idealThreadCount() + 1):
    runner.beside(loop)
for _ in range(QThread.idealThreadCount() + 1):
    assert running.acquire(timeout=20), "a worker did not start"
image = QImage(3000, 3000, QImage.Format_RGB32)
image.scaled(1500, 1500, Qt.KeepAspectRatio, Qt.SmoothTransformation)
stop.set()
runner.cleanup()  # waits for the workers: one still running at exit aborts Python
print("scaled")
"""


def test_qt_work_in_the_main_thread_finishes_while_workers_run():
    """napari hung for good where the main thread waited on Qt's thread pool
    (a large image scaled smoothly) while our workers held every thread of it."""
    done = subprocess.run([sys.executable, "-c", SCALE_WHILE_WORKERS_RUN],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "scaled" in done.stdout
