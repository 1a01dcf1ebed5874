"""The napari plugin on a real viewer (under Xvfb): discovery through npe2,
sample data, reader and writer, and a correction round driven by keys."""
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from napari import save_layers
from napari.utils.notifications import notification_manager
from napari.utils.theme import get_theme
from npe2 import PluginManifest
from PIL import Image
from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QColor, QImage
from qtpy.QtTest import QTest
from qtpy.QtWidgets import (QApplication, QCheckBox, QDockWidget, QMessageBox, QPushButton,
                            QScrollArea)

from a2lc_napari._export import ExportDialog
from a2lc_napari._layers import (IMAGE_LAYER, LABELS_LAYER, LCM_LAYER, QUERY_LAYER,
                                 QUERY_PIXEL_LAYER, QUERY_RING, ring_around)
from a2lc_napari._query_view import label_name
from a2lc_napari._review import UPDATING
from a2lc_napari._widget import CorrectionWidget
from napari_person import actions
from a2lc_napari.engine import driver
from a2lc_napari.engine.config import ModelConfig
from a2lc_napari.engine.demo import demo_classes
from a2lc_napari.engine.export import EXPORT_FORMATS
from a2lc_napari.engine.methods import METHODS
from a2lc_napari.engine.regions import superpixel_regions
from a2lc_napari.engine.sam import SamRegions, load_sam

WIDGET = "A²LC label correction"
ARTIFACTS = Path(__file__).parent / "artifacts"
WAIT = 120_000  # ms; training and ranking in a worker


@pytest.fixture(autouse=True)
def plugin(npe2pm):
    """napari's test fixtures block plugin discovery: register ours from its
    installed distribution (its entry point and manifest)."""
    npe2pm.register(PluginManifest.from_distribution("a2lc-napari"))
    return npe2pm


def open_from_menu(viewer):
    """Plugins → A²LC label correction, through the menu's own action."""
    action = next(a for a in actions(viewer.window.plugins_menu) if a.text().startswith(WIDGET))
    action.trigger()
    (widget,) = viewer.window.dock_widgets.values()
    return widget


def button(widget, text):
    return next(b for b in widget.findChildren(QPushButton) if b.text() == text)


def start(viewer, qtbot, dataset, session_dir, budget=4, tau="0.3", **settings):
    widget = open_from_menu(viewer)
    s = widget.settings
    s.dataset.value = dataset
    s.session_dir.value = session_dir
    s.budget.value, s.steps.value = budget, 8
    if tau is not None:  # the paper's LCM at a low τ: it proposes something on a tiny demo
        s.lcm.value, s.tau.value = "paper", tau
    for name, value in settings.items():
        s[name].value = value
    with qtbot.waitSignal(widget.query_shown, timeout=WAIT):
        button(widget, "Start / resume").click()
    return widget


def wait_for_query(qtbot, widget, round_=None):
    """Until a query is shown and the changes made so far are written."""
    qtbot.waitUntil(lambda: widget.query_index is not None and not widget.busy
                    and not widget.runner.writing
                    and (round_ is None or widget.session.round == round_), timeout=WAIT)


def wait_written(qtbot, widget):
    qtbot.waitUntil(lambda: not widget.runner.writing, timeout=WAIT)


def wait_idle(qtbot, widget):
    """Let background workers end before the viewer closes under them."""
    qtbot.waitUntil(lambda: widget.runner.idle, timeout=WAIT)


def region_mask(widget, index):
    q = widget.session.queries[index]
    return widget.session.dataset.regions(q.image) == q.region


def press(widget, qtbot, key, modifier=Qt.NoModifier):
    qtbot.keyClick(widget.panel.class_list, key, modifier)


def test_npe2_finds_the_plugin_and_its_widget(make_napari_viewer, plugin):
    manifest = plugin.get_manifest("a2lc-napari")
    contributions = manifest.contributions
    assert [w.display_name for w in contributions.widgets] == [WIDGET]
    assert [s.key for s in contributions.sample_data] == ["demo"]
    assert contributions.readers and contributions.writers
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("a2lc-napari", WIDGET)
    assert isinstance(widget, CorrectionWidget)


