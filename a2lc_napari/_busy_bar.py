"""What runs, its progress and Cancel: pinned at the top of the dock, above
what scrolls, so that they are in sight whatever the screen."""
from __future__ import annotations

from qtpy.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


class BusyBar(QWidget):
    """A status line, a progress bar and a Cancel button (enabled while busy)."""

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

    def set_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        if not busy:
            self.progress.setRange(0, 1)  # a step without a total left it "busy"
            self.progress.reset()
            self.status.setText("")

    def show_progress(self, what: str, done: int, total: int) -> None:
        self.status.setText(f"{what}…")
        self.progress.setMaximum(total)
        self.progress.setValue(done)
