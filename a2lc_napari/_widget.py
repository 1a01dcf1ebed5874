"""The dock widget: a labeling session on a dataset, one query at a time.

The engine's :class:`~a2lc_napari.engine.session.Session` does the work.
This widget calls it, runs its long steps in napari thread workers (with a
progress bar and a cancel button), and shows the results as layers, which
it only edits in the main thread:

    image, labels      the shown image and its current labels (class colours)
    region outlines    the regions that answers and the LCM act on
    query              the region of the current query
    LCM changes        regions the LCM changes (new class), with
                       "old → new" written at their centres

Every label change goes into napari's undo history of the labels layer, so
Ctrl+Z takes back answers (the session forgets them) and LCM changes and
paint strokes (the session keeps the restored labels as hand edits).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from app_model.types import KeyCode, KeyMod
from magicgui.widgets import ComboBox, Container, FileEdit, LineEdit, PushButton, SpinBox
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (QFileDialog, QGroupBox, QHBoxLayout, QLabel, QProgressBar,
                            QPushButton, QScrollArea, QVBoxLayout, QWidget)
from scipy.ndimage import center_of_mass
from skimage.segmentation import find_boundaries

from ._class_list import KEYS_HELP, ClassList
from ._history import ImageHistories
from ._layers import labels_kwargs
from ._reader import IMAGE_LAYER, LABELS_LAYER
from ._summary import RoundSummary
from .engine.model import ModelConfig
from .engine.regions import REGION_SOURCES, SAM_MODES, RegionsConfig, region_values
from .engine.session import Session, SessionConfig, start_session

OUTLINES_LAYER = "region outlines"
QUERY_LAYER = "query"
QUERY_PIXEL_LAYER = "query pixel"
LCM_LAYER = "LCM changes"
LCM_TEXT_LAYER = "LCM changes: old → new"
QUERY_COLOR = (1.0, 0.9, 0.0, 1.0)

#: The LCM re-runs once answers pause this long (ms), not after every key.
LCM_DELAY_MS = 700

METHOD_CHOICES = [("A²LC (class-balanced queries + LCM)", "a2lc"), ("ALC", "alc"),
                  ("A²LC's queries, no LCM", "abc"), ("ALC's queries + LCM", "lcm")]


def _empty(path) -> bool:
    return path is None or str(path) in ("", ".")


def _crop(values: np.ndarray, fill: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The bounding box of ``values != fill`` and its top-left corner.

    Layers that mark a few regions hold only this box (placed with
    ``translate``): napari redraws and outlines them in proportion to it,
    not to the whole image.
    """
    rows, cols = np.nonzero(values != fill)
    if not rows.size:
        return np.full((1, 1), fill, values.dtype), (0, 0)
    r0, c0 = rows.min(), cols.min()
    return values[r0:rows.max() + 1, c0:cols.max() + 1], (int(r0), int(c0))


