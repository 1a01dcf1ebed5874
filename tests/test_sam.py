"""Segment Anything regions: painting and gap filling by hand, checkpoint
errors, and the real mask-generation code on a tiny random SAM.

No real weights exist here, so SAM is built with the package's own classes at
a tiny size; a checkpoint of it is loaded through :func:`load_sam` with the
model builder patched to the same tiny architecture.
"""
import json
import subprocess
import sys
import zipfile
from itertools import chain
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_sam
from segment_anything.modeling import (
    Sam,
)
from skimage.measure import label as connected_components

from a2lc_napari.cli import _cache_dir, main
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.errors import DatasetError
from a2lc_napari.engine.config import ModelConfig, SessionConfig
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.region_cache import make_region_cache
from a2lc_napari.engine.regions import RegionsConfig, superpixel_regions
from a2lc_napari.engine.sam import (
    SamRegions,
    fill_gaps,
    label_boxes,
    load_sam,
    paint_masks,
    sam_model_type,
)
from a2lc_napari.engine.session import Session

CHECKPOINT_HELP = "https://github.com/facebookresearch/segment-anything"


@pytest.fixture(scope="module")
def model():
    return tiny_sam()


def scene(shape=(48, 64)):
    """A noisy image and pseudo-labels with three classes and an ignore patch."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*shape, 3)).astype(np.uint8)
    labels = np.zeros(shape, np.uint8)
    labels[10:30, 5:25] = 1
    labels[30:, 40:] = 2
    labels[:5, 50:] = 255
    return image, labels


def assert_region_map(regions, shape):
    assert regions.dtype == np.int32 and regions.shape == shape
    # every pixel in a region, ids 1..n all used
    np.testing.assert_array_equal(np.unique(regions), np.arange(1, regions.max() + 1))


# ---- painting masks ---------------------------------------------------------------


def test_paint_masks_smaller_on_top():
    big = np.zeros((4, 6), bool)
    big[:, :4] = True                      # area 16
    medium = np.zeros((4, 6), bool)
    medium[1:3, 2:6] = True                # area 8, overlaps big and sticks out
    small = np.zeros((4, 6), bool)
    small[2:4, 1:3] = True                 # area 4, inside big, overlaps medium
    # Input order does not matter: area does.
    for order in ([big, medium, small], [small, big, medium]):
        regions = paint_masks(order, (4, 6))
        ids = {id(m): regions[np.nonzero(m)][0] for m in order}  # any pixel on top
        b, m, s = ids[id(big)], ids[id(medium)], ids[id(small)]
        expected = np.array([[b, b, b, b, 0, 0],
                             [b, b, m, m, m, m],
                             [b, s, s, m, m, m],
                             [b, s, s, b, 0, 0]])
        np.testing.assert_array_equal(regions, expected)
        assert regions.dtype == np.int32
        # ids follow input order
        assert [ids[id(mask)] for mask in order] == [1, 2, 3]


def test_paint_masks_equal_areas_later_on_top():
    first = np.zeros((2, 4), bool)
    first[:, :3] = True
    second = np.zeros((2, 4), bool)
    second[:, 1:] = True
    np.testing.assert_array_equal(paint_masks([first, second], (2, 4)),
                                  [[1, 2, 2, 2], [1, 2, 2, 2]])
    np.testing.assert_array_equal(paint_masks([second, first], (2, 4)),
                                  [[2, 2, 2, 1], [2, 2, 2, 1]])


def test_paint_masks_many_masks_and_hidden_ones():
    shape = (20, 15)
    covered = np.ones(shape, bool)  # hidden under 300 one-pixel masks
    pixels = (np.arange(300).reshape(shape) == k for k in range(300))
    regions = paint_masks(chain([covered], pixels), shape)  # masks may stream in
    assert regions.dtype == np.int32
    np.testing.assert_array_equal(regions, np.arange(1, 301).reshape(shape))


def test_paint_masks_edge_cases():
    np.testing.assert_array_equal(paint_masks([], (2, 3)), np.zeros((2, 3)))
    empty = np.zeros((2, 3), bool)
    one = np.zeros((2, 3), bool)
    one[0, 0] = True
    np.testing.assert_array_equal(paint_masks(np.stack([empty, one]), (2, 3)),
                                  [[1, 0, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match="shape"):
        paint_masks([np.zeros((3, 2), bool)], (2, 3))


# ---- filling the gaps -------------------------------------------------------------


def test_fill_gaps_stays_in_the_gap_and_follows_labels():
    image, labels = scene()
    masks = np.zeros(labels.shape, np.int32)
    masks[:, 28:34] = 1          # a wall splitting the gap in two
    masks[5:15, 40:60] = 2
    filled = fill_gaps(masks, image, labels)
    assert_region_map(filled, labels.shape)
    np.testing.assert_array_equal(filled[masks > 0], masks[masks > 0])
    new = np.unique(filled[masks == 0])
    np.testing.assert_array_equal(new, np.arange(3, filled.max() + 1))  # ids continue
    assert not set(np.unique(filled[:, :28])) & set(np.unique(filled[:, 34:]))
    for r in new:
        inside = filled == r
        assert not (inside & (masks > 0)).any()
        assert np.unique(labels[inside]).size == 1
        assert connected_components(inside, connectivity=1).max() == 1


def test_fill_gaps_without_masks_is_slic_and_without_gaps_is_unchanged():
    image, labels = scene()
    np.testing.assert_array_equal(fill_gaps(np.zeros(labels.shape, np.int32), image, labels),
                                  superpixel_regions(image, labels))
    full = np.arange(labels.size, dtype=np.int64).reshape(labels.shape) + 1
    filled = fill_gaps(full, image, labels)
    assert filled.dtype == np.int32
    np.testing.assert_array_equal(filled, full)


def test_fill_gaps_cuts_the_gap_in_as_many_superpixels_as_asked():
    rows, cols = np.mgrid[0:48, 0:64]
    ramps = np.dstack([rows * 5, cols * 4, (rows + cols) * 2]).astype(np.uint8)
    labels = np.zeros((48, 64), np.uint8)
    nothing = np.zeros(labels.shape, np.int32)
    assert fill_gaps(nothing, ramps, labels, n_segments=4).max() == 4
    assert fill_gaps(nothing, ramps, labels).max() > 4  # the default: 16


# ---- box prompts ------------------------------------------------------------------


def test_label_boxes_by_hand():
    labels = np.array([[0, 0, 1, 1, 255, 255],
                       [0, 0, 1, 1, 255, 2],
                       [255, 255, 255, 255, 255, 2],
                       [1, 255, 255, 255, 2, 255],   # 2 touches the piece above diagonally
                       [1, 1, 255, 0, 255, 255]], np.uint8)
    boxes = label_boxes(labels, 255)
    assert boxes.dtype == np.float32
    np.testing.assert_array_equal(boxes, [[0, 0, 2, 2],    # class 0
                                          [2, 0, 4, 2],    # class 1
                                          [4, 1, 6, 4],    # class 2, 8-connected
                                          [0, 3, 2, 5],    # class 1 again
                                          [3, 4, 4, 5]])   # class 0 again
    assert label_boxes(np.full((3, 3), 255, np.uint8), 255).shape == (0, 4)


# ---- the real SAM code paths on a tiny model --------------------------------------


def test_sam_regions_automatic_masks(model):
    image, labels = scene()
    options = {"points_per_side": 4, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
    make = SamRegions.from_model(model, "auto", options)
    masks = list(make.masks(image, labels, 255))
    assert masks and all(m.shape == labels.shape and m.dtype == bool for m in masks)
    regions = make(image, labels, 255)
    assert_region_map(regions, labels.shape)
    painted = paint_masks(masks, labels.shape)
    assert painted.max() > 0
    # the visible masks come first, unchanged; the SLIC gap regions after them
    np.testing.assert_array_equal(regions[painted > 0], painted[painted > 0])
    assert regions[painted == 0].min() == painted.max() + 1
    np.testing.assert_array_equal(make(image, labels, 255), regions)  # deterministic


def test_sam_regions_box_prompts(model):
    image, labels = scene()
    make = SamRegions.from_model(model, "boxes")
    masks = list(make.masks(image, labels, 255))
    assert len(masks) == len(label_boxes(labels, 255)) == 3  # one mask per box
    regions = make(image, labels, 255)
    assert_region_map(regions, labels.shape)
    painted = paint_masks(masks, labels.shape)
    np.testing.assert_array_equal(regions[painted > 0], painted[painted > 0])
    assert list(make.masks(image, np.full_like(labels, 255), 255)) == []


def test_sam_regions_arguments():
    with pytest.raises(ValueError, match="mode"):
        SamRegions("x.pth", mode="everything")
    with pytest.raises(ValueError, match="auto"):
        SamRegions("x.pth", mode="boxes", generator_options={"points_per_side": 4})


# ---- loading checkpoints ----------------------------------------------------------


def test_load_sam_reads_the_type_from_the_file(sam_checkpoint):
    sam = load_sam(sam_checkpoint)
    assert isinstance(sam, Sam) and not sam.training
    assert sam.device == torch.device("cpu")
    expected = torch.load(sam_checkpoint, weights_only=True)
    for key, value in sam.state_dict().items():
        torch.testing.assert_close(value, expected[key])
    assert isinstance(load_sam(sam_checkpoint, "vit_b", device="cpu"), Sam)


@pytest.mark.parametrize("width, model_type", [(768, "vit_b"), (1024, "vit_l"),
                                                (1280, "vit_h")])
def test_sam_model_type_from_encoder_width(width, model_type):
    state = {"image_encoder.pos_embed": torch.zeros(1, 64, 64, width)}
    assert sam_model_type(state, "x.pth") == model_type


def bad_checkpoints(tmp_path):
    """(path, model_type, words in the message) of every kind of bad checkpoint."""
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    empty = tmp_path / "empty.pth"
    empty.touch()
    text = tmp_path / "page.pth"  # what a download link that went wrong may save
    text.write_text("<html>Not Found</html>")
    archive = tmp_path / "archive.pth"  # a whole zip archive, not torch's
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("notes.txt", "weights elsewhere")
    pickled = tmp_path / "whole_model.pth"
    torch.save(torch.nn.Linear(2, 2), pickled)
    tensor = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor)
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(2, 3, 1, 1)}, other)
    width = tmp_path / "width.pth"
    torch.save({"image_encoder.pos_embed": torch.zeros(1, 4, 4, 100)}, width)
    vit_l = tmp_path / "vit_l.pth"
    torch.save({"image_encoder.pos_embed": torch.zeros(1, 4, 4, 1024)}, vit_l)
    partial_b = tmp_path / "partial.pth"
    torch.save({"image_encoder.pos_embed": torch.zeros(1, 64, 64, 768)}, partial_b)
    (tmp_path / "folder.pth").mkdir()
    return [(tmp_path / "missing.pth", None, "missing"),
            (tmp_path / "folder.pth", None, "not a file"),
            (corrupt, None, "is cut short: a zip archive, as torch.save writes, whose end "
                            "is missing (an interrupted download?)"),
            (empty, None, "is empty (an interrupted download?)"),
            (text, None, "is not a PyTorch checkpoint (neither a zip archive nor a pickle)"),
            (archive, None, "cannot be read as a PyTorch checkpoint ("),
            (pickled, None, "Python objects"),
            (tensor, None, "not a SAM checkpoint"),
            (other, None, "not a SAM checkpoint"),
            (width, None, "width 100"),
            (vit_l, "vit_b", "is a vit_l checkpoint, not vit_b"),
            (partial_b, None, "does not fit SAM vit_b")]


def test_load_sam_errors_name_the_file_and_where_to_get_one(tmp_path):
    for path, model_type, words in bad_checkpoints(tmp_path):
        with pytest.raises(DatasetError) as err:
            load_sam(path, model_type)
        assert err.value.path == path
        assert words in str(err.value) and CHECKPOINT_HELP in str(err.value)
        assert "sam_vit_b_01ec64.pth" in str(err.value)
    with pytest.raises(ValueError, match="vit_x"):
        load_sam(tmp_path / "corrupt.pth", "vit_x")


# ---- where the regions come from --------------------------------------------------


def test_regions_config_checks_its_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = RegionsConfig("sam", "sam.pth", "vit_b", "boxes")
    assert config.sam_checkpoint == str(tmp_path / "sam.pth")  # absolute
    for bad in (("sam",), ("slic", "x.pth"), ("auto", None, "vit_b"), ("superpixels",),
                ("sam", "x.pth", None, "points"), ("sam", "x.pth", "vit_x")):
        with pytest.raises(ValueError):
            RegionsConfig(*bad)


def test_dataset_regions_from_each_source(make_dataset, sam_checkpoint, tmp_path):
    image, labels = scene()
    provided = np.zeros(labels.shape, np.int32)
    provided[:, 32:] = 7
    ds = open_dataset(make_dataset({"a": image}, {"a": labels}, regions={"a": provided}),
                      region_cache=tmp_path / "cache")
    np.testing.assert_array_equal(ds.regions("a"), provided)  # default: "auto"
    ds.use_regions(RegionsConfig("slic"))
    np.testing.assert_array_equal(ds.regions("a"), superpixel_regions(image, labels))
    ds.use_regions(RegionsConfig("sam", str(sam_checkpoint), sam_mode="boxes"))
    drive(make_region_cache(ds, tmp_path / "sam_cache"), quiet=True)
    sam = ds.regions("a")
    expected = SamRegions.from_model(load_sam(sam_checkpoint), "boxes")(image, labels, 255)
    np.testing.assert_array_equal(sam, expected)
    np.testing.assert_array_equal(np.load(tmp_path / "sam_cache" / "a.npy"), sam)


def test_slic_regions_do_not_import_torch():
    code = ("import sys\n"
            "import numpy as np\n"
            "import a2lc_napari.cli\n"
            "from a2lc_napari.engine.dataset import region_maker\n"
            "from a2lc_napari.engine.regions import RegionsConfig\n"
            "make = region_maker(RegionsConfig('slic'))\n"
            "make(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8), 255)\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[1])


# ---- sessions and the command line ------------------------------------------------


@pytest.fixture
def two_images(make_dataset):
    image, labels = scene()
    gt = labels.copy()
    gt[gt == 255] = 0
    return make_dataset({"a": image, "b": image[::-1].copy()},
                        {"a": labels, "b": labels[::-1].copy()},
                        gt={"a": gt, "b": gt[::-1].copy()})


def test_session_config_with_regions_round_trips(tmp_path):
    config = SessionConfig(regions=RegionsConfig("sam", str(tmp_path / "s.pth"),
                                                 "vit_l", "boxes"))
    assert SessionConfig.from_json(json.loads(json.dumps(config.to_json()))) == config


def test_session_makes_sam_regions_once(two_images, sam_checkpoint, tmp_path):
    out = tmp_path / "run"
    config = SessionConfig(budget=2, model=ModelConfig(width=8, crop=32, steps=2, batch_size=2),
                           regions=RegionsConfig("sam", str(sam_checkpoint), sam_mode="boxes"))
    steps = list(Session.create(out, open_dataset(two_images), config))
    assert [p.done for p in steps if p.desc == "Making regions"] == [1, 2]
    assert sorted(p.name for p in (out / "regions").iterdir()) == ["a.npy", "b.npy",
                                                                    "inputs.json"]
    made = {n: np.load(out / "regions" / f"{n}.npy") for n in ("a", "b")}
    for regions in made.values():
        assert_region_map(regions, (48, 64))
    sam_checkpoint.unlink()  # from now on the model cannot be loaded: nothing may need it
    reopened = Session.open(out)
    assert reopened.config == config
    drive(reopened.prepare_round(), quiet=True)
    assert all(q.region in made[q.image] for q in reopened.queries)
    np.testing.assert_array_equal(reopened.dataset.regions("b"), made["b"])


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def simulate_args(dataset, out, *extra):
    return ["simulate", str(dataset), "--method", "a2lc", "--rounds", "1", "--budget", "2",
            "--steps", "2", "--out", str(out), "-q", *extra]


@pytest.mark.parametrize("extra, words", [
    (["--regions", "sam"], "--regions sam needs --sam-checkpoint"),
    (["--sam-checkpoint", "x.pth"], "--sam-checkpoint applies only with --regions sam"),
    (["--regions", "slic", "--sam-mode", "boxes"], "--sam-mode applies only"),
    (["--regions", "slick"], "--regions slick: no such file or folder; give a folder of "
                             "region files, a COCO .json file, or one of auto, slic, sam"),
])
def test_cli_sam_options_misused(two_images, tmp_path, capsys, extra, words):
    with pytest.raises(SystemExit) as exit_:
        main(simulate_args(two_images, tmp_path / "run", *extra))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert words in err and err.startswith("usage: a2lc simulate")  # its own usage line
    if "needs" in words:
        assert CHECKPOINT_HELP in err


def test_cli_sam_beside_a_folder_named_sam(two_images, tmp_path, capsys, monkeypatch):
    """A person with SAM masks in a folder named sam learns how to name it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sam").mkdir()
    with pytest.raises(SystemExit):
        main(simulate_args(two_images, tmp_path / "run", "--regions", "sam"))
    assert ("--regions sam needs --sam-checkpoint PATH (the folder sam here is read as "
            "region files when given as ./sam)" in capsys.readouterr().err)


