"""The session runner: the session, the workers that run its long steps, and
a public busy state.

Long steps (opening, training and ranking, finishing a round, exporting)
run one at a time in a napari thread worker; the background LCM and the
reading of images ahead of time run beside them. The person's changes
(answers, strokes, undo, reviews) are written in a worker too, one after
another in the order they were made, so that the canvas never waits for
the disk. Results come back to the main thread through the workers'
signals, where the widget edits layers.
"""
from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

from napari.qt.threading import thread_worker as napari_worker
from qtpy.QtCore import QObject, QThread, QThreadPool, QTimer, Signal

from ._layers import ImageView, load_view

#: The LCM re-runs once answers pause this long (ms), not after every key.
LCM_DELAY_MS = 700

#: Images kept read and outlined, ready to show.
CACHED_VIEWS = 4

#: How long closing waits for the workers to stop (ms).
CLOSE_WAIT_MS = 30_000


def thread_worker(fn):
    """napari's thread worker whose errors are handled where it is started
    (the widget's status line and napari's notification), not raised again in
    the main thread: a person's mistake (a bad folder) prints no traceback."""
    return napari_worker(fn, ignore_errors=True)


def start(worker) -> None:
    """Start ``worker`` in Qt's global thread pool, leaving as many threads
    free there as the machine has cores.

    Qt's own work runs in that pool too, and the main thread waits for it
    holding Python's lock: a large image scaled smoothly (an animated
    indicator at File > Open). With every thread of the pool taken by our
    workers, that work never started, and napari hung for good (File > Open
    while a session ran, on two cores).
    """
    pool = QThreadPool.globalInstance()
    needed = pool.activeThreadCount() + 1 + QThread.idealThreadCount()
    pool.setMaxThreadCount(max(pool.maxThreadCount(), needed))
    worker.start()


def keep_long_lived() -> None:
    """Leave the objects that exist now out of Python's later garbage collections.

    napari, Qt's wrappers, torch and the engine are a few hundred thousand
    objects that live as long as napari. Each full collection scans them
    all while it holds the GIL, which froze the canvas for 100 ms or more
    (adding the first labels layer: 190 ms, 85 ms with them left out). The
    cost: what of them dies later in a reference cycle is never freed
    (the reader's layers that the widget replaces, once).
    """
    gc.freeze()


def open_session(session_dir, dataset, config, labels_dir=None):
    """:func:`~a2lc_napari.engine.driver.start_session`, imported in the
    worker that runs it: the engine (torch, numba) takes a second or more
    to import, which would freeze napari in its main thread. Not at the
    widget's opening: a worker still running when a script ends aborts it.
    Many regions to make are made on worker processes, one per core."""
    from .engine.driver import start_session

    keep_long_lived()
    session = yield from start_session(session_dir, dataset, config, labels_dir,
                                       spread_start=True)
    keep_long_lived()
    return session


class ViewCache:
    """Images read and outlined in workers, ahead of the moment they are shown."""

    def __init__(self):
        self.views: OrderedDict[str, ImageView] = OrderedDict()
        self.loading: dict[str, list] = {}  # name -> callbacks waiting for it
        self.stale: set[str] = set()  # being read while their labels changed
        self.closed = False  # the widget is gone: nobody to show images to

    def get(self, session, name: str, then, failed=None) -> None:
        """Call ``then(view)`` with image ``name``'s view: at once when it is
        ready, else from the main thread once a worker has read it; where it
        cannot be read, ``failed(message)`` (if given) instead."""
        if name in self.views:
            self.views.move_to_end(name)
            then(self.views[name])
            return
        waiting = self.loading.get(name)
        if waiting is not None:
            waiting.append((then, failed))
            return
        self.loading[name] = [(then, failed)]
        worker = thread_worker(load_view)(session, name)
        worker.returned.connect(lambda view: self._arrived(session, view))
        worker.errored.connect(lambda error: self._unreadable(name, error))
        start(worker)

    def prefetch(self, session, names) -> None:
        for name in names:
            if name not in self.views:
                self.get(session, name, lambda _view: None)

    def _arrived(self, session, view: ImageView) -> None:
        waiting = self.loading.pop(view.name, [])
        if self.closed:
            return
        if view.name in self.stale:  # its labels changed while it was read
            self.stale.discard(view.name)
            for then, failed in waiting:
                self.get(session, view.name, then, failed)
            return
        self.views[view.name] = view
        while len(self.views) > CACHED_VIEWS:
            self.views.popitem(last=False)
        for then, _ in waiting:
            then(view)

    def _unreadable(self, name: str, error: Exception) -> None:
        waiting = self.loading.pop(name, [])
        self.stale.discard(name)
        if self.closed:
            return
        for _, failed in waiting:
            if failed is not None:  # a read ahead fails in silence, until it is asked for
                failed(f"Showing image {name} failed: {error}")

    def forget(self, names) -> None:
        """Images whose labels changed on disk: read them again when needed."""
        for name in names:
            self.views.pop(name, None)
            if name in self.loading:
                self.stale.add(name)


