"""What the person answers is what they see: every path that moves the view
(a review row, an undo, a round's end, the canvas's own zoom) either brings
the query back or holds the answer until the query is back. Each test drives
the widget by clicks and keys, and before each Enter checks what the canvas
shows: the image layer's data, the query layer's outline and the camera."""
import shutil

import numpy as np
from napari.utils.notifications import notification_manager
from qtpy.QtCore import QPoint, QPointF, Qt
from qtpy.QtGui import QWheelEvent
from qtpy.QtWidgets import QApplication, QComboBox, QPushButton, QScrollArea, QWidget

from a2lc_napari._layers import (IMAGE_LAYER, LABELS_LAYER, QUERY_LAYER, QUERY_RING,
                                 ring_around)
from a2lc_napari._query_view import label_name
from a2lc_napari._review import same_as
from test_widget import (WAIT, button, plugin, press, start,  # noqa: F401
                         wait_for_query, wait_idle, while_round_2_trains)


def shows(viewer, session, image, region=None):
    """The canvas shows ``image`` (its pixels in the image layer) and, given
    ``region``, that region ringed on the query layer with the camera centred on it."""
    if not np.array_equal(viewer.layers[IMAGE_LAYER].data, session.dataset.image(image)):
        return False
    if region is None:
        return True
    mask = session.dataset.regions(image) == region
    query = viewer.layers[QUERY_LAYER]
    rows, cols = np.nonzero(mask)
    y, x = viewer.scene.camera.center[-2:]
    return (query.visible and np.array_equal(query.data, ring_around(mask, QUERY_RING))
            and rows.min() <= y <= rows.max() and cols.min() <= x <= cols.max())


def asked(widget):
    """The query the panel asks about (its text names it), and its image as the panel says."""
    q = widget.session.queries[widget.query_index]
    assert f"Query {q.index + 1} / " in widget.panel.question.text()
    return q


def enter_answers_the_query_on_screen(qtbot, widget):
    """Enter on the panel: the canvas showed the query before, and it is answered."""
    viewer, session = widget.viewer, widget.session
    q = asked(widget)
    assert shows(viewer, session, q.image, q.region)
    assert q.image in widget.panel.where.text() and "Not on the canvas" not in \
        widget.panel.where.text()
    press(widget, qtbot, Qt.Key_Return)
    qtbot.waitUntil(lambda: session.queries[q.index].answer is not None, timeout=WAIT)


def enter_brings_the_query_back(qtbot, widget):
    """The canvas no longer shows the query: Enter shows it again, answering nothing."""
    viewer, session = widget.viewer, widget.session
    q = asked(widget)
    assert not shows(viewer, session, q.image, q.region)
    qtbot.waitUntil(lambda: "Not on the canvas" in widget.panel.where.text(), timeout=5000)
    press(widget, qtbot, Qt.Key_Return)
    qtbot.waitUntil(lambda: shows(viewer, session, q.image, q.region), timeout=WAIT)
    assert session.queries[q.index].answer is None and asked(widget) is q
    qtbot.waitUntil(lambda: "Not on the canvas" not in widget.panel.where.text(), timeout=5000)


def click_row(qtbot, table, change, changes):
    """A mouse click on ``change``'s row of the review table."""
    row = next(r for r in range(table.rowCount())  # its image cell's tooltip names it
               if table.item(r, 0).toolTip() == f"{change.image}, region {change.region}")
    table.scrollToItem(table.item(row, 1))
    rect = table.visualItemRect(table.item(row, 1))
    qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=rect.center())


def lcm_changes(qtbot, widget, left):
    """Answer all queries but ``left``, then wait for the LCM's proposals."""
    session = widget.session
    for _ in range(len(session.queries) - left):
        press(widget, qtbot, Qt.Key_Return)
        wait_for_query(qtbot, widget)
    qtbot.waitUntil(lambda: not widget.runner.lcm_busy and widget.review.table.rowCount() > 0,
                    timeout=WAIT)
    return list(widget.review.changes)


