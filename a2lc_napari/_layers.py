"""How the plugin shows labels in napari: class colours and names, and the
correction widget's layers (:class:`LayerPresenter`)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from app_model.types import KeyCode, KeyMod
from napari.utils.colormaps import DirectLabelColormap
from qtpy.QtCore import QTimer

from ._query_view import label_name
from .engine.classes import ClassSet
from .engine.methods import Method
from .engine.metrics import class_pixels
from .engine.region_summary import majority
from .engine.regions import compact_ids, region_values


def class_colormap(classes: ClassSet, extra: dict | None = None) -> DirectLabelColormap:
    """The dataset's class colours (and ``extra`` values' RGBA colours); the
    ignore value is napari's background (transparent, and what the eraser paints)."""
    colors = {i: np.append(np.asarray(c) / 255, 1.0) for i, c in enumerate(classes.colors)}
    colors.update(extra or {})
    colors[None] = "transparent"
    colors[classes.ignore_index] = "transparent"
    return DirectLabelColormap(color_dict=colors, background_value=classes.ignore_index)


def highlight_values(classes: ClassSet) -> tuple[int, int] | None:
    """The two label values after the classes that draw the selected LCM
    change's rim (:data:`HIGHLIGHT_COLORS`), or None when no two are free."""
    first = classes.num_classes
    free = [v for v in (first, first + 1) if v != classes.ignore_index and v < 256]
    return (first, first + 1) if len(free) == 2 else None


def query_color(classes: ClassSet) -> tuple[float, float, float, float]:
    """RGBA colour of the query's ring: of :data:`QUERY_COLORS`, the first
    far from every class colour (a yellow ring around a yellow "sign" is
    lost), else the farthest."""
    colors = np.asarray(classes.colors, dtype=float).reshape(-1, 3)
    nearest = [np.abs(colors - c).sum(axis=1).min(initial=np.inf) for c in QUERY_COLORS]
    # 200 apart (summed over R, G, B): VOC's dining table (192, 128, 0), 165
    # from the yellow, drawn at half opacity over a light table, hid it.
    far = [i for i, d in enumerate(nearest) if d >= 200]
    best = far[0] if far else int(np.argmax(nearest))
    return (*(v / 255 for v in QUERY_COLORS[best]), 1.0)


def labels_kwargs(classes: ClassSet, dataset: str | None = None) -> dict:
    """Keyword arguments of a class-label layer: colours, class names shown
    on hover, and the classes kept in the metadata for the writer."""
    metadata = {"a2lc_classes": classes.to_json()}
    if dataset is not None:
        metadata["a2lc_dataset"] = dataset
    return {"colormap": class_colormap(classes),
            "features": {"index": np.arange(classes.num_classes),
                         "class": list(classes.names)},
            "metadata": metadata}


# ---- the layers of the correction widget -------------------------------------------

IMAGE_LAYER = "image"
LABELS_LAYER = "labels"
OUTLINES_LAYER = "region outlines"
QUERY_LAYER = "query"
QUERY_PIXEL_LAYER = "query pixel"
LCM_LAYER = "LCM changes"
LCM_CAPTION_LAYER = "LCM change: old → new"
#: Colours the query's ring may take, first choice first (RGB, 0-255).
QUERY_COLORS = ((255, 230, 0), (255, 0, 255), (0, 255, 255), (255, 128, 0), (0, 255, 0),
                (255, 255, 255))
#: The query's ring around its region: outside it, so that a region a few
#: pixels wide is not covered by its own outline; at least this many of the
#: image's pixels wide, and of the screen's at the zoom it is shown at (a
#: large image shown whole would make a ring of 2 image pixels a hairline).
QUERY_RING = 2
QUERY_RING_SCREEN = 4
#: A region is shown with at least this many of the image's pixels across the
#: canvas's narrower side: a region of a few pixels, zoomed to a third of the
#: view, would leave nothing around it to judge it by.
CONTEXT_PIXELS = 64
#: The selected LCM change's rim, outside in: black then white, one pixel
#: each, so that it stands out whatever the class colours around it.
HIGHLIGHT_COLORS = ((0.0, 0.0, 0.0, 1.0), (1.0, 1.0, 1.0, 1.0))

