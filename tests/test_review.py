"""What the LCM review tells a person of how sure the LCM is."""
from qtpy.QtCore import QPoint, Qt

from a2lc_napari._review import how_sure, vouched
from a2lc_napari.engine.classes import ClassSet
from a2lc_napari.engine.state import LCMProposal, LCMUpdate


def test_how_sure_says_why_nothing_is_proposed_and_what_is_expected():
    assert how_sure(None, 0.9) == ""
    assert "cannot vouch that 90%" in how_sure(LCMProposal(tau=None), 0.9)
    assert how_sure(LCMProposal(tau=None, reason="Answering more lets it propose."), 0.9) == (
        "The LCM proposes nothing this round: the answers so far cannot vouch that 90% of "
        "its changes would be right. Answering more lets it propose.")
    assert how_sure(LCMProposal(tau=0.8, reach=0.5, estimated_precision=96.43,
                                held_out_changes=28, lower_precision=88.2), 0.9) == (
        "Of the 28 answers it would have changed at confidence ≥ 0.8, held out of its "
        "training, 27 came out right: 96%, at least 88% with 90% confidence. They were asked "
        "because they looked wrong, not drawn from its proposals, which may be right less "
        "often.")
    assert "held out of its training, all came out right: 100%, at least 75%" in how_sure(
        LCMProposal(tau=0.5, reach=0.5, estimated_precision=100.0, held_out_changes=8,
                    lower_precision=74.99), 0.9)
    # The paper's LCM at its fixed τ: what the held-out answers vouch for, or that none do
    assert how_sure(LCMProposal(tau=0.99), 0.9).endswith("nothing vouches for its proposals.")
    assert vouched(LCMProposal(tau=0.99)) == ""
    change = LCMUpdate(image="a", region=1, old=0, new=1, confidence=0.999)
    assert how_sure(LCMProposal([change] * 40, tau=0.99, estimated_precision=60.0,
                                held_out_changes=10, lower_precision=35.5), 0.9).endswith(
        "which may be right less often. Were its proposals like those answers, at least 14 "
        "of its 40 proposals would be right.")
    assert how_sure(LCMProposal([change], tau=0.8, reach=0.5, estimated_precision=100.0,
                                held_out_changes=8, lower_precision=75.0, checks=4,
                                checks_right=3), 0.9).endswith(
        "The answers held out of its training vouch for none of its 1 proposal. Of its "
        "proposals you checked as queries, 3 of 4 were right.")
    assert vouched(LCMProposal([change], tau=0.99)) == (  # one wording, bound or none
        "The answers held out of its training vouch for none of its 1 proposal.")
    # Too few confirmations for an estimate: its surest proposals, vouched for by checks.
    assert how_sure(LCMProposal([change] * 100, tau=0.999, reach=0.5, strict=True, checks=10,
                                checks_right=10, lower_precision=79.43), 0.9) == (
        "Too few answers confirmed a label to estimate how many of its changes would be "
        "right, so this round the LCM proposes only its surest ones (confidence ≥ 0.999, "
        "beside the answers). Of its proposals you checked as queries, 10 of 10 were right. "
        "Your checks vouch for at least 79 of its 100 proposals.")
    assert vouched(LCMProposal([change], tau=0.999, strict=True)) == (
        "No check vouches for them yet.")


def review_of(qtbot, changes, classes):
    from a2lc_napari._review import ReviewPanel

    panel = ReviewPanel()
    qtbot.addWidget(panel)
    panel.show_changes(classes, changes, [])
    panel.resize(panel.minimumSizeHint())  # as narrow as it lets itself be
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def header_click(qtbot, table, column):
    header = table.horizontalHeader()
    qtbot.mouseClick(header.viewport(), Qt.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(column) + 5, 5))


def row_click(qtbot, table, row):
    qtbot.mouseClick(table.viewport(), Qt.LeftButton,
                     pos=table.visualItemRect(table.item(row, 1)).center())


CLASSES = ClassSet(names=("road", "sidewalk", "building", "vegetation"),
                   colors=((128, 64, 128), (244, 35, 232), (70, 70, 70), (107, 142, 35)))


def test_a_decision_selects_and_shows_the_next_row_in_the_sort_order(qtbot):
    # The table's own order (by confidence, descending) differs from the list's.
    changes = [LCMUpdate(f"image_{i}", i + 1, 1, 3, conf)
               for i, conf in enumerate((0.5, 0.9, 0.7, 0.6, 0.8))]
    panel = review_of(qtbot, changes, CLASSES)
    table = panel.table
    header_click(qtbot, table, 2)
    header_click(qtbot, table, 2)  # descending: 0.9, 0.8, 0.7, 0.6, 0.5
    assert [table.item(r, 2).text() for r in range(5)] == ["0.900", "0.800", "0.700", "0.600",
                                                           "0.500"]
    row_click(qtbot, table, 1)
    assert panel.current() == changes[4]
    for key, accept, decided, then in ((Qt.Key_A, True, changes[4], changes[2]),
                                       (Qt.Key_R, False, changes[2], changes[3])):
        with qtbot.waitSignal(panel.decided) as decision:
            qtbot.keyClick(table, key)
        assert decision.args == [[decided], accept]
        left = [c for c in panel.changes if c != decided]
        with qtbot.waitSignal(panel.selected) as shown:  # the session wrote it: the table anew
            panel.show_changes(CLASSES, left, [])
        assert shown.args == [then] and panel.current() == then
        assert table.currentRow() == 1  # the place kept
    # Ctrl+A (select all, by habit) and Shift+R decide nothing; only A and R do.
    with qtbot.assertNotEmitted(panel.decided):
        for key, modifier in ((Qt.Key_A, Qt.ControlModifier), (Qt.Key_R, Qt.ShiftModifier),
                              (Qt.Key_R, Qt.ControlModifier)):
            qtbot.keyClick(table, key, modifier)
    # Refilled without a decision (a new proposal): the same row, quietly.
    with qtbot.assertNotEmitted(panel.selected):
        panel.show_changes(CLASSES, list(panel.changes), [])
    assert panel.current() == changes[3]


