"""The settings form: dataset, session folder and method, as a :class:`SessionConfig`."""
from __future__ import annotations

from pathlib import Path

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    LineEdit,
    PushButton,
    SpinBox,
)
from qtpy.QtWidgets import QComboBox

from .engine.config import (PRUNE_STEPS, LCMConfig, ModelConfig, SessionConfig,
                            taus_in_range)
from .engine.methods import METHODS, ranks_with_trees
from .engine.regions import REGION_SOURCES, SAM_MODES, RegionsConfig

METHOD_CHOICES = [(m.title, key) for key, m in METHODS.items()]

START_TEXT = "Start / resume"

#: The settings fold away once a session runs; these show them again, or not.
SHOW_TEXT, HIDE_TEXT = "Show the settings", "Hide the settings"

#: The device choices: "auto" trains on CUDA when there is one (the
#: engine's own choice: the form cannot ask torch, which loads in a worker).
AUTO_DEVICE = "auto"

#: Ours changes only what held-out answers vouch for; the paper's at a fixed τ.
LCM_CHOICES = [("ours: only what the answers vouch for", "ours"),
               ("the paper's (J1-J3 at a fixed τ)", "paper")]


def _narrow(combo: QComboBox) -> None:
    """A combo box that may be as narrow as a short text (its list still
    opens as wide as its longest): the long choices set the dock's width,
    which squeezes the canvas in a small window."""
    combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(12)


def is_empty(path) -> bool:
    """A FileEdit with no path chosen."""
    return path is None or str(path) in ("", ".")