def test_sample_data_opens_the_demo_in_class_colours(make_napari_viewer, tmp_path,
                                                     monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    viewer = make_napari_viewer()
    viewer.open_sample("a2lc-napari", "demo")
    assert (tmp_path / "a2lc-napari" / "demo" / "classes.json").exists()
    labels = viewer.layers[LABELS_LAYER]
    assert labels.data.shape == (40, 128, 160)
    classes = demo_classes()
    np.testing.assert_allclose(labels.colormap.map(np.array([3]))[0][:3],
                               np.array(classes.colors[3]) / 255, atol=1e-3)
    assert labels.metadata["a2lc_dataset"] == str(tmp_path / "a2lc-napari" / "demo")
    assert viewer.layers[IMAGE_LAYER].rgb


def test_reader_and_writer(make_napari_viewer, demo, tmp_path):
    viewer = make_napari_viewer()
    viewer.open(str(demo), plugin="a2lc-napari")
    stack = viewer.layers[LABELS_LAYER]
    assert stack.data.shape == (6, 64, 80)
    first = np.asarray(stack.data[0])
    layer = viewer.add_labels(first, name="one", metadata=dict(stack.metadata))
    out = tmp_path / "one.png"
    assert save_layers(str(out), [layer], plugin="a2lc-napari") == [str(out)]
    png = Image.open(out)
    assert png.mode == "P"
    np.testing.assert_array_equal(np.asarray(png), first)
    assert png.getpalette()[3:6] == list(demo_classes().colors[1])


def test_the_dataset_last_opened_in_napari_is_the_one_to_correct(make_napari_viewer, demo,
                                                                 tmp_path):
    viewer = make_napari_viewer()
    widget = open_from_menu(viewer)
    second = tmp_path / "second"
    shutil.copytree(demo, second)
    viewer.open(str(demo), plugin="a2lc-napari")
    assert widget.settings.dataset.value == demo
    assert widget.settings.session_dir.value == demo.parent / "demo_a2lc"
    viewer.layers.clear()
    viewer.open(str(second), plugin="a2lc-napari")  # the next folder opened: it follows
    assert widget.settings.dataset.value == second
    assert widget.settings.session_dir.value == tmp_path / "second_a2lc"
    widget.settings.noisy_labels.value = second / "labels"  # chosen for it: it stays
    viewer.open(str(demo), plugin="a2lc-napari")
    assert widget.settings.dataset.value == second
    widget.settings.dataset.value = demo  # chosen by the person: a folder opened keeps it
    viewer.open(str(second), plugin="a2lc-napari")
    assert widget.settings.dataset.value == demo


def test_a_folder_of_images_of_several_sizes_opens_its_first_and_says_so(
        make_napari_viewer, make_dataset, tmp_path):
    rng = np.random.default_rng(0)
    root = make_dataset({n: rng.integers(0, 255, (h, 8, 3), dtype=np.uint8)
                         for n, h in (("a", 6), ("b", 10))},
                        {n: np.zeros((h, 8), np.uint8) for n, h in (("a", 6), ("b", 10))})
    viewer = make_napari_viewer()
    said = []

    def record(notification):
        said.append(notification.message)
    notification_manager.notification_ready.connect(record)
    viewer.open(str(root), plugin="a2lc-napari")
    notification_manager.notification_ready.disconnect(record)
    assert viewer.layers[LABELS_LAYER].data.shape == (6, 8)
    assert (f"{root}: its 2 images are not all of one size, so only the first, a, is shown; "
            "the correction panel (Plugins menu) shows each of them") in said


def test_settings_become_the_session_config(make_napari_viewer, tmp_path):
    widget = CorrectionWidget(make_napari_viewer())
    s = widget.settings
    s.method.value, s.budget.value, s.tau.value, s.steps.value = "lcm", 12, "0.9, 0.95", 20
    config = widget.settings.config()
    assert (config.method, config.budget, config.tau, config.model.steps) == (
        "lcm", 12, (0.9, 0.95), 20)
    assert config.regions.source == "auto"
    assert not config.lcm.paper and config.lcm.target_precision == 0.9
    assert s.tau.native.isHidden()  # ours picks τ itself
    s.lcm.value, s.target_precision.value = "paper", 0.95
    assert s.target_precision.native.isHidden() and not s.tau.native.isHidden()
    assert widget.settings.config().lcm.paper
    assert widget.settings.config().lcm.target_precision is None
    for typed in ("high", "5", "0.9 -1", ""):
        s.tau.value = typed
        with pytest.raises(ValueError, match=f"τ per round must be one or more numbers "
                           f"between 0 and 1, got '{typed}'"):
            widget.settings.config()
    s.tau.value = "0.99"
    assert s.sam_checkpoint.native.isHidden()  # SAM settings only for SAM regions
    s.regions.value = "sam"
    assert not s.sam_checkpoint.native.isHidden()
    with pytest.raises(ValueError, match="checkpoint"):
        widget.settings.config()
    s.sam_checkpoint.value = tmp_path / "sam_vit_b.pth"
    assert widget.settings.config().regions.sam_checkpoint == str(tmp_path / "sam_vit_b.pth")
    assert s.region_files.native.isHidden()  # region files only for regions from files
    s.regions.value = "files"
    assert not s.region_files.native.isHidden() and s.sam_checkpoint.native.isHidden()
    with pytest.raises(ValueError, match="region files"):
        widget.settings.config()
    s.region_files.value = tmp_path / "masks"
    assert widget.settings.config().regions.path == str(tmp_path / "masks")
    assert not widget.settings.config().background_is_ignore
    s.background_is_ignore.native.click()  # as a person ticks it
    assert widget.settings.config().background_is_ignore
    s.dataset.value = tmp_path / "data"
    assert s.session_dir.value == tmp_path / "data_a2lc"
    s.dataset.value = tmp_path / "other"  # the suggestion follows the dataset...
    assert s.session_dir.value == tmp_path / "other_a2lc"
    s.session_dir.value = tmp_path / "mine"
    s.dataset.value = tmp_path / "data"  # ...but a folder the person chose stays
    assert s.session_dir.value == tmp_path / "mine"
    # A method without the LCM: none of its settings.
    lcm_settings = (s.lcm, s.tau, s.target_precision, s.review_above)
    s.method.value = "alc"
    assert all(w.native.isHidden() for w in lcm_settings)
    s.method.value = "a2lc"
    assert not s.lcm.native.isHidden() and not s.review_above.native.isHidden()


def test_the_device_is_auto_unless_chosen():
    from a2lc_napari._settings import SettingsForm

    s = SettingsForm()
    assert s.config().model.device is None  # the engine picks CUDA when there is one
    s.device.value = "cpu"
    assert s.config().model.device == "cpu"
    s.show_config(replace(s.config(), model=ModelConfig(device="cuda")))  # a CLI session
    assert s.device.value == "cuda" and s.config().model.device == "cuda"


def test_showing_a_session_s_settings_names_those_the_form_held_otherwise():
    from a2lc_napari._settings import SettingsForm

    s = SettingsForm()
    s.lcm.value, s.tau.value, s.budget.value = "paper", "0.30, 0.9", 12
    session = replace(s.config(), tau=(0.3, 0.9), budget=8)
    assert s.show_config(session) == ["Queries per round 8 (not 12)"]  # τ: the same numbers
    s.prune.value = True
    assert s.show_config(session) == ["Training steps 150 (not 600)",  # ticking set them
                                      "Train without the doubted labels off (not on)"]
    s.method.value = "alc"  # a choice in the words the form shows it in
    assert s.show_config(session) == [f"Method {METHODS['a2lc'].title} "
                                      f"(not {METHODS['alc'].title})"]


def test_sam_regions_from_the_widget(make_napari_viewer, qtbot, demo, sam_checkpoint,
                                     tmp_path):
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session", regions="sam",
                   sam_checkpoint=sam_checkpoint, sam_mode="boxes")
    session = widget.session
    assert session.config.regions.sam_mode == "boxes"
    sam = SamRegions.from_model(load_sam(sam_checkpoint), "boxes")
    ignore = session.dataset.classes.ignore_index
    for name in session.dataset.names:  # SAM's, not the demo's own regions/
        expected = sam(session.dataset.image(name), session.dataset.labels(name), ignore)
        np.testing.assert_array_equal(
            np.load(tmp_path / "session" / "regions" / f"{name}.npy"), expected)
    q = session.queries[widget.query_index]
    region = session.dataset.regions(q.image) == q.region
    ring = widget.viewer.layers[QUERY_LAYER].data > 0
    assert np.array_equal(ring, ring_around(region, QUERY_RING))  # the query's SAM region
    wait_idle(qtbot, widget)


def test_many_slic_regions_are_made_on_every_core_at_start(make_napari_viewer, qtbot, demo,
                                                          tmp_path, monkeypatch):
    # As if the 6 small images were many large ones: worker processes make them.
    monkeypatch.setattr(driver, "POOL_MIN_PIXELS", 1)
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session", regions="slic")
    dataset = widget.session.dataset
    for name in dataset.names:  # SLIC's, not the demo's own regions/, as in one process
        np.testing.assert_array_equal(
            np.load(tmp_path / "session" / "regions" / f"{name}.npy"),
            superpixel_regions(dataset.image(name), dataset.labels(name)))
    wait_idle(qtbot, widget)


