"""The layer presenter's array helpers, on hand-made arrays."""
import numpy as np
import pytest

from a2lc_napari._layers import (grown, outlines_of, query_color, region_boxes, ring_around,
                                 union)


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


def test_outlines_by_hand():
    values = np.zeros((6, 7), np.uint8)
    values[1:5, 1:5] = 1
    values[1:5, 5:7] = 2  # meets 1, and the array's edge
    assert outlines_of(values, 1, fill=0).tolist() == [
        [0, 0, 0, 0, 0, 0, 0],
        [0, 1, 1, 1, 1, 2, 2],
        [0, 1, 0, 0, 1, 2, 2],
        [0, 1, 0, 0, 1, 2, 2],
        [0, 1, 1, 1, 1, 2, 2],
        [0, 0, 0, 0, 0, 0, 0]]
    # Two pixels wide: nothing of the 4 × 4 block is farther from its edge.
    assert (outlines_of(values, 2, fill=0) == values).all()
    # The fill is the background, whatever its value (the LCM layer's is 255).
    assert outlines_of(np.full((3, 3), 9, np.uint8), 1, fill=9).tolist() == [[9] * 3] * 3


def test_ring_around_and_grown_box_by_hand():
    mask = np.zeros((5, 6), bool)
    mask[1, 1] = mask[2, 1] = True  # a region of two pixels, by the array's left edge
    assert ring_around(mask, 1).astype(int).tolist() == [
        [0, 1, 0, 0, 0, 0],
        [1, 0, 1, 0, 0, 0],
        [1, 0, 1, 0, 0, 0],
        [0, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0]]
    assert ring_around(mask, 2).astype(int).tolist() == [
        [1, 1, 1, 0, 0, 0],
        [1, 0, 1, 1, 0, 0],
        [1, 0, 1, 1, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [0, 1, 0, 0, 0, 0]]
    assert grown((slice(1, 3), slice(1, 2)), 2, mask.shape) == (slice(0, 5), slice(0, 4))


def test_ring_around_a_region_on_an_image_edge_by_hand():
    """Along an image edge the ring has no room outside: it runs inside."""
    mask = np.zeros((4, 5), bool)
    mask[1:4, 0:3] = True  # on the left and bottom edges
    assert ring_around(mask, 2).astype(int).tolist() == [
        [1, 1, 1, 1, 0],
        [1, 1, 0, 1, 1],
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1]]
    assert ring_around(mask, 1).astype(int).tolist() == [
        [1, 1, 1, 0, 0],
        [1, 0, 0, 1, 0],
        [1, 0, 0, 1, 0],
        [1, 1, 1, 1, 0]]
    # A box inside a larger image: its sides that are no image edge keep the ring outside.
    assert ring_around(mask, 1, edges=(False, False, False, False)).astype(int).tolist() == [
        [1, 1, 1, 0, 0],
        [0, 0, 0, 1, 0],
        [0, 0, 0, 1, 0],
        [0, 0, 0, 1, 0]]


def within_steps(mask, steps):
    """Naive reference: pixels outside ``mask`` whose nearest pixel of it is
    at most ``steps`` up, down, left and right steps away."""
    rows, cols = np.nonzero(mask)
    out = np.zeros_like(mask)
    for y, x in np.ndindex(mask.shape):
        out[y, x] = not mask[y, x] and (np.abs(rows - y) + np.abs(cols - x)).min() <= steps
    return out


def ringed(mask, width):
    """Naive reference for the query's ring: :func:`within_steps`, and the
    mask's pixels at most ``width - 1`` steps in from an image edge it
    meets, straight across."""
    height, breadth = mask.shape
    out = within_steps(mask, width)
    for y, x in zip(*np.nonzero(mask)):
        out[y, x] = ((y < width and mask[0, x]) or (y >= height - width and mask[-1, x])
                     or (x < width and mask[y, 0]) or (x >= breadth - width and mask[y, -1]))
    return out


def view_of(name, regions, classes):
    from a2lc_napari._layers import ImageView

    h, w = regions.shape
    shade = sum(map(ord, name)) % 256  # each image its own
    return ImageView(name, np.full((h, w, 3), shade, np.uint8), np.zeros((h, w), np.uint8),
                     regions, (regions % 2).astype(np.uint8), region_boxes(regions))


def prepared(presenter, qtbot):
    """``presenter`` once it has added its layers."""
    ready = []
    presenter.when_ready(lambda: ready.append(True))
    presenter.prepare()
    qtbot.waitUntil(lambda: bool(ready), timeout=30_000)
    return presenter


