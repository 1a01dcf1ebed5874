"""session.json: the typed state written and read back, rows as saved before,
and the words it may hold."""
import json

import pytest

from a2lc_napari.engine.config import LCMConfig, SessionConfig
from a2lc_napari.engine.errors import DatasetError
from a2lc_napari.engine.io import write_json
from a2lc_napari.engine.state import (Event, RegionKey, SessionState, read_state,
                                      state_to_json)


def saved_state(tmp_path, **changes):
    """A session.json of a state with one hand edit and one rejected region."""
    state = SessionState(dataset="/data", labels_dir=None, config=SessionConfig(),
                         manual={"a": [3]}, lcm_rejected=[RegionKey("b", 7)],
                         journal=[Event(seq=0, kind="hand_edit", round=1, images=("a",),
                                        manual_added=[RegionKey("a", 3)])])
    data = json.loads(json.dumps(state_to_json(state)))
    for key, value in changes.items():
        data[key] = value
    path = tmp_path / "session.json"
    write_json(path, data)
    return state, path


def test_region_rows_are_saved_as_image_region_lists_and_read_back_typed(tmp_path):
    state, path = saved_state(tmp_path)
    data = json.loads(path.read_text())
    assert data["lcm_rejected"] == [["b", 7]]
    assert data["journal"][0]["manual_added"] == [["a", 3]]
    again = read_state(path)
    assert again == state
    assert again.lcm_rejected[0].region == 7 and again.journal[0].manual_added[0].image == "a"


def test_an_unknown_phase_or_event_kind_is_refused_naming_the_file(tmp_path):
    _, path = saved_state(tmp_path, phase="answering")
    with pytest.raises(DatasetError, match="session.json.*malformed.*phase 'answering'"):
        read_state(path)
    state, path = saved_state(tmp_path)
    data = json.loads(path.read_text())
    data["journal"][0]["kind"] = "paint"
    write_json(path, data)
    with pytest.raises(DatasetError, match="session.json.*malformed.*event kind 'paint'"):
        read_state(path)


def test_no_session_says_whether_the_folder_is_missing_or_holds_none(tmp_path):
    with pytest.raises(DatasetError, match=r"nosuch: does not exist: no session there"):
        read_state(tmp_path / "nosuch" / "session.json")
    with pytest.raises(DatasetError, match=r"session.json: missing: this folder holds no"):
        read_state(tmp_path / "session.json")


def test_differences_name_each_setting_that_differs_nested_ones_too():
    asked = SessionConfig(budget=7, lcm=LCMConfig(paper=True), tau=(0.5,))
    assert SessionConfig().differences(asked) == [
        "budget: 30, not 7", "tau: (0.99, 0.999), not (0.5,)", "lcm.paper: False, not True"]
    assert asked.differences(asked) == []


def test_a_write_that_fails_names_the_file_meant_and_leaves_no_temporary_file(tmp_path,
                                                                              monkeypatch):
    import os

    def full(src, dst):
        raise OSError(28, "No space left on device", src)
    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError) as failed:
        write_json(tmp_path / "session.json", {"round": 1})
    assert failed.value.filename == str(tmp_path / "session.json")
    assert failed.value.strerror == "No space left on device"
    assert list(tmp_path.iterdir()) == []