class CorrectionWidget(QWidget):
    """Walks a person through the queries of a correction session."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.session: Session | None = None
        self.image_name: str | None = None
        self.query_index: int | None = None
        self._regions: np.ndarray | None = None  # region map of the shown image
        self._histories = ImageHistories()
        self._worker = None
        self._lcm_worker = None
        self._lcm_stale = False
        self._lcm_timer = QTimer(self, singleShot=True, interval=LCM_DELAY_MS)
        self._lcm_timer.timeout.connect(self._run_lcm)
        self._lcm_updates: list[dict] = []
        self._lcm_title = ""
        self._syncing = False  # the widget itself is editing the labels layer
        self._build()
        self.viewer.layers.events.inserted.connect(lambda e: self._adopt_dataset(e.value))
        for layer in self.viewer.layers:
            self._adopt_dataset(layer)

    # ---- building ----------------------------------------------------------------

    def _build(self) -> None:
        devices = (["cuda"] if torch.cuda.is_available() else []) + ["cpu"]
        s = self.settings = Container(widgets=[
            FileEdit(name="dataset", label="Dataset", mode="d"),
            FileEdit(name="session_dir", label="Session folder", mode="d"),
            ComboBox(name="method", label="Method", choices=METHOD_CHOICES),
            SpinBox(name="budget", label="Queries per round", value=30, min=1, max=100000),
            LineEdit(name="tau", label="LCM τ per round", value="0.99 0.999"),
            SpinBox(name="steps", label="Training steps", value=ModelConfig.steps, min=1,
                    max=100000),
            ComboBox(name="device", label="Device", choices=devices),
            ComboBox(name="regions", label="Regions", choices=list(REGION_SOURCES)),
            FileEdit(name="sam_checkpoint", label="SAM checkpoint", mode="r",
                     filter="*.pth"),
            ComboBox(name="sam_mode", label="SAM mode", choices=list(SAM_MODES)),
            PushButton(name="start", text="Start / resume"),
        ])
        s.tau.tooltip = "LCM confidence threshold per round; the last holds afterwards"
        s.regions.tooltip = ("auto: the dataset's regions/ if any, else SLIC superpixels; "
                             "sam: Segment Anything masks (needs a checkpoint)")
        s.dataset.changed.connect(self._suggest_session_dir)
        s.regions.changed.connect(self._show_sam_settings)
        s.start.changed.connect(self.start)
        self._show_sam_settings()

        self.question = QLabel("Choose a dataset and press Start.")
        self.question.setWordWrap(True)
        self.class_list = ClassList()
        self.class_list.setMinimumHeight(160)
        self.class_list.answered.connect(self.answer)
        self.class_list.moved.connect(self.move)
        self.class_list.undo_requested.connect(
            lambda undo: self._step_history(undo=undo))
        buttons = QHBoxLayout()
        for text, slot in (("◀ Previous", lambda: self.move(-1)),
                           ("Skip ▶", lambda: self.move(+1)), ("Undo", self.undo),
                           ("Finish round", self.finish_round)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        keys = QLabel(KEYS_HELP)
        keys.setWordWrap(True)
        self.lcm_status = QLabel("")
        self.lcm_status.setWordWrap(True)
        reviewed = QPushButton("Reviewed: clear the LCM overlay")
        reviewed.clicked.connect(self.clear_lcm_overlay)
        query_box = QGroupBox("Query")
        box = QVBoxLayout(query_box)
        for w in (self.question, self.class_list):
            box.addWidget(w)
        box.addLayout(buttons)
        for w in (keys, self.lcm_status, reviewed):
            box.addWidget(w)
        self.query_box = query_box

        self.status = QLabel("")
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        progress = QHBoxLayout()
        progress.addWidget(self.progress)
        progress.addWidget(self.cancel_button)
        self.summary = RoundSummary()
        export = QPushButton("Export labels…")
        export.clicked.connect(self._ask_export)

        # In a scroll area: on a small screen the dock scrolls rather than
        # squeezing the class list under its buttons.
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.settings.native)
        layout.addWidget(query_box)
        layout.addWidget(self.status)
        layout.addLayout(progress)
        layout.addWidget(self.summary)
        layout.addWidget(export)
        layout.addStretch()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(content)
        self.setMinimumWidth(content.minimumSizeHint().width()
                             + scroll.verticalScrollBar().sizeHint().width())
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self._set_busy(None)

    def _show_sam_settings(self) -> None:
        sam = self.settings.regions.value == "sam"
        self.settings.sam_checkpoint.visible = sam
        self.settings.sam_mode.visible = sam

    def _adopt_dataset(self, layer) -> None:
        """A dataset opened by this plugin's reader becomes the one to correct."""
        path = layer.metadata.get("a2lc_dataset")
        if path and self.session is None and _empty(self.settings.dataset.value):
            self.settings.dataset.value = path

    def _suggest_session_dir(self, dataset) -> None:
        """A session folder beside the dataset, which is never written to."""
        if not _empty(dataset) and self.session is None:
            dataset = Path(dataset)
            self.settings.session_dir.value = dataset.parent / f"{dataset.name}_a2lc"

    def config(self) -> SessionConfig:
        """The settings as a session config (raises ValueError when invalid)."""
        s = self.settings
        try:
            tau = tuple(float(t) for t in s.tau.value.replace(",", " ").split())
        except ValueError:
            raise ValueError(f"τ must be numbers between 0 and 1, got {s.tau.value!r}") from None
        sam = s.regions.value == "sam"
        if sam and _empty(s.sam_checkpoint.value):
            raise ValueError("SAM regions need a SAM checkpoint file (.pth)")
        return SessionConfig(
            method=s.method.value, budget=s.budget.value, tau=tau,
            model=ModelConfig(steps=s.steps.value, device=s.device.value),
            regions=RegionsConfig(source=s.regions.value,
                                  sam_checkpoint=str(s.sam_checkpoint.value) if sam else None,
                                  sam_mode=s.sam_mode.value))

    def _show_config(self, config: SessionConfig) -> None:
        s = self.settings
        s.method.value = config.method
        s.budget.value = config.budget
        s.tau.value = " ".join(str(t) for t in config.tau)
        s.steps.value = config.model.steps
        if config.model.device in s.device.choices:
            s.device.value = config.model.device
        s.regions.value = config.regions.source
        if config.regions.sam_checkpoint:
            s.sam_checkpoint.value = config.regions.sam_checkpoint
        s.sam_mode.value = config.regions.sam_mode

    # ---- workers ----------------------------------------------------------------

    def _run(self, steps, on_done, what: str) -> None:
        """Run an engine step generator in a worker; ``on_done(result)`` in the
        main thread."""

        @thread_worker
        def work():
            return (yield from steps)

        def done(result):
            self._set_busy(None)
            self.status.setText("")
            on_done(result)

        def finished():
            if self._worker is worker:  # on_done may have started the next worker
                self._set_busy(None)

        worker = work()
        worker.yielded.connect(self._show_progress)
        worker.returned.connect(done)
        worker.errored.connect(lambda e: self._fail(what, e))
        worker.aborted.connect(lambda: self.status.setText(
            f"{what}: stopped. Press Start / resume to go on."))
        worker.finished.connect(finished)
        self._set_busy(worker)
        self.status.setText(f"{what}…")
        worker.start()

    def _set_busy(self, worker) -> None:
        self._worker = worker
        busy = worker is not None
        self.cancel_button.setEnabled(busy)
        self.settings.start.enabled = not busy
        self.query_box.setEnabled(not busy and self.session is not None
                                  and self.session.phase == "query")
        if not busy:
            self.progress.reset()
        else:
            self.class_list.clearFocus()

    def _show_progress(self, p) -> None:
        self.status.setText(f"{p.desc}…")
        self.progress.setMaximum(p.total)
        self.progress.setValue(p.done)

    def _fail(self, what: str, error: Exception) -> None:
        # napari's workers already send the error to a notification.
        self.status.setText(f"{what} failed: {error}")

    def cancel(self) -> None:
        """Stop the running step at its next progress report; nothing is lost."""
        if self._worker is not None:
            self._worker.quit()

    # ---- the session ---------------------------------------------------------------

    def start(self) -> None:
        """Open the session of the chosen folders (resume) or start one."""
        if self._worker is not None:
            return
        if self.session is not None:
            self._continue()
            return
        s = self.settings
        if _empty(s.dataset.value) or _empty(s.session_dir.value):
            show_error("Choose a dataset folder and a session folder first.")
            return
        try:
            config = self.config()
        except ValueError as e:
            show_error(str(e))
            return
        self._run(start_session(Path(s.session_dir.value), Path(s.dataset.value), config),
                  self._on_started, "Opening the session")

    def _on_started(self, session: Session) -> None:
        self.session = session
        self._show_config(session.config)
        for w in self.settings:
            if w.name != "start":
                w.enabled = False
        self.class_list.set_classes(session.dataset.classes)
        self.summary.show_history(session.history, session.dataset.classes)
        show_info(f"Session in {session.out}: round {session.round}")
        self._continue()

    def _continue(self) -> None:
        """Take the session's next step: train and rank, ask, or finish a round."""
        phase = self.session.phase
        if phase == "train":
            self.question.setText(f"Round {self.session.round}: training the model on "
                                  "the current labels and ranking the regions…")
            self._run(self.session.prepare_round(), self._on_prepared,
                      f"Preparing round {self.session.round}")
        elif phase == "query":
            self._on_prepared(None)
        else:
            self.finish_round()

    def _on_prepared(self, _) -> None:
        q = self.session.next_query() or self.session.queries[0]
        self.show_query(q.index)
        self._refresh_lcm()

    def finish_round(self) -> None:
        """Apply the LCM, measure and log the round, then prepare the next one."""
        if self._worker is not None or self.session is None:
            return
        self.question.setText(f"Round {self.session.round}: applying the LCM…")
        self._run(self.session.finish_round(), self._on_finished,
                  f"Finishing round {self.session.round}")

    def _on_finished(self, entry: dict) -> None:
        session = self.session
        self._lcm_updates = session.round_log(entry["round"])["lcm_updates"]
        self._lcm_title = f"Round {entry['round']}: the LCM changed"
        if self.image_name is not None:
            self._reload_labels()
        self._remember_lcm_changes(entry["round"])
        self.summary.show_history(session.history, session.dataset.classes)
        self._show_lcm()
        self._continue()

    def _remember_lcm_changes(self, round_: int) -> None:
        """Put the LCM's changes to images not shown into their undo histories,
        so that Ctrl+Z takes them back there too."""
        session = self.session
        for name in {u["image"] for u in self._lcm_updates} - {self.image_name}:
            before = session.round_start_labels(round_, name)
            after = session.labels(name)
            changed = np.nonzero(before != after)
            region_ids = [u["region"] for u in self._lcm_updates if u["image"] == name]
            lcm = region_values(session.dataset.regions(name), region_ids,
                                np.ones(len(region_ids)), fill=0)[changed] > 0
            changed = tuple(axis[lcm] for axis in changed)
            self._histories.push(self.labels_layer, name, changed, before[changed],
                                 after[changed])

    # ---- showing images and queries --------------------------------------------------

    @property
    def labels_layer(self):
        return self.viewer.layers[LABELS_LAYER]

    def _layer(self, name: str, kind: str, data, translate=(0, 0), **kwargs):
        """Set the data (and position) of layer ``name``, adding it (or
        replacing a layer of another kind) as needed."""
        if name in self.viewer.layers:
            layer = self.viewer.layers[name]
            if type(layer).__name__.lower() == kind and getattr(layer, "rgb", False) == kwargs.get(
                    "rgb", False) and np.ndim(layer.data) == np.ndim(data):
                layer.translate = translate
                layer.data = data
                return layer
            self.viewer.layers.remove(name)
        return getattr(self.viewer, f"add_{kind}")(data, name=name, translate=translate,
                                                   **kwargs)

    def show_image(self, name: str) -> None:
        """Show image ``name`` with its labels, keeping each image's undo history."""
        session, classes = self.session, self.session.dataset.classes
        image = session.dataset.image(name)
        reset = self.image_name is None or (
            session.dataset.shape(self.image_name) != image.shape[:2])
        self._layer(IMAGE_LAYER, "image", image, rgb=True)
        self._syncing = True
        try:
            layer = self._layer(LABELS_LAYER, "labels", session.labels(name), opacity=0.5,
                                **labels_kwargs(classes))
        finally:
            self._syncing = False
        self._watch_labels(layer)
        self._histories.switch(layer, self.image_name, name)
        self._regions = session.dataset.regions(name)
        outlines = find_boundaries(self._regions, mode="inner").astype(np.uint8)
        self._layer(OUTLINES_LAYER, "labels", outlines, opacity=0.4,
                    colormap={1: (1.0, 1.0, 1.0, 1.0), None: "transparent"})
        self.image_name = name
        self._show_lcm()
        if reset:
            self.viewer.reset_view()

    def _watch_labels(self, layer) -> None:
        """Route the labels layer's paint strokes and Ctrl+Z / Ctrl+Shift+Z
        through the session."""
        if layer.metadata.get("a2lc_watched"):
            return
        layer.metadata["a2lc_watched"] = True
        layer.events.paint.connect(self._on_paint)
        layer.bind_key(KeyMod.CtrlCmd | KeyCode.KeyZ, lambda _: self.undo(), overwrite=True)
        layer.bind_key(KeyMod.CtrlCmd | KeyMod.Shift | KeyCode.KeyZ, lambda _: self.redo(),
                       overwrite=True)

    def show_query(self, index: int) -> None:
        """Show query ``index``: its image, its region outlined, centred and zoomed."""
        session = self.session
        q = session.queries[index]
        if q.image != self.image_name:
            self.show_image(q.image)
        self.query_index = index
        mask = self._regions == q.region
        box, corner = _crop(mask.astype(np.uint8), 0)
        query = self._layer(QUERY_LAYER, "labels", box, translate=corner,
                            colormap={1: QUERY_COLOR, None: "transparent"})
        query.contour = 2
        self._zoom_to(corner, box.shape, mask.shape)
        # Keep the labels layer active, so that napari's paint tools act on it.
        self.viewer.layers.selection.active = self.labels_layer
        classes = session.dataset.classes
        what = "region" if session.method.region_query else "region (pixel under the cross)"
        if q.pixel is not None:
            self._layer(QUERY_PIXEL_LAYER, "points", np.array([q.pixel]), symbol="cross",
                        size=7, face_color="yellow")
        elif QUERY_PIXEL_LAYER in self.viewer.layers:
            self.viewer.layers.remove(QUERY_PIXEL_LAYER)
        answered = ("" if q.answer is None else
                    f" — answered <b>{classes.name_of(q.answer)}</b>")
        self.question.setText(
            f"Round {session.round} · Query {index + 1} / {len(session.queries)}: "
            f"is this {what} <b>{classes.name_of(q.label)}</b>?{answered}")
        self.class_list.select_class(q.label if q.answer is None else q.answer)
        self.class_list.setFocus()

    def _zoom_to(self, corner: tuple[int, int], size: tuple[int, int],
                 shape: tuple[int, int]) -> None:
        """Centre on a box (top-left ``corner``, ``size``) in an image of
        ``shape``, zoomed so that the box fills about a third of the view."""
        self.viewer.reset_view()
        extent = max(size[0] / shape[0], size[1] / shape[1])
        camera = self.viewer.scene.camera
        camera.center = (corner[0] + (size[0] - 1) / 2, corner[1] + (size[1] - 1) / 2)
        camera.zoom *= min(8.0, max(1.0, 1 / (3 * extent)))

    # ---- answering -------------------------------------------------------------------

    def _can_answer(self) -> bool:
        return (self._worker is None and self.session is not None
                and self.session.phase == "query" and self.query_index is not None)

    def answer(self, cls: int) -> None:
        """Answer the shown query with class ``cls``, then show the next one;
        after the last one, finish the round."""
        if not self._can_answer():
            return
        session, index = self.session, self.query_index
        session.answer({index: cls})
        region = session.queries[index].region
        self._edit_layer(np.nonzero(self._regions == region), cls,
                         tag=(session.round, index, cls))
        self._refresh_lcm()
        upcoming = [(index + k) % len(session.queries) for k in range(1, len(session.queries))]
        left = [i for i in upcoming if session.queries[i].answer is None]
        if left:
            self.show_query(left[0])
        else:
            self.finish_round()

    def move(self, step: int) -> None:
        """Show the previous (-1) or next (+1) query without answering."""
        if self._can_answer():
            self.show_query((self.query_index + step) % len(self.session.queries))

    def _edit_layer(self, indices, values, tag=None) -> None:
        """Change labels-layer pixels as one undoable step (an answer's ``tag``
        is ``(round, query index, class)``)."""
        self._syncing = True
        try:
            self._histories.edit(self.labels_layer, indices, values, tag)
        finally:
            self._syncing = False

    def _reload_labels(self) -> None:
        """Bring the session's labels of the shown image into the layer, undoably."""
        new = self.session.labels(self.image_name)
        changed = np.nonzero(new != self.labels_layer.data)
        if changed[0].size:
            self._edit_layer(changed, new[changed])

    def _on_paint(self, _event=None) -> None:
        """A paint stroke or fill: the session keeps it as a hand edit.

        Saved from the event loop, because a single ``Labels.paint`` call
        announces its change before writing it."""
        if not self._syncing and self.session is not None and self.image_name is not None:
            name = self.image_name
            QTimer.singleShot(0, lambda: self._save_hand_edit(name))

    def _save_hand_edit(self, name: str) -> None:
        if name == self.image_name:
            self.session.edit_labels(name, self.labels_layer.data)

    def undo(self) -> None:
        """napari's undo on the labels layer; an answer taken back is forgotten."""
        self._step_history(undo=True)

    def redo(self) -> None:
        self._step_history(undo=False)

    def _step_history(self, undo: bool) -> None:
        if self.session is None or self.image_name is None:
            return
        layer = self.labels_layer
        changed, answer = self._histories.step(layer, undo)
        if not changed:
            return
        session = self.session
        if answer is not None and answer[0] == session.round and session.phase == "query":
            _, index, cls = answer
            if undo:
                session.unanswer(index)
            else:
                session.answer({index: cls})
            self.show_query(index)
        else:
            session.edit_labels(self.image_name, layer.data)
        self._refresh_lcm()

    # ---- the LCM overlay ----------------------------------------------------------------

    def _refresh_lcm(self) -> None:
        """Re-run the LCM on the answers so far, in the background, once the
        answers pause."""
        self._lcm_timer.start()

    @property
    def lcm_busy(self) -> bool:
        """The LCM is about to run, or running."""
        return self._lcm_timer.isActive() or self._lcm_worker is not None

    def _run_lcm(self) -> None:
        session = self.session
        if not session.method.lcm or session.phase != "query":
            return
        if self._lcm_worker is not None:
            self._lcm_stale = True
            return
        round_ = session.round
        # On a snapshot: answers given meanwhile must not change its input.
        worker = thread_worker(session.snapshot().propose_lcm)()
        worker.returned.connect(lambda updates: self._on_lcm(updates, round_))
        worker.errored.connect(lambda e: self._fail("The LCM", e))
        worker.finished.connect(self._lcm_done)
        self._lcm_worker = worker
        worker.start()

    def _lcm_done(self) -> None:
        self._lcm_worker = None
        if self._lcm_stale:
            self._lcm_stale = False
            self._run_lcm()

    def _on_lcm(self, updates: list[dict], round_: int) -> None:
        if self.session.round == round_ and self.session.phase == "query":
            self._lcm_updates = updates
            self._lcm_title = "The LCM proposes to change"
            self._show_lcm()

    def _show_lcm(self) -> None:
        """Overlay the LCM's changes on the shown image: new class, and
        "old → new" at each region's centre."""
        if self.image_name is None or self.session is None:
            return
        classes = self.session.dataset.classes
        here = [u for u in self._lcm_updates if u["image"] == self.image_name]
        ids = np.array([u["region"] for u in here], dtype=np.int64)
        new = region_values(self._regions, ids, [u["new"] for u in here],
                            fill=classes.ignore_index).astype(np.uint8)
        box, corner = _crop(new, classes.ignore_index)
        self._layer(LCM_LAYER, "labels", box, translate=corner, opacity=0.8,
                    **labels_kwargs(classes))
        centres = np.array(center_of_mass(np.ones_like(new), self._regions, ids)).reshape(-1, 2)
        text = [f"{classes.name_of(u['old'])} → {classes.name_of(u['new'])}" for u in here]
        points = self._layer(LCM_TEXT_LAYER, "points", centres, size=1, face_color="white",
                             features={"change": text},
                             text={"string": "{change}", "color": "white", "size": 9})
        points.features = {"change": text}
        if self._lcm_updates:
            self.lcm_status.setText(f"{self._lcm_title} "
                                    f"{len(self._lcm_updates)} regions ({len(here)} on this "
                                    "image): the “LCM changes” layer.")
        else:
            self.lcm_status.setText("")

    def clear_lcm_overlay(self) -> None:
        """The person has reviewed the LCM's changes: clear the overlay."""
        self._lcm_updates = []
        self._show_lcm()

    # ---- export ---------------------------------------------------------------------------

    def _ask_export(self) -> None:
        if self.session is None:
            show_error("Start a session first.")
            return
        folder = QFileDialog.getExistingDirectory(self, "Export the corrected labels to")
        if folder:
            self.export(Path(folder))

    def export(self, folder: Path) -> None:
        """Write the corrected labels (palette PNGs + classes.json) to ``folder``."""
        self._run(self.session.export(folder),
                  lambda out: show_info(f"Exported the labels to {out}"), "Exporting")