def run_person(dataset, session_dir, answers, *flags):
    """tests/napari_person.py in a fresh process: napari, then the Plugins menu."""
    done = subprocess.run([sys.executable, str(Path(__file__).parent / "napari_person.py"),
                           str(dataset), str(session_dir), str(answers), *flags],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # Nor a worker ending in a process that is ending (it can abort it).
    assert not {"Traceback", "RuntimeError"} & set(done.stderr.split()), done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_plugins_menu_after_the_viewer_then_resume_in_a_new_process(demo, tmp_path):
    session_dir, data, moved = tmp_path / "session", tmp_path / "data", tmp_path / "moved"
    shutil.copytree(demo, data)
    first = run_person(data, session_dir, 4)  # round 1 (3 queries), one answer of round 2
    assert first["compiler"] == []  # torch's compiler would crash against Mesa's LLVM
    # Loading torch takes a second or more: never in napari's main thread.
    assert first["torch imported by"] and "MainThread" not in first["torch imported by"]
    # napari's and torch's objects are left out of garbage collections, whose
    # scans of them froze the canvas.
    assert first["frozen"] > 100_000
    assert all(a["focus"] and a["on screen"] for a in first["answered"])
    assert [(a["round"], a["index"]) for a in first["answered"]] == [(1, 0), (1, 1), (1, 2),
                                                                     (2, 0)]
    data.rename(moved)  # the person moved the dataset, and chooses its new place
    again = run_person(moved, session_dir, 1)  # closed mid-round 2; reopened
    assert again["first status"] == (f"Session in {session_dir}: round 2. {data} is gone: the "
                                     f"session reads those files from {moved} now.")
    (answer,) = again["answered"]
    assert (answer["round"], answer["index"], answer["focus"], answer["on screen"]) == (
        2, 1, True, True)
    state = json.loads((session_dir / "session.json").read_text())
    assert [q["answer"] for q in state["queries"]][:2] == [first["answered"][3]["class"],
                                                          answer["class"]]


def test_a_round_answered_to_its_end_resumes_at_its_end(make_napari_viewer, qtbot, demo,
                                                        tmp_path):
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session", review_above=0)
    for _ in range(len(widget.session.queries)):
        wait_for_query(qtbot, widget)
        press(widget, qtbot, Qt.Key_Return)
    qtbot.waitUntil(lambda: widget.confirm.isVisibleTo(widget), timeout=WAIT)
    wait_idle(qtbot, widget)
    with qtbot.waitSignal(widget.destroyed, timeout=WAIT):
        widget.viewer.close()  # closed at "the LCM will change N regions"
    again = start(make_napari_viewer(), qtbot, demo, tmp_path / "session")
    # The question again, not a query already answered and nothing to go on with.
    qtbot.waitUntil(lambda: again.confirm.isVisibleTo(again), timeout=WAIT)
    assert again.confirm_text.text().startswith("The LCM will change")
    button(again, "Apply them").click()
    wait_for_query(qtbot, again, round_=2)
    wait_idle(qtbot, again)


def test_a_bad_folder_is_a_plain_message_without_a_traceback(tmp_path):
    done = run_person(tmp_path / "missing", tmp_path / "session", 0)  # no traceback: checked
    assert done["status"] == f"Opening the session failed: {tmp_path / 'missing'}: is not a folder"
    assert not (tmp_path / "session").exists()


def test_napari_closed_while_the_session_works_exits_cleanly_and_resumes(demo, tmp_path):
    session_dir = tmp_path / "session"
    run_person(demo, session_dir, 0, "--close-busy")  # closed while the session opens
    first = run_person(demo, session_dir, 3, "--close-busy")  # as round 1 is to finish
    state = json.loads((session_dir / "session.json").read_text())
    # The round's end may or may not have been written before napari closed.
    if state["round"] == 1:  # not: its answers are kept, all three
        assert [q["answer"] for q in state["queries"]] == [a["class"]
                                                           for a in first["answered"]]
        run_person(demo, session_dir, 1)  # Enter on the round's answered query finishes it
        state = json.loads((session_dir / "session.json").read_text())
    assert state["round"] == 2 and [r["queries"] for r in state["history"]] == [0, 3]


def test_a_script_that_ends_with_napari_open_keeps_the_answer_and_exits_cleanly(demo,
                                                                              tmp_path):
    session_dir = tmp_path / "session"
    (answer,) = run_person(demo, session_dir, 1, "--exit-open")["answered"]
    state = json.loads((session_dir / "session.json").read_text())
    assert state["queries"][0]["answer"] == answer["class"]
    (again,) = run_person(demo, session_dir, 1)["answered"]  # the lock went with the process
    assert (again["round"], again["index"]) == (1, 1)


def test_training_without_the_doubted_labels_is_chosen_with_its_steps(make_napari_viewer, qtbot,
                                                                     demo, tmp_path):
    widget = open_from_menu(make_napari_viewer())
    s = widget.settings

    def prune_box():
        return next(b for b in widget.findChildren(QCheckBox)
                    if b.text() == "Train without the doubted labels")
    s.method.value = "alc"  # ranks without the out-of-fold trees: nothing to prune with
    assert not prune_box().isVisibleTo(widget)
    s.method.value = "a2lc"
    assert prune_box().isVisibleTo(widget)
    prune_box().click()
    assert s.steps.value == 600  # the steps it pays with
    prune_box().click()
    assert s.steps.value == 150 and not prune_box().isChecked()
    prune_box().click()
    s.steps.value = 8  # the person's own choice, kept
    s.dataset.value, s.session_dir.value, s.budget.value = demo, tmp_path / "session", 4
    with qtbot.waitSignal(widget.query_shown, timeout=WAIT):
        button(widget, "Start / resume").click()
    model = json.loads((tmp_path / "session" / "session.json").read_text())["config"]["model"]
    assert model["prune"] is True and model["steps"] == 8
    wait_idle(qtbot, widget)
    with qtbot.waitSignal(widget.destroyed, timeout=WAIT):
        widget.viewer.close()
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session")  # resumed
    assert prune_box().isChecked() and widget.settings.steps.value == 8
    wait_idle(qtbot, widget)


def test_a_new_viewer_in_the_same_process_resumes(make_napari_viewer, qtbot, demo, tmp_path):
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session")
    q = widget.session.queries[0]
    press(widget, qtbot, "2")
    # The status line says what the answer recorded (key 2: the second class).
    classes = widget.session.dataset.classes
    qtbot.waitUntil(lambda: widget.status.text().startswith(
        f"Answered query 1 of round 1: {classes.name_of(1)} "), timeout=WAIT)
    assert widget.status.text().endswith(
        "(as it was)." if q.label == 1 else f"(was {label_name(q.label, classes)}).")
    wait_idle(qtbot, widget)
    with qtbot.waitSignal(widget.destroyed, timeout=WAIT):
        widget.viewer.close()  # the session's lock goes with the window
    again = start(make_napari_viewer(), qtbot, demo, tmp_path / "session")
    assert again.session.queries[0].answer == 1
    assert again.query_index == 1
    wait_idle(qtbot, again)
    assert again.progress.maximum() > 0  # idle: no busy animation left running
    # The dock is as wide as what it shows now (the round table): nothing cut off.
    scroll = again.findChild(QScrollArea)
    qtbot.waitUntil(lambda: scroll.viewport().width()
                    >= scroll.widget().minimumSizeHint().width(), timeout=2000)


def test_noisy_labels_from_another_folder_are_the_ones_corrected(make_napari_viewer, qtbot,
                                                                 demo, tmp_path):
    # A folder's own labels as ground truth, the pseudo-labels beside it (--labels).
    noisy = tmp_path / "noisy"
    shutil.copytree(demo / "labels", noisy)
    name = sorted(p.stem for p in noisy.glob("*.png"))[0]
    pseudo = np.array(Image.open(noisy / f"{name}.png"))
    pseudo[:8] = 1  # not the dataset's own labels
    Image.fromarray(pseudo).save(noisy / f"{name}.png")
    session_dir = tmp_path / "session"
    viewer = make_napari_viewer()
    widget = start(viewer, qtbot, demo, session_dir, noisy_labels=noisy)
    held = np.array(Image.open(session_dir / "labels" / f"{name}.png"))
    np.testing.assert_array_equal(held, pseudo)  # the noisy folder's, not the dataset's
    wait_idle(qtbot, widget)
    with qtbot.waitSignal(widget.destroyed, timeout=WAIT):
        viewer.close()
    # Resumed without them: refused, naming both, not silently another session.
    widget = open_from_menu(make_napari_viewer())
    widget.settings.dataset.value, widget.settings.session_dir.value = demo, session_dir
    with qtbot.waitSignal(widget.runner.failed, timeout=WAIT) as failed:
        button(widget, "Start / resume").click()
    assert (f"holds a session on {demo} with the labels of {noisy}, not on {demo} with its "
            "own labels") in failed.args[0]
    widget.settings.noisy_labels.value = noisy
    with qtbot.waitSignal(widget.query_shown, timeout=WAIT):
        button(widget, "Start / resume").click()
    wait_idle(qtbot, widget)


def test_a_tau_out_of_range_is_refused_beside_the_start_button(make_napari_viewer, qtbot,
                                                                demo, tmp_path):
    """Found in a walk-through: τ 5 showed only a toast, which the dock may cover."""
    widget = open_from_menu(make_napari_viewer())
    s = widget.settings
    s.dataset.value, s.session_dir.value = demo, tmp_path / "run"
    s.lcm.value = "paper"
    field = s.tau.native
    field.selectAll()
    qtbot.keyClicks(field, "5")  # typed over the default
    button(widget, "Start / resume").click()
    assert widget.status.text() == ("Nothing started: LCM τ per round must be one or more "
                                    "numbers between 0 and 1, got '5'")
    assert not (tmp_path / "run").exists() and widget.session is None


def test_a_session_folder_whose_parent_is_missing_is_made_only_once_the_person_says_so(
        make_napari_viewer, qtbot, demo, tmp_path):
    widget = open_from_menu(make_napari_viewer())
    s = widget.settings
    typo = tmp_path / "sesions" / "run"  # a mistyped parent
    s.dataset.value, s.session_dir.value = demo, typo
    s.budget.value, s.steps.value = 4, 8
    asked = []

    def answer(reply):
        def act(box):
            asked.append(box.text())
            box.button(reply).click()
        return act
    when_modal(QMessageBox, answer(QMessageBox.No))
    button(widget, "Start / resume").click()
    qtbot.waitUntil(lambda: bool(asked), timeout=WAIT)
    assert asked[0] == (f"{typo} does not exist, nor does the folder it would be made in, "
                        f"{typo.parent}. Create them and start the session there?")
    assert not typo.parent.exists() and widget.session is None
    assert widget.status.text() == "Nothing started: choose the session folder."
    when_modal(QMessageBox, answer(QMessageBox.Yes))
    with qtbot.waitSignal(widget.query_shown, timeout=WAIT):
        button(widget, "Start / resume").click()
    assert (typo / "session.json").exists() and len(asked) == 2
    wait_idle(qtbot, widget)


def test_an_image_left_out_for_want_of_a_noisy_label_is_said_so(make_napari_viewer, qtbot,
                                                                make_voc, demo, tmp_path):
    # A VOC folder takes the images with a label; those whose noisy label is
    # missing are left out, and the panel says which, as the command line does.
    names = sorted(p.stem for p in (demo / "images").glob("*.png"))[:4]
    images = {n: np.array(Image.open(demo / "images" / f"{n}.png")) for n in names}
    root = make_voc(images, {n: np.array(Image.open(demo / "gt" / f"{n}.png"))
                             for n in names})  # the demo's 12 classes are VOC ids too
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    for n in names[:3]:
        shutil.copy(root / "SegmentationClass" / f"{n}.png", noisy / f"{n}.png")
    widget = start(make_napari_viewer(), qtbot, root, tmp_path / "session",
                   noisy_labels=noisy)
    assert widget.session.dataset.names == names[:3]
    assert (f"1 image with labels in {root} has no pseudo-label in {noisy} and is left out "
            f"({names[3]}).") in widget.status.text()
    wait_idle(qtbot, widget)


def test_a_viewer_closed_by_a_script_while_training_lets_a_new_one_resume(make_napari_viewer,
                                                                        qtbot, demo, tmp_path):
    # viewer.close(), as a script or napari's console closes it: napari deletes
    # the panel while the worker still reports; its last signals must reach
    # nothing deleted (an exception in a slot fails the test, or aborts napari).
    viewer = make_napari_viewer()
    widget = open_from_menu(viewer)
    s = widget.settings
    s.dataset.value, s.session_dir.value = demo, tmp_path / "session"
    s.budget.value, s.steps.value = 4, 400
    with qtbot.waitSignal(widget.runner.progress, timeout=WAIT,
                          check_params_cb=lambda what, done, total:
                          what.startswith("Training") and done >= 2):
        button(widget, "Start / resume").click()
    with qtbot.waitSignal(widget.destroyed, timeout=WAIT):
        viewer.close()
    qtbot.wait(3000)  # the stopped worker's last signals arrive
    widget = open_from_menu(make_napari_viewer())
    widget.settings.dataset.value = demo
    widget.settings.session_dir.value = tmp_path / "session"
    widget.settings.steps.value = 8
    with qtbot.waitSignal(widget.runner.progress, timeout=WAIT,
                          check_params_cb=lambda what, done, total:
                          what.startswith("Training") and done >= 1):
        button(widget, "Start / resume").click()  # the folder is free: resumed
    # Why it trains 400 steps, not 8, stays in sight while it does.
    assert widget.status.text().startswith(
        f"Session in {tmp_path / 'session'}: round 1. It keeps its own settings, not the "
        f"form's: Queries per round 4 (not 30); Training steps 400 (not 8). — Training model… ")
    widget.runner.cancel()
    wait_idle(qtbot, widget)


def test_a2lc_demo_opens_and_quits_cleanly(tmp_path):
    done = subprocess.run([sys.executable, "-m", "a2lc_napari.cli", "demo",
                           str(tmp_path / "demo"), "--images", "2"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "A2LC_QUIT_AFTER_MS": "3000"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "demo" / "classes.json").exists()


def test_a2lc_demo_and_the_menu_give_one_dock(qtbot, tmp_path, monkeypatch):
    import napari

    from a2lc_napari.cli import main

    monkeypatch.setattr(napari, "run", lambda: None)
    assert main(["demo", str(tmp_path / "demo"), "--images", "2"]) == 0
    viewer = napari.current_viewer()
    try:
        widget = open_from_menu(viewer)  # the same dock, not a second one
        assert list(viewer.window.dock_widgets) == [f"{WIDGET} (a2lc-napari)"]
        assert widget.settings.dataset.value == tmp_path / "demo"
        assert not widget.summary.isVisibleTo(widget)  # no empty chart before Start
    finally:
        viewer.close()


def test_alc_marks_the_query_pixel_and_has_no_lcm_layers(make_napari_viewer, qtbot, demo,
                                                        tmp_path):
    viewer = make_napari_viewer()
    widget = start(viewer, qtbot, demo, tmp_path / "session", tau=None, method="alc")
    for _ in range(2):  # the cross follows the query
        q = widget.session.queries[widget.query_index]
        cross = viewer.layers[QUERY_PIXEL_LAYER]
        assert cross.visible and cross.data.tolist() == [list(q.pixel)]
        press(widget, qtbot, Qt.Key_Return)
        wait_for_query(qtbot, widget)
    assert LCM_LAYER not in viewer.layers and not widget.review.isVisibleTo(widget)
    assert "corrected" in widget.summary.table.text()
    assert "LCM" not in widget.summary.table.text()  # no column the method cannot fill
    wait_idle(qtbot, widget)


def test_the_checks_of_the_lcm_are_asked_after_the_round_s_answers(make_napari_viewer, qtbot,
                                                                  demo, tmp_path):
    """Our LCM: 2 of a budget of 4 are asked once the first 2 are answered (a
    sample of what it would change, or the next ranked regions); the panel
    counts all 4 from the start, and the round ends after the last."""
    viewer = make_napari_viewer(show=True)
    widget = start(viewer, qtbot, demo, tmp_path / "session", budget=4, tau=None)
    session = widget.session
    assert len(session.queries) == 2
    # → past the last query chosen so far comes round to the first: the
    # question says why it does not reach 3 (found in a walk-through).
    for k in (1, 0):
        qtbot.waitUntil(lambda: not widget.busy, timeout=WAIT)
        press(widget, qtbot, Qt.Key_Right)
        qtbot.waitUntil(lambda k=k: widget.query_index == k, timeout=WAIT)
    assert widget.panel.question.text().startswith(
        "Round 1 · Query 1 / 4 (queries 3–4 come once these are answered): ")
    for k in range(4):
        qtbot.waitUntil(lambda k=k: f"Round 1 · Query {k + 1} / 4" in widget.panel.question.text()
                        and widget.query_index == k and not widget.busy, timeout=WAIT)
        if k == 2:
            ARTIFACTS.mkdir(exist_ok=True)
            Image.fromarray(viewer.screenshot(canvas_only=False, flash=False)).save(
                ARTIFACTS / "checks.png")
        press(widget, qtbot, Qt.Key_Return)
    wait_for_query(qtbot, widget, round_=2)
    queries = session.round_log(1)["queries"]
    assert len(queries) == 4 and all(q["answer"] is not None for q in queries)
    assert len({(q["image"], q["region"]) for q in queries}) == 4
    wait_idle(qtbot, widget)


def test_finish_round_before_its_checks_changes_nothing_and_says_why(make_napari_viewer,
                                                                    qtbot, demo, tmp_path):
    """Our LCM, round 1 finished after 2 of its queries, before its checks
    are asked: no check ever tried its proposals, so it changes nothing, and
    the review says why."""
    widget = start(make_napari_viewer(show=True), qtbot, demo, tmp_path / "session",
                   budget=8, tau=None)
    session = widget.session
    for _ in range(2):
        press(widget, qtbot, Qt.Key_Return)
        wait_for_query(qtbot, widget)
    when_modal(QMessageBox, lambda box: box.button(QMessageBox.Yes).click())  # "finish now?"
    button(widget, "Finish round").click()
    wait_for_query(qtbot, widget, round_=2)
    log = session.round_log(1)
    assert sum(q["answer"] is not None for q in log["queries"]) == 2
    assert log["lcm_updates"] == []
    qtbot.waitUntil(lambda: widget.proposal is not None and not widget.runner.lcm_busy,
                    timeout=WAIT)
    assert "None of its proposals has been checked yet" in widget.review.summary.text()
    ARTIFACTS.mkdir(exist_ok=True)
    qtbot.wait(300)  # the layout takes the new text
    widget.review.grab().save(str(ARTIFACTS / "finish_before_checks.png"))  # what it says
    wait_idle(qtbot, widget)


def test_finish_round_with_queries_unanswered_asks_first(make_napari_viewer, qtbot, demo,
                                                         tmp_path):
    """A finished round cannot be undone: "Finish round" with queries left
    asks first, and No leaves the round as it was, the keys with its query."""
    widget = start(make_napari_viewer(show=True), qtbot, demo, tmp_path / "session",
                   budget=4, tau=None)
    session = widget.session
    press(widget, qtbot, Qt.Key_Return)
    wait_for_query(qtbot, widget)
    asked = []

    def answer(box, reply):
        asked.append(box.text())
        box.button(reply).click()

    when_modal(QMessageBox, lambda box: answer(box, QMessageBox.No))
    qtbot.mouseClick(button(widget, "Finish round"), Qt.LeftButton)  # the button takes the keys
    qtbot.waitUntil(lambda: len(asked) == 1, timeout=WAIT)
    assert asked[0].startswith("3 of round 1's 4 queries are not answered yet.")
    assert session.round == 1 and session.phase == "query" and widget.query_index is not None
    # Found in a walk-through: the keys stayed on Finish round, the arrows moved between buttons.
    qtbot.waitUntil(lambda: widget.window().focusWidget() is widget.panel.class_list,
                    timeout=WAIT)
    qtbot.keyClick(widget.window().focusWidget(), Qt.Key_Return)
    qtbot.waitUntil(lambda: session.queries[1].answer is not None, timeout=WAIT)
    wait_for_query(qtbot, widget)
    when_modal(QMessageBox, lambda box: answer(box, QMessageBox.Yes))
    button(widget, "Finish round").click()
    wait_for_query(qtbot, widget, round_=2)
    assert sum(q["answer"] is not None for q in session.round_log(1)["queries"]) == 2
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier)  # round 1 is final, and says so
    qtbot.waitUntil(lambda: widget.status.text() == "Nothing to undo in round 2: the rounds "
                    "finished (up to round 1) are final.", timeout=WAIT)
    wait_idle(qtbot, widget)


def test_finish_round_early_then_apply_them_finishes_it(make_napari_viewer, qtbot, demo,
                                                        tmp_path):
    """"Finish round" with a query left, Yes, then "Apply them" for the LCM's
    changes: the round ends with that query unanswered, as asked."""
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session", budget=4,
                   tau="0.2", review_above=0)
    session = widget.session
    for _ in range(len(session.queries) - 1):
        press(widget, qtbot, Qt.Key_Return)
        wait_for_query(qtbot, widget)
    qtbot.waitUntil(lambda: not widget.runner.lcm_busy, timeout=WAIT)
    assert widget.proposal is not None and widget.proposal.updates
    when_modal(QMessageBox, lambda box: box.button(QMessageBox.Yes).click())
    button(widget, "Finish round").click()
    qtbot.waitUntil(lambda: widget.confirm.isVisibleTo(widget), timeout=WAIT)
    button(widget, "Apply them").click()
    wait_for_query(qtbot, widget, round_=2)
    assert sum(q["answer"] is None for q in session.round_log(1)["queries"]) == 1
    wait_idle(qtbot, widget)