#: Between two layers added (ms): the canvas draws the first before the next comes.
PREPARE_GAP_MS = 40


@dataclass
class ImageView:
    """What showing one image takes, read off the main thread.

    ``image`` (H, W, 3) uint8, ``labels`` (H, W) uint8, ``regions`` (H, W)
    int region ids, ``outlines`` (H, W) uint8 (1 on region borders),
    ``boxes`` each region id's bounding box (a pair of slices).
    """

    name: str
    image: np.ndarray
    labels: np.ndarray
    regions: np.ndarray
    outlines: np.ndarray
    boxes: dict


def region_boxes(regions: np.ndarray) -> dict[int, tuple[slice, slice]]:
    """The bounding box of every region id of (H, W) ``regions`` (0: none)."""
    from scipy.ndimage import find_objects  # in the worker: see load_view

    compact, ids = compact_ids(regions)
    return {int(i): box for i, box in zip(ids[1:], find_objects(compact)) if box is not None}


def load_view(session, name: str) -> ImageView:
    """Read image ``name`` of a session and outline its regions (slow: run in a worker)."""
    # Imported here, in the worker: scipy and skimage take a fifth of a
    # second to import, which the widget's opening would otherwise wait for.
    from skimage.segmentation import find_boundaries

    regions = session.dataset.regions(name)
    return ImageView(name, session.dataset.image(name), session.labels(name), regions,
                     find_boundaries(regions, mode="inner").astype(np.uint8),
                     region_boxes(regions))


def outlines_of(values: np.ndarray, width: int, fill: int) -> np.ndarray:
    """Keep ``values`` only at the edges between different values, ``width``
    pixels wide on the inner side (as napari's Labels ``contour``), and
    ``fill`` elsewhere; outside the array counts as ``fill``.

    Parameters
    ----------
    values : (H, W) uint8 array
    width : int, at least 1
    fill : int

    Returns
    -------
    (H, W) uint8 array
    """
    from scipy import ndimage as ndi

    cross = ndi.generate_binary_structure(2, 1)
    padded = np.pad(values, width, constant_values=fill)
    inner = ndi.grey_dilation(padded, footprint=cross) == ndi.grey_erosion(
        padded, footprint=ndi.iterate_structure(cross, width))
    return np.where(inner[width:-width, width:-width], np.uint8(fill), values)


def ring_around(mask: np.ndarray, width: int,
                edges: tuple[bool, bool, bool, bool] = (True, True, True, True)) -> np.ndarray:
    """(H, W) bool: the pixels at most ``width`` steps (up, down, left,
    right) from ``mask`` (H, W) bool, outside it; and where the mask meets
    an image edge, where the ring has no room, its own first ``width``
    pixels in from that edge. ``edges`` (top, bottom, left, right): which
    sides of the array are the image's edges (all, for a whole image)."""
    from scipy import ndimage as ndi

    cross = ndi.generate_binary_structure(2, 1)
    ring = ndi.binary_dilation(mask, cross, iterations=width) & ~mask
    top, bottom, left, right = edges
    if top:
        ring[:width] |= mask[:width] & mask[0]
    if bottom:
        ring[-width:] |= mask[-width:] & mask[-1]
    if left:
        ring[:, :width] |= mask[:, :width] & mask[:, :1]
    if right:
        ring[:, -width:] |= mask[:, -width:] & mask[:, -1:]
    return ring


def grown(box: tuple[slice, slice], width: int, shape: tuple[int, int]) -> tuple[slice, slice]:
    """A box (a pair of slices) ``width`` pixels larger on every side, within ``shape``."""
    return tuple(slice(max(b.start - width, 0), min(b.stop + width, n))
                 for b, n in zip(box, shape))


def union(boxes) -> tuple[slice, slice] | None:
    """The smallest box holding all ``boxes`` (None for none)."""
    boxes = list(boxes)
    if not boxes:
        return None
    return tuple(slice(min(b[d].start for b in boxes), max(b[d].stop for b in boxes))
                 for d in range(2))


