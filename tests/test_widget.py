"""The napari plugin on a real viewer (under Xvfb): discovery through npe2,
sample data, reader and writer, and a correction round driven by keys."""
import json
from pathlib import Path

import numpy as np
import pytest
from napari import save_layers
from npe2 import PluginManifest
from PIL import Image
from qtpy.QtCore import Qt

from a2lc_napari._reader import IMAGE_LAYER, LABELS_LAYER
from a2lc_napari._widget import LCM_LAYER, QUERY_LAYER, CorrectionWidget
from a2lc_napari.engine.demo import demo_classes, make_demo_dataset
from a2lc_napari.engine.regions import region_values
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


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", n_images=6,
                             size=(64, 80), seed=3)


def start(viewer, qtbot, dataset, session_dir, budget=4, tau="0.3", **settings):
    widget = CorrectionWidget(viewer)
    viewer.window.add_dock_widget(widget, name=WIDGET)
    s = widget.settings
    s.dataset.value = dataset
    s.session_dir.value = session_dir
    s.budget.value, s.steps.value, s.tau.value = budget, 8, tau
    for name, value in settings.items():
        s[name].value = value
    widget.start()
    wait_for_query(qtbot, widget)
    return widget


def wait_for_query(qtbot, widget, round_=None):
    def ready():
        s = widget.session
        return (s is not None and widget._worker is None and s.phase == "query"
                and widget.query_index is not None and (round_ is None or s.round == round_))
    qtbot.waitUntil(ready, timeout=WAIT)


def wait_idle(qtbot, widget):
    """Let background workers end before the viewer closes under them."""
    qtbot.waitUntil(lambda: widget._worker is None and not widget.lcm_busy, timeout=WAIT)


def region_mask(widget, index):
    q = widget.session.queries[index]
    return widget.session.dataset.regions(q.image) == q.region


def press(widget, qtbot, key, modifier=Qt.NoModifier):
    qtbot.keyClick(widget.class_list, key, modifier)


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