def test_answers_given_while_apply_them_is_asked_update_its_count(make_napari_viewer, qtbot,
                                                                  demo, tmp_path):
    """"Finish round" early, and while "Apply them" is asked the person
    answers one more query: the question says the new count, and the round
    applies what it says."""
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session", budget=5,
                   tau="0.2", review_above=0)
    session = widget.session
    for _ in range(2):
        press(widget, qtbot, Qt.Key_Return)
        wait_for_query(qtbot, widget)
    qtbot.waitUntil(lambda: not widget.runner.lcm_busy, timeout=WAIT)
    assert widget.proposal.updates
    when_modal(QMessageBox, lambda box: box.button(QMessageBox.Yes).click())
    button(widget, "Finish round").click()
    qtbot.waitUntil(lambda: widget.confirm.isVisibleTo(widget), timeout=WAIT)
    asked = widget.confirm_text.text()
    wait_for_query(qtbot, widget)
    press(widget, qtbot, Qt.Key_Return)  # one more answer: the LCM proposes anew
    qtbot.waitUntil(lambda: sum(q.answer is not None for q in session.queries) == 3
                    and not widget.runner.lcm_busy and not widget.runner.writing,
                    timeout=WAIT)
    count = len(widget.proposal.updates)
    assert widget.confirm_text.text().startswith(f"The LCM will change {count} region")
    assert widget.confirm_text.text() != asked  # the answer changed what it proposes
    button(widget, "Apply them").click()
    wait_for_query(qtbot, widget, round_=2)
    assert len(session.round_log(1)["lcm_updates"]) == count
    wait_idle(qtbot, widget)


