"""The layer presenter's array helpers, on hand-made arrays."""
import numpy as np

from a2lc_napari._layers import region_boxes, union


def test_region_boxes_by_hand_with_sparse_huge_ids():
    regions = np.array([[0, 7, 7, 0],
                        [2**30, 7, 0, 0],
                        [2**30, 2**30, 0, 5]], np.int64)
    assert region_boxes(regions) == {5: (slice(2, 3), slice(3, 4)),
                                     7: (slice(0, 2), slice(1, 3)),
                                     2**30: (slice(1, 3), slice(0, 2))}


def test_union_of_boxes():
    a, b = (slice(2, 3), slice(3, 4)), (slice(0, 2), slice(1, 3))
    assert union([a, b]) == (slice(0, 3), slice(1, 4))
    assert union([a]) == a
    assert union([]) is None
