"""One writer per session folder: a second writer is refused at once, in
another process or in the same one, and a holder killed with -9 leaves no
stale lock."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from a2lc_napari.cli import main
from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.errors import DatasetError
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.config import SessionConfig
from a2lc_napari.engine.driver import start_session
from a2lc_napari.engine.session import Session
from a2lc_napari.engine.session_lock import SessionInUse, lock_session

HOLD = """
import sys, time
from a2lc_napari.engine.session_lock import lock_session
lock = lock_session(sys.argv[1])
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """A process holding the lock on ``tmp_path / "session"``, killed with -9 at the end."""
    folder = tmp_path / "session"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), "--marker"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "locked\n"
    yield folder, proc
    proc.kill()
    proc.wait()


def test_a_second_process_is_refused_with_the_holders_pid(holder):
    folder, proc = holder
    with pytest.raises(SessionInUse) as refused:
        lock_session(folder)
    assert isinstance(refused.value, DatasetError)  # the CLI's exit 2
    message = str(refused.value)
    assert message.startswith(f"{folder}: is in use by process {proc.pid} ")
    assert "--marker" in message  # its command line


def test_a_holder_killed_with_9_leaves_no_stale_lock(holder):
    folder, proc = holder
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (folder / ".lock").exists()  # left behind, and it does not matter
    with lock_session(folder) as lock:
        assert lock.held
        assert str(os.getpid()) in (folder / ".lock").read_text()


def test_one_writer_within_one_process_too(tmp_path):
    first = lock_session(tmp_path / "session")
    with pytest.raises(SessionInUse, match=f"process {os.getpid()} .*this same program"):
        lock_session(tmp_path / "session")
    first.release()
    first.release()  # twice does nothing
    assert not first.held
    with lock_session(tmp_path / "session") as second:
        assert second.held
    assert not second.held
    lock_session(tmp_path / "session").release()


