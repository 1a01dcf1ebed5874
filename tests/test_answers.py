"""What an answer does to a region's pixels, on hand-made arrays."""
import numpy as np

from a2lc_napari.engine.answers import answer_changes
from a2lc_napari.engine.classes import ClassSet
from a2lc_napari.engine.label_changes import LabelChange
from a2lc_napari.engine.state import Query

CLASSES = ClassSet(names=("a", "b", "c"), colors=((0, 0, 0), (1, 1, 1), (2, 2, 2)))


def test_answering_again_starts_from_the_pixels_before_the_earlier_answers():
    # One region (1) of 5 pixels: mostly class 0, one pixel of class 1; a
    # pixel of region 2 beside it. Answered 2 (rewritten), then 1, then 0.
    regions = np.array([[1, 1, 1, 1, 1, 2]])
    original = np.array([[0, 0, 1, 0, 0, 0]], np.uint8)
    first = np.array([[2, 2, 2, 2, 2, 0]], np.uint8)
    second = np.array([[1, 1, 1, 1, 1, 2]], np.uint8)  # region 2 answered in the same event
    earlier = [LabelChange.between(original, first), LabelChange.between(first, second)]
    query = Query(index=0, image="x", region=1, row=0, label=0, score=1.0, answer=1,
                  rewrite=True)

    def changes(answer):
        return answer_changes({0: answer}, set(), [query], lambda _: second.copy(),
                              lambda _: regions, CLASSES, answered=lambda image, i: earlier)

    # Its label after all: the region as it was (the class-1 pixel too), a
    # confirmation; region 2 keeps what its own answer wrote.
    pixels, (delta,) = changes(0)
    np.testing.assert_array_equal(pixels["x"].applied(second.copy()), [[0, 0, 1, 0, 0, 2]])
    assert delta.after == (0, False)
    # Another class: written whole, from the pixels as they were.
    pixels, (delta,) = changes(2)
    np.testing.assert_array_equal(pixels["x"].applied(second.copy()), [[2, 2, 2, 2, 2, 2]])
    assert delta.after == (2, True)
    # Without the earlier answers' pixels, the current ones count (as before).
    pixels, (delta,) = answer_changes({0: 0}, set(), [query], lambda _: second.copy(),
                                      lambda _: regions, CLASSES)
    np.testing.assert_array_equal(pixels["x"].applied(second.copy()), [[0, 0, 0, 0, 0, 2]])
    assert delta.after == (0, True)