def test_an_answer_undone_as_the_round_ends_keeps_the_round_open(make_napari_viewer,
                                                                qtbot, demo, tmp_path):
    """Ctrl+Z pressed while the round's end waits for the LCM to count its
    changes: the answer taken back is asked again, and the round ends only
    once it is answered."""
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session", budget=3,
                   review_above=100_000)
    session = widget.session
    for _ in range(len(session.queries) - 1):
        press(widget, qtbot, Qt.Key_Return)
        wait_for_query(qtbot, widget)
    last = widget.query_index
    press(widget, qtbot, Qt.Key_Return)
    qtbot.waitUntil(lambda: widget.query_index is None, timeout=WAIT)  # counting
    assert widget.runner.lcm_busy
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier)
    qtbot.waitUntil(lambda: widget.runner.idle, timeout=WAIT)
    assert session.round == 1 and session.queries[last].answer is None
    assert widget.query_index == last
    press(widget, qtbot, Qt.Key_Return)
    wait_for_query(qtbot, widget, round_=2)
    assert all(q["answer"] is not None for q in session.round_log(1)["queries"])
    wait_idle(qtbot, widget)


def test_the_same_answer_again_is_no_second_step_to_undo(make_napari_viewer, qtbot, demo,
                                                         tmp_path):
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session", budget=3)
    session, first = widget.session, widget.query_index
    press(widget, qtbot, "2")
    wait_for_query(qtbot, widget)
    press(widget, qtbot, Qt.Key_Left)  # back to the answered query
    qtbot.waitUntil(lambda: widget.query_index == first, timeout=WAIT)
    answer = session.queries[first].answer
    press(widget, qtbot, "2")  # the same answer again: the next query, nothing recorded
    qtbot.waitUntil(lambda: widget.query_index != first, timeout=WAIT)
    wait_idle(qtbot, widget)
    assert session.queries[first].answer == answer
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier)
    qtbot.waitUntil(lambda: widget.runner.idle and session.queries[first].answer is None,
                    timeout=WAIT)  # one Ctrl+Z took the answer back
    wait_idle(qtbot, widget)


def test_answers_quicker_than_the_lcm_are_counted_before_it_applies(make_napari_viewer,
                                                                   qtbot, demo, tmp_path):
    """The round's answers given before the LCM re-runs (it waits for a
    pause): the round's end counts what it proposes from all of them, and
    asks before applying more than the limit (here 0)."""
    widget = start(make_napari_viewer(show=True), qtbot, demo, tmp_path / "session",
                   budget=6, tau="0.2", review_above=0)
    session = widget.session
    for _ in range(len(session.queries)):
        qtbot.waitUntil(lambda: widget.query_index is not None and not widget.busy,
                        timeout=WAIT)
        press(widget, qtbot, Qt.Key_Return)
    qtbot.waitUntil(lambda: widget.confirm.isVisibleTo(widget) or session.round == 2,
                    timeout=WAIT)
    assert widget.confirm.isVisibleTo(widget) and session.round == 1
    count = len(widget.proposal.updates)
    assert count > 0
    assert widget.confirm_text.text().startswith(f"The LCM will change {count} region")
    button(widget, "Apply them").click()
    wait_for_query(qtbot, widget, round_=2)
    assert len(session.round_log(1)["lcm_updates"]) == count
    wait_idle(qtbot, widget)


def test_the_review_says_when_its_proposals_are_older_than_the_answers(make_napari_viewer,
                                                                      qtbot, demo, tmp_path):
    """Found in a walk-through: answers a second apart kept the review on the
    proposal of the round's first answer (each re-run of the LCM, made stale
    by the next answer, is dropped), with nothing to say so."""
    widget = start(make_napari_viewer(show=True), qtbot, demo, tmp_path / "session",
                   budget=6, tau="0.2", review_above=1000)
    summary = widget.review.summary
    for _ in range(2):  # the paper's LCM learns from the round's answers
        press(widget, qtbot, Qt.Key_Return)
        wait_for_query(qtbot, widget)
    qtbot.waitUntil(lambda: widget.proposal is not None and not widget.runner.lcm_busy
                    and widget.review.table.rowCount() > 0, timeout=WAIT)
    assert UPDATING not in summary.text()
    before = widget.proposal
    press(widget, qtbot, Qt.Key_Return)
    qtbot.waitUntil(lambda: UPDATING in summary.text(), timeout=5000)
    assert widget.proposal is before  # the table still shows it
    qtbot.waitUntil(lambda: widget.proposal is not before and not widget.runner.lcm_busy,
                    timeout=WAIT)
    assert UPDATING not in summary.text()
    assert f"{len(widget.proposal.updates)} proposed" in summary.text()
    wait_idle(qtbot, widget)