class SettingsForm(Container):
    """The session's settings; :meth:`config` reads them, :meth:`show_config`
    shows a resumed session's own, :meth:`lock` freezes them (and folds them away) once it runs."""

    def __init__(self):
        super().__init__(widgets=[
            FileEdit(name="dataset", label="Dataset", mode="d"),
            FileEdit(name="noisy_labels", label="Noisy labels", mode="d"),
            FileEdit(name="session_dir", label="Session folder", mode="d"),
            ComboBox(name="method", label="Method", choices=METHOD_CHOICES),
            SpinBox(name="budget", label="Queries per round", value=30, min=1, max=100000),
            ComboBox(name="lcm", label="LCM", choices=LCM_CHOICES),
            FloatSpinBox(name="target_precision", label="LCM target precision",
                         value=LCMConfig.target_precision, min=0.5, max=1.0, step=0.01),
            LineEdit(name="tau", label="LCM τ per round", value="0.99 0.999"),
            SpinBox(name="steps", label="Training steps", value=ModelConfig.steps, min=1,
                    max=100000),
            CheckBox(name="prune", text="Train without the doubted labels"),
            SpinBox(name="review_above", label="Ask before applying more than", value=20,
                    min=0, max=1000000),
            ComboBox(name="device", label="Device", choices=[AUTO_DEVICE, "cpu"]),
            ComboBox(name="regions", label="Regions", choices=list(REGION_SOURCES)),
            FileEdit(name="sam_checkpoint", label="SAM checkpoint", mode="r",
                     filter="*.pth"),
            ComboBox(name="sam_mode", label="SAM mode", choices=list(SAM_MODES)),
            FileEdit(name="region_files", label="Region files", mode="d"),
            CheckBox(name="background_is_ignore", text="Background is unlabelled"),
            PushButton(name="fold", text=SHOW_TEXT),
            PushButton(name="start", text=START_TEXT),
        ])
        for combo in (self.method, self.lcm, self.device, self.regions, self.sam_mode):
            _narrow(combo.native)
        self.tau.tooltip = "LCM confidence threshold per round; the last holds afterwards"
        self.target_precision.tooltip = ("the LCM picks its threshold each round so that "
                                         "this share of its changes, estimated on held-out "
                                         "answers, is right; unsure, it changes nothing")
        self.review_above.tooltip = ("LCM changes at the end of a round: above this many, "
                                     "you are asked to review them or apply them all")
        self.device.tooltip = "auto: a CUDA GPU when there is one, else the CPU"
        self.regions.tooltip = ("auto: a dataset folder's regions/ if any (not a VOC or "
                                "Cityscapes folder's: choose files), else SLIC superpixels; "
                                "sam: Segment Anything masks (needs a checkpoint); "
                                "files: masks or region maps another program wrote")
        self.noisy_labels.line_edit.native.setPlaceholderText("the dataset's own")
        self.noisy_labels.tooltip = (
            "optional: a folder of the noisy labels to correct (NAME.png); the dataset's "
            "own labels then serve as ground truth. Empty: the dataset's own labels are "
            "the ones corrected")
        self.region_files.tooltip = ("a folder of region maps or of SAM's amg.py masks "
                                     "(chosen with the button), or a COCO or amg.py RLE "
                                     "JSON file (its path typed)")
        self.background_is_ignore.tooltip = (
            "read a labelmap.txt's background as unlabelled (ignore), as CVAT and datumaro "
            "paint unannotated pixels background:0,0,0; where background names no class, "
            "it is unlabelled anyway")
        self.prune.tooltip = (
            "confident learning's prune step: the model does not train on the labels the "
            f"out-of-fold trees doubt. It pays with {PRUNE_STEPS} training steps, four times "
            "the default's training, so ticking it sets them. Measured: better on real "
            "photos, level on street scenes and MRI, worse on the sample dataset")
        self.prune.changed.connect(self._steps_for_prune)
        self.dataset.changed.connect(self._suggest_session_dir)
        for choice in (self.method, self.regions, self.lcm):
            choice.changed.connect(self._show_fields)
        self.fold.changed.connect(self._toggle_fold)
        self.locked = self.folded = False
        self._suggested: Path | None = None
        self._offered: Path | None = None  # the dataset last opened in napari
        self._show_fields()

    def _show_fields(self) -> None:
        """The settings of the chosen method, regions and LCM, unless folded away;
        the fold's button once a session runs."""
        hidden = self._unused()
        for w in self:
            if w.name not in ("fold", "start"):
                w.visible = not self.folded and w.name not in hidden
        self.fold.visible = self.locked
        self.fold.text = SHOW_TEXT if self.folded else HIDE_TEXT

    def _unused(self) -> set[str]:
        """The settings the chosen method, regions and LCM do not use."""
        regions, paper = self.regions.value, self.lcm.value == "paper"
        lcm = METHODS[self.method.value].lcm
        unused = {"sam_checkpoint": regions != "sam", "sam_mode": regions != "sam",
                  "region_files": regions != "files", "lcm": not lcm,
                  "tau": not (lcm and paper), "target_precision": not lcm or paper,
                  "review_above": not lcm, "prune": not self._ranks_with_trees()}
        return {name for name, hide in unused.items() if hide}

    def _ranks_with_trees(self) -> bool:
        """Whether the chosen method ranks with the out-of-fold trees, whose
        doubts pruning uses (the widget's sessions rank at the default confidence)."""
        return ranks_with_trees(METHODS[self.method.value], SessionConfig.confidence)

    def _steps_for_prune(self, prune: bool) -> None:
        """The training steps pruning pays with, or the default's again,
        unless the person chose others."""
        before, after = ((ModelConfig.steps, PRUNE_STEPS) if prune
                         else (PRUNE_STEPS, ModelConfig.steps))
        if self.steps.value == before and not self.locked:
            self.steps.value = after

    def _toggle_fold(self) -> None:
        self.folded = not self.folded
        self._show_fields()

    def _suggest_session_dir(self, dataset) -> None:
        """A session folder beside the dataset, which is never written to,
        unless one was chosen (not the last suggestion)."""
        if is_empty(dataset) or self.locked:
            return
        chosen = self.session_dir.value
        if is_empty(chosen) or Path(chosen) == self._suggested:
            dataset = Path(dataset)
            self._suggested = dataset.parent / f"{dataset.name}_a2lc"
            self.session_dir.value = self._suggested

    def offer_dataset(self, path: str) -> None:
        """A dataset opened in napari becomes the one to correct, unless one
        was chosen (not the last one opened), or folders were chosen for it."""
        chosen, session = self.dataset.value, self.session_dir.value
        bound = (not is_empty(self.noisy_labels.value) or not is_empty(self.region_files.value)
                 or not is_empty(session) and Path(session) != self._suggested)
        if not self.locked and (is_empty(chosen) or Path(chosen) == self._offered
                                and not bound):
            self._offered = Path(path)
            self.dataset.value = path

    def offer_session(self, dataset: Path, session_dir: Path, labels: Path | None,
                      config: SessionConfig) -> None:
        """The folders and settings of a session whose panel was closed, so
        that Start / resume opens it again as the form says; a dataset opened
        in napari later replaces the folders, as it replaces one opened
        before (unless ``labels`` or region files were chosen)."""
        self.show_config(config)
        self.dataset.value = self._offered = Path(dataset)
        self.session_dir.value = self._suggested = Path(session_dir)
        if labels is not None:
            self.noisy_labels.value = labels

    def folders(self) -> tuple[Path, Path, Path | None]:
        """The dataset, session and noisy labels' folders, the last None for
        the dataset's own (raises ValueError when the first two are not chosen)."""
        if is_empty(self.dataset.value) or is_empty(self.session_dir.value):
            raise ValueError("Choose a dataset folder and a session folder first.")
        labels = (None if is_empty(self.noisy_labels.value)
                  else Path(self.noisy_labels.value))
        return Path(self.dataset.value), Path(self.session_dir.value), labels

    def config(self) -> SessionConfig:
        """The settings as a session config (raises ValueError when invalid)."""
        try:
            tau = _taus(self.tau.value)
            if not taus_in_range(tau):
                raise ValueError
        except ValueError:
            raise ValueError("LCM τ per round must be one or more numbers between 0 and 1, "
                             f"got {self.tau.value!r}") from None
        sam, files = self.regions.value == "sam", self.regions.value == "files"
        if sam and is_empty(self.sam_checkpoint.value):
            raise ValueError("SAM regions need a SAM checkpoint file (.pth)")
        if files and is_empty(self.region_files.value):
            raise ValueError("Regions from files need the region files (a folder or a "
                             "JSON file)")
        paper = self.lcm.value == "paper"
        return SessionConfig(
            method=self.method.value, budget=self.budget.value, tau=tau,
            model=ModelConfig(steps=self.steps.value,
                              prune=self.prune.value and self._ranks_with_trees(),
                              device=None if self.device.value == AUTO_DEVICE
                              else self.device.value),
            lcm=LCMConfig(paper=paper,
                          target_precision=None if paper else self.target_precision.value),
            regions=RegionsConfig(source=self.regions.value,
                                  sam_checkpoint=str(self.sam_checkpoint.value) if sam
                                  else None, sam_mode=self.sam_mode.value,
                                  path=str(self.region_files.value) if files else None),
            background_is_ignore=self.background_is_ignore.value)

    def show_config(self, config: SessionConfig, panel: dict | None = None) -> list[str]:
        """Show ``config``, and the ``panel`` settings kept beside it
        (:meth:`panel_settings`); the settings it uses that differ from what
        the form held (a resumed session keeps its own), as "Training steps
        150 (not 20)"."""
        before = {w.name: (w.value, _shown(w)) for w in self if w.name not in ("fold", "start")}
        self.method.value = config.method
        self.budget.value = config.budget
        self.tau.value = " ".join(str(t) for t in config.tau)
        self.prune.value = config.model.prune
        self.steps.value = config.model.steps
        self.lcm.value = "paper" if config.lcm.paper else "ours"
        if config.lcm.target_precision is not None:
            self.target_precision.value = config.lcm.target_precision
        device = config.model.device or AUTO_DEVICE
        if device not in self.device.choices:  # e.g. "cuda:1", set in session.json
            self.device.choices = [*self.device.choices, device]
        self.device.value = device
        self.regions.value = config.regions.source
        if config.regions.sam_checkpoint:
            self.sam_checkpoint.value = config.regions.sam_checkpoint
        self.sam_mode.value = config.regions.sam_mode
        if config.regions.path:
            self.region_files.value = config.regions.path
        self.background_is_ignore.value = config.background_is_ignore
        self.review_above.value = (panel or {}).get("review_above", self.review_above.value)
        unused = self._unused()
        return [f"{getattr(w, 'text', None) or w.label} {_shown(w)} (not {before[w.name][1]})"
                for w in self if w.name in before and w.name not in unused
                and not _same(w.name, w.value, before[w.name][0])]

    def panel_settings(self) -> dict:
        """The settings a session keeps beside its config, which the person
        may change while it runs: the review limit."""
        return {"review_above": self.review_above.value}

    def lock(self) -> None:
        """A session runs: its settings are its own now (the review limit stays
        free), folded away so that the query has the dock's height."""
        self.locked = self.folded = True
        for w in self:
            if w.name not in ("fold", "start", "review_above"):
                w.enabled = False
        self._show_fields()


def _taus(text: str) -> tuple[float, ...]:
    """The τ per round typed in the form (raises ValueError for other text)."""
    return tuple(float(t) for t in text.replace(",", " ").split())


def _same(name: str, a, b) -> bool:
    """Whether two values of the setting ``name`` are the same (τ: as numbers)."""
    if name == "tau":
        try:
            return _taus(a) == _taus(b)
        except ValueError:
            return False
    return a == b


def _shown(widget) -> str:
    """A setting's value in the form's words: a choice's text, on or off."""
    if isinstance(widget, ComboBox):
        return widget.current_choice
    value = widget.value
    return ("on" if value else "off") if isinstance(value, bool) else str(value)
