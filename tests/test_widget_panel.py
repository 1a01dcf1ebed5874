"""The query panel as a person meets it: progress, the time left and
Cancel in sight while the model trains (the canvas already showing an
image, to paint and undo on), the class numbers beside napari's label
ids, and the undo messages."""
import json
import re
import shutil

import numpy as np
from qtpy.QtCore import Qt

from a2lc_napari._class_list import TYPE_AHEAD_PAUSE, ClassList
from a2lc_napari._image_browser import NameBox
from a2lc_napari._layers import IMAGE_LAYER, LABELS_LAYER, LCM_CAPTION_LAYER
from a2lc_napari.engine.classes import ClassSet
from a2lc_napari.engine.io import read_label, write_label
from test_widget import (WAIT, button, open_from_menu, plugin, press,  # noqa: F401
                         start, wait_for_query, wait_idle, wait_written)


def test_progress_cancel_the_image_a_stroke_and_undo_while_the_model_trains(
        make_napari_viewer, qtbot, demo, tmp_path):
    viewer = make_napari_viewer(show=True)
    widget = open_from_menu(viewer)
    widget.window().resize(1280, 800)
    s = widget.settings
    s.dataset.value, s.session_dir.value = demo, tmp_path / "session"
    s.steps.value = 5000  # long enough to look at, and to cancel
    button(widget, "Start / resume").click()
    # Once the session is open and until training starts, the layers are
    # added: the panel says so, no longer "Choose a dataset".
    between = []

    def training():
        if widget.status.text().startswith("Session in"):
            between.append(widget.panel.question.text())
        return widget.busy and "training" in widget.panel.question.text()

    qtbot.waitUntil(training, timeout=WAIT)
    assert between and all(text == "Adding the images and labels to napari…" for text in between)
    cancel = widget.cancel_button
    for part in (cancel, widget.progress, widget.status):  # whole, not scrolled away
        qtbot.waitUntil(lambda part=part: part.visibleRegion().boundingRect().size()
                        == part.size(),
                        timeout=5000)
    assert cancel.isEnabled()
    # How far training is, and the time left at its pace.
    qtbot.waitUntil(lambda: bool(re.fullmatch(r"Training model… \d+ of 5000 · about .+ left",
                                              widget.status.text())), timeout=WAIT)
    # The first image and its pseudo-labels, while the model trains.
    session = widget.session
    first = session.dataset.names[0]
    qtbot.waitUntil(lambda: np.array_equal(viewer.layers[IMAGE_LAYER].data,
                                           session.dataset.image(first))
                    and np.array_equal(viewer.layers[LABELS_LAYER].data, session.labels(first))
                    and viewer.layers[LABELS_LAYER].visible, timeout=WAIT)
    # napari's paint tools act on the labels: the active layer once every
    # layer of the session is added, not the one added last.
    layer = viewer.layers[LABELS_LAYER]
    qtbot.waitUntil(lambda: LCM_CAPTION_LAYER in viewer.layers
                    and viewer.layers.selection.active is layer, timeout=5000)
    assert widget.busy  # still training
    # A stroke while it trains is saved, and Ctrl+Z on the canvas takes it back.
    layer.brush_size = 3
    layer.paint((10, 10), 7)  # what a brush click does
    painted, pseudo = layer.data.copy(), session.dataset.labels(first)
    assert not np.array_equal(painted, pseudo)
    qtbot.waitUntil(lambda: np.array_equal(session.labels(first), painted), timeout=WAIT)
    canvas = viewer.window._qt_viewer.canvas.native
    qtbot.keyClick(canvas, Qt.Key_Z, Qt.ControlModifier)
    qtbot.waitUntil(lambda: np.array_equal(session.labels(first), pseudo)
                    and np.array_equal(layer.data, pseudo), timeout=WAIT)
    # The status line says what was undone, in front of the training's progress.
    qtbot.waitUntil(lambda: bool(re.fullmatch(
        rf"Undone: a stroke on {first}\. — Training model… \d+ of 5000 · .+ left",
        widget.status.text())), timeout=WAIT)
    qtbot.keyClick(canvas, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)  # and redo
    qtbot.waitUntil(lambda: np.array_equal(session.labels(first), painted)
                    and np.array_equal(layer.data, painted), timeout=WAIT)
    # ... and so does the panel's Undo button, though no query can be answered yet.
    assert not widget.panel.class_list.isEnabled()
    button(widget, "Undo").click()
    qtbot.waitUntil(lambda: np.array_equal(session.labels(first), pseudo), timeout=WAIT)
    assert widget.busy  # still training
    qtbot.mouseClick(cancel, Qt.LeftButton)
    qtbot.waitUntil(lambda: not widget.busy, timeout=WAIT)
    assert "training" not in widget.panel.question.text()
    assert "stopped" in widget.panel.question.text() and "stopped" in widget.status.text()
    wait_idle(qtbot, widget)