def asked_to_apply(viewer, qtbot, demo, tmp_path):
    """A session of 8 queries a round (the paper's LCM at τ 0.2, asking
    before any change), its round 1 answered: "apply N changes?"."""
    widget = start(viewer, qtbot, demo, tmp_path / "session", budget=8, tau="0.2",
                   review_above=0)
    lcm_changes(qtbot, widget, left=1)
    enter_answers_the_query_on_screen(qtbot, widget)  # the last
    qtbot.waitUntil(lambda: widget.confirm.isVisibleTo(widget), timeout=WAIT)
    return widget


def skip_to_another_image(qtbot, widget, image):
    while widget.session.queries[widget.query_index].image == image:
        press(widget, qtbot, Qt.Key_Right)
        wait_for_query(qtbot, widget)


def test_review_rows_and_undo_elsewhere_hold_the_answer_until_the_query_is_back(
        make_napari_viewer, qtbot, demo, tmp_path):
    viewer = make_napari_viewer(show=True)
    widget = start(viewer, qtbot, demo, tmp_path / "session", budget=8, tau="0.2",
                   review_above=1000)
    session = widget.session
    change = lcm_changes(qtbot, widget, left=2)[0]
    skip_to_another_image(qtbot, widget, change.image)
    click_row(qtbot, widget.review.table, change, widget.review.changes)
    qtbot.waitUntil(lambda: shows(viewer, session, change.image), timeout=WAIT)
    enter_brings_the_query_back(qtbot, widget)
    enter_answers_the_query_on_screen(qtbot, widget)
    wait_for_query(qtbot, widget)
    # Accept the change, then undo it from the panel: the canvas shows its image.
    skip_to_another_image(qtbot, widget, change.image)
    click_row(qtbot, widget.review.table, change, widget.review.changes)
    qtbot.waitUntil(lambda: shows(viewer, session, change.image), timeout=WAIT)
    button(widget, "Image ▶").click()  # elsewhere: Accept first shows the change again
    qtbot.waitUntil(lambda: not shows(viewer, session, change.image), timeout=WAIT)
    button(widget, "Accept").click()
    qtbot.waitUntil(lambda: shows(viewer, session, change.image), timeout=WAIT)
    wait_idle(qtbot, widget)
    assert not session.is_manual(change.image, change.region)
    button(widget, "Accept").click()
    qtbot.waitUntil(lambda: session.is_manual(change.image, change.region)
                    and not widget.runner.writing, timeout=WAIT)
    qtbot.mouseClick(widget.panel.question, Qt.LeftButton)  # a click on the question: back
    q = asked(widget)
    qtbot.waitUntil(lambda: shows(viewer, session, q.image, q.region), timeout=WAIT)
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier)
    qtbot.waitUntil(lambda: not session.is_manual(change.image, change.region)
                    and shows(viewer, session, change.image), timeout=WAIT)
    enter_brings_the_query_back(qtbot, widget)
    enter_answers_the_query_on_screen(qtbot, widget)
    wait_idle(qtbot, widget)


def test_a_query_that_comes_while_the_review_has_the_keys_waits_for_the_person(
        make_napari_viewer, qtbot, demo, tmp_path):
    """Found in a walk-through: round 2's first query took the keys from the
    review as it came, so R, meant to reject a change, selected "road" in the
    class list, which the next Enter answered with."""
    viewer = make_napari_viewer(show=True)
    widget = while_round_2_trains(viewer, qtbot, demo, tmp_path / "session", rows=2)
    session, table = widget.session, widget.review.table
    change = widget.review.changes[0]
    click_row(qtbot, table, change, widget.review.changes)  # the review takes the keys
    qtbot.waitUntil(lambda: shows(viewer, session, change.image), timeout=WAIT)
    assert widget.window().focusWidget() is table
    assert widget.busy  # round 2's model still trains: its query comes after the click
    qtbot.waitUntil(lambda: session.round == 2 and not widget.busy
                    and "Round 2 · Query 1 /" in widget.panel.question.text(), timeout=WAIT)
    # The query waits: the keys, the canvas and the dock stay on the review.
    q = asked(widget)
    assert widget.window().focusWidget() is table
    assert shows(viewer, session, change.image) and not shows(viewer, session, q.image,
                                                                 q.region)
    qtbot.waitUntil(lambda: "the review has the keys: Esc on the canvas or a click on the "
                    "question shows the query" in widget.panel.where.text(), timeout=5000)
    assert widget.panel.class_list.selected_class() == q.label
    qtbot.keyClick(widget.window().focusWidget(), Qt.Key_R)  # the review's key
    qtbot.waitUntil(lambda: change.key not in [u.key for u in session.lcm_applied]
                    and not widget.runner.writing, timeout=WAIT)
    assert widget.panel.class_list.selected_class() == q.label and q.answer is None
    # A click on the question brings the query, and the keys, to the panel.
    qtbot.mouseClick(widget.panel.question, Qt.LeftButton)
    qtbot.waitUntil(lambda: shows(viewer, session, q.image, q.region)
                    and widget.window().focusWidget() is widget.panel.class_list,
                    timeout=WAIT)
    qtbot.keyClick(widget.window().focusWidget(), Qt.Key_Return)
    qtbot.waitUntil(lambda: session.queries[q.index].answer == q.label, timeout=WAIT)
    wait_idle(qtbot, widget)