def test_an_unwritable_folder_is_named(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(DatasetError, match=r"file: cannot be made or written"):
        lock_session(tmp_path / "file")


# ---- sessions: the CLI and the widget --------------------------------------------

SIMULATE = ["--method", "abc", "--budget", "3", "--rounds", "2", "--steps", "5", "-q"]


def a2lc(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "a2lc_napari.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


def wait_until_locked(folder, proc, also=lambda: True):
    """Wait until ``proc`` holds ``folder``'s lock (its pid is in the lock file)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        lock = folder / ".lock"
        if lock.exists() and f'"pid": {proc.pid},' in lock.read_text() and also():
            return
        time.sleep(0.05)
    raise AssertionError(f"{proc.args} never held {folder}: {proc.communicate()}")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", n_images=4,
                             size=(64, 80), seed=2)


@pytest.fixture(scope="module")
def alone(sample, tmp_path_factory):
    """metrics.json of a run with the folder to itself."""
    out = tmp_path_factory.mktemp("alone") / "run"
    assert main(["simulate", str(sample), *SIMULATE, "--out", str(out)]) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def held(sample, tmp_path_factory):
    """A session folder and the ``a2lc simulate`` holding it, stopped (SIGSTOP):
    it keeps the lock and writes nothing meanwhile."""
    out = tmp_path_factory.mktemp("held") / "run"
    holder = a2lc("simulate", sample, *SIMULATE, "--out", out)
    wait_until_locked(out, holder, also=lambda: (out / "session.json").exists())
    os.kill(holder.pid, signal.SIGSTOP)
    yield out, holder
    holder.kill()
    holder.wait()


def test_a_second_simulate_is_refused_and_the_first_unharmed(sample, alone, tmp_path):
    out = tmp_path / "run"
    first = a2lc("simulate", sample, *SIMULATE, "--out", out)
    wait_until_locked(out, first)
    os.kill(first.pid, signal.SIGSTOP)  # so that it cannot end before the second starts
    try:
        second = a2lc("simulate", sample, *SIMULATE, "--out", out)
        assert second.wait(timeout=120) == 2
    finally:
        os.kill(first.pid, signal.SIGCONT)
    err = second.stderr.read()
    assert err.startswith(f"error: {out}: is in use by process {first.pid} ")
    assert "simulate" in err  # the holder's command line
    assert first.wait() == 0, first.communicate()
    assert json.loads((out / "metrics.json").read_text()) == alone


def test_a_locked_session_can_be_read(held, tmp_path):
    out, holder = held
    with pytest.raises(SessionInUse, match=f"process {holder.pid} "):
        Session.open(out)
    before = folder_state(out)
    reader = Session.open(out, read_only=True)
    assert reader.read_only and reader.round >= 1 and reader.history[0].round == 0
    exported = drive(reader.export(tmp_path / "export"), quiet=True)
    assert sorted(p.stem for p in exported.glob("*.png")) == reader.dataset.names
    with pytest.raises(RuntimeError, match="read-only"):
        reader.prepare_round()
    with pytest.raises(RuntimeError, match="read-only"):
        reader.edit_labels(reader.dataset.names[0], reader.labels(reader.dataset.names[0]))
    assert folder_state(out) == before
    assert main(["export", str(out), str(tmp_path / "by-cli"), "-q"]) == 0


def test_a_new_session_is_refused_before_the_dataset_is_checked(sample, tmp_path):
    with lock_session(tmp_path / "run"):  # another writer making a session here
        with pytest.raises(SessionInUse):
            next(start_session(tmp_path / "run", sample, SessionConfig()))  # no step yet
    assert next(start_session(tmp_path / "run", sample, SessionConfig())).desc


def test_a_holder_killed_with_9_leaves_a_session_the_next_run_opens(sample, alone,
                                                                     tmp_path):
    out = tmp_path / "run"
    killed = a2lc("simulate", sample, *SIMULATE, "--out", out)
    wait_until_locked(out, killed, also=lambda: (out / "session.json").exists())
    killed.kill()
    killed.wait()
    with Session.open(out) as session:  # at once: no lock is left behind
        assert not session.read_only
    assert main(["simulate", str(sample), *SIMULATE, "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text()) == alone


WIDGET = """
import json, sys, time
import napari
from napari.utils.notifications import notification_manager
from qtpy.QtCore import Qt, QTimer
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QApplication, QPushButton

dataset, session_dir = sys.argv[1:]
errors = []
notification_manager.notification_ready.connect(
    lambda n: errors.append(str(n.message)) if str(n.severity) == "error" else None)
viewer = napari.Viewer()
_, widget = viewer.window.add_plugin_dock_widget("a2lc-napari", "A²LC label correction")


def press_start():
    for field, text in ((widget.settings.dataset, dataset),
                        (widget.settings.session_dir, session_dir)):
        field.line_edit.native.selectAll()  # typing replaces any suggestion
        QTest.keyClicks(field.line_edit.native, text)
    [start] = [b for b in widget.findChildren(QPushButton) if b.text() == "Start / resume"]
    QTest.mouseClick(start, Qt.LeftButton)


def settled():
    if widget.session is not None or errors or time.monotonic() > deadline:
        QTimer.singleShot(200, report)  # let the widget show the error


def report():
    # Before quitting: with Qt 6, quitting closes (and deletes) the window.
    print(json.dumps({"errors": errors, "status": widget.status.text(),
                      "session": widget.session is not None}))
    QApplication.quit()


deadline = time.monotonic() + 90
QTimer.singleShot(0, press_start)
poll = QTimer(interval=50)
poll.timeout.connect(settled)
poll.start()
napari.run()  # napari's own event loop: errors become notifications
"""


def folder_state(folder):
    return {p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_widget_refuses_a_session_the_cli_holds(sample, held):
    out, holder = held
    before = folder_state(out)
    widget = subprocess.run([sys.executable, "-c", WIDGET, str(sample), str(out)],
                            capture_output=True, text=True, timeout=180)
    assert widget.returncode == 0, widget.stderr
    shown = json.loads(widget.stdout.splitlines()[-1])
    assert folder_state(out) == before
    in_use = f"{out}: is in use by process {holder.pid} "
    assert any(in_use in error for error in shown["errors"]), shown
    assert in_use in shown["status"]
    assert not shown["session"]