def test_class_numbers_beside_the_brushs_label_ids(make_napari_viewer, qtbot, demo, tmp_path):
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session")
    items = widget.panel.class_list
    texts = [items.item(i).text() for i in range(items.count())]
    assert texts[0] == "1  sky  · label 0"  # key 1, napari's label 0
    assert texts[6] == "7  car  · label 6"
    assert texts[9] == "0  rider  · label 9"
    assert texts[-1] == "   ignore (unsure / none of these)  · label 255"
    wait_idle(qtbot, widget)


def test_ignore_shows_no_number_key_as_none_answers_it(qtbot):
    classes = ClassList()
    qtbot.addWidget(classes)
    classes.set_classes(ClassSet(("road", "car", "sky"), ((1, 1, 1), (2, 2, 2), (3, 3, 3))))
    texts = [classes.item(i).text() for i in range(classes.count())]
    assert texts == ["1  road  · label 0", "2  car  · label 1", "3  sky  · label 2",
                     "   ignore (unsure / none of these)  · label 255"]
    answered = []
    classes.answered.connect(answered.append)
    for key in "4932":
        qtbot.keyClick(classes, key)
    assert answered == [2, 1]


def test_a_letter_typed_again_goes_to_the_next_class_it_begins(qtbot):
    classes = ClassList()
    qtbot.addWidget(classes)
    names = ("road", "sidewalk", "car", "sky", "sign", "truck", "traffic sign",
             "traffic light", "terrain", "train", "Tunnel")
    classes.set_classes(ClassSet(names, tuple((i, i, i) for i in range(len(names)))))
    pause = int(1000 * TYPE_AHEAD_PAUSE) + 200

    def selected():
        return names[classes.selected_class()]

    went = []
    for key in "ssss":  # fast: within the pause that extends a typed name
        qtbot.keyClick(classes, key)
        went.append(selected())
    assert went == ["sidewalk", "sky", "sign", "sidewalk"]
    qtbot.wait(pause)
    qtbot.keyClick(classes, "s")  # slowly too: on from the class selected
    assert selected() == "sky"
    qtbot.wait(pause)
    qtbot.keyClicks(classes, "sig")  # a name's beginning: its first class
    assert selected() == "sign"
    qtbot.wait(pause)
    qtbot.keyClicks(classes, "traffic light")  # a space goes on the name
    assert selected() == "traffic light"
    qtbot.wait(pause)
    qtbot.keyClick(classes, Qt.Key_Space)  # a space alone selects nothing else
    assert selected() == "traffic light"
    qtbot.keyClicks(classes, "tu")  # capitals as small letters
    assert selected() == "Tunnel"
    classes.select_class(names.index("road"))  # a new query's class: a new name begins
    qtbot.keyClick(classes, "t")
    assert selected() == "truck"


def test_undo_and_redo_say_what_they_did_or_that_there_was_nothing(make_napari_viewer, qtbot, demo,
                                                          tmp_path):
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session")
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier)
    qtbot.waitUntil(lambda: widget.status.text() == "Nothing to undo.", timeout=WAIT)
    press(widget, qtbot, "7")  # car
    wait_written(qtbot, widget)
    assert widget.session.queries[0].answer == 6
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier)
    wait_written(qtbot, widget)
    assert widget.session.queries[0].answer is None
    qtbot.waitUntil(lambda: widget.status.text() == "Undone: the answer to query 1 of round 1.",
                    timeout=WAIT)
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    wait_written(qtbot, widget)
    assert widget.session.queries[0].answer == 6
    qtbot.waitUntil(lambda: widget.status.text() == "Redone: the answer to query 1 of round 1.",
                    timeout=WAIT)
    wait_for_query(qtbot, widget)  # shown again, its image read: the keys act on it
    press(widget, qtbot, Qt.Key_Right)
    qtbot.waitUntil(lambda: widget.query_index == 1, timeout=WAIT)
    press(widget, qtbot, Qt.Key_Return)  # a new answer: no word left of the redo
    wait_written(qtbot, widget)
    assert widget.session.queries[1].answer is not None
    qtbot.waitUntil(lambda: widget.status.text().startswith("Answered query 2 of round 1: "),
                    timeout=WAIT)
    wait_idle(qtbot, widget)