def test_review_first_then_finish_round_shows_the_next_rounds_query(make_napari_viewer, qtbot,
                                                                  demo, tmp_path):
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1280, 720)  # a laptop's screen
    widget = asked_to_apply(viewer, qtbot, demo, tmp_path)
    session = widget.session
    header = widget.review.table.horizontalHeader()
    for _ in range(2):  # the person sorts the changes by confidence, highest first
        qtbot.mouseClick(header.viewport(), Qt.LeftButton,
                         pos=QPoint(header.sectionViewportPosition(2) + 5, 5))
    button(widget, "Review first").click()
    change = widget.review.current()
    qtbot.waitUntil(lambda: shows(viewer, session, change.image), timeout=WAIT)
    assert "applies those not rejected" in widget.confirm_text.text()
    assert not button(widget, "Apply them").isVisibleTo(widget)
    # An answer given again meanwhile ends nothing: the count is asked again.
    qtbot.mouseClick(widget.panel.question, Qt.LeftButton)
    qtbot.waitUntil(lambda: widget.query_index is not None, timeout=WAIT)
    enter_answers_the_query_on_screen(qtbot, widget)
    qtbot.waitUntil(lambda: button(widget, "Apply them").isVisibleTo(widget), timeout=WAIT)
    assert session.round == 1 and widget.confirm_text.text().startswith("The LCM will change")
    button(widget, "Review first").click()
    button(widget, "Finish round").click()  # what the confirm says: no second confirm
    wait_for_query(qtbot, widget, round_=2)
    assert not widget.confirm.isVisibleTo(widget)
    # The LCM re-runs on round 2's first query: its proposal moves nothing either.
    qtbot.waitUntil(lambda: widget.proposal is not None and not widget.runner.lcm_busy,
                    timeout=WAIT)
    enter_answers_the_query_on_screen(qtbot, widget)
    wait_for_query(qtbot, widget)
    enter_answers_the_query_on_screen(qtbot, widget)
    wait_idle(qtbot, widget)
    # With the review and the round table shown, the dock leaves the canvas
    # 30% of the window or more (a quarter until this release: 308 px), and
    # shows them whole.
    assert widget.review.isVisibleTo(widget) and widget.summary.isVisibleTo(widget)
    scroll = widget.findChild(QScrollArea)
    qtbot.waitUntil(lambda: scroll.viewport().width()
                    >= scroll.widget().minimumSizeHint().width(), timeout=2000)
    assert viewer.canvas.size[1] >= 0.3 * 1280
    table = widget.review.table
    assert sum(table.columnWidth(c) for c in range(table.columnCount())) \
        <= table.viewport().width()