def warm_up(classes: ClassSet, specs: dict) -> None:
    """What napari does the first time a viewer shows a layer of each kind,
    done ahead in a worker so that the main thread does not stall on it:
    its lazy imports (pandas for layer features, scipy, pint and its unit
    registry) through one layer model of each of ``specs`` (no viewer, no
    Qt), the compiling of its numba colour mapping, and the dash patterns
    of vispy's lines (the labels layer's polygon tool draws three lines,
    each making all patterns, which vispy caches: 55 ms once)."""
    import napari.layers
    from vispy.visuals.line.dash_atlas import DashAtlas

    for kind, empty, kwargs in specs.values():
        getattr(napari.layers, kind.capitalize())(empty, **kwargs)
    class_colormap(classes).map(np.zeros((2, 2), np.uint8))
    DashAtlas()


class LayerPresenter:
    """The only code that knows the widget's layers: it adds each once, then
    changes their data in place (main thread only).

    Layers, bottom to top: ``image``, ``labels`` (class colours), ``region
    outlines``, ``LCM changes`` (each changed region outlined in its new
    class's colour), ``query`` (and ``query pixel`` for pixel queries) and
    ``LCM change: old → new`` (the caption of the selected change); the
    LCM's two only for methods with an LCM.
    """

    def __init__(self, viewer, classes: ClassSet, method: Method, undo=None, redo=None):
        self.viewer, self.classes = viewer, classes
        self.undo, self.redo = undo, redo  # what Ctrl+Z / Ctrl+Shift+Z do on its layers
        self.name: str | None = None
        self.regions: np.ndarray | None = None
        self.boxes: dict = {}
        self._waiting: list | None = []  # callbacks until the layers exist; None after
        self._marks: dict = {}  # layer name -> the box of the regions it marks now
        self._caption: tuple | None = None  # (points, text) of the caption shown
        # (box, camera centre, zoom) of the last framing: kept framed as the canvas resizes.
        self._framed: tuple | None = None
        self.editing = False  # the presenter itself is changing the labels layer
        self._drawn: np.ndarray | None = None  # the labels layer as last drawn or taken
        self.closed = False  # its session closed: its layers gone, none added again
        transparent = {None: "transparent"}
        ignore, ring = classes.ignore_index, query_color(classes)
        # name -> (kind, an empty placeholder, keyword arguments of viewer.add_<kind>),
        # bottom to top: the query's outline over the LCM's, the caption over all.
        self.specs = {
            IMAGE_LAYER: ("image", np.zeros((1, 1, 3), np.uint8), {"rgb": True}),
            LABELS_LAYER: ("labels", np.full((1, 1), ignore, np.uint8),
                           {"opacity": 0.5, **labels_kwargs(classes)}),
            OUTLINES_LAYER: ("labels", np.zeros((1, 1), np.uint8),
                             {"opacity": 0.4,
                              "colormap": {1: (1.0, 1.0, 1.0, 1.0), **transparent}}),
            LCM_LAYER: ("labels", np.full((1, 1), ignore, np.uint8),
                        {"opacity": 1.0, **labels_kwargs(classes),
                         "colormap": self._lcm_colormap()}),
            QUERY_LAYER: ("labels", np.zeros((1, 1), np.uint8),
                          {"colormap": {1: ring, **transparent}}),
            QUERY_PIXEL_LAYER: ("points", np.zeros((0, 2)),
                                {"symbol": "cross", "size": 7,  # a colour's name, one point
                                 "face_color": "#%02x%02x%02x" % tuple(round(255 * v)
                                                                      for v in ring[:3])}),
            # napari's "upper_left" draws the text above and right of its point
            # ("lower_left" hangs it below, over the region it names).
            LCM_CAPTION_LAYER: ("points", np.zeros((0, 2)),
                                {"size": 1, "face_color": "transparent",
                                 "border_color": "transparent", "features": {"change": []},
                                 "text": {"string": "{change}", "color": "white", "size": 11,
                                          "anchor": "upper_left"}}),
        }
        # Only the layers this method can fill: each costs napari a stall to add.
        if method.region_query:
            del self.specs[QUERY_PIXEL_LAYER]
        if not method.lcm:
            del self.specs[LCM_LAYER], self.specs[LCM_CAPTION_LAYER]
        viewer.canvas.events.size.connect(self._refit)

    def _lcm_colormap(self) -> DirectLabelColormap:
        """The class colours, and the selected change's rim."""
        rim = highlight_values(self.classes)
        return class_colormap(self.classes,
                              None if rim is None else dict(zip(rim, HIGHLIGHT_COLORS)))

    def _fits(self, name: str, data) -> bool:
        """Layer ``name`` exists and can take ``data`` in place."""
        layers = self.viewer.layers
        if name not in layers:
            return False
        layer, kind = layers[name], self.specs[name][0]
        # layer.__class__, not type(layer): napari hands plugins proxies of its layers.
        return (layer.__class__.__name__.lower() == kind and np.ndim(layer.data) == np.ndim(data)
                and getattr(layer, "rgb", False) == self.specs[name][2].get("rgb", False))

    def _add(self, name: str, data):
        """Add layer ``name`` (in place of one of another kind, e.g. the
        reader's stack of all images)."""
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        kind, _, kwargs = self.specs[name]
        layer = getattr(self.viewer, f"add_{kind}")(data, name=name, **kwargs)
        self._bind_undo(layer)  # whichever is selected (the last added: the caption's points)
        return layer

    def _bind_undo(self, layer) -> None:
        """Ctrl+Z / Ctrl+Shift+Z on the canvas, with any of the widget's layers
        selected, take back the session's last change, not the layer's:
        napari's own history of a labels layer also holds the presenter's
        edits, which the session's journal undoes. (So napari's history is
        never replayed; it keeps its last 100 edits.)"""
        if self.undo is not None:
            layer.bind_key(KeyMod.CtrlCmd | KeyCode.KeyZ, lambda _: self.undo(),
                           overwrite=True)
            layer.bind_key(KeyMod.CtrlCmd | KeyMod.Shift | KeyCode.KeyZ,
                           lambda _: self.redo(), overwrite=True)

    def _layer(self, name: str, data):
        """Set the data of layer ``name``, adding it if needed; shown.

        The image and the outlines, when of the same shape, are copied into
        the layer's own array, then redrawn: a new ``data`` also makes
        napari recompute the viewer's dimensions, which costs as much again.
        The labels layer takes the very array it is given (a stroke changes
        the image's view too: see the widget's ``_reload``).
        """
        if not self._fits(name, data):
            # Added empty, then filled as always (the caption's features must
            # match its points at every step).
            self._add(name, self.specs[name][1])
        layer = self.viewer.layers[name]
        if name == LABELS_LAYER or self.specs[name][0] == "points":
            layer.data = data
        elif (layer.data.shape, layer.data.dtype) == (data.shape, data.dtype):
            np.copyto(layer.data, data)
            layer.refresh()
        else:
            layer.data = np.array(data)  # its own, to copy the next images into
        self._show(layer)
        return layer

    @staticmethod
    def _show(layer) -> None:
        if not layer.visible:  # napari refreshes the whole layer on every set
            layer.visible = True

    def _reveal(self, name: str) -> None:
        # (the person may have removed it meanwhile)
        if not self.closed and name in self.viewer.layers:
            self._show(self.viewer.layers[name])

    def _hide(self, name: str) -> None:
        if name in self.viewer.layers and self.viewer.layers[name].visible:
            self.viewer.layers[name].visible = False

    def close(self) -> None:
        """Take the session's layers out of the viewer, and add none again
        (the session closed): the layers :meth:`prepare` has still to add
        and what :meth:`when_ready` queued are dropped."""
        self.closed, self._waiting = True, []
        self.viewer.canvas.events.size.disconnect(self._refit)
        for name in self.specs:
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)

    def prepare(self) -> None:
        """Add the missing layers, empty and hidden, one at a time with the
        event loop running between them (napari takes a tenth of a second
        or more to add a layer and to draw it first, so adding them all at
        once would freeze the canvas), then call what :meth:`when_ready`
        queued."""
        if self.closed:
            return
        missing = [n for n, (_, empty, _) in self.specs.items() if not self._fits(n, empty)]
        if missing:
            name = missing[0]
            self._add(name, self.specs[name][1]).visible = False
            if name != IMAGE_LAYER:  # the others' placeholders are clear
                # Shown at the next step, so that napari draws it and builds
                # its shaders then, not all at once at the first query.
                QTimer.singleShot(PREPARE_GAP_MS, lambda: self._reveal(name))
            QTimer.singleShot(2 * PREPARE_GAP_MS, self.prepare)
            return
        self._keep_labels_active()
        waiting, self._waiting = self._waiting or [], None
        for then in waiting:
            then()

    def _keep_labels_active(self) -> None:
        """The labels layer active where napari made another of the session's
        layers so (it activates the layer added last), so that its paint
        tools act on the labels from the first image on. A layer of the
        person's own stays active."""
        layers = self.viewer.layers
        active = layers.selection.active
        if LABELS_LAYER in layers and (active is None or active.name in self.specs):
            layers.selection.active = self.labels_layer

    def when_ready(self, then) -> None:
        """Call ``then()`` once :meth:`prepare` has added the layers (never
        once closed)."""
        if self.closed:
            return
        if self._waiting is None:
            then()
        else:
            self._waiting.append(then)

    @property
    def labels_layer(self):
        return self.viewer.layers[LABELS_LAYER]

    def show_image(self, view: ImageView) -> bool:
        """Show an image with its labels and region outlines. Returns whether
        the labels layer is new (to connect its events)."""
        reset = self.regions is None or self.regions.shape != view.regions.shape
        self._layer(IMAGE_LAYER, view.image)
        fresh = LABELS_LAYER not in self.viewer.layers or not self.labels_layer.metadata.get(
            "a2lc_widget")
        layer = self._layer(LABELS_LAYER, view.labels)
        self._drawn = np.array(view.labels)
        if fresh:  # perhaps the reader's layer, taken over
            self._bind_undo(layer)
        layer.metadata["a2lc_widget"] = True
        self._layer(OUTLINES_LAYER, view.outlines)
        self.name, self.regions, self.boxes = view.name, view.regions, view.boxes
        self.hide_query()  # the last query was on another image
        self._keep_labels_active()
        if reset:
            self.fit()
        return fresh

    def set_labels(self, labels: np.ndarray) -> None:
        """Bring the shown image's labels to ``labels`` (after an answer, an
        undo, the LCM, a review), redrawing only the pixels that changed."""
        full = tuple(slice(0, n) for n in labels.shape)
        self._set_pixels(self.labels_layer, full, labels)
        self._drawn = np.array(labels)

    def take_painted(self) -> np.ndarray:
        """(H, W) bool: the pixels of the labels layer that the person changed
        since the presenter last drew it or took them; taken, they count as
        drawn. What the canvas shows elsewhere may be older than the
        session's labels (a change written meanwhile, not yet redrawn)."""
        data = self.labels_layer.data
        painted = data != self._drawn
        self._drawn[painted] = data[painted]
        return painted

    def _set_pixels(self, layer, box: tuple[slice, slice], patch: np.ndarray) -> None:
        """Bring the pixels of labels ``layer`` in ``box`` to ``patch``,
        redrawing only those that change (napari redraws the box that holds
        them, not the layer)."""
        changed = np.nonzero(patch != layer.data[box])
        if not changed[0].size:
            return
        self.editing = True
        try:
            layer.data_setitem((changed[0] + box[0].start, changed[1] + box[1].start),
                               patch[changed])
        finally:
            self.editing = False

    def _mark(self, name: str, values: dict[int, int], fill: int, width: int,
              rim: tuple[int, tuple[int, int]] | None = None, outside: bool = False):
        """Outline regions of the shown image, ``width`` pixels wide, with
        ``values`` (region id -> value) on the image-sized labels layer
        ``name``, ``fill`` elsewhere; ``rim`` (region id, (outer, inner)
        values): that region's two outermost pixel rings drawn instead with
        those two values. ``outside`` (one region): the ring of ``width``
        pixels around it instead, which leaves in sight a region thinner
        than the outline.

        Only the box holding what it marked before and what it marks now
        is redrawn, so marking a region costs in proportion to the region,
        not to the image (a new layer data or ``translate`` would redraw
        the whole layer). The outlines are drawn here, in that box: napari's
        own ``contour`` would outline the whole image whenever the layer
        takes an image of another size. Returns the layer, shown.
        """
        shape, placeholder = self.regions.shape, self.specs[name][1]
        if not self._fits(name, placeholder):
            self._add(name, placeholder)
        layer = self.viewer.layers[name]
        if layer.data.shape != shape:
            self._layer(name, np.full(shape, fill, np.uint8))
            self._marks[name] = None
        box = union(self.boxes[r] for r in values if r in self.boxes)
        if box is not None and outside:
            box = grown(box, width, shape)
        dirty = union(b for b in (box, self._marks.get(name)) if b is not None)
        self._marks[name] = box
        if dirty is not None:
            patch = region_values(self.regions[dirty], list(values), list(values.values()), fill)
            if outside:
                edges = (dirty[0].start == 0, dirty[0].stop == shape[0],
                         dirty[1].start == 0, dirty[1].stop == shape[1])
                drawn = np.where(ring_around(patch != fill, width, edges),
                                 max(values.values(), default=fill), fill)
            else:
                drawn = outlines_of(patch.astype(np.uint8), width, fill)
            if rim is not None and rim[0] in values:
                own = (self.regions[dirty] == rim[0]).astype(np.uint8)
                outer, inner = (outlines_of(own, w, 0) > 0 for w in (1, 2))
                drawn = np.where(outer, rim[1][0], np.where(inner, rim[1][1], drawn))
            self._set_pixels(layer, dirty, drawn.astype(np.uint8))
        self._show(layer)
        return layer

    def covering(self) -> list:
        """Visible layers over the session's image that are not the session's
        and paint areas (images, labels: another dataset opened meanwhile):
        they may hide the query."""
        layers = self.viewer.layers
        if IMAGE_LAYER not in layers:
            return []
        above = list(layers)[layers.index(IMAGE_LAYER) + 1:]
        # layer.__class__, not type(layer): napari hands plugins proxies of its layers.
        return [layer for layer in above if layer.name not in self.specs and layer.visible
                and layer.opacity > 0 and layer.__class__.__name__ in ("Image", "Labels")]

    def uncover(self) -> None:
        """Hide the layers that cover the query (:meth:`covering`); the
        person can show them again in napari's layer list."""
        for layer in self.covering():
            layer.visible = False

    def show_query(self, region: int, pixel: tuple[int, int] | None) -> None:
        """Ring the query's region (and mark its pixel), centred and zoomed."""
        self.centre_on(region)
        width = max(QUERY_RING, math.ceil(QUERY_RING_SCREEN / self.viewer.scene.camera.zoom))
        self._mark(QUERY_LAYER, {region: 1}, fill=0, width=width, outside=True)
        # Keep the labels layer active, so that napari's paint tools act on it.
        if self.viewer.layers.selection.active is not self.labels_layer:
            self.viewer.layers.selection.active = self.labels_layer
        if pixel is not None:
            self._layer(QUERY_PIXEL_LAYER, np.array([pixel]))
        else:
            self._hide(QUERY_PIXEL_LAYER)

    def label_of(self, region: int) -> int:
        """The label the canvas shows for ``region`` of the shown image: its
        majority, by the rule a query's label is chosen with."""
        box = self.boxes[region]
        values = self.labels_layer.data[box][self.regions[box] == region]
        k, ignore = self.classes.num_classes, self.classes.ignore_index
        # A value of no class (a stroke the session will refuse) counts as unlabelled.
        values = np.where(values < k, values, ignore)
        return int(majority(class_pixels(values, k, ignore)[None], ignore)[0])

    def centre_on(self, region: int) -> None:
        """Centre and zoom on a region of the shown image (a query's, an LCM change's)."""
        self.zoom_to(self.boxes[region])

    def shows(self, image: str, region: int) -> bool:
        """Whether the canvas shows ``region`` of ``image`` as a query: that
        image in its (visible) layer with no other image or labels over it,
        the region's ring drawn on the visible query layer, and the region's
        centre inside the camera's view
        (napari's camera: ``center`` in data pixels, ``zoom`` screen pixels
        per data pixel, the canvas ``size`` (height, width) in screen pixels)."""
        layers = self.viewer.layers
        if self.name != image or region not in self.boxes or not all(
                n in layers and layers[n].visible and layers[n].opacity > 0
                for n in (IMAGE_LAYER, QUERY_LAYER)) or self.covering():
            return False
        box = self.boxes[region]
        if layers[QUERY_LAYER].data.shape != self.regions.shape or not (
                layers[QUERY_LAYER].data[grown(box, QUERY_RING, self.regions.shape)]
                == 1).any():
            return False
        camera = self.viewer.scene.camera
        middle = [(b.start + b.stop - 1) / 2 for b in box]
        return all(abs(m - c) <= n / (2 * camera.zoom)
                   for m, c, n in zip(middle, camera.center[-2:], self.viewer.canvas.size))

    def hide_query(self) -> None:
        """No query is open (training, finishing a round, another image shown)."""
        if QUERY_LAYER in self.viewer.layers and self.regions is not None:
            self._mark(QUERY_LAYER, {}, fill=0, width=QUERY_RING)
        self._hide(QUERY_PIXEL_LAYER)

    def show_changes(self, changes, selected=None) -> None:
        """Outline the LCM ``changes`` on the shown image in their new classes'
        colours; caption the ``selected`` one "old → new" (one caption, so
        none overlaps another) and rim it in black and white."""
        if LCM_LAYER not in self.specs:
            return
        here = selected is not None and selected.image == self.name
        rim = highlight_values(self.classes)
        self._mark(LCM_LAYER, {c.region: c.new for c in changes if c.image == self.name},
                   fill=self.classes.ignore_index, width=3,
                   rim=(selected.region, rim) if here and rim is not None else None)
        points, text = np.zeros((0, 2)), []
        if selected is not None and selected.image == self.name:
            rows, cols = self.boxes[selected.region]
            # Above the region, from its left edge: the region is centred on
            # the canvas, so the text runs over it rather than off the right.
            points = np.array([[rows.start - 1, cols.start]])
            text = [f"{label_name(selected.old, self.classes)} → "
                    f"{label_name(selected.new, self.classes)}"]
        shown = self._caption if LCM_CAPTION_LAYER in self.viewer.layers else None
        if (points.tolist(), text) != shown:  # napari redraws the layer on every set
            caption = self._layer(LCM_CAPTION_LAYER, points)
            caption.features = {"change": text}
            self._caption = (points.tolist(), text)

    def fit(self) -> None:
        """The whole image, fitted to the canvas."""
        self.zoom_to(tuple(slice(0, n) for n in self.regions.shape))

    def _refit(self, _event=None) -> None:
        """The canvas changed size (the review widened the dock, the window
        was resized): frame again what was framed, unless the person has
        moved the camera since. napari keeps the camera's centre and zoom, so
        a canvas made narrower would cut the framed image or region off."""
        if self._framed is None or self.closed:
            return
        box, centre, zoom = self._framed
        camera = self.viewer.scene.camera
        if np.allclose(camera.center[-2:], centre) and np.isclose(camera.zoom, zoom):
            self.zoom_to(box)

    def zoom_to(self, box: tuple[slice, slice]) -> None:
        """Centre on a box (a pair of slices), zoomed so that the box fills
        about a third of the view, with at least :data:`CONTEXT_PIXELS` of
        the image across the canvas, never less than the whole image fitted
        to the canvas (computed here: napari's ``reset_view`` first would
        move the camera, and so redraw, twice more)."""
        shape, canvas = self.regions.shape, self.viewer.canvas.size
        fitted = 0.95 * min(c / n for c, n in zip(canvas, shape))
        size = [b.stop - b.start for b in box]
        extent = max(size[0] / shape[0], size[1] / shape[1])
        camera = self.viewer.scene.camera
        camera.center = tuple(b.start + (n - 1) / 2 for b, n in zip(box, size))
        zoom = fitted * min(8.0, max(1.0, 1 / (3 * extent)))
        camera.zoom = max(fitted, min(zoom, min(canvas) / CONTEXT_PIXELS))
        self._framed = (box, tuple(camera.center[-2:]), camera.zoom)
