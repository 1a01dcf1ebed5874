import numpy as np
import pytest
from skimage.measure import label as connected_components

from a2lc_napari.engine.regions import compact_ids, superpixel_regions


def blocky_scene(seed=0, shape=(48, 64)):
    """A smooth image and pseudo-labels whose edges do not follow it."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    image = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 127 // (h + w)], -1)
    image = (image + rng.integers(0, 10, image.shape)).astype(np.uint8)
    labels = np.repeat(np.repeat(rng.integers(0, 3, (h // 8, w // 8)), 8, 0), 8, 1)
    labels = labels.astype(np.uint8)
    labels[5:20, 30:50] = 255  # an ignore patch cutting across blocks
    return image, labels


def test_superpixel_regions_respect_labels_and_cover_everything():
    image, labels = blocky_scene()
    regions = superpixel_regions(image, labels, n_segments=12)
    assert regions.shape == labels.shape and regions.dtype == np.int32
    n = regions.max()
    # ids 1..n, all used, so every pixel is in a region
    np.testing.assert_array_equal(np.unique(regions), np.arange(1, n + 1))
    # one label value per region: as many (region, label) pairs as regions
    pairs = np.unique(regions.astype(np.int64) * 256 + labels)
    assert pairs.size == n
    # each region is one 4-connected piece
    assert connected_components(regions, background=0, connectivity=1).max() == n
    # the superpixels cut further than the label blocks alone
    assert n > connected_components(labels.astype(int) + 1, connectivity=1).max()


def test_superpixel_regions_hand_made():
    image = np.full((4, 6, 3), 128, np.uint8)
    labels = np.array([[0, 0, 1, 1, 0, 0]] * 4, np.uint8)
    labels[3, :2] = 255
    regions = superpixel_regions(image, labels, n_segments=1)
    expected = np.array([[1, 1, 2, 2, 3, 3],
                         [1, 1, 2, 2, 3, 3],
                         [1, 1, 2, 2, 3, 3],
                         [4, 4, 2, 2, 3, 3]])
    np.testing.assert_array_equal(regions, expected)


def test_superpixel_regions_follow_image_edges():
    image = np.zeros((20, 20, 3), np.uint8)
    image[:, 10:] = 255
    regions = superpixel_regions(image, np.zeros((20, 20), np.uint8), n_segments=4)
    assert regions.max() > 1
    for r in range(1, regions.max() + 1):
        assert np.unique(image[regions == r, 0]).size == 1


def test_superpixel_regions_default_segments():
    image, labels = blocky_scene(shape=(200, 200))  # default: max(16, 40000 // 2500) = 16
    labels[:] = 0
    n = superpixel_regions(image, labels).max()
    assert 8 <= n <= 32


def test_superpixel_regions_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        superpixel_regions(np.zeros((4, 5, 3), np.uint8), np.zeros((4, 6), np.uint8))


@pytest.mark.parametrize("scale", [1, 10**6])  # lookup table, then np.unique fallback
def test_compact_ids_round_trip(scale):
    rng = np.random.default_rng(1)
    regions = rng.choice([0, 3, 7, 8, 20], size=(30, 40)).astype(np.int64) * scale
    compact, ids = compact_ids(regions)
    assert compact.dtype == np.int32 and ids.dtype == np.int32
    assert compact.shape == regions.shape
    np.testing.assert_array_equal(ids, np.array([0, 3, 7, 8, 20]) * scale)
    np.testing.assert_array_equal(ids[compact], regions)
    np.testing.assert_array_equal(compact == 0, regions == 0)
    np.testing.assert_array_equal(np.unique(compact), np.arange(5))


@pytest.mark.parametrize("scale", [1, 10**6])
def test_compact_ids_without_zero(scale):
    regions = np.array([[5, 5, 9], [2, 9, 9]]) * scale
    compact, ids = compact_ids(regions)
    np.testing.assert_array_equal(ids, np.array([0, 2, 5, 9]) * scale)
    np.testing.assert_array_equal(compact, [[2, 2, 3], [1, 3, 3]])


def test_compact_ids_edge_cases():
    compact, ids = compact_ids(np.zeros((3, 3), np.int32))
    assert (compact == 0).all() and ids.tolist() == [0]
    compact, ids = compact_ids(np.zeros((0, 4), np.int32))
    assert compact.shape == (0, 4) and ids.tolist() == [0]
    compact, ids = compact_ids(np.array([[4, 4]], np.uint16))
    assert compact.tolist() == [[1, 1]] and ids.tolist() == [0, 4]
    with pytest.raises(ValueError, match=">= 0"):
        compact_ids(np.array([[1, -1]]))
    with pytest.raises(ValueError, match="integers"):
        compact_ids(np.array([[1.0, 2.0]]))