def test_a_round_by_keys(make_napari_viewer, qtbot, demo, tmp_path):
    viewer = make_napari_viewer()
    widget = start(viewer, qtbot, demo, tmp_path / "session")
    session = widget.session
    classes = session.dataset.classes
    assert widget.query_index == 0
    rows, cols = np.nonzero(region_mask(widget, 0))
    query = viewer.layers[QUERY_LAYER]
    assert tuple(query.translate) == (rows.min(), cols.min())
    assert query.data.sum() == rows.size

    first = session.queries[0]
    press(widget, qtbot, Qt.Key_Return)  # accept
    assert session.queries[0].answer == first.label
    assert widget.query_index == 1

    second = session.queries[1]
    mask = region_mask(widget, 1)
    before = session.labels(second.image)
    other = (second.label + 1) % classes.num_classes
    press(widget, qtbot, str((other + 1) % 10))  # number key: another class
    assert session.queries[1].answer == other
    assert (session.labels(second.image)[mask] == other).all()

    widget.show_query(1)
    assert (widget.labels_layer.data[mask] == other).all()
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier)  # undo the answer
    assert session.queries[1].answer is None
    np.testing.assert_array_equal(session.labels(second.image), before)
    np.testing.assert_array_equal(widget.labels_layer.data, before)
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)  # redo
    assert session.queries[1].answer == other
    canvas = viewer.window._qt_viewer.canvas.native  # napari's own Ctrl+Z on the canvas
    qtbot.keyClick(canvas, Qt.Key_Z, Qt.ControlModifier)
    assert session.queries[1].answer is None
    qtbot.keyClick(canvas, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert session.queries[1].answer == other
    press(widget, qtbot, Qt.Key_Left)  # previous
    assert widget.query_index == 0
    press(widget, qtbot, Qt.Key_Right)
    press(widget, qtbot, Qt.Key_Right)
    assert widget.query_index == 2

    for _ in range(2):  # the last answer finishes the round
        press(widget, qtbot, Qt.Key_Return)
    wait_for_query(qtbot, widget, round_=2)
    log = json.loads((tmp_path / "session" / "log" / "round_01.json").read_text())
    answers = [q["answer"] for q in log["queries"]]
    assert answers[:2] == [first.label, other] and None not in answers
    for q in log["queries"]:
        labels = np.asarray(Image.open(tmp_path / "session" / "labels" / f"{q['image']}.png"))
        mask = session.dataset.regions(q["image"]) == q["region"]
        assert (labels[mask] == q["answer"]).all()
    assert widget.summary.table.text().count("<tr>") == 3  # header, rounds 0 and 1
    wait_idle(qtbot, widget)


def test_lcm_overlay_appears_when_the_background_lcm_finishes(make_napari_viewer, qtbot,
                                                              demo, tmp_path):
    viewer = make_napari_viewer()
    widget = start(viewer, qtbot, demo, tmp_path / "session", budget=8, tau="0.2")
    session = widget.session
    for q in session.queries[:-1]:
        widget.show_query(q.index)
        widget.answer(session.simulated_answer(q))
    qtbot.waitUntil(lambda: not widget.lcm_busy and bool(widget._lcm_updates), timeout=WAIT)
    assert widget._lcm_updates == session.propose_lcm()
    widget.show_image(widget._lcm_updates[0]["image"])
    shown = [u for u in widget._lcm_updates if u["image"] == widget.image_name]
    expected = region_values(session.dataset.regions(widget.image_name),
                             [u["region"] for u in shown], [u["new"] for u in shown],
                             fill=session.dataset.classes.ignore_index)
    overlay = viewer.layers[LCM_LAYER]
    rows, cols = np.nonzero(expected != session.dataset.classes.ignore_index)
    assert tuple(overlay.translate) == (rows.min(), cols.min())
    np.testing.assert_array_equal(overlay.data, expected[rows.min():rows.max() + 1,
                                                         cols.min():cols.max() + 1])
    assert "proposes" in widget.lcm_status.text()
    widget.clear_lcm_overlay()
    assert (viewer.layers[LCM_LAYER].data == session.dataset.classes.ignore_index).all()
    wait_idle(qtbot, widget)


def test_applied_lcm_changes_are_undoable_on_every_image(make_napari_viewer, qtbot, demo,
                                                        tmp_path):
    viewer = make_napari_viewer()
    widget = start(viewer, qtbot, demo, tmp_path / "session", budget=8, tau="0.2")
    session = widget.session
    for q in session.queries:  # the last answer finishes the round
        widget.show_query(q.index)
        widget.answer(session.simulated_answer(q))
    wait_for_query(qtbot, widget, round_=2)
    applied = session.round_log(1)["lcm_updates"]
    assert {u["image"] for u in applied} - {widget.image_name}  # some on other images
    for image in sorted({u["image"] for u in applied}):
        widget.show_image(image)
        regions = session.dataset.regions(image)
        mask = np.isin(regions, [u["region"] for u in applied if u["image"] == image])
        before = session.round_start_labels(1, image)
        assert (widget.labels_layer.data[mask] != before[mask]).any()
        widget.undo()
        np.testing.assert_array_equal(widget.labels_layer.data[mask], before[mask])
        np.testing.assert_array_equal(session.labels(image), widget.labels_layer.data)
    wait_idle(qtbot, widget)


def test_paint_strokes_are_saved_and_undoable(make_napari_viewer, qtbot, demo, tmp_path):
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session")
    session, layer, name = widget.session, widget.labels_layer, widget.image_name
    before = session.labels(name)
    layer.brush_size = 3
    layer.paint((10, 10), 7)  # what a brush click does
    painted = layer.data != before
    assert painted.any() and (layer.data[painted] == 7).all()
    qtbot.waitUntil(lambda: (session.labels(name) == layer.data).all(), timeout=WAIT)
    touched = set(np.unique(session.dataset.regions(name)[painted]).tolist())
    assert touched <= set(session.state["manual"][name])
    widget.undo()
    np.testing.assert_array_equal(session.labels(name), before)
    wait_idle(qtbot, widget)


def test_resume_and_refuse_other_data(make_napari_viewer, qtbot, demo, tmp_path):
    viewer = make_napari_viewer()
    widget = start(viewer, qtbot, demo, tmp_path / "session", budget=5)
    widget.answer(2)
    widget.answer(3)
    wait_idle(qtbot, widget)
    viewer.window.remove_dock_widget(widget)

    again = start(make_napari_viewer(), qtbot, demo, tmp_path / "session", budget=9)
    assert again.query_index == 2
    assert again.settings.budget.value == 5  # the session's own settings
    assert [q.answer for q in again.session.queries[:2]] == [2, 3]

    other = make_demo_dataset(tmp_path / "other", n_images=2, size=(32, 40), seed=4)
    refused = CorrectionWidget(make_napari_viewer())
    refused.settings.dataset.value = other
    refused.settings.session_dir.value = tmp_path / "session"
    with qtbot.capture_exceptions() as raised:  # napari notifies worker errors
        refused.start()
        qtbot.waitUntil(lambda: refused._worker is None, timeout=WAIT)
    assert refused.session is None
    assert "holds a session on" in str(raised[0][1])
    assert "holds a session on" in refused.status.text()
    wait_idle(qtbot, again)


def test_settings_become_the_session_config(make_napari_viewer, tmp_path):
    widget = CorrectionWidget(make_napari_viewer())
    s = widget.settings
    s.method.value, s.budget.value, s.tau.value, s.steps.value = "lcm", 12, "0.9, 0.95", 20
    config = widget.config()
    assert (config.method, config.budget, config.tau, config.model.steps) == (
        "lcm", 12, (0.9, 0.95), 20)
    assert config.regions.source == "auto"
    s.tau.value = "high"
    with pytest.raises(ValueError, match="τ"):
        widget.config()
    s.tau.value = "0.99"
    assert s.sam_checkpoint.native.isHidden()  # SAM settings only for SAM regions
    s.regions.value = "sam"
    assert not s.sam_checkpoint.native.isHidden()
    with pytest.raises(ValueError, match="checkpoint"):
        widget.config()
    s.sam_checkpoint.value = tmp_path / "sam_vit_b.pth"
    assert widget.config().regions.sam_checkpoint == str(tmp_path / "sam_vit_b.pth")
    s.dataset.value = tmp_path / "data"
    assert s.session_dir.value == tmp_path / "data_a2lc"


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
    assert widget.viewer.layers[QUERY_LAYER].data.sum() == (
        session.dataset.regions(q.image) == q.region).sum()
    wait_idle(qtbot, widget)


def test_export(make_napari_viewer, qtbot, demo, tmp_path):
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session")
    widget.answer(1)
    widget.export(tmp_path / "export")
    qtbot.waitUntil(lambda: (tmp_path / "export" / "classes.json").exists(), timeout=WAIT)
    q = widget.session.queries[0]
    labels = np.asarray(Image.open(tmp_path / "export" / f"{q.image}.png"))
    assert (labels[region_mask(widget, 0)] == 1).all()
    wait_idle(qtbot, widget)


def test_screenshot_of_the_docked_widget(make_napari_viewer, qtbot, demo, tmp_path):
    viewer = make_napari_viewer(show=True)
    widget = start(viewer, qtbot, demo, tmp_path / "session")
    wait_idle(qtbot, widget)
    shot = viewer.screenshot(canvas_only=False, flash=False)
    ARTIFACTS.mkdir(exist_ok=True)
    Image.fromarray(shot).save(ARTIFACTS / "widget.png")
    rgb = shot[..., :3].reshape(-1, 3)
    assert rgb.std() > 20
    assert len(np.unique(rgb, axis=0)) > 200  # image, labels and widget, not a blank


def test_a2lc_demo_opens_napari_with_the_widget_docked(qtbot, tmp_path, monkeypatch):
    import napari

    from a2lc_napari.cli import main

    monkeypatch.setattr(napari, "run", lambda: None)
    assert main(["demo", str(tmp_path / "demo"), "--images", "2"]) == 0
    viewer = napari.current_viewer()
    try:
        widget = next(w for w in viewer.window.dock_widgets.values()
                      if isinstance(w, CorrectionWidget))
        assert widget.settings.dataset.value == tmp_path / "demo"
        assert viewer.layers[LABELS_LAYER].data.shape == (2, 128, 160)
    finally:
        viewer.close()
