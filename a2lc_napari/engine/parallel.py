"""Per-image work spread over local processes or a Dask cluster.

:func:`map_ordered` maps a function over items (image names) on any
``concurrent.futures.Executor``: a local process pool (:func:`executor`
with ``workers > 1``) or a Dask ``distributed`` cluster (``scheduler``),
whose ``Client.get_executor()`` is one. Results come back in item order and
equal a run in this process: the work itself is the same per item.

The function and its arguments travel to the workers by pickling, so they
must be module-level functions (or ``functools.partial`` of them) over
picklable data. Each worker runs one item at a time on one thread (torch,
numba and BLAS), so the cores are shared by the processes, not by threads
fighting over them.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError, Executor, ProcessPoolExecutor
from contextlib import contextmanager
from importlib import import_module
from multiprocessing import get_context

#: How long to try reaching a Dask scheduler before saying it cannot be reached (s).
CONNECT_TIMEOUT_S = 10

#: Environment variables that fix a worker's thread pools at one thread.
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                     "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}


def cpu_count() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _one_thread() -> None:
    """Make this worker process compute on one thread (before and after
    torch or numba are imported)."""
    os.environ.update(ONE_THREAD)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    if "numba" in sys.modules:
        sys.modules["numba"].set_num_threads(1)


def _start(preload: tuple[str, ...]) -> None:
    _one_thread()
    for module in preload:
        import_module(module)


def _call(func: Callable, item):
    _one_thread()
    return func(item)


async def _handshake(address: str) -> None:
    """Connect to ``address`` and close. Raises ``TimeoutError`` where the
    port takes the connection but gives no handshake: distributed's own
    connect waits for it without end (a port that speaks another protocol);
    ``OSError`` where it cannot connect within ``CONNECT_TIMEOUT_S``."""
    from distributed.comm import connect

    comm = await asyncio.wait_for(connect(address, timeout=CONNECT_TIMEOUT_S),
                                  CONNECT_TIMEOUT_S + 5)
    await comm.close()


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Ctrl+C (SIGINT) held back meanwhile: from the processes started,
    which keep it held (a terminal's Ctrl+C reaches every process of the
    command, and each worker would print its own traceback), and from this
    one until they are started (a worker left half-started prints one too);
    a Ctrl+C meanwhile then acts, once."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    pressed = []
    main = threading.current_thread() is threading.main_thread()  # its handler: Python's
    handler = signal.signal(signal.SIGINT, lambda *_: pressed.append(1)) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    if pressed:
        signal.raise_signal(signal.SIGINT)


@contextmanager
def executor(workers: int | None = None, scheduler: str | None = None,
             preload: tuple[str, ...] = ()) -> Iterator[Executor | None]:
    """The executor that per-image work runs on, closed on leaving.

    Parameters
    ----------
    workers : int, optional
        Local worker processes; default: one per core. 1 gives None: the
        work runs in this process, as a plain loop.
    scheduler : str, optional
        Address of a Dask ``distributed`` scheduler (``tcp://host:8786``):
        the work runs on its workers instead, and ``workers`` is not used.
    preload : tuple of str
        Modules that local workers import as they start, all at once in the
        background, while this process goes on (e.g. checking the dataset).

    Yields
    ------
    concurrent.futures.Executor or None
    """
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ImportError("running on a Dask cluster needs the 'distributed' package: "
                              "pip install 'a2lc-napari[cluster]'") from None

        try:
            if not scheduler.startswith("inproc://"):  # one in this process answers
                asyncio.run(_handshake(scheduler))
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except TimeoutError:  # before OSError, of which it is one
            raise ConnectionError(f"{scheduler} takes connections but does not answer as a "
                                  "Dask scheduler: is it the scheduler's port (8786 unless "
                                  "set otherwise)?") from None
        except OSError as e:
            raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler} "
                                  f"within {CONNECT_TIMEOUT_S} s: is it running, and is "
                                  f"the address right? ({e})") from None
        with client:
            try:
                yield client.get_executor()
            except CancelledError:  # the scheduler stopped: its tasks were dropped
                raise ConnectionError(f"the Dask scheduler at {scheduler} stopped answering "
                                      "mid-run; what was done is kept: rerun the same "
                                      "command to resume") from None
        return
    workers = cpu_count() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be 1 or more, not {workers}")
    if workers == 1:
        yield None
        return
    # "spawn": forking a process that runs threads (numba's, torch's, Qt's) can hang.
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                               initializer=_start, initargs=(tuple(preload),))
    try:
        with _ctrl_c_held():  # from the workers: this process stops them
            for _ in range(workers):  # start them all now, not at the first images
                pool.submit(_one_thread)
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


def map_ordered(func: Callable, items: Iterable, executor: Executor | None = None,
                window: int = 32) -> Iterator:
    """``func(item)`` for each item, in order, computed on ``executor``.

    Parameters
    ----------
    func : callable
        Picklable when ``executor`` is given.
    items : iterable
    executor : concurrent.futures.Executor, optional
        Of worker processes, each item computed on one thread there
        (:func:`executor`). None: computed here, one after the other.
    window : int
        Items submitted ahead of the one being yielded, so that a slow item
        does not make every later result wait in memory.

    Yields
    ------
    ``func(item)``, in the order of ``items``.
    """
    if executor is None:
        yield from map(func, items)
        return
    pending: deque = deque()
    try:
        for item in items:
            pending.append(executor.submit(_call, func, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # stopped early (an error, a cancel): drop what was not started
        for future in pending:
            future.cancel()
