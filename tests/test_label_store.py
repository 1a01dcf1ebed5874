"""The labels a session keeps in memory are the labels on disk."""
import threading

import numpy as np

from a2lc_napari.engine import label_store
from a2lc_napari.engine.io import read_label, write_label
from a2lc_napari.engine.label_store import LabelStore
from a2lc_napari.engine.session_folder import SessionFolder

from conftest import TINY_CLASSES


def test_labels_read_while_they_are_written_are_not_kept_over_the_new_ones(tmp_path,
                                                                         monkeypatch):
    folder = SessionFolder(tmp_path)
    old, new = np.zeros((4, 5), np.uint8), np.full((4, 5), 2, np.uint8)
    write_label(folder.labels("a"), old, TINY_CLASSES)
    store = LabelStore(folder, TINY_CLASSES)
    read_done, go = threading.Event(), threading.Event()

    def slow_read(path):  # a reader that decodes the old file, then pauses
        labels = read_label(path)
        read_done.set()
        go.wait(5)
        return labels

    monkeypatch.setattr(label_store, "read_label", slow_read)
    reader = threading.Thread(target=store.labels, args=("a",))
    reader.start()
    read_done.wait(5)
    monkeypatch.setattr(label_store, "read_label", read_label)
    store.write("a", new)  # the writer thread, while the old labels are in hand
    go.set()
    reader.join(5)
    np.testing.assert_array_equal(store.labels("a"), new)
    np.testing.assert_array_equal(read_label(folder.labels("a")), new)
