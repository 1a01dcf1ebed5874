"""One writer per session folder: an operating-system lock that dies with its holder.

A process that writes to a session folder holds an exclusive ``flock`` on
``FOLDER/.lock`` through an open file, for as long as it works on the
folder. The operating system drops the lock when that file is closed, and
it closes every file of a process that ends, however it ends (``kill -9``
included), so a lock is never left stale and nothing needs cleaning up.
The file's existence means nothing (it stays in the folder); it holds the
holder's process id and command line only for the message that a refused
writer gets. Readers take no lock.

``flock`` locks belong to an open file, not to a process: a second lock on
the same folder is refused within one process too (two widgets on one
session). A child process started by ``fork`` without ``exec`` shares its
parent's lock; files opened here are not inherited across ``exec``.
Without ``fcntl`` (Windows) the lock is not enforced.
"""
from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path

from .errors import DatasetError

try:
    import fcntl
except ImportError:  # Windows: not a target platform; sessions work unlocked
    fcntl = None

#: The lock file, in the session folder.
LOCK_FILE = ".lock"


class SessionInUse(DatasetError):
    """The session folder is being written by another process (or by another
    session object in this one). ``holder`` describes it, or is None when it
    cannot be known."""

    def __init__(self, folder: Path | str, holder: str | None):
        self.holder = holder
        super().__init__(folder, f"is in use by {holder or 'another process'}; a session "
                         "folder has one writer at a time. Wait for that one to end (or "
                         "stop it), or choose another session folder")


class WriterLock:
    """The lock on a session folder, held until :meth:`release` or the end
    of the process. Use :func:`lock_session` to take one."""

    def __init__(self, folder: Path, file):
        self.folder = folder
        self._file = file

    @property
    def held(self) -> bool:
        return self._file is not None and not self._file.closed

    def release(self) -> None:
        """Let another writer in; releasing twice does nothing."""
        if self._file is not None:
            self._file.close()  # closing the file drops the flock
            self._file = None

    def __enter__(self) -> "WriterLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_session(folder: Path | str) -> WriterLock:
    """Take the writer's lock on ``folder`` (made if missing), at once.

    Raises
    ------
    SessionInUse
        When another process, or another lock in this process, holds it.
    DatasetError
        When the lock file cannot be made (e.g. a read-only folder).
    """
    folder = Path(folder)
    path = folder / LOCK_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # No O_TRUNC: the holder's description must survive a refused attempt.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:  # named as the folder chosen, not its lock file
        raise DatasetError(folder, f"cannot be made or written ({e.strerror}); choose a "
                           "session folder where you may write") from None
    file = os.fdopen(fd, "r+b", buffering=0)
    if fcntl is None:
        return WriterLock(folder, file)
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _describe(file.read())
        file.close()
        raise SessionInUse(folder, holder) from None
    except BaseException:
        file.close()
        raise
    file.truncate(0)
    file.write(json.dumps(_this_process()).encode())
    return WriterLock(folder, file)


def _this_process() -> dict:
    argv = sys.argv or ["python"]
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "command": shlex.join([Path(argv[0]).name or "python", *argv[1:]]),
            "since": time.strftime("%Y-%m-%d %H:%M:%S")}


def _describe(data: bytes) -> str | None:
    """The holder's description from the lock file's bytes; None while the
    holder has not written it yet (or it is not ours)."""
    try:
        info = json.loads(data)
        text = f"process {int(info['pid'])} ({info['command']}, since {info['since']})"
    except (ValueError, TypeError, KeyError):
        return None
    if info.get("host") != socket.gethostname():
        text += f" on {info.get('host')}"
    elif info["pid"] == os.getpid():
        text += ", this same program"
    return text
