"""Any image of the dataset on the canvas, to look at or paint, queried or not."""
from __future__ import annotations

from qtpy.QtCore import QEvent, Qt, QTimer, Signal
from qtpy.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QStyle,
                            QStyleOptionComboBox, QStylePainter, QWidget)

#: Keys that, on the list or its buttons, ask for the query back.
RECALL_KEYS = (Qt.Key_Return, Qt.Key_Enter, Qt.Key_Escape)

#: A name typed in the list is shown once the keys pause (ms): showing an
#: image holds napari a moment, and Qt's search of the typed name would
#: start again from the next key.
TYPING_PAUSE_MS = 250


class NameBox(QComboBox):
    """A list of names that shows a name too long for it cut in the middle,
    so that both its folder and its end (a city's frame number) stay in sight."""

    def shown_text(self) -> str:
        """The current name as the box draws it."""
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        field = self.style().subControlRect(QStyle.CC_ComboBox, option,
                                            QStyle.SC_ComboBoxEditField, self)
        return self.fontMetrics().elidedText(self.currentText(), Qt.ElideMiddle,
                                             field.width())

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's name)
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.CC_ComboBox, option)
        option.currentText = self.shown_text()
        painter.drawControl(QStyle.CE_ComboBoxLabel, option)


class ImageBrowser(QWidget):
    """A list of the dataset's images and "◀ Image" / "Image ▶" buttons.
    Emits :attr:`chosen` (an image name) when the person picks one, and
    :attr:`recall_requested` for Enter or Esc on them, or an answer key on
    a button (the query back, as the panel says); the canvas's own moves (a
    query, a review row) are told with :meth:`shown` and emit nothing."""

    chosen = Signal(str)
    recall_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.names = NameBox()
        self.names.view().setTextElideMode(Qt.ElideMiddle)  # its list too
        self.names.setToolTip("Show any image, to look at or paint; Enter or Esc, here "
                              "or on the canvas, brings the query back")
        self._typing = QTimer(self, singleShot=True, interval=TYPING_PAUSE_MS)
        self._typing.timeout.connect(lambda: self.chosen.emit(self.names.currentText()))
        self.names.activated.connect(lambda _row: self._typing.start())
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Show"))
        row.addWidget(self.names, 1)
        self.names.installEventFilter(self)
        for text, step in (("◀ Image", -1), ("Image ▶", +1)):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, step=step: self.step(step))
            button.installEventFilter(self)
            row.addWidget(button)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.KeyPress and (
                event.key() in RECALL_KEYS
                # an answer key on a button (the list types names with them)
                or watched is not self.names and event.text().isalnum()):
            self.recall_requested.emit()
            return True
        return super().eventFilter(watched, event)

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
