"""The plugin's reader and writer as napari uses them: files it cannot open
go to napari's own readers, and the layer it reads can be saved back."""
import numpy as np
import pytest
from npe2 import PluginManifest
from PIL import Image

from a2lc_napari._layers import LABELS_LAYER
from a2lc_napari._writer import CannotWrite
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.demo import demo_classes, make_demo_dataset


@pytest.fixture(autouse=True)
def plugin(npe2pm):
    """napari's test fixtures block plugin discovery: register ours from its
    installed distribution (its entry point and manifest), beside napari's own."""
    npe2pm.register(PluginManifest.from_distribution("napari"))
    npe2pm.register(PluginManifest.from_distribution("a2lc-napari"))
    return npe2pm


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", n_images=3,
                             size=(32, 40), seed=2)


def readers(plugin, path):
    return {r.plugin_name for r in plugin.iter_compatible_readers([str(path)])}


def test_plain_files_go_to_napari_alone(make_napari_viewer, plugin, demo, tmp_path):
    png = tmp_path / "photo.png"
    Image.fromarray(np.full((6, 8, 3), 90, np.uint8)).save(png)
    assert readers(plugin, png) == {"napari"}
    assert "a2lc-napari" in readers(plugin, demo)
    # No plugin named, as File → Open does: one reader, so no question asked.
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(png), plugin=None)
    assert layer.data.shape == (6, 8, 3)
    for labels_png in (demo / "labels").glob("*.png"):  # a dataset's own files too
        assert "a2lc-napari" not in readers(plugin, labels_png)


def test_reader_declines_folders_it_cannot_open(make_napari_viewer, tmp_path):
    (tmp_path / "photos").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "photos" / "a.png")
    viewer = make_napari_viewer()
    with pytest.raises(Exception, match="a2lc-napari"):
        viewer.open(str(tmp_path / "photos"), plugin="a2lc-napari")


def test_a_folder_meant_as_a_dataset_is_refused_with_its_reason(make_napari_viewer, demo,
                                                                 tmp_path):
    """Found in a walk-through: a palette export (classes.json and label PNGs,
    no images) was refused with no reason."""
    export = tmp_path / "export"
    export.mkdir()
    for path in (demo / "classes.json", *(demo / "labels").glob("*.png")):
        export.joinpath(path.name).write_bytes(path.read_bytes())
    viewer = make_napari_viewer()
    with pytest.raises(Exception, match=f"{export / 'images'}: has no images"):
        viewer.open(str(export), plugin="a2lc-napari")


def test_the_readers_stack_saves_as_a_folder_of_pngs(make_napari_viewer, demo, tmp_path):
    viewer = make_napari_viewer()
    viewer.open(str(demo), plugin="a2lc-napari")
    stack = viewer.layers[LABELS_LAYER]
    assert stack.data.shape == (3, 32, 40)
    viewer.layers.selection = {stack}
    written = viewer.layers.save(str(tmp_path / "labels.png"), selected=True,
                                 plugin="a2lc-napari")
    ds = open_dataset(demo)
    assert written == [str(tmp_path / "labels" / f"{n}.png") for n in ds.names]
    for name in ds.names:
        png = Image.open(tmp_path / "labels" / f"{name}.png")
        assert png.mode == "P" and png.getpalette()[3:6] == list(demo_classes().colors[1])
        np.testing.assert_array_equal(np.asarray(png), ds.labels(name))


def test_the_writer_says_why_it_cannot(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    layer = viewer.add_labels(np.full((2, 3, 4, 5), 1, np.uint8), name="volume")
    viewer.layers.selection = {layer}
    with pytest.raises(CannotWrite, match=r"shape \(2, 3, 4, 5\)"):
        viewer.layers.save(str(tmp_path / "v.png"), selected=True, plugin="a2lc-napari")
    layer = viewer.add_labels(np.full((4, 5), 300, np.uint16), name="big")
    viewer.layers.selection = {layer}
    with pytest.raises(CannotWrite, match="0-255"):
        viewer.layers.save(str(tmp_path / "b.png"), selected=True, plugin="a2lc-napari")
    assert not list(tmp_path.iterdir())