def test_the_proposed_class_is_in_sight_in_a_small_window(make_napari_viewer, qtbot, demo,
                                                           tmp_path):
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1089, 633)  # napari's own size on a 1280×1024 screen
    widget = start(viewer, qtbot, demo, tmp_path / "session", budget=6, tau=None)
    classes = widget.panel.class_list
    for k in range(3):
        wait_idle(qtbot, widget)
        item = classes.currentItem()
        assert item is not None
        # the row in sight (its middle): in the list's area, not scrolled out of the dock
        shown = classes.viewport().visibleRegion().boundingRect()
        assert shown.contains(classes.visualItemRect(item).center()), k
        press(widget, qtbot, Qt.Key_Right)  # skip to the next query


def test_the_settings_fold_away_once_a_session_runs(make_napari_viewer, qtbot, demo,
                                                    tmp_path):
    """Locked, they would take the dock's height from the query; a button
    shows them again (the review limit stays free to change)."""
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1089, 633)
    widget = open_from_menu(viewer)
    s = widget.settings
    # Before Start: every setting in sight, nothing to fold; the long
    # choices do not set the dock's width (their list still shows them whole).
    qtbot.waitUntil(lambda: s.method.native.isVisible(), timeout=5000)
    assert not s.fold.native.isVisible()
    lcm = s.lcm.native
    longest = max(lcm.fontMetrics().horizontalAdvance(lcm.itemText(i))
                  for i in range(lcm.count()))
    assert lcm.minimumSizeHint().width() < longest
    lcm.showPopup()
    qtbot.waitUntil(lambda: lcm.view().isVisible(), timeout=5000)
    assert lcm.view().width() >= longest
    lcm.hidePopup()
    s.dataset.value, s.session_dir.value = demo, tmp_path / "session"
    s.budget.value, s.steps.value = 4, 8
    with qtbot.waitSignal(widget.query_shown, timeout=WAIT):
        button(widget, "Start / resume").click()
    fields = [s.dataset, s.method, s.budget, s.lcm, s.steps, s.review_above]
    assert not any(f.native.isVisible() for f in fields)
    assert button(widget, "Start / resume").isVisible()
    button(widget, "Show the settings").click()
    assert all(f.native.isVisible() for f in fields)
    assert not s.method.native.isEnabled() and s.review_above.native.isEnabled()
    assert not s.tau.native.isVisible()  # the paper's LCM's alone, as before Start
    button(widget, "Hide the settings").click()
    assert not any(f.native.isVisible() for f in fields)
    wait_idle(qtbot, widget)


def test_a_query_on_an_unlabelled_region_asks_which_class_it_is(make_napari_viewer, qtbot,
                                                               demo, tmp_path):
    """A region labelled with the ignore value is not asked "is this region
    ignore?" but which class it is; Enter leaves it unlabelled."""
    data = tmp_path / "data"
    shutil.copytree(demo, data)
    classes = ClassSet.from_json(json.loads((data / "classes.json").read_text()))
    first = sorted((data / "labels").iterdir())[0]
    unlabelled = np.full(read_label(first).shape, classes.ignore_index, np.uint8)
    write_label(first, unlabelled, classes)  # the trees doubt its regions most
    viewer = make_napari_viewer()
    widget = start(viewer, qtbot, data, tmp_path / "session", budget=4, tau=None)
    index = widget.query_index
    assert widget.session.queries[index].label == classes.ignore_index
    text = widget.panel.question.text()
    assert "is <b>unlabelled</b>: which class is it?" in text and "ignore</b>?" not in text
    press(widget, qtbot, Qt.Key_Return)  # unsure: it stays unlabelled
    qtbot.waitUntil(lambda: widget.session.queries[index].answer is not None, timeout=WAIT)
    assert widget.session.queries[index].answer == classes.ignore_index
    wait_idle(qtbot, widget)


