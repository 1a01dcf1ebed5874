"""The time left a long step shows: its pace so far, in words."""
import pytest

from a2lc_napari.engine.progress import duration_text, progress_text, seconds_left


def test_seconds_left_at_the_pace_kept_since_the_step_began():
    assert seconds_left(10, 40, 20.0) == 60.0  # 2 s an item, 30 to go
    assert seconds_left(10, 40, 20.0, done_before=5) == 120.0  # 4 s an item since item 5
    assert seconds_left(39, 40, 39.0) == 1.0


@pytest.mark.parametrize("done, total, elapsed, before", [
    (0, 40, 5.0, 0),    # nothing done yet
    (40, 40, 5.0, 0),   # finished
    (3, 0, 5.0, 0),     # no total
    (5, 40, 5.0, 5),    # nothing done since the pace began
    (5, 40, 0.0, 0),    # no time passed
])
def test_no_time_left_where_the_pace_says_nothing(done, total, elapsed, before):
    assert seconds_left(done, total, elapsed, before) is None


@pytest.mark.parametrize("seconds, text", [
    (0.5, "a few seconds"), (9.9, "a few seconds"), (10, "10 s"), (41, "50 s"),
    (59, "60 s"), (60, "1 min"), (61, "2 min"), (3540, "59 min"), (3599, "1 h"), (3600, "1 h"),
    (4801, "1 h 21 min"),
])
def test_duration_in_words_rounded_up(seconds, text):
    assert duration_text(seconds) == text


def test_status_line():
    assert progress_text("Ranking regions", 12, 40, 150.0) == \
        "Ranking regions… 12 of 40 · about 3 min left"
    assert progress_text("Ranking regions", 0, 40, None) == "Ranking regions… 0 of 40"
    assert progress_text("Starting", 0, 0, None) == "Starting…"
    assert progress_text("Training model", 29, 60, 4.0) == \
        "Training model… 29 of 60 · a few seconds left"