def test_cli_missing_checkpoint(two_images, tmp_path, capsys, cache_home):
    missing = tmp_path / "sam_vit_b_01ec64.pth"
    assert main(simulate_args(two_images, tmp_path / "run", "--regions", "sam",
                              "--sam-checkpoint", str(missing))) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "missing" in err and CHECKPOINT_HELP in err
    assert not (tmp_path / "run").exists()  # a failed start leaves no folder behind


def test_cli_simulate_with_sam_regions(two_images, tmp_path, sam_checkpoint, capsys, cache_home):
    out = tmp_path / "run"
    args = simulate_args(two_images, out, "--regions", "sam", "--sam-checkpoint",
                         str(sam_checkpoint), "--sam-mode", "boxes")
    assert main(args) == 0
    assert "data mIoU" in capsys.readouterr().out
    state = json.loads((out / "session.json").read_text())
    assert state["config"]["regions"] == {"source": "sam", "sam_checkpoint": str(sam_checkpoint),
                                          "sam_model_type": None, "sam_mode": "boxes",
                                          "path": None, "min_gap_area": 100}
    assert {p.name for p in (out / "regions").iterdir()} == {"a.npy", "b.npy", "inputs.json"}
    assert main(args) == 0  # same settings: resumes (here: nothing left to do)
    assert main(simulate_args(two_images, out)) == 2  # other regions: refused
    assert "other settings" in capsys.readouterr().err


def test_rank_cache_is_per_regions_setting(tmp_path):
    keys = {_cache_dir(tmp_path, None, config) for config in (
        RegionsConfig(), RegionsConfig("slic"),
        RegionsConfig("sam", "a.pth"), RegionsConfig("sam", "b.pth"),
        RegionsConfig("sam", "a.pth", sam_mode="boxes"))}
    assert len(keys) == 5
