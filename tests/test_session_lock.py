"""One writer per session folder: a second writer is refused at once, in
another process or in the same one, and a holder killed with -9 leaves no
stale lock."""
import os
import signal
import subprocess
import sys

import pytest

from a2lc_napari.engine.errors import DatasetError
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
    with pytest.raises(DatasetError, match=r"file/\.lock: cannot be opened for writing"):
        lock_session(tmp_path / "file")