def test_each_kind_of_step_in_words():
    from a2lc_napari._widget import step_text
    from a2lc_napari.engine.state import EVENT_KINDS, AnswerChange, Event, LCMUpdate

    changes = [LCMUpdate("a", 1, 0, 2, 0.9), LCMUpdate("b", 4, 0, 2, 0.9)]
    said = {kind: step_text(Event(seq=1, kind=kind, round=2, images=("a", "b"),
                                  answers=[AnswerChange(4, None, False, 3, False)],
                                  changes=changes)) for kind in EVENT_KINDS}
    assert said == {"answer": "the answer to query 5 of round 2",
                    "unanswer": "the answer to query 5 of round 2",
                    "hand_edit": "a stroke on a, b",
                    "lcm_apply": "2 LCM changes applied at the end of round 2",
                    "lcm_accept": "the acceptance of 2 LCM changes",
                    "lcm_reject": "the rejection of 2 LCM changes"}


def test_a_long_image_name_is_cut_in_the_middle_in_the_image_list(qtbot, tmp_path):
    names = NameBox()
    qtbot.addWidget(names)
    names.addItems(["frankfurt/frankfurt_000001_083852", "a"])
    names.setFixedWidth(150)
    names.show()
    qtbot.waitExposed(names)
    shown = names.shown_text()
    assert "…" in shown and shown.startswith("fra") and shown.endswith("852")
    names.grab().save(str(tmp_path / "names.png"))
    names.setCurrentIndex(1)
    assert names.shown_text() == "a"


def test_the_status_line_says_what_the_round_did_once_it_ended(make_napari_viewer, qtbot,
                                                               demo, tmp_path):
    """It kept what was said last (an answer of the round before, "Nothing
    to undo"), never that the round had ended, nor what it changed."""
    widget = start(make_napari_viewer(), qtbot, demo, tmp_path / "session", budget=3,
                   tau="0.2", review_above=100_000)
    while widget.session.round == 1:
        wait_for_query(qtbot, widget)
        if widget.session.round == 1:
            press(widget, qtbot, Qt.Key_Return)
            wait_written(qtbot, widget)
    wait_for_query(qtbot, widget, round_=2)
    (ended,) = widget.session.history[1:]  # [0]: the labels as they came
    assert ended.lcm_changes > 0
    assert widget.status.text() == (
        f"Round 1 ended: {ended.manual_changes} answer{'' if ended.manual_changes == 1 else 's'}"
        f" of yours changed a label, the LCM changed {ended.lcm_changes} region"
        f"{'' if ended.lcm_changes == 1 else 's'}.")
    wait_idle(qtbot, widget)


def test_the_rounds_apply_question_and_the_review_scroll_into_sight(make_napari_viewer, qtbot,
                                                                    demo, tmp_path):
    """In napari's own window on a 1366×768 screen, the question that the
    round waits for lay below the dock's fold, and after Review first so did
    the table that A and R act on, while the dock stayed on the query."""
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1089, 633)
    widget = start(viewer, qtbot, demo, tmp_path / "session", budget=4, tau="0.2",
                   review_above=0)
    for _ in range(len(widget.session.queries)):
        wait_for_query(qtbot, widget)
        press(widget, qtbot, Qt.Key_Return)
    apply_them = button(widget, "Apply them")
    qtbot.waitUntil(lambda: apply_them.isVisibleTo(widget), timeout=WAIT)
    qtbot.waitUntil(lambda: apply_them.visibleRegion().boundingRect().height()
                    == apply_them.height(), timeout=WAIT)
    button(widget, "Review first").click()
    table = widget.review.table
    qtbot.waitUntil(lambda: not table.viewport().visibleRegion().isEmpty(), timeout=WAIT)
    row = table.visualItemRect(table.currentItem())
    assert table.viewport().visibleRegion().boundingRect().contains(row.center())
    button(widget, "Finish round").click()
    wait_for_query(qtbot, widget, round_=2)
    wait_idle(qtbot, widget)
