"""Fixtures that write tiny dataset folders from arrays, and a tiny SAM.

Each dataset fixture is a factory: call it with dicts ``NAME -> array`` and it
returns the new dataset folder (a fresh folder under pytest's temporary
directory). Label arrays are written as palette PNGs, like real pseudo-labels.
No real SAM weights exist here: :func:`tiny_sam` builds SAM with the package's
own classes at toy size, and ``sam_checkpoint`` saves one to a file.
"""
from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image
from segment_anything.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)

from a2lc_napari.engine import sam as sam_module
from a2lc_napari.engine.classes import VOC_CLASSES, ClassSet
from a2lc_napari.engine.demo import make_demo_dataset

# One Qt binding per process: napari (through qtpy) and pytest-qt both follow
# QT_API, PyQt5 unless told (pytest-qt alone would prefer PyQt6 where both
# are installed). Fresh processes started by the tests inherit the choice.
os.environ.setdefault("QT_API", "pyqt5")
os.environ.setdefault("PYTEST_QT_API", os.environ["QT_API"])


@pytest.fixture(autouse=True)
def napari_settings_of_its_own(tmp_path, monkeypatch):
    """napari in a test's fresh processes keeps its settings (the window's
    size) in a file of that test's own: a size saved by another test's napari,
    say one closed before its window was laid out, would change what the
    canvas shows (a window narrow enough that the docks left it 60 pixels)."""
    monkeypatch.setenv("NAPARI_CONFIG", str(tmp_path / "napari-settings.yaml"))


@pytest.fixture(autouse=True)
def rounds_end_at_once(request, monkeypatch):
    """A round ends as soon as its last answer is written, without the wait
    that lets a person take that answer back (3 s for each of the suite's
    many rounds). A test marked ``round_end_wait`` keeps the wait, and so
    does napari in a test's fresh process."""
    if request.node.get_closest_marker("round_end_wait") is None:
        monkeypatch.setattr("a2lc_napari._round_flow.ROUND_END_WAIT_MS", 0)


#: Classes of :func:`make_dataset` folders unless told otherwise.
TINY_CLASSES = ClassSet(names=("background", "thing", "stuff"),
                        colors=((0, 0, 0), (200, 30, 30), (30, 200, 30)))


def save_image(path: Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) or (H, W) uint8 image; the format follows the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".tif", ".tiff"):
        tifffile.imwrite(path, image)
    else:
        Image.fromarray(image).save(path)