def test_a_round_with_changes_to_review_ends_by_keys_alone(make_napari_viewer, qtbot, demo,
                                                           tmp_path):
    """Found in a walk-through: after the last answer the keys stayed on the
    answered query, and Tab walked the review table's cells forever, so a
    round could not end without the mouse."""
    viewer = make_napari_viewer(show=True)
    widget = asked_to_apply(viewer, qtbot, demo, tmp_path)
    session = widget.session

    def keys():
        return widget.window().focusWidget()
    qtbot.waitUntil(lambda: keys() is button(widget, "Review first"), timeout=WAIT)
    qtbot.keyClick(keys(), Qt.Key_Return)
    qtbot.waitUntil(lambda: keys() is widget.review.table, timeout=WAIT)
    first = widget.review.current()
    qtbot.keyClick(keys(), Qt.Key_R)
    qtbot.waitUntil(lambda: first not in widget.review.changes, timeout=WAIT)
    qtbot.keyClick(keys(), Qt.Key_Tab)
    assert keys() is button(widget, "Finish round")
    qtbot.keyClick(keys(), Qt.Key_Space)
    wait_for_query(qtbot, widget, round_=2)
    assert session.history[-1].lcm_rejected == 1
    wait_idle(qtbot, widget)


def test_review_first_says_when_every_change_is_decided(make_napari_viewer, qtbot, demo,
                                                         tmp_path):
    viewer = make_napari_viewer(show=True)
    widget = asked_to_apply(viewer, qtbot, demo, tmp_path)
    session = widget.session
    button(widget, "Review first").click()
    changes = list(widget.review.changes)
    # R, undone, redone: the row after the rejected one is current, as after R
    first = widget.review.current()
    qtbot.keyClick(widget.review.table, Qt.Key_R)
    qtbot.waitUntil(lambda: first not in widget.review.changes, timeout=WAIT)
    after = widget.review.current()
    assert after is not None and after != first
    button(widget, "Undo").click()
    qtbot.waitUntil(lambda: widget.review.current() == first, timeout=WAIT)
    button(widget, "Redo").click()
    qtbot.waitUntil(lambda: first not in widget.review.changes, timeout=WAIT)
    assert widget.review.current() == after
    qtbot.waitUntil(lambda: shows(viewer, session, after.image), timeout=WAIT)
    while widget.review.current() is not None:  # each pair of classes rejected in turn
        change = widget.review.current()
        qtbot.waitUntil(lambda c=change: shows(viewer, session, c.image), timeout=WAIT)
        button(widget, "Reject this pair").click()
        qtbot.waitUntil(lambda c=change: c not in widget.review.changes, timeout=WAIT)
    qtbot.waitUntil(lambda: widget.confirm_text.text().startswith(
                    "Every change the LCM proposed is decided: Finish round"), timeout=WAIT)
    # The last rejection undone: its changes are proposed again at once, the
    # LCM not yet re-run (what Finish round would apply is in the table).
    rejected = [c for c in changes if same_as(change, "pair")(c) and c != first]
    button(widget, "Undo").click()
    qtbot.waitUntil(lambda: widget.status.text().startswith("Undone: the rejection of"),
                    timeout=WAIT)
    assert widget.runner.lcm_busy and set(rejected) <= set(widget.review.changes)
    assert "applies those not rejected" in widget.confirm_text.text()
    button(widget, "Redo").click()
    qtbot.waitUntil(lambda: widget.confirm_text.text().startswith(
                    "Every change the LCM proposed is decided: Finish round"), timeout=WAIT)
    labels = {name: session.labels(name) for name in session.dataset.names}
    button(widget, "Finish round").click()
    wait_for_query(qtbot, widget, round_=2)
    assert session.history[-1].lcm_changes == 0
    for name, before in labels.items():  # nothing applied at the round's end
        np.testing.assert_array_equal(session.labels(name), before, err_msg=name)
    wait_idle(qtbot, widget)


def wheel(canvas, pos, steps):
    """Mouse wheel turns over ``canvas`` at ``pos`` (zooms napari's canvas there)."""
    for _ in range(steps):
        event = QWheelEvent(QPointF(pos), QPointF(canvas.mapToGlobal(pos)), QPoint(0, 0),
                            QPoint(0, 120), Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase,
                            False)
        QApplication.sendEvent(canvas, event)


