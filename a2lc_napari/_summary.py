"""The round summary: a table of what each round changed, and the labels'
class distribution as a bar chart."""
from __future__ import annotations

import numpy as np
from qtpy.QtCore import QEvent, Signal
from qtpy.QtGui import QImage, QPalette, QPixmap
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from .engine.classes import ClassSet


def _percent(value) -> str:
    return "" if value is None else f"{value:.1f}"


def lcm_count(record) -> str:
    """The regions the LCM changed in a round (:class:`RoundRecord`): at its
    end, "+ N" the proposals the person accepted in the review before it."""
    extra = f" + {record.lcm_accepted}" if record.lcm_accepted else ""
    return f"{record.lcm_changes}{extra}"


def summary_table(history: list, lcm: bool = True) -> str:
    """HTML table: per round, queries answered, the regions they corrected
    (the answers that changed a label), the pixels painted (once any are)
    and, with an ``lcm``, the LCM's changes (:func:`lcm_count`; the shares
    below are of those at the round's end), the share of them it expected
    to be right and the share its held-out evidence vouches for (90%
    confidence); with ground truth, the share that were right and data
    mIoU."""
    has_gt = any(h.data_miou is not None for h in history)
    painted = any(h.hand_pixels for h in history)
    head = (["round", "answered", "corrected"] + ["painted px"] * painted
            + ["by LCM", "LCM sure %", "LCM at least %"] * lcm
            + ["LCM right %"] * (has_gt and lcm) + ["data mIoU %"] * has_gt)
    rows = []
    for h in history:
        cells = [h.round, h.queries, h.manual_changes] + [h.hand_pixels] * painted
        if lcm:
            cells += [lcm_count(h), _percent(h.lcm_estimated_precision),
                      _percent(h.lcm_lower_precision)]
        if has_gt:
            cells += [_percent(h.lcm_precision)] * lcm + [_percent(h.data_miou)]
        rows.append("".join(f"<td align='right'>{c}</td>" for c in cells))
    # A word per line in the headers, in a smaller type: the table stays
    # narrower than the dock, which leaves the canvas room on a laptop's screen.
    header = "".join(f"<th style='font-size: small'>{c.replace(' ', '<br>')}</th>"
                     for c in head)
    body = "".join(f"<tr>{r}</tr>" for r in rows)
    return f"<table cellspacing='3'><tr>{header}</tr>{body}</table>"


def class_chart(history: list, classes: ClassSet, ink: str = "#000000",
                dpi: int = 100) -> np.ndarray:
    """The share of labelled pixels per class after the last round (coloured
    bars) and before any correction (outlines), as an (H, W, 4) uint8 RGBA
    image on a transparent ground, its text, axes and outlines in ``ink``
    (the panel's text colour, so that it reads in a dark theme as in a
    light one). Plain Agg, no Qt: it is drawn in a worker, since laying out
    its text takes the main thread a tenth of a second or more (and
    importing matplotlib as much again)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3.2, 2.0), dpi=dpi, tight_layout=True, facecolor="none")
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_subplot(facecolor="none")
    x = np.arange(classes.num_classes)
    for h, style in ((history[-1], {"color": np.array(classes.colors) / 255}),
                     (history[0], {"fill": False, "edgecolor": ink})):
        pixels = np.asarray(h.class_pixels, dtype=float)
        ax.bar(x, 100 * pixels / max(pixels.sum(), 1), width=0.8, **style)
    ax.set_xticks(x, classes.names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("% of labelled pixels", fontsize=7, color=ink)
    ax.tick_params(axis="both", labelsize=7, colors=ink)
    for spine in ax.spines.values():
        spine.set_edgecolor(ink)
    ax.set_title(f"classes after round {history[-1].round} "
                 "(outline: before correction)", fontsize=8, color=ink)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


class RoundSummary(QWidget):
    """Table of the rounds, and the chart of :func:`class_chart`.

    :attr:`ink_changed` fires when the panel's text colour changes (napari's
    theme switched): a chart drawn in the old :meth:`ink` should be drawn
    again."""

    ink_changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = QLabel()
        self.chart = QLabel()
        self.chart.setMinimumHeight(180)
        self._ink = self.ink()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(self.chart)

    def ink(self) -> str:
        """The panel's text colour, as ``#rrggbb``: the chart's ink."""
        return self.palette().color(QPalette.WindowText).name()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        # napari restyles its widgets more than once per theme: only a new ink counts
        if event.type() == QEvent.PaletteChange and self.ink() != self._ink:
            self._ink = self.ink()
            self.ink_changed.emit()

    def show_table(self, history: list, lcm: bool = True) -> None:
        """The rounds' table (:func:`summary_table`), the LCM's columns with ``lcm``."""
        self.table.setText(summary_table(history, lcm))

    def show_chart(self, rgba: np.ndarray) -> None:
        """Show a chart image from :func:`class_chart`.

        Handed to Qt in the pixmap's own format (premultiplied ARGB32), so
        that Qt copies it: a conversion is split among Qt's global thread
        pool, which napari's workers share, and waited for holding Python's
        lock; with the pool busy with Python work, napari froze for good."""
        argb = premultiplied_argb32(rgba)
        height, width = rgba.shape[:2]
        # .copy(): Qt's own memory, since the pixmap shares it (argb may go)
        image = QImage(argb.data, width, height, 4 * width,
                       QImage.Format_ARGB32_Premultiplied).copy()
        self.chart.setPixmap(QPixmap.fromImage(image))


def premultiplied_argb32(rgba: np.ndarray) -> np.ndarray:
    """(H, W) uint32 ``0xAARRGGBB`` with each colour multiplied by its alpha
    (Qt's ``Format_ARGB32_Premultiplied``) from an (H, W, 4) uint8 RGBA image."""
    rgba = rgba.astype(np.uint32)
    alpha = rgba[..., 3]
    # (c · a + 127) // 255: Qt's own rounding of a premultiplied channel
    r, g, b = ((rgba[..., c] * alpha + 127) // 255 for c in range(3))
    return np.ascontiguousarray((alpha << 24) | (r << 16) | (g << 8) | b)