def save_label(path: Path, labels: np.ndarray, classes: ClassSet | None = None) -> None:
    """Write (H, W) uint8 labels: a palette PNG in ``classes``' colours, or
    8-bit greyscale when ``classes`` is None."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.asarray(labels, np.uint8))
    if classes is not None:
        img = Image.frombytes("P", img.size, img.tobytes())
        img.putpalette(classes.palette())
    img.save(path)


@pytest.fixture
def make_dataset(tmp_path_factory):
    """Factory for a generic dataset folder.

    ``make_dataset(images, labels, gt=None, regions=None, classes=TINY_CLASSES,
    image_ext=".png") -> Path``

    - ``images``: NAME -> (H, W, 3) or (H, W) uint8, written as
      ``images/NAME<image_ext>`` (".png", ".jpg" or ".tif"); NAME may hold "/".
    - ``labels``: NAME -> (H, W) uint8, written as palette ``labels/NAME.png``.
    - ``gt``: NAME -> (H, W) uint8, written as palette ``gt/NAME.png``.
    - ``regions``: NAME -> (H, W) int, written as ``regions/NAME.npy``.
    - ``classes``: a ClassSet, written as ``classes.json``.
    """
    def make(images: dict, labels: dict, gt: dict | None = None,
             regions: dict | None = None, classes: ClassSet = TINY_CLASSES,
             image_ext: str = ".png") -> Path:
        root = tmp_path_factory.mktemp("dataset")
        (root / "classes.json").write_text(json.dumps(classes.to_json()))
        for name, image in images.items():
            save_image(root / "images" / f"{name}{image_ext}", image)
        (root / "labels").mkdir()
        for name, lab in labels.items():
            save_label(root / "labels" / f"{name}.png", lab, classes)
        for name, lab in (gt or {}).items():
            save_label(root / "gt" / f"{name}.png", lab, classes)
        for name, reg in (regions or {}).items():
            (root / "regions" / name).parent.mkdir(parents=True, exist_ok=True)
            np.save(root / "regions" / f"{name}.npy", reg)
        return root

    return make


@pytest.fixture
def make_voc(tmp_path_factory):
    """Factory for a PASCAL VOC folder.

    ``make_voc(images, labels, label_dir="SegmentationClass") -> Path`` writes
    ``JPEGImages/NAME.jpg`` for every image and palette
    ``<label_dir>/NAME.png`` for every label (VOC colours).
    """
    def make(images: dict, labels: dict, label_dir: str = "SegmentationClass") -> Path:
        root = tmp_path_factory.mktemp("VOC2012")
        for name, image in images.items():
            save_image(root / "JPEGImages" / f"{name}.jpg", image)
        for name, lab in labels.items():
            save_label(root / label_dir / f"{name}.png", lab, VOC_CLASSES)
        return root

    return make


@pytest.fixture
def make_cityscapes(tmp_path_factory):
    """Factory for a Cityscapes folder.

    ``make_cityscapes(images, labels) -> Path``; NAME is
    ``"<split>/<city>/<stem>"``. Writes
    ``leftImg8bit/NAME_leftImg8bit.png`` for every image and greyscale
    ``gtFine/NAME_gtFine_labelTrainIds.png`` for every label, plus a
    ``_gtFine_labelIds.png`` twin (full Cityscapes ids) that must be ignored.
    """
    def make(images: dict, labels: dict) -> Path:
        root = tmp_path_factory.mktemp("cityscapes")
        for name, image in images.items():
            save_image(root / "leftImg8bit" / f"{name}_leftImg8bit.png", image)
        for name, lab in labels.items():
            save_label(root / "gtFine" / f"{name}_gtFine_labelTrainIds.png", lab)
            save_label(root / "gtFine" / f"{name}_gtFine_labelIds.png",
                       np.full_like(lab, 33))
        return root

    return make


def tiny_sam(width=32, seed=0):
    """SAM's architecture at toy size: 64-pixel input, one encoder block."""
    torch.manual_seed(seed)
    img_size, prompt_dim = 64, 32
    encoder = ImageEncoderViT(
        img_size=img_size, patch_size=16, embed_dim=width, depth=1, num_heads=2, mlp_ratio=2,
        out_chans=prompt_dim, qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        use_rel_pos=True, window_size=2, global_attn_indexes=(0,))
    prompt = PromptEncoder(embed_dim=prompt_dim, image_embedding_size=(4, 4),
                           input_image_size=(img_size, img_size), mask_in_chans=4)
    decoder = MaskDecoder(
        transformer_dim=prompt_dim, num_multimask_outputs=3, iou_head_depth=2,
        iou_head_hidden_dim=16,
        transformer=TwoWayTransformer(depth=1, embedding_dim=prompt_dim, mlp_dim=32,
                                      num_heads=2))
    return Sam(image_encoder=encoder, prompt_encoder=prompt, mask_decoder=decoder).eval()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small sample dataset (6 images of 64 x 80), made once per module."""
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", n_images=6,
                             size=(64, 80), seed=3)


@pytest.fixture
def sam_checkpoint(tmp_path, monkeypatch):
    """A checkpoint file that load_sam reads as vit_b: a tiny SAM with vit_b's
    encoder width, with the vit_b builder patched to build that tiny SAM."""
    path = tmp_path / "tiny_vit_b.pth"
    torch.save(tiny_sam(width=768).state_dict(), path)
    monkeypatch.setitem(sam_module.sam_model_registry, "vit_b", lambda: tiny_sam(width=768))
    return path
