"""Any image of the dataset on the canvas, to look at or paint, queried or not."""
from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget


class ImageBrowser(QWidget):
    """A list of the dataset's images and "◀ Image" / "Image ▶" buttons.
    Emits :attr:`chosen` (an image name) when the person picks one; the
    canvas's own moves (a query, a review row) are told with :meth:`shown`
    and emit nothing."""

    chosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.names = QComboBox()
        self.names.setToolTip("Show any image, to look at or paint; Enter or Esc on "
                              "the canvas brings the query back")
        self.names.activated.connect(lambda row: self.chosen.emit(self.names.itemText(row)))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Show"))
        row.addWidget(self.names, 1)
        for text, step in (("◀ Image", -1), ("Image ▶", +1)):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, step=step: self.step(step))
            row.addWidget(button)

    def set_images(self, names: list[str]) -> None:
        self.names.clear()
        self.names.addItems(names)

    def shown(self, name: str) -> None:
        """The canvas shows image ``name`` now."""
        self.names.setCurrentText(name)

    def step(self, step: int) -> None:
        """Choose the image ``step`` places after the one shown, round the end."""
        count = self.names.count()
        if count:
            self.names.setCurrentIndex((self.names.currentIndex() + step) % count)
            self.chosen.emit(self.names.currentText())
