"""What runs, its progress and Cancel: pinned at the top of the dock, above
what scrolls, so that they are in sight whatever the screen."""
from __future__ import annotations

import time

from qtpy.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from .engine.progress import progress_text, seconds_left


class BusyBar(QWidget):
    """A status line, a progress bar and a Cancel button (enabled while busy).

    The status line counts the step's items (images, training steps) and,
    once some are done, the time left at the pace kept since the step began.
    What :meth:`say` says meanwhile (what the person's last change did)
    stays in front of that until the step ends.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.progress)
        row.addWidget(self.cancel_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 6, 6, 0)
        box.addWidget(self.status)
        box.addLayout(row)
        self._step = None  # (what, first done, when), the pace's start
        self._said = self._progress = ""
        self._kept = False  # what was said stays past the steps' starts and ends

    def set_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        if busy:
            if not self._kept:  # only what is said while the step runs goes before it
                self._said = ""
        else:
            self.progress.setRange(0, 1)  # a step without a total left it "busy"
            self.progress.reset()
            self.status.setText(self._said)  # said during the step: still to be read
            self._step, self._progress = None, ""
            if not self._kept:
                self._said = ""

    def say(self, message: str, keep: bool = False) -> None:
        """Show ``message`` on the status line, in front of the running
        step's progress if any ("" takes the last message back); with
        ``keep``, in front of the next steps' too, until something else is said."""
        self._said, self._kept = message, keep
        self._show()

    def _show(self) -> None:
        self.status.setText(" — ".join(filter(None, (self._said, self._progress))))

    def show_progress(self, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if self._step is None or self._step[0] != what or done < self._step[1]:
            self._step = (what, done, now)
        _, first, since = self._step
        self._progress = progress_text(what, done, total,
                                       seconds_left(done, total, now - since, first))
        self._show()
        self.progress.setMaximum(total)
        self.progress.setValue(done)