def test_the_canvas_zoomed_away_holds_the_answer_and_esc_gives_the_keys_back(
        make_napari_viewer, qtbot, demo, tmp_path):
    viewer = make_napari_viewer(show=True)
    widget = start(viewer, qtbot, demo, tmp_path / "session", tau=None, method="alc")
    canvas = viewer.window._qt_viewer.canvas.native
    q = asked(widget)
    mask = widget.session.dataset.regions(q.image) == q.region
    corner = QPoint(2, 2) if mask[mask.shape[0] // 2:, mask.shape[1] // 2:].any() else \
        QPoint(canvas.width() - 3, canvas.height() - 3)
    wheel(canvas, corner, 15)  # zoom in, far from the query's region
    qtbot.waitUntil(lambda: not shows(viewer, widget.session, q.image, q.region), timeout=5000)
    enter_brings_the_query_back(qtbot, widget)
    enter_answers_the_query_on_screen(qtbot, widget)
    wait_for_query(qtbot, widget)
    q = asked(widget)
    canvas.setFocus()  # the person works on the canvas...
    qtbot.mouseClick(canvas, Qt.LeftButton, pos=corner)
    wheel(canvas, corner, 15)
    qtbot.keyClick(canvas, Qt.Key_Escape)  # ... then Esc: the query and the keys come back
    qtbot.waitUntil(lambda: shows(viewer, widget.session, q.image, q.region), timeout=WAIT)
    assert widget.window().focusWidget() is widget.panel.class_list  # (the window may be inactive)
    enter_answers_the_query_on_screen(qtbot, widget)
    wait_idle(qtbot, widget)


def test_a_dataset_opened_over_the_query_is_moved_aside_before_an_answer(
        make_napari_viewer, qtbot, demo, tmp_path):
    """File → Open on a dataset, then an image, while a query waits: what
    they add over the session's layers hides the query. The panel says so
    and names them, the first Enter hides them and answers nothing, the
    next one answers."""
    viewer = make_napari_viewer(show=True)
    widget = start(viewer, qtbot, demo, tmp_path / "session")
    session = widget.session
    def open_photo():  # what napari's own reader adds for one image file: 2-D
        viewer.add_image(session.dataset.image(session.dataset.names[1]), name="photo")

    for open_it in (lambda: viewer.open(str(demo), plugin="a2lc-napari"), open_photo):
        before = set(viewer.layers)
        open_it()
        opened = [layer for layer in viewer.layers if layer not in before]
        assert opened and all(layer.visible for layer in opened)
        q = asked(widget)
        qtbot.waitUntil(lambda: "Not on the canvas" in widget.panel.where.text(),
                        timeout=5000)
        assert f"{opened[-1].name} over it" in widget.panel.where.text()
        press(widget, qtbot, Qt.Key_Return)
        qtbot.waitUntil(lambda opened=opened: not any(layer.visible for layer in opened),
                        timeout=WAIT)
        assert session.queries[q.index].answer is None and asked(widget) is q
        qtbot.waitUntil(lambda: "Not on the canvas" not in widget.panel.where.text(),
                        timeout=5000)
        enter_answers_the_query_on_screen(qtbot, widget)
        wait_for_query(qtbot, widget)
    wait_idle(qtbot, widget)


def test_any_image_from_the_list_to_paint_then_enter_brings_the_query_back(
        make_napari_viewer, qtbot, demo, tmp_path):
    viewer = make_napari_viewer(show=True)
    widget = start(viewer, qtbot, demo, tmp_path / "session")
    session, names = widget.session, widget.session.dataset.names
    q = asked(widget)
    listed = next(c for c in widget.findChildren(QComboBox) if c.currentText() == q.image)
    assert [listed.itemText(i) for i in range(listed.count())] == names
    after = names[(names.index(q.image) + 1) % len(names)]
    button(widget, "Image ▶").click()
    qtbot.waitUntil(lambda: shows(viewer, session, after), timeout=WAIT)
    assert listed.currentText() == after
    # A stroke there is that image's.
    before = session.labels(after)
    layer = viewer.layers[LABELS_LAYER]
    layer.brush_size = 3
    layer.paint((10, 10), 7)  # what a brush click does
    qtbot.waitUntil(lambda: (session.labels(after) != before).any()
                    and not widget.runner.writing, timeout=WAIT)
    np.testing.assert_array_equal(session.labels(after), layer.data)
    # The list by its keys: the next image down, and the first from the last.
    listed.setFocus()
    qtbot.keyClick(listed, Qt.Key_Down)
    down = names[(names.index(after) + 1) % len(names)]
    qtbot.waitUntil(lambda: shows(viewer, session, down), timeout=WAIT)
    back = button(widget, "◀ Image")
    qtbot.mouseClick(back, Qt.LeftButton)  # the keys go to the button now
    qtbot.waitUntil(lambda: shows(viewer, session, after), timeout=WAIT)
    assert "Not on the canvas" in widget.panel.where.text()
    qtbot.keyClick(back, Qt.Key_Return)  # Enter there too: the query back, no answer
    qtbot.waitUntil(lambda: shows(viewer, session, q.image, q.region), timeout=WAIT)
    assert session.queries[q.index].answer is None and listed.currentText() == q.image
    # An answer key there as well (found in a walk-through: it did nothing, said nothing).
    qtbot.mouseClick(back, Qt.LeftButton)
    previous = names[(names.index(q.image) - 1) % len(names)]
    qtbot.waitUntil(lambda: shows(viewer, session, previous), timeout=WAIT)
    qtbot.keyClick(back, Qt.Key_2)
    qtbot.waitUntil(lambda: shows(viewer, session, q.image, q.region), timeout=WAIT)
    assert session.queries[q.index].answer is None and listed.currentText() == q.image
    qtbot.waitUntil(lambda: "Not on the canvas" not in widget.panel.where.text(), timeout=5000)
    listed.setFocus()
    typed = next(n for n in reversed(names) if n != q.image)  # a name typed, key after key
    shown = []  # an image shown for each name begun: the typed one only
    layer.events.data.connect(shown.append)
    qtbot.keyClicks(listed, typed)
    qtbot.waitUntil(lambda: shows(viewer, session, typed), timeout=WAIT)
    qtbot.wait(500)
    assert len(shown) == 1
    enter_brings_the_query_back(qtbot, widget)
    enter_answers_the_query_on_screen(qtbot, widget)
    wait_idle(qtbot, widget)


def paint_over(viewer, session, q, value):
    """A brush stroke (napari's, on the labels layer) wide enough to cover query ``q``'s region."""
    rows, cols = np.nonzero(session.dataset.regions(q.image) == q.region)
    layer = viewer.layers[LABELS_LAYER]
    layer.brush_size = 2 * max(np.ptp(rows), np.ptp(cols)) + 2
    layer.paint((int(rows.mean()), int(cols.mean())), value)


def test_a_query_painted_over_is_asked_as_the_canvas_shows_it(
        make_napari_viewer, qtbot, demo, tmp_path):
    """A stroke over the query's region changes its question and the class
    Enter answers with to the label painted; Ctrl+Z takes both back; once
    answered, the query is asked as it was, and a stroke after the answer
    is said and answered anew."""
    viewer = make_napari_viewer(show=True)
    widget = start(viewer, qtbot, demo, tmp_path / "session")
    session, classes = widget.session, widget.session.dataset.classes
    q = asked(widget)
    old = label_name(q.label, classes)
    new = next(c for c in range(classes.num_classes) if c != q.label)
    assert f"<b>{old}</b>" in widget.panel.question.text()
    paint_over(viewer, session, q, new)
    since = f"<b>{label_name(new, classes)}</b>? (it was <b>{old}</b> when asked)"
    qtbot.waitUntil(lambda: since in widget.panel.question.text(), timeout=WAIT)
    assert widget.panel.class_list.selected_class() == new
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier)  # the stroke taken back
    qtbot.waitUntil(lambda: "when asked" not in widget.panel.question.text(), timeout=WAIT)
    assert f"<b>{old}</b>" in widget.panel.question.text()
    assert widget.panel.class_list.selected_class() == q.label
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)  # and again
    qtbot.waitUntil(lambda: since in widget.panel.question.text(), timeout=WAIT)
    enter_answers_the_query_on_screen(qtbot, widget)
    assert session.queries[q.index].answer == new
    wait_for_query(qtbot, widget)
    mask = session.dataset.regions(q.image) == q.region
    assert (session.labels(q.image)[mask] == new).all()
    press(widget, qtbot, Qt.Key_Left)  # back to it: asked as it was, with its answer
    qtbot.waitUntil(lambda: asked(widget) is q, timeout=WAIT)
    assert "when asked" not in widget.panel.question.text()
    assert f"<b>{old}</b>" in widget.panel.question.text()
    assert widget.panel.question.text().endswith(f"answered <b>{label_name(new, classes)}</b>")
    other = next(c for c in range(classes.num_classes) if c not in (q.label, new))
    paint_over(viewer, session, q, other)  # painted after its answer: Enter answers anew
    qtbot.waitUntil(lambda: widget.panel.question.text().endswith(
        f"(painted <b>{label_name(other, classes)}</b> since)"), timeout=WAIT)
    assert widget.panel.class_list.selected_class() == other
    press(widget, qtbot, Qt.Key_Return)
    qtbot.waitUntil(lambda: session.queries[q.index].answer == other, timeout=WAIT)
    wait_idle(qtbot, widget)
    assert (session.labels(q.image)[mask] == other).all()