class SessionRunner(QObject):
    """Owns the session and its workers.

    Signals: :attr:`busy_changed` (bool), :attr:`progress` (text, done,
    total), :attr:`failed` (message), :attr:`stopped` (message),
    :attr:`lcm_asked` (the LCM will run again: its last proposal is older
    than the answers), :attr:`lcm_proposed` (an ``LCMProposal`` of the round
    it was made in),
    :attr:`change_written` (a change of :meth:`write` is written or refused,
    before its ``then`` or ``failed``).
    """

    busy_changed = Signal(bool)
    progress = Signal(str, int, int)
    failed = Signal(str)
    stopped = Signal(str)
    lcm_asked = Signal()
    lcm_proposed = Signal(object)
    change_written = Signal()
    _written = Signal(object, object, object)  # from the writing thread: future, then, failed

    def __init__(self, parent=None):
        super().__init__(parent)
        self.session = None
        self.views = ViewCache()
        self._worker = None
        self._lcm_worker = None
        self._lcm_again = False
        self._after_lcm: list = []  # called once the LCM has proposed from every answer
        self._beside: set = set()  # short jobs that run beside the long steps
        # The person's changes, written one after another in one thread.
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="a2lc-writes")
        self._unwritten = 0
        self._written.connect(self._on_written)
        self._closed = False  # cleaned up: the widget is gone, nobody to call back
        # What a step returned, with its on_closed, until the main thread takes
        # it: cleanup lets go of it if it comes first (a step cancelled as it
        # returns emits nothing). The lock orders the step's end and cleanup.
        self._handover = threading.Lock()
        self._unclaimed: tuple | None = None
        self._lcm_timer = QTimer(self, singleShot=True, interval=LCM_DELAY_MS)
        self._lcm_timer.timeout.connect(self._propose)

    @property
    def busy(self) -> bool:
        """A long step runs (the queries cannot be answered meanwhile)."""
        return self._worker is not None

    @property
    def lcm_busy(self) -> bool:
        """The background LCM is about to run, or running."""
        return self._lcm_timer.isActive() or self._lcm_worker is not None

    @property
    def writing(self) -> bool:
        """A change the person made is being written, or waits to be."""
        return self._unwritten > 0

    @property
    def idle(self) -> bool:
        """Nothing runs or waits to run."""
        return (not self.busy and not self.lcm_busy and not self.views.loading
                and not self._beside and not self.writing)

    def run(self, steps, on_done, what: str, on_closed=None) -> None:
        """Run an engine step generator in a worker; ``on_done(result)`` in
        the main thread once it returns, after the busy state has cleared;
        ``on_closed(result)`` instead where the runner was cleaned up
        meanwhile, or the step was cancelled as it returned (to let go of
        what the step opened)."""

        @thread_worker
        def work():
            result = yield from steps
            with self._handover:
                if not self._closed:
                    self._unclaimed = (result, on_closed)
                    return result
            if on_closed is not None:  # closed meanwhile: nobody will take it
                on_closed(result)

        worker = work()
        live = self._unless_closed
        worker.yielded.connect(live(lambda p: self.progress.emit(p.desc, p.done, p.total)))
        worker.returned.connect(live(lambda result: self._done(worker, on_done, result)))
        worker.errored.connect(live(lambda e: self._end(worker, f"{what} failed: {e}",
                                                        self.failed)))
        stopped = f"{what}: stopped. Press Start / resume to go on."
        worker.aborted.connect(live(lambda: self._end(worker, stopped, self.stopped)))
        worker.finished.connect(live(lambda: self._finished(worker, stopped)))
        self._worker = worker
        self.busy_changed.emit(True)
        self.progress.emit(what, 0, 0)
        start(worker)

    def _unless_closed(self, slot):
        """``slot``, doing nothing once the runner is cleaned up (nobody to
        call back; cleanup let go of any result): a worker's last signals can
        arrive after napari deleted the widget, and with it this runner's
        signals (a viewer closed by a script while it trains)."""
        return lambda *args: None if self._closed else slot(*args)

    def beside(self, fn, *args, then=None) -> None:
        """Run ``fn(*args)`` in a worker beside the long steps; ``then(result)``
        in the main thread once it has finished, with None if it failed
        (reported through :attr:`failed`)."""
        worker = thread_worker(fn)(*args)
        result = []
        worker.returned.connect(result.append)
        worker.errored.connect(self._unless_closed(
            lambda e: self.failed.emit(f"{fn.__name__} failed: {e}")))
        worker.finished.connect(lambda: self._beside.discard(worker))
        if then is not None:
            worker.finished.connect(self._unless_closed(
                lambda: then(result[0] if result else None)))
        self._beside.add(worker)
        start(worker)

    def write(self, change, *args, then=None, failed=None) -> None:
        """Make a change to the session, ``change(*args)``, in the writing
        thread once the changes queued before it are written; then
        ``then(result)`` in the main thread, or on an error
        ``failed(message)`` (default: the :attr:`failed` signal)."""
        self._unwritten += 1
        future = self._writes.submit(change, *args)
        future.add_done_callback(lambda f: self._announce(f, then, failed))

    def after_writes(self, then) -> None:
        """Call ``then()`` in the main thread once the changes queued so far
        are written (at once when none is)."""
        if self.writing:
            self.write(lambda: None, then=lambda _: then())
        else:
            then()

    def _announce(self, future: Future, then, failed) -> None:
        try:
            self._written.emit(future, then, failed)
        except RuntimeError:  # the widget has closed: nobody to tell
            pass

    def _on_written(self, future: Future, then, failed) -> None:
        self._unwritten -= 1
        if self._closed:
            return
        self.change_written.emit()
        if future.exception() is not None:
            (failed or self.failed.emit)(f"Saving the change failed: {future.exception()}")
        elif then is not None:
            then(future.result())

    def _done(self, worker, on_done, result) -> None:
        with self._handover:  # taken: cleanup has none to let go of
            self._unclaimed = None
        if self._worker is worker:
            self._worker = None
            self.busy_changed.emit(False)
        on_done(result)

    def _finished(self, worker, stopped: str) -> None:
        """After ``returned``, ``errored`` or ``aborted``; alone where a
        cancel came as the step returned (napari's worker then drops its
        result): let go of the result, and say the step stopped."""
        if self._worker is not worker:
            return
        with self._handover:
            unclaimed, self._unclaimed = self._unclaimed, None
        self._let_go(unclaimed)
        self._end(worker, stopped, self.stopped)

    @staticmethod
    def _let_go(unclaimed: tuple | None) -> None:
        """``on_closed(result)`` of a result nobody took, if it has one."""
        if unclaimed is not None and unclaimed[1] is not None:
            unclaimed[1](unclaimed[0])

    def _end(self, worker, message: str, signal) -> None:
        if self._worker is worker:
            self._worker = None
            self.busy_changed.emit(False)
        signal.emit(message)

    def cancel(self) -> None:
        """Stop the running step at its next progress report; nothing is lost."""
        if self._worker is not None:
            self._worker.quit()

    # ---- the background LCM -----------------------------------------------------

    def propose_lcm(self) -> None:
        """Re-run the LCM on the answers so far, once the answers pause."""
        self._lcm_timer.start()
        if self._lcm_runs():
            self.lcm_asked.emit()

    def _lcm_runs(self) -> bool:
        """Whether the LCM proposes now: a session whose method has one asks its queries."""
        session = self.session
        return session is not None and session.method.lcm and session.phase == "query"

    def after_lcm(self, then) -> None:
        """Call ``then()`` in the main thread once the LCM has proposed from
        every answer so far (at once when it is not busy)."""
        if self.lcm_busy:
            self._after_lcm.append(then)
        else:
            then()

    def _lcm_settled(self) -> None:
        if not self.lcm_busy:
            waiting, self._after_lcm = self._after_lcm, []
            for then in waiting:
                then()

    def _propose(self) -> None:
        session = self.session
        if not self._lcm_runs():
            self._lcm_settled()
            return
        if self._lcm_worker is not None:
            self._lcm_again = True
            return
        round_ = session.round
        worker = thread_worker(session.propose_lcm)()
        worker.returned.connect(lambda proposal: self._proposed(proposal, round_))
        worker.errored.connect(self._unless_closed(
            lambda e: self.failed.emit(f"The LCM failed: {e}")))
        worker.finished.connect(self._lcm_finished)
        self._lcm_worker = worker
        start(worker)

    def _proposed(self, proposal, round_: int) -> None:
        # One made before the latest decision or answer is dropped: that
        # change ran the LCM again, and its proposal follows.
        if (not self._closed and self.session.round == round_
                and self.session.phase == "query" and self.session.is_current(proposal)):
            self.lcm_proposed.emit(proposal)

    def _lcm_finished(self) -> None:
        self._lcm_worker = None
        if self._closed:
            return
        if self._lcm_again:
            self._lcm_again = False
            self._propose()
        else:
            self._lcm_settled()

    @property
    def closed(self) -> bool:
        """Cleaned up: the session is closed, or closes once its changes are written."""
        return self._closed

    def cleanup(self) -> None:
        """Stop the timers and the running step, wait for the workers, then
        let another writer open the session (the widget is closing)."""
        with self._handover:
            if self._closed:
                return
            self._closed = self.views.closed = True
            unclaimed, self._unclaimed = self._unclaimed, None
        self._let_go(unclaimed)
        self._lcm_timer.stop()
        self.cancel()
        # A worker still running when the process ends aborts it: wait for
        # them to stop (the running step stops at its next progress report).
        QThreadPool.globalInstance().waitForDone(CLOSE_WAIT_MS)
        session = self.session
        if session is None:
            return
        if self.writing:  # after the changes still being written: the person's last ones
            try:
                self._writes.submit(session.close)
                return
            except RuntimeError:
                pass  # Python is exiting and its writer thread has written them all
        session.close()
