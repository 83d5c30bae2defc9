"""The HDUS authors' model families: CIFAR-style ResNets and MobileNetV2-style networks.

The authors' heterogeneous setting gives each device a member of one family, and every
seed is the family's smallest member. Parameter counts on 1-channel input, 10 classes
(the authors' numbers; checked in ``tests/clients/test_model_families.py``):

=========== ================================================ ==========
name        architecture                                     parameters
=========== ================================================ ==========
resnet8     basic blocks [1, 1, 1], widths 8 / 8 / 8          3,890
resnet18    basic blocks [3, 3, 3], widths 16 / 32 / 64      272,186
resnet50    basic blocks [8, 8, 8], widths 16 / 32 / 64      758,266
mobilenet_s 3 inverted-residual blocks, 8 channels           5,050
mobilenet_m 7 inverted-residual blocks, 16 - 160 channels    348,490
mobilenet_l 17 inverted-residual blocks, 16 - 320 channels   2,237,194
=========== ================================================ ==========

Every convolution is followed by BatchNorm. Exactness with BatchNorm: in training mode a
batch's statistics normalise it and update the running statistics (part of the model's
state, so they travel with a seed and are restored on resume); in eval mode (every
prediction, teacher logits and evaluation) the running statistics are used, so a sample's
logits do not depend on what else is in the batch. On the CPU at one thread every kernel
here is deterministic. Initialisation follows the authors' code (Kaiming-normal
convolution and linear weights for ResNets; ``N(0, 2 / (k^2 * out_channels))``
convolutions for MobileNets; BatchNorm weight 1, bias 0), drawn from torch's generator,
which :func:`clients.models.build_model` seeds. Inputs are put in one memory layout
first (:func:`clients.layout.canonical_layout`): oneDNN picks its convolution kernel from
the strides, so logits then depend on an input's values only, not on how its array was
made (a fresh process, a pickle, a file).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from clients.errors import ModelError
from clients.layout import canonical_layout

__all__ = ["FAMILY_ARCHITECTURES", "Builder", "MobileNet", "ResNet"]

#: A model builder: ``(input shape, number of classes) -> module``.
Builder = Callable[[tuple[int, ...], int], nn.Module]


class _BasicBlock(nn.Module):
    """Two 3x3 conv + BatchNorm layers and a shortcut (1x1 conv + BN when the shape changes)."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the block's output, ``relu(main(x) + shortcut(x))``."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """A CIFAR-style ResNet: a 3x3 stem, three stages of basic blocks, global average pool.

    ``blocks`` and ``widths`` give each stage's block count and channels; stages two and
    three halve the resolution.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        blocks: tuple[int, int, int],
        widths: tuple[int, int, int],
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages: list[nn.Module] = []
        planes = widths[0]
        for stage, (count, width) in enumerate(zip(blocks, widths, strict=True)):
            layers: list[nn.Module] = []
            for b in range(count):
                layers.append(_BasicBlock(planes, width, 2 if stage and not b else 1))
                planes = width
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(widths[2], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits of shape ``(batch, num_classes)``."""
        out = F.relu(self.bn1(self.conv1(canonical_layout(x))))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        logits: torch.Tensor = self.linear(out)
        return logits