def test_the_caption_is_drawn_above_its_change_not_over_it(make_napari_viewer, qtbot):
    """A person reads "old → new" and still sees the region it speaks of:
    the caption's pixels, drawn, lie above the region's top row."""
    from a2lc_napari._layers import LCM_CAPTION_LAYER, LayerPresenter
    from a2lc_napari.engine.classes import ClassSet
    from a2lc_napari.engine.methods import METHODS
    from a2lc_napari.engine.state import LCMUpdate

    classes = ClassSet(names=("truck", "car"), colors=((1, 2, 3), (4, 5, 6)))
    viewer = make_napari_viewer(show=True)
    presenter = prepared(LayerPresenter(viewer, classes, METHODS["a2lc"]), qtbot)
    regions = np.ones((60, 60), np.int32)
    regions[30:32, 10:50] = 2  # a thin strip, as small changes are
    presenter.show_image(view_of("one", regions, classes))
    presenter.show_changes([LCMUpdate("one", 2, 0, 1, 0.9)], LCMUpdate("one", 2, 0, 1, 0.9))
    caption = viewer.layers[LCM_CAPTION_LAYER]
    for layer in viewer.layers:
        layer.visible = layer is caption

    def bright_rows():  # the canvas rows with anything drawn on the black ground
        return np.flatnonzero(viewer.screenshot(canvas_only=True)[..., :3].max(axis=(1, 2))
                              > 128)
    text_rows = bright_rows()
    caption.visible = False
    viewer.add_image((regions == 2).astype(np.uint8) * 255)  # the strip alone, white
    strip_rows = bright_rows()
    assert len(text_rows) and len(strip_rows)
    assert text_rows.max() < strip_rows.min()


def test_marks_follow_the_query_and_the_lcm_changes_across_images(make_napari_viewer):
    from a2lc_napari._layers import (IMAGE_LAYER, LCM_CAPTION_LAYER, LCM_LAYER,
                                     OUTLINES_LAYER, QUERY_LAYER, LayerPresenter)
    from a2lc_napari.engine.classes import ClassSet
    from a2lc_napari.engine.methods import METHODS
    from a2lc_napari.engine.state import LCMUpdate

    classes = ClassSet(names=("a", "b", "c"), colors=((1, 2, 3), (4, 5, 6), (7, 8, 9)))
    viewer = make_napari_viewer()
    presenter = LayerPresenter(viewer, classes, METHODS["a2lc"])
    presenter.prepare()
    regions = np.repeat(np.repeat(np.arange(1, 7).reshape(2, 3), 4, 0), 5, 1)  # 8 × 15
    presenter.show_image(view_of("one", regions, classes))
    presenter.show_query(2, None)
    presenter.show_query(6, None)  # the last query's ring goes
    query = viewer.layers[QUERY_LAYER]
    # ringed outside, 2 pixels wide: the region itself stays in sight; in its
    # corner of the image, along the edges, 2 pixels inside it
    np.testing.assert_array_equal(query.data, ringed(regions == 6, 2).astype(np.uint8))
    assert query.translate.tolist() == [0, 0]
    changes = [LCMUpdate("one", 1, 0, 2, 0.9), LCMUpdate("one", 5, 0, 1, 0.9),
               LCMUpdate("two", 3, 0, 1, 0.9)]
    presenter.show_changes(changes)
    expected = np.where(regions == 1, 2, np.where(regions == 5, 1, classes.ignore_index))
    np.testing.assert_array_equal(viewer.layers[LCM_LAYER].data,
                                  outlines_of(expected.astype(np.uint8), 3, classes.ignore_index))
    caption = viewer.layers[LCM_CAPTION_LAYER]
    for selected, text in ((changes[0], ["a → c"]), (changes[1], ["a → b"]), (None, [])):
        presenter.show_changes(changes, selected)  # one caption, the selected change's
        assert list(caption.features["change"]) == text and len(caption.data) == len(text)
    presenter.show_changes(changes, changes[1])  # region 5: rows 4-7, columns 5-9
    assert caption.data.tolist() == [[3, 5]]  # above its top row, from its left edge
    two = regions[::-1].copy()  # the same shape: the layers are changed in place
    presenter.show_image(view_of("two", two, classes))
    presenter.show_changes(changes)
    expected = np.where(two == 3, 1, classes.ignore_index).astype(np.uint8)
    np.testing.assert_array_equal(viewer.layers[LCM_LAYER].data,
                                  outlines_of(expected, 3, classes.ignore_index))
    assert not viewer.layers[QUERY_LAYER].data.any()  # no query on this image yet
    three = regions[:, :8].copy()  # another shape
    presenter.show_image(view_of("three", three, classes))
    presenter.show_query(4, None)
    np.testing.assert_array_equal(viewer.layers[QUERY_LAYER].data,
                                  ringed(three == 4, 2).astype(np.uint8))
    four = three[:, :6].copy()
    first, second = view_of("four", four, classes), view_of("five", four[::-1], classes)
    presenter.show_image(first)  # another shape
    presenter.show_image(second)  # the first's shape: copied in place
    for layer, array in ((IMAGE_LAYER, "image"), (OUTLINES_LAYER, "outlines")):
        np.testing.assert_array_equal(viewer.layers[layer].data, getattr(second, array))
        # ... into the layer's own array: the first image's view is intact.
        np.testing.assert_array_equal(getattr(first, array),
                                      getattr(view_of("four", four, classes), array))