def test_a_stroke_undone_while_another_image_is_shown_is_not_answered(
        make_napari_viewer, qtbot, demo, tmp_path):
    """Painted, then another image, then Ctrl+Z there: the query's question
    and its class are the region's own again, and Enter answers with that."""
    viewer = make_napari_viewer(show=True)
    widget = start(viewer, qtbot, demo, tmp_path / "session")
    session, classes = widget.session, widget.session.dataset.classes
    q = asked(widget)
    new = next(c for c in range(classes.num_classes) if c != q.label)
    paint_over(viewer, session, q, new)
    qtbot.waitUntil(lambda: "when asked" in widget.panel.question.text()
                    and not widget.runner.writing, timeout=WAIT)
    button(widget, "Image ▶").click()
    qtbot.waitUntil(lambda: not shows(viewer, session, q.image), timeout=WAIT)
    press(widget, qtbot, Qt.Key_Z, Qt.ControlModifier)  # shows the query's image again
    qtbot.waitUntil(lambda: "when asked" not in widget.panel.question.text(), timeout=WAIT)
    assert widget.panel.class_list.selected_class() == q.label
    if not shows(viewer, session, q.image, q.region):
        enter_brings_the_query_back(qtbot, widget)
    enter_answers_the_query_on_screen(qtbot, widget)
    assert session.queries[q.index].answer == q.label
    wait_idle(qtbot, widget)