class _InvertedResidual(nn.Module):
    """1x1 expand, 3x3 depthwise, 1x1 project (BN after each, ReLU6 after the first two).

    The input is added back when the block keeps both resolution and channel count.
    """

    def __init__(self, in_ch: int, out_ch: int, expand: int, downsample: bool) -> None:
        super().__init__()
        hidden = expand * in_ch
        self.residual = not downsample and in_ch == out_ch
        self.conv1 = nn.Conv2d(in_ch, hidden, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        stride = 2 if downsample else 1
        self.conv2 = nn.Conv2d(
            hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False
        )
        self.bn2 = nn.BatchNorm2d(hidden)
        self.conv3 = nn.Conv2d(hidden, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the block's output (plus ``x`` when the block is residual)."""
        out = F.relu6(self.bn1(self.conv1(x)))
        out = F.relu6(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.residual:
            out = out + x
        result: torch.Tensor = out
        return result


#: One inverted-residual block: (in channels, out channels, expansion, downsample).
_Block = tuple[int, int, int, bool]


class MobileNet(nn.Module):
    """A MobileNetV2-style network: a 32-channel 3x3 stem, inverted residual blocks, head.

    The head is a 1x1 conv to ``head`` channels, a global average pool and a linear layer.
    """

    def __init__(
        self, in_channels: int, num_classes: int, blocks: tuple[_Block, ...], head: int
    ) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(in_channels, 32, 3, stride=1, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(32)
        self.bottlenecks = nn.Sequential(*(_InvertedResidual(*b) for b in blocks))
        self.conv1 = nn.Conv2d(blocks[-1][1], head, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(head)
        self.fc = nn.Linear(head, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits of shape ``(batch, num_classes)``."""
        out = F.relu6(self.bn0(self.conv0(canonical_layout(x))))
        out = F.relu6(self.bn1(self.conv1(self.bottlenecks(out))))
        logits: torch.Tensor = self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))
        return logits


def _chain(stem: int, plan: tuple[tuple[int, int, bool, int], ...]) -> tuple[_Block, ...]:
    """Blocks from ``(out channels, expansion, downsample, repeats)`` steps.

    Each block is fed by the last; a step's repeats after its first keep the resolution
    and the channel count (so they are residual).
    """
    blocks: list[_Block] = []
    channels = stem
    for out, expand, down, repeats in plan:
        for i in range(repeats):
            blocks.append((channels, out, expand, down and i == 0))
            channels = out
    return tuple(blocks)


_MOBILENET_S = _chain(32, ((8, 1, False, 1), (8, 6, True, 1), (8, 6, True, 1)))
_MOBILENET_M = _chain(
    32,
    (
        (16, 1, False, 1),
        (24, 6, False, 1),
        (32, 6, False, 1),
        (48, 6, True, 1),
        (64, 6, False, 1),
        (96, 6, True, 1),
        (160, 6, False, 1),
    ),
)
_MOBILENET_L = _chain(
    32,
    (
        (16, 1, False, 1),
        (24, 6, False, 2),
        (32, 6, False, 3),
        (64, 6, True, 4),
        (96, 6, False, 3),
        (160, 6, True, 3),
        (320, 6, False, 1),
    ),
)


def _image_channels(arch: str, shape: tuple[int, ...]) -> int:
    if len(shape) != 3:
        raise ModelError(
            f"architecture {arch!r} is a convolutional network and needs image inputs "
            f"(channels, height, width), got input shape {shape}; use an MLP device class "
            "(sensor, phone, gateway, linear) for feature vectors"
        )
    return shape[0]


def _resnet(blocks: tuple[int, int, int], widths: tuple[int, int, int], name: str) -> Builder:
    def build(shape: tuple[int, ...], classes: int) -> nn.Module:
        return ResNet(_image_channels(name, shape), classes, blocks, widths)

    return build


def _mobilenet(blocks: tuple[_Block, ...], head: int, name: str) -> Builder:
    def build(shape: tuple[int, ...], classes: int) -> nn.Module:
        return MobileNet(_image_channels(name, shape), classes, blocks, head)

    return build


#: The authors' families by name (each also usable as the shared seed architecture).
FAMILY_ARCHITECTURES: dict[str, Builder] = {
    "resnet8": _resnet((1, 1, 1), (8, 8, 8), "resnet8"),
    "resnet18": _resnet((3, 3, 3), (16, 32, 64), "resnet18"),
    "resnet50": _resnet((8, 8, 8), (16, 32, 64), "resnet50"),
    "mobilenet_s": _mobilenet(_MOBILENET_S, 8, "mobilenet_s"),
    "mobilenet_m": _mobilenet(_MOBILENET_M, 320, "mobilenet_m"),
    "mobilenet_l": _mobilenet(_MOBILENET_L, 1280, "mobilenet_l"),
}