def test_undo_and_redo_across_images_by_keys(make_napari_viewer, qtbot, demo, tmp_path,
                                            recwarn):
    viewer = make_napari_viewer()
    widget = start(viewer, qtbot, demo, tmp_path / "session", budget=6)
    session = widget.session
    classes = session.dataset.classes
    first = session.queries[0]
    before = session.labels(first.image)
    other = (first.label + 1) % classes.num_classes
    press(widget, qtbot, str((other + 1) % 10))  # number key: another class
    wait_for_query(qtbot, widget)
    assert (session.labels(first.image)[region_mask(widget, 0)] == other).all()
    while session.queries[widget.query_index].image == first.image:
        press(widget, qtbot, Qt.Key_Right)  # skip to a query on another image
        wait_for_query(qtbot, widget)
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier)  # undo there
    wait_for_query(qtbot, widget)
    assert session.queries[0].answer is None
    assert (widget.query_index, widget.image_name) == (0, first.image)
    np.testing.assert_array_equal(session.labels(first.image), before)
    np.testing.assert_array_equal(viewer.layers[LABELS_LAYER].data, before)
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)  # redo
    wait_for_query(qtbot, widget)
    assert session.queries[0].answer == other
    assert (viewer.layers[LABELS_LAYER].data[region_mask(widget, 0)] == other).all()
    canvas = viewer.window._qt_viewer.canvas.native  # napari's own Ctrl+Z on the canvas
    qtbot.keyClick(canvas, Qt.Key_Z, Qt.ControlModifier)
    wait_written(qtbot, widget)
    assert session.queries[0].answer is None
    # ... whichever of the widget's layers is selected: it takes back the
    # session's change, never napari's history of a mark.
    qtbot.keyClick(canvas, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    wait_written(qtbot, widget)
    assert session.queries[0].answer == other
    mark = viewer.layers[QUERY_LAYER]
    drawn = mark.data.copy()
    viewer.layers.selection.active = mark
    qtbot.keyClick(canvas, Qt.Key_Z, Qt.ControlModifier)
    wait_written(qtbot, widget)
    assert session.queries[0].answer is None
    wait_idle(qtbot, widget)
    if widget.image_name == first.image and widget.query_index == 0:
        np.testing.assert_array_equal(mark.data, drawn)
    # No private napari attribute reached through napari's plugin proxies
    # (napari warns of each, and will refuse them).
    assert not [w for w in recwarn if "Private attribute" in str(w.message)]


def test_paint_strokes_are_saved_and_undone(make_napari_viewer, qtbot, demo, tmp_path):
    viewer = make_napari_viewer()
    widget = start(viewer, qtbot, demo, tmp_path / "session")
    session, layer, name = widget.session, viewer.layers[LABELS_LAYER], widget.image_name
    before = session.labels(name)
    layer.brush_size = 3
    layer.paint((10, 10), 7)  # what a brush click does
    painted = layer.data != before
    assert painted.any()
    qtbot.waitUntil(lambda: (session.labels(name) == layer.data).all(), timeout=WAIT)
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier)
    wait_written(qtbot, widget)
    np.testing.assert_array_equal(session.labels(name), before)
    np.testing.assert_array_equal(layer.data, before)
    wait_idle(qtbot, widget)


def close_dock(widget):
    """The × on the panel's dock title bar, as a person closes it."""
    dock = widget
    while not isinstance(dock, QDockWidget):
        dock = dock.parent()
    next(b for b in dock.findChildren(QPushButton) if b.toolTip() == "close this panel").click()


def files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_closing_the_panel_ends_its_session(make_napari_viewer, qtbot, demo, tmp_path):
    """The dock's × closes the session: its layers leave the viewer, and a
    new panel from the Plugins menu can open the same folder, or another
    one whose strokes reach only that one."""
    viewer = make_napari_viewer(show=True)
    first = tmp_path / "first"
    widget = open_from_menu(viewer)  # closed while its layers are being added
    widget.settings.dataset.value, widget.settings.session_dir.value = demo, first
    widget.settings.steps.value = 8  # the session's own, kept when it resumes
    button(widget, "Start / resume").click()
    assert widget.panel.question.text().startswith("Opening the session")  # not "press Start"
    qtbot.waitUntil(lambda: widget.panel.question.text().startswith("Adding the images")
                    and IMAGE_LAYER in viewer.layers and QUERY_LAYER not in viewer.layers,
                    timeout=WAIT)
    close_dock(widget)
    qtbot.wait(2000)  # what was still to be added, added no more
    assert not [layer.name for layer in viewer.layers]
    widget = start(viewer, qtbot, demo, first)
    press(widget, qtbot, Qt.Key_Return)
    wait_for_query(qtbot, widget)
    wait_idle(qtbot, widget)
    # The review limit may change while the session runs; it is the session's.
    widget.settings.review_above.native.setValue(7)  # as typed in the form
    assert json.loads((first / "panel.json").read_text()) == {"review_above": 7}
    other = tmp_path / "other"
    shutil.copytree(demo, other)
    viewer.open(str(other), plugin="a2lc-napari")  # another dataset, opened over it to look
    close_dock(widget)
    assert LABELS_LAYER not in viewer.layers and QUERY_LAYER not in viewer.layers
    # The folder is free again: a new panel offers it, not the dataset opened
    # over it, and resumes it with its own settings, whatever the form said.
    widget = open_from_menu(viewer)
    s = widget.settings
    assert (Path(s.dataset.value), Path(s.session_dir.value)) == (Path(demo), first)
    assert s.steps.value == 8  # its settings too
    s.budget.value, s.lcm.value = 6, "paper"
    with qtbot.waitSignal(widget.query_shown, timeout=WAIT):
        button(widget, "Start / resume").click()
    assert widget.session.round == 1 and widget.session.queries[0].answer is not None
    assert ("It keeps its own settings, not the form's: Queries per round 30 (not 6); LCM "
            "ours: only what the answers vouch for (not the paper's (J1-J3 at a fixed "
            "τ)); Ask before applying more than 7 (not 20).") in widget.status.text()
    assert widget.settings.budget.value == 30 and widget.settings.review_above.value == 7
    wait_idle(qtbot, widget)
    close_dock(widget)
    on_disk = files(first)
    widget = start(viewer, qtbot, demo, tmp_path / "second")
    session, layer, name = widget.session, viewer.layers[LABELS_LAYER], widget.image_name
    layer.brush_size = 3
    layer.paint((10, 10), 7)
    qtbot.waitUntil(lambda: (session.labels(name) == layer.data).all(), timeout=WAIT)
    wait_idle(qtbot, widget)
    assert files(first) == on_disk


def at_the_last_query(viewer, qtbot, dataset, session_dir):
    """The widget with a session of 3 queries a round, the paper's LCM at
    τ = 0.2 applied without asking, every query but the last answered by
    Enter."""
    widget = start(viewer, qtbot, dataset, session_dir, budget=3, tau="0.2",
                   review_above=1000)
    for _ in range(len(widget.session.queries) - 1):
        press(widget, qtbot, Qt.Key_Return)
        wait_for_query(qtbot, widget)
    return widget


def test_a_stroke_made_while_the_round_finishes_survives(make_napari_viewer, qtbot, demo,
                                                         tmp_path):
    viewer = make_napari_viewer()
    widget = at_the_last_query(viewer, qtbot, demo, tmp_path / "session")
    session = widget.session
    qtbot.waitUntil(lambda: not widget.runner.lcm_busy, timeout=WAIT)
    name = widget.image_name
    changes = [c for c in widget.proposal.updates if c.image == name]
    assert changes, "the LCM proposes a change on the image shown"
    region = changes[0].region  # a region the LCM is about to change
    mask = widget.presenter.regions == region
    press(widget, qtbot, Qt.Key_Return)  # the last answer: the round is being finished
    qtbot.waitUntil(lambda: widget.busy, timeout=WAIT)
    layer = viewer.layers[LABELS_LAYER]
    stroke = (layer.data[mask][0] + 1) % session.dataset.classes.num_classes
    layer.data_setitem(np.nonzero(mask), stroke)  # what a brush stroke does
    wait_for_query(qtbot, widget, round_=2)
    assert (session.labels(name)[mask] == stroke).all()
    assert session.is_manual(name, region)
    # The stroke was painted on the labels from before the round's changes:
    # it took back none of the others on that image, nor made their regions manual.
    others = [c for c in session.lcm_applied if c.image == name and c.region != region]
    assert others, "the LCM changed other regions of the image painted"
    labels, regions = session.labels(name), session.dataset.regions(name)
    for c in others:
        assert (labels[regions == c.region] == c.new).all(), c
        assert not session.is_manual(name, c.region)
    widget.show_image(name)
    qtbot.waitUntil(lambda: widget.image_name == name, timeout=WAIT)
    assert (viewer.layers[LABELS_LAYER].data[mask] == stroke).all()
    wait_idle(qtbot, widget)