def test_the_rows_come_by_image_the_first_one_first_then_by_region(qtbot):
    changes = [LCMUpdate(f"image_{i}", region, 1, 3, 0.9)
               for i, region in ((2, 1), (0, 12), (3, 1), (0, 3), (1, 1), (0, 7))]
    table = review_of(qtbot, changes, CLASSES).table
    assert [table.item(r, 0).toolTip() for r in range(6)] == [
        "image_0, region 3", "image_0, region 7", "image_0, region 12", "image_1, region 1",
        "image_2, region 1", "image_3, region 1"]
    assert [table.item(r, 0).text() for r in range(3)] == ["image_0"] * 3


def test_an_unlabelled_region_is_called_unlabelled_as_in_the_questions(qtbot):
    changes = [LCMUpdate("image_0", 1, CLASSES.ignore_index, 3, 0.9),
               LCMUpdate("image_0", 2, 0, 1, 0.8)]
    table = review_of(qtbot, changes, CLASSES).table
    assert [table.item(r, 1).text() for r in range(2)] == ["unlabelled → vegetation",
                                                           "road → sidewalk"]


def test_the_decisions_are_off_while_there_is_nothing_to_decide(qtbot):
    from qtpy.QtWidgets import QPushButton

    panel = review_of(qtbot, [], CLASSES)
    buttons = panel.findChildren(QPushButton)
    assert len(buttons) == 8 and not any(b.isEnabled() for b in buttons)
    panel.show_changes(CLASSES, [LCMUpdate("a", 1, 0, 2, 0.9)], [])
    assert all(b.isEnabled() for b in buttons)


def test_every_column_in_sight_and_old_new_never_elided(qtbot):
    changes = [LCMUpdate("a_rather_long_image_name_0001", 12, 2, 3, 0.81234),
               LCMUpdate("b", 3, 255, 1, 0.5)]
    panel = review_of(qtbot, changes, CLASSES)
    table = panel.table
    assert not table.horizontalScrollBar().isVisible()
    widths = [table.columnWidth(c) for c in range(table.columnCount())]
    assert sum(widths) <= table.viewport().width()
    metrics = table.fontMetrics()
    for row in range(table.rowCount()):
        for col in range(1, table.columnCount()):  # all but the image name: whole
            text = table.item(row, col).text()
            assert metrics.horizontalAdvance(text) < widths[col], text
    assert "building → vegetation" in [table.item(r, 1).text() for r in range(2)]


def test_reject_all_takes_back_every_change_of_the_row_s_status(qtbot):
    """A round's applied changes all wrong (the paper's LCM, applied in one
    click): one button takes every applied change back, not the proposals."""
    from qtpy.QtWidgets import QPushButton

    applied = [LCMUpdate("a", 1, 1, 3, 1.0), LCMUpdate("b", 2, 0, 2, 1.0),
               LCMUpdate("c", 5, 2, 1, 1.0)]
    proposed = [LCMUpdate("a", 3, 1, 3, 0.7), LCMUpdate("b", 4, 0, 2, 0.6)]
    panel = review_of(qtbot, proposed, CLASSES)
    panel.show_changes(CLASSES, proposed, applied)
    buttons = {b.text(): b for b in panel.findChildren(QPushButton)}
    for change, text, expected, accept in ((applied[1], "Reject all", applied, False),
                                           (proposed[0], "Accept all", proposed, True)):
        panel.select(change)
        with qtbot.waitSignal(panel.decided) as decision:
            qtbot.mouseClick(buttons[text], Qt.LeftButton)
        assert decision.args == [expected, accept]


def test_a_pair_or_an_image_is_decided_among_the_changes_of_the_row_s_status(qtbot):
    # Last round's applied changes and this round's proposals on one image.
    applied = [LCMUpdate("a", 1, 1, 3, 0.9), LCMUpdate("a", 2, 1, 3, 0.8)]
    proposed = [LCMUpdate("a", 3, 1, 3, 0.7), LCMUpdate("a", 4, 0, 2, 0.6)]
    panel = review_of(qtbot, proposed, CLASSES)
    panel.show_changes(CLASSES, proposed, applied)
    for change, scope, expected in ((proposed[0], "image", proposed),
                                    (proposed[0], "pair", proposed[:1]),
                                    (applied[1], "image", applied),
                                    (applied[1], "pair", applied)):
        panel.select(change)
        with qtbot.waitSignal(panel.decided) as decision:
            panel.decide(scope, False)
        assert decision.args == [expected, False]