def test_a_tiny_region_is_shown_with_the_image_around_it(make_napari_viewer):
    """A region of 2 pixels in a 200 × 240 image: centred, with at least
    CONTEXT_PIXELS of the image across the canvas; a large one, a third of
    the view; neither closer than the whole image fitted."""
    from a2lc_napari._layers import CONTEXT_PIXELS, LayerPresenter
    from a2lc_napari.engine.classes import ClassSet
    from a2lc_napari.engine.methods import METHODS

    classes = ClassSet(names=("a", "b"), colors=((1, 2, 3), (4, 5, 6)))
    viewer = make_napari_viewer(show=True)
    presenter = LayerPresenter(viewer, classes, METHODS["a2lc"])
    presenter.prepare()
    regions = np.ones((200, 240), np.int32)
    regions[100, 120:122] = 2
    regions[:, :40] = 3  # 200 × 40: a third of the view is less than the whole image
    presenter.show_image(view_of("one", regions, classes))
    camera, canvas = viewer.scene.camera, viewer.canvas.size
    fitted = 0.95 * min(c / n for c, n in zip(canvas, regions.shape))
    presenter.show_query(2, None)
    assert camera.center[-2:] == (100, 120.5)
    assert min(canvas) / camera.zoom >= CONTEXT_PIXELS - 1e-9 and camera.zoom > fitted
    presenter.show_query(3, None)
    assert camera.zoom == pytest.approx(fitted)


def test_the_query_ring_stays_visible_on_a_large_image_shown_whole(make_napari_viewer, qtbot):
    """Street-camera size, a region half the image: shown whole, the ring is
    QUERY_RING_SCREEN screen pixels wide or more, not a hairline; a small
    region, zoomed in, keeps QUERY_RING image pixels."""
    from a2lc_napari._layers import QUERY_LAYER, QUERY_RING, QUERY_RING_SCREEN, LayerPresenter
    from a2lc_napari.engine.classes import ClassSet
    from a2lc_napari.engine.methods import METHODS

    classes = ClassSet(names=("a", "b"), colors=((1, 2, 3), (4, 5, 6)))
    viewer = make_napari_viewer(show=True)
    presenter = prepared(LayerPresenter(viewer, classes, METHODS["a2lc"]), qtbot)
    regions = np.ones((1024, 2048), np.int32)
    regions[200:800, 600:1600] = 2
    regions[500:510, 100:110] = 3
    presenter.show_image(view_of("one", regions, classes))
    for region, row, left, width in ((2, 500, 600, QUERY_RING_SCREEN), (3, 505, 100, None)):
        presenter.show_query(region, None)
        zoom = viewer.scene.camera.zoom
        drawn = viewer.layers[QUERY_LAYER].data[row, :left][::-1]  # outwards from the edge
        run = int(np.argmin(drawn == 1)) if (drawn != 1).any() else drawn.size
        if width is None:  # zoomed in: the ring of QUERY_RING image pixels
            assert run == QUERY_RING
        else:
            assert zoom < 1 and run * zoom >= width
            assert (run - 1) * zoom < width  # no wider than it needs