def test_a_narrower_canvas_keeps_what_was_framed_in_sight_unless_the_person_moved_it(
        make_napari_viewer, qtbot, demo, tmp_path):
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1280, 800)
    widget = start(viewer, qtbot, demo, tmp_path / "session")
    session, names = widget.session, widget.session.dataset.names
    q = asked(widget)
    camera = viewer.scene.camera

    def whole_image_in_sight():
        shape = viewer.layers[IMAGE_LAYER].data.shape[:2]
        return all(camera.zoom * n <= c for n, c in zip(shape, viewer.canvas.size))

    def resize_the_window(width):
        before = viewer.canvas.size
        viewer.window.resize(width, 800)
        qtbot.waitUntil(lambda: viewer.canvas.size != before, timeout=5000)

    after = names[(names.index(q.image) + 1) % len(names)]
    button(widget, "Image ▶").click()  # that image, whole
    qtbot.waitUntil(lambda: shows(viewer, session, after), timeout=WAIT)
    assert whole_image_in_sight()
    resize_the_window(1180)
    assert whole_image_in_sight()
    # The query, framed again: a narrower canvas keeps it in sight, and Enter answers it.
    enter_brings_the_query_back(qtbot, widget)
    framed = camera.zoom
    resize_the_window(1080)
    assert camera.zoom < framed
    enter_answers_the_query_on_screen(qtbot, widget)
    # Moved by the person: the camera stays where they put it.
    wait_for_query(qtbot, widget)
    camera.zoom *= 3
    zoom, centre = camera.zoom, camera.center
    resize_the_window(1280)
    assert (camera.zoom, camera.center) == (zoom, centre)
    wait_idle(qtbot, widget)