def while_round_2_trains(viewer, qtbot, dataset, session_dir, rows=1):
    """The widget of :func:`at_the_last_query` once its last answer ended
    round 1 and round 2's model trains, the review holding ``rows`` or more
    LCM changes applied at round 1's end."""
    widget = at_the_last_query(viewer, qtbot, dataset, session_dir)
    session = widget.session
    press(widget, qtbot, Qt.Key_Return)  # the last answer: round 1 ends, round 2 trains
    qtbot.waitUntil(lambda: widget.busy and session.phase == "train"
                    and widget.review.table.rowCount() >= rows, timeout=WAIT)
    return widget


def test_an_applied_change_rejected_while_the_next_model_trains(make_napari_viewer, qtbot,
                                                                demo, tmp_path):
    viewer = make_napari_viewer(show=True)
    widget = while_round_2_trains(viewer, qtbot, demo, tmp_path / "session")
    session = widget.session
    table = widget.review.table
    table.setFocus()
    table.setCurrentCell(0, 0)
    change = widget.review.current()
    assert change in session.lcm_applied  # applied at the end of round 1
    assert widget.busy  # the model of round 2 still trains
    qtbot.keyClick(table, Qt.Key_R)  # reject it meanwhile
    widget.findChild(QScrollArea).ensureWidgetVisible(table)
    ARTIFACTS.mkdir(exist_ok=True)
    Image.fromarray(viewer.screenshot(canvas_only=False, flash=False)).save(
        ARTIFACTS / "review_while_training.png")
    wait_for_query(qtbot, widget, round_=2)
    mask = session.dataset.regions(change.image) == change.region
    # The region has its pseudo-labels back (no answer or stroke touched it),
    # and the LCM neither keeps nor proposes the change again this round.
    np.testing.assert_array_equal(session.labels(change.image)[mask],
                                  session.dataset.labels(change.image)[mask])
    assert change.key not in [u.key for u in session.lcm_applied]
    qtbot.waitUntil(lambda: not widget.runner.lcm_busy and widget.proposal is not None,
                    timeout=WAIT)
    assert change.key not in [u.key for u in widget.proposal.updates]
    wait_idle(qtbot, widget)


def assert_centred_on(viewer, qtbot, widget, change):
    """The viewer shows ``change``'s image (once loaded, when another),
    centred on its region, zoomed in."""
    qtbot.waitUntil(lambda: widget.image_name == change.image and widget.runner.idle,
                    timeout=WAIT)
    rows, cols = np.nonzero(widget.session.dataset.regions(change.image) == change.region)
    centre = viewer.scene.camera.center[-2:]
    assert rows.min() <= centre[0] <= rows.max() and cols.min() <= centre[1] <= cols.max()
    zoom = viewer.scene.camera.zoom
    viewer.reset_view()
    assert zoom >= viewer.scene.camera.zoom
    widget.show_change(change)


def test_review_the_lcm_then_finish_the_round(make_napari_viewer, qtbot, demo, tmp_path):
    viewer = make_napari_viewer(show=True)
    widget = start(viewer, qtbot, demo, tmp_path / "session", budget=8, tau="0.2",
                   review_above=0)
    session = widget.session
    for _ in range(len(session.queries) - 1):
        q = session.queries[widget.query_index]
        press(widget, qtbot, str((session.simulated_answer(q)[0] + 1) % 10))
        wait_for_query(qtbot, widget)
    qtbot.waitUntil(lambda: not widget.runner.lcm_busy and widget.review.table.rowCount() > 0,
                    timeout=WAIT)
    table = widget.review.table
    table.setFocus()
    table.setCurrentCell(0, 0)  # the viewer follows the list
    assert table.rowCount() > 2, "the LCM proposes changes to walk, reject and accept"
    qtbot.keyClick(table, Qt.Key_Down)  # the arrow keys walk the changes
    assert table.currentRow() == 1
    assert_centred_on(viewer, qtbot, widget, widget.review.current())
    qtbot.keyClick(table, Qt.Key_Up)
    change = widget.review.current()
    qtbot.waitUntil(lambda: widget.image_name == change.image, timeout=WAIT)
    viewer.reset_view()  # looked elsewhere; Enter goes back to the change
    qtbot.keyClick(table, Qt.Key_Return)
    assert_centred_on(viewer, qtbot, widget, change)
    changed = viewer.layers[LCM_LAYER].data != session.dataset.classes.ignore_index
    assert changed.any() and not changed.all()  # outlined, unlike the labels
    ARTIFACTS.mkdir(exist_ok=True)
    Image.fromarray(viewer.screenshot(canvas_only=False, flash=False)).save(
        ARTIFACTS / "review.png")
    labels_before = session.labels(change.image)
    button(widget, "Reject").click()
    wait_written(qtbot, widget)
    assert change.key in session.state.lcm_rejected
    np.testing.assert_array_equal(session.labels(change.image), labels_before)
    assert widget.review.current() != change  # the next row
    viewer.reset_view()  # looked elsewhere; Undo shows the change it takes back...
    button(widget, "Undo").click()
    assert_centred_on(viewer, qtbot, widget, change)
    assert change.key not in session.state.lcm_rejected
    assert widget.review.current() == change  # ...as the current row: A and R act on it
    qtbot.waitUntil(lambda: not widget.runner.lcm_busy, timeout=WAIT)
    assert widget.review.current() == change  # the LCM's new proposal keeps it
    button(widget, "Redo").click()  # ...and Redo rejects it again
    wait_written(qtbot, widget)
    assert change.key in session.state.lcm_rejected
    qtbot.waitUntil(lambda: not widget.runner.lcm_busy, timeout=WAIT)
    assert change not in widget.review.changes  # never proposed again this round
    table.setCurrentCell(0, 0)
    pair = widget.review.current()
    accepted = [c for c in widget.review.changes if (c.old, c.new) == (pair.old, pair.new)]
    button(widget, "Accept this pair").click()
    wait_written(qtbot, widget)
    for c in accepted:
        mask = session.dataset.regions(c.image) == c.region
        assert (session.labels(c.image)[mask] == c.new).all()
        assert session.is_manual(c.image, c.region)
    # A click on the question brings the query back (the review moved the view).
    qtbot.mouseClick(widget.panel.question, Qt.LeftButton)
    qtbot.waitUntil(widget.query_on_screen, timeout=WAIT)
    press(widget, qtbot, Qt.Key_Return)  # the last answer: the round ends...
    # ...once the LCM has counted it, after saying how many
    qtbot.waitUntil(lambda: widget.confirm.isVisibleTo(widget), timeout=WAIT)
    assert widget.proposal.updates, "the LCM still proposes changes"
    assert widget.confirm_text.text().startswith(
        f"The LCM will change {len(widget.proposal.updates)} region")
    assert "region" in widget.confirm_text.text()
    assert "vouch" in widget.confirm_text.text()  # ...and how many the answers vouch for
    unsure = widget.proposal.lower_precision is None or widget.proposal.lower_precision < 50
    assert ("Many may be wrong: review them first." in widget.confirm_text.text()) == unsure
    button(widget, "Apply them").click()
    wait_for_query(qtbot, widget, round_=2)
    log = session.round_log(1)
    assert [change.image, change.region] in log["lcm_rejected"]
    assert log["lcm_updates"]
    for u in log["lcm_updates"]:
        mask = session.dataset.regions(u["image"]) == u["region"]
        assert (np.asarray(Image.open(tmp_path / "session" / "labels" / f"{u['image']}.png")
                           )[mask] == u["new"]).all()
    assert len(widget.review.changes) == len(session.lcm_applied)  # still to review
    # The round table counts the pair accepted before the round's end too.
    qtbot.waitUntil(lambda: f">{len(log['lcm_updates'])} + {len(accepted)}<"
                    in widget.summary.table.text(), timeout=WAIT)
    # The class chart reads in napari's theme, and follows it when it changes.
    for theme in ("dark", "light"):
        viewer.theme = theme
        ink = QColor(get_theme(theme).text.as_hex()).rgb()
        qtbot.waitUntil(lambda ink=ink: chart_has(widget, ink), timeout=WAIT)
    wait_idle(qtbot, widget)