def test_the_labels_layer_is_the_shown_views_labels_across_images(make_napari_viewer):
    from a2lc_napari._layers import LABELS_LAYER, LayerPresenter
    from a2lc_napari.engine.classes import ClassSet
    from a2lc_napari.engine.methods import METHODS

    classes = ClassSet(names=("a", "b", "c"), colors=((1, 2, 3), (4, 5, 6), (7, 8, 9)))
    viewer = make_napari_viewer()
    presenter = LayerPresenter(viewer, classes, METHODS["alc"])
    presenter.prepare()
    regions = np.repeat(np.arange(1, 5).reshape(2, 2), 3, axis=0).repeat(3, axis=1)  # 6 × 6
    one, two = view_of("one", regions, classes), view_of("two", regions, classes)
    two.labels[:] = 2
    presenter.show_image(one)
    layer = viewer.layers[LABELS_LAYER]
    layer.data_setitem(np.nonzero(regions == 1), 1)  # a stroke on image one
    assert (one.labels[regions == 1] == 1).all()  # ... is in its view too
    presenter.show_image(two)  # the same shape: copied into the layer
    np.testing.assert_array_equal(layer.data, np.full((6, 6), 2))
    np.testing.assert_array_equal(one.labels, np.where(regions == 1, 1, 0))  # kept
    layer.data_setitem(np.nonzero(regions == 4), 0)  # a stroke on image two
    presenter.show_image(one)
    np.testing.assert_array_equal(layer.data, np.where(regions == 1, 1, 0))
    np.testing.assert_array_equal(two.labels, np.where(regions == 4, 0, 2))
    assert layer.data is one.labels


def test_the_selected_change_has_a_black_and_white_rim(make_napari_viewer):
    from a2lc_napari._layers import LCM_LAYER, LayerPresenter
    from a2lc_napari.engine.classes import ClassSet
    from a2lc_napari.engine.methods import METHODS
    from a2lc_napari.engine.state import LCMUpdate

    # Colours alike: each change outlined in road's colour, side by side.
    classes = ClassSet(names=("road", "sidewalk"), colors=((128, 64, 128), (130, 64, 128)))
    viewer = make_napari_viewer()
    presenter = LayerPresenter(viewer, classes, METHODS["a2lc"])
    presenter.prepare()
    regions = np.repeat(np.repeat(np.array([[1, 2]]), 10, 0), 10, 1)  # 10 × 20, two squares
    presenter.show_image(view_of("one", regions, classes))
    changes = [LCMUpdate("one", 1, 1, 0, 0.9), LCMUpdate("one", 2, 1, 0, 0.8)]
    presenter.show_changes(changes)
    layer = viewer.layers[LCM_LAYER]
    plain = layer.data.copy()
    presenter.show_changes(changes, changes[1])
    # Region 2 (columns 10-19), selected: its outermost ring black (2), the next white (3).
    outer, inner = np.zeros((10, 20), bool), np.zeros((10, 20), bool)
    outer[:, 10:] = True
    outer[1:-1, 11:-1] = False
    inner[1:-1, 11:-1] = True
    inner[2:-2, 12:-2] = False
    assert (layer.data[outer] == 2).all() and (layer.data[inner] == 3).all()
    rest = ~(outer | inner)
    np.testing.assert_array_equal(layer.data[rest], plain[rest])  # the rest as before
    np.testing.assert_allclose(layer.colormap.map(np.array([2, 3], np.uint8)),
                               [[0, 0, 0, 1], [1, 1, 1, 1]])
    presenter.show_changes(changes, changes[0])  # the rim follows the selection
    assert (layer.data[:, :10][outer[:, 10:]] == 2).all() and not (layer.data == 3)[:, 10:].any()
    presenter.show_changes(changes)
    np.testing.assert_array_equal(layer.data, plain)


def test_the_query_ring_takes_a_colour_no_class_is_near():
    from a2lc_napari.engine.classes import VOC_CLASSES, ClassSet

    plain = ClassSet(names=("road", "sky"), colors=((128, 64, 128), (70, 130, 180)))
    assert query_color(plain) == (1.0, 230 / 255, 0.0, 1.0)  # yellow
    sign = ClassSet(names=("road", "sign"), colors=((128, 64, 128), (220, 220, 0)))
    assert query_color(sign) == (1.0, 0.0, 1.0, 1.0)  # magenta: yellow is the sign's
    pink = ClassSet(names=("sign", "sidewalk"), colors=((220, 220, 0), (244, 35, 232)))
    assert query_color(pink) == (0.0, 1.0, 1.0, 1.0)  # cyan: magenta is the sidewalk's
    # VOC: its dining table and train are yellowish, its horse purple (found
    # in a walk-through: the yellow ring was lost over a dining table).
    assert query_color(VOC_CLASSES) == (0.0, 1.0, 1.0, 1.0)
    # Every candidate near some class: the farthest of them.
    crowded = ClassSet(names=tuple("abcdef"), colors=((255, 230, 0), (255, 0, 255), (0, 255, 255),
                                                      (255, 128, 0), (0, 255, 0), (250, 250, 250)))
    assert query_color(crowded) == (1.0, 1.0, 1.0, 1.0)