def test_an_image_that_cannot_be_read_is_said_so_and_the_canvas_list_stays_true(
        make_napari_viewer, qtbot, demo, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo, data)
    viewer = make_napari_viewer(show=True)
    widget = start(viewer, qtbot, data, tmp_path / "session")
    names = widget.session.dataset.names
    q = asked(widget)
    errors = []

    def record(notification):
        errors.append(notification.message)
    notification_manager.notification_ready.connect(record)
    gone = data.rename(tmp_path / "moved")  # the dataset folder, moved while in use
    listed = next(c for c in widget.findChildren(QComboBox) if c.currentText() == q.image)
    for _ in names:  # on to an image not read ahead
        before = widget.image_name
        button(widget, "Image ▶").click()
        qtbot.waitUntil(lambda before=before: bool(errors) or widget.image_name != before,
                        timeout=WAIT)
        if errors:
            break
    assert errors, "every image was read ahead"
    shown = widget.image_name
    assert errors[0].startswith("Showing image ") and "file not found" in errors[0]
    assert errors[0].endswith(f"The dataset folder {data} is gone: put it back there, then "
                              "press Start / resume (the session's own labels are safe).")
    assert widget.status.text() == errors[0]
    assert listed.currentText() == shown  # the list names the image still shown
    notification_manager.notification_ready.disconnect(record)
    gone.rename(data)
    wait_idle(qtbot, widget)


def test_a_failed_start_then_a_closed_notification_leave_the_keys_with_the_query(
        make_napari_viewer, qtbot, demo, tmp_path):
    """Found in a walk-through: after a failed Start the panel's buttons
    were enabled with no session; and a napari notification that closes
    focuses the canvas, where the next answer key switched napari's tool."""
    from test_widget import WIDGET, open_from_menu, when_modal
    from a2lc_napari._export import ExportDialog

    viewer = make_napari_viewer(show=True)
    widget = open_from_menu(viewer)
    widget.window().activateWindow()  # the keys go to the active window only
    qtbot.waitUntil(lambda: QApplication.activeWindow() is widget.window(), timeout=WAIT)
    (tmp_path / "empty").mkdir()
    widget.settings.dataset.value = tmp_path / "empty"
    widget.settings.session_dir.value = tmp_path / "session"
    button(widget, "Start / resume").click()
    qtbot.waitUntil(lambda: "empty" in widget.status.text() and not widget.busy, timeout=WAIT)
    assert not any(button(widget, text).isEnabled() for text in ("Undo", "Redo", "Skip ▶"))
    widget.settings.dataset.value = demo
    widget.settings.budget.value, widget.settings.steps.value = 4, 8
    with qtbot.waitSignal(widget.query_shown, timeout=WAIT):
        button(widget, "Start / resume").click()
    wait_for_query(qtbot, widget)
    qtbot.waitUntil(lambda: widget.window().focusWidget() is widget.panel.class_list,
                    timeout=WAIT)
    # A mistake said in a notification: an export into the dataset's own folder.
    toasts = []
    notification_manager.notification_ready.connect(toasts.append)

    def fill(dialog):
        dialog.form.folder.value, dialog.form.format.value = demo, "voc"
        button(dialog, "Export").click()
    when_modal(ExportDialog, fill)
    button(widget, "Export labels…").click()
    qtbot.waitUntil(lambda: bool(toasts), timeout=WAIT)
    notification_manager.notification_ready.disconnect(toasts.append)
    widget.window().activateWindow()  # the export's dialog had it (no window manager here)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is widget.window()
                    and QApplication.focusWidget() is widget.panel.class_list, timeout=WAIT)
    shown = [w for w in widget.window().findChildren(QWidget)
             if type(w).__name__ == "NapariQtNotification" and w.isVisible()]
    assert shown, WIDGET
    close = next(b for b in shown[-1].findChildren(QPushButton)
                 if b.objectName() == "close_button")
    qtbot.mouseClick(close, Qt.LeftButton)  # napari then focuses the canvas
    assert widget.window().focusWidget() is widget.panel.class_list
    q = asked(widget)
    qtbot.keyClick(widget.window().focusWidget(), Qt.Key_3)
    qtbot.waitUntil(lambda: widget.session.queries[q.index].answer == 2, timeout=WAIT)
    wait_idle(qtbot, widget)