def chart_has(widget, rgb: int) -> bool:
    """Whether the class chart the panel shows holds opaque pixels of ``rgb``."""
    pixmap = widget.summary.chart.pixmap()
    if pixmap is None or pixmap.isNull():
        return False
    # Read as it is, not converted: a conversion may wait on the threads the
    # workers hold. Opaque pixels read the same premultiplied or not.
    image = pixmap.toImage()
    assert image.format() in (QImage.Format_ARGB32_Premultiplied, QImage.Format_ARGB32)
    bits = image.constBits()
    bits.setsize(image.sizeInBytes())
    pixels = np.frombuffer(bits, np.uint32)  # rows of 4-byte pixels: no padding
    return bool((pixels == rgb).any())  # ARGB: rgb() has alpha 255


def when_modal(kind, act):
    """Once a modal ``kind`` (a dialog, a message box) is open, ``act(it)``.
    Returns a function that stops waiting for it."""
    waiting = [True]  # emptied to stop

    def poll():
        modal = QApplication.activeModalWidget()
        if isinstance(modal, kind):
            act(modal)
        elif waiting:
            QTimer.singleShot(20, poll)
    QTimer.singleShot(20, poll)
    return lambda: waiting.clear()


def export_by_clicks(widget, folder, format, confirm):
    """Export labels…, type ``folder``, choose ``format``, Export, then
    answer the question (Yes when ``confirm``, if one is asked)."""
    def fill(dialog):
        dialog.form.folder.value, dialog.form.format.value = folder, format
        when_modal(QMessageBox, lambda box: box.button(
            QMessageBox.Yes if confirm else QMessageBox.No).click())
        button(dialog, "Export").click()
    when_modal(ExportDialog, fill)
    QTest.mouseClick(button(widget, "Export labels…"), Qt.LeftButton)  # it takes the focus


def test_export_asks_before_writing_and_writes_the_chosen_format(make_napari_viewer, qtbot,
                                                                 demo, tmp_path):
    data = tmp_path / "data"  # the sample dataset with a class Cityscapes has not
    shutil.copytree(demo, data)
    classes = json.loads((data / "classes.json").read_text())
    classes["names"][classes["names"].index("traffic sign")] = "sign"
    (data / "classes.json").write_text(json.dumps(classes))
    widget = start(make_napari_viewer(), qtbot, data, tmp_path / "session")
    press(widget, qtbot, "2")
    # A format that cannot hold the dataset's classes is greyed out, and why is said.
    seen = []

    def look(dialog):
        items = dialog.form.format.native.model()
        seen.append(({n for i, n in enumerate(EXPORT_FORMATS) if not items.item(i).isEnabled()},
                     dialog.unfit_note.text(), dialog.form.format.value))
        QTest.keyClick(dialog, Qt.Key_Escape)
    when_modal(ExportDialog, look)
    QTest.mouseClick(button(widget, "Export labels…"), Qt.LeftButton)
    qtbot.waitUntil(lambda: seen and widget.status.text() == "Nothing exported.",
                    timeout=WAIT)
    unfit, note, chosen = seen[0]
    assert unfit == {"cityscapes"} and chosen == "palette"
    assert "cityscapes" in note and "(sign) are not among Cityscapes' 19 training" in note
    export_by_clicks(widget, tmp_path / "exprot", "voc", confirm=False)  # mistyped: asked
    assert not (tmp_path / "exprot").exists()
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "keep.txt").write_text("mine")
    export_by_clicks(widget, tmp_path / "export", "voc", confirm=False)
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["keep.txt"]
    widget.export(tmp_path / "export", "voc")  # not empty, no overwrite: refused
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["keep.txt"]
    export_by_clicks(widget, tmp_path / "export", "voc", confirm=True)
    labelmap = tmp_path / "export" / "VOCdevkit" / "VOC2012" / "labelmap.txt"
    qtbot.waitUntil(lambda: labelmap.exists() and not widget.busy, timeout=WAIT)
    q = widget.session.queries[0]
    labels = np.asarray(Image.open(tmp_path / "export" / "VOCdevkit" / "VOC2012"
                                   / "SegmentationClass" / f"{q.image}.png"))
    assert (labels[region_mask(widget, 0)] == 1).all()
    assert (tmp_path / "export" / "keep.txt").read_text() == "mine"
    assert widget.status.text().startswith("Exported the labels (voc) to ")
    # The keys go to the query again, as they did before the export.
    qtbot.waitUntil(lambda: widget.window().focusWidget() is widget.panel.class_list,
                    timeout=WAIT)
    wait_for_query(qtbot, widget)
    press(widget, qtbot, "3")  # the query is answerable again, by its keys
    qtbot.waitUntil(lambda: widget.session.queries[1].answer == 2, timeout=WAIT)  # written
    export_by_clicks(widget, tmp_path / "export", "voc", confirm=False)  # No, this time
    assert widget.status.text() == "Nothing exported."
    # The keys go to the query again, not to the button that opened the export.
    qtbot.waitUntil(lambda: widget.window().focusWidget() is widget.panel.class_list,
                    timeout=WAIT)
    # Where no answer could make it possible (the dataset's own folder, a
    # format that cannot hold these classes): refused at once, nothing asked.
    errors = []

    def record(notification):
        errors.append(notification.message)
    notification_manager.notification_ready.connect(record)
    (tmp_path / "new").mkdir()
    asked = []

    def decline(box):
        asked.append(box.text())
        box.button(QMessageBox.No).click()
    for folder, format in ((data, "voc"), (tmp_path / "new", "cityscapes")):
        stop = when_modal(QMessageBox, decline)

        def fill(dialog, folder=folder, format=format):
            dialog.form.folder.value, dialog.form.format.value = folder, format
            button(dialog, "Export").click()
        when_modal(ExportDialog, fill)
        button(widget, "Export labels…").click()
        qtbot.waitUntil(lambda: len(errors) == 1, timeout=WAIT)
        stop()
        assert asked == [] and not widget.busy
        assert errors.pop().startswith(str(folder.resolve()))
    notification_manager.notification_ready.disconnect(record)
    assert not any((tmp_path / "new").iterdir())
    wait_idle(qtbot, widget)


@pytest.mark.round_end_wait
def test_a_slip_on_the_rounds_last_answer_can_be_taken_back_before_it_ends(
        make_napari_viewer, qtbot, demo, tmp_path):
    """The round ended within half a second of its last answer, for good:
    a wrong key there could not be undone. It now waits, and says so."""
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session", budget=3,
                   tau=None, review_above=100_000)
    question = widget.panel.question
    last = None
    while "every query is answered" not in question.text():
        wait_for_query(qtbot, widget)
        assert widget.session.round == 1  # not ended at once, with no word
        last = widget.query_index
        press(widget, qtbot, Qt.Key_Return)
        qtbot.waitUntil(lambda last=last: widget.busy or widget.query_index != last,
                        timeout=WAIT)
        qtbot.waitUntil(lambda: not widget.busy, timeout=WAIT)  # the checks, if asked
    assert "Ctrl+Z" in question.text() and widget.session.round == 1
    assert widget.status.text().startswith(f"Answered query {last + 1} of round 1: ")
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier)  # the slip, taken back
    wait_for_query(qtbot, widget)
    assert widget.query_index == last and widget.session.queries[last].answer is None
    press(widget, qtbot, "3")  # the answer meant
    wait_for_query(qtbot, widget, round_=2)
    logged = json.loads((tmp_path / "session" / "log" / "round_01.json").read_text())
    assert logged["queries"][last]["answer"] == 2
    wait_idle(qtbot, widget)
