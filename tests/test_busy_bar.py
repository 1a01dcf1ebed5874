"""The status line above the dock: what was said, in front of the step's progress."""
from a2lc_napari._busy_bar import BusyBar

SAID = "Answered query 3 of round 1: car (was road)."


def test_what_is_said_before_a_step_goes_unless_kept(qtbot):
    bar = BusyBar()
    qtbot.addWidget(bar)
    bar.say(SAID)
    bar.set_busy(True)  # a step that the person's change did not start
    bar.show_progress("Ranking regions", 1, 4)
    assert bar.status.text() == "Ranking regions… 1 of 4"
    bar.set_busy(False)
    assert bar.status.text() == ""


def test_what_is_said_to_keep_stays_through_the_steps_until_something_else(qtbot):
    bar = BusyBar()
    qtbot.addWidget(bar)
    bar.say(SAID, keep=True)  # the round's last answer: its end follows
    for step in ("Finishing round 1", "Preparing round 2"):
        bar.set_busy(True)
        bar.show_progress(step, 0, 2)
        assert bar.status.text() == f"{SAID} — {step}… 0 of 2"
        bar.set_busy(False)
        assert bar.status.text() == SAID
    bar.say("Nothing to undo.")  # something else said: the kept one goes
    assert bar.status.text() == "Nothing to undo."
    bar.set_busy(True)
    bar.show_progress("Training model", 0, 2)
    assert bar.status.text() == "Training model… 0 of 2"
