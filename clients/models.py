"""Model zoo by device class: heterogeneous main models and the one shared seed architecture.

HDUS lets every device pick a main model that fits its hardware, while all peers distil
into one small *seed* architecture so seeds can be mixed in an ensemble. The zoo below
gives three main models of clearly different sizes (parameter counts for scikit-learn's
digits, 1x8x8 inputs, 10 classes):

========== ===================================== ==========
name       architecture                          parameters
========== ===================================== ==========
sensor     MLP 64-32-10                          2,410
phone      MLP 64-256-128-10                     50,826
gateway    CNN conv32-conv64-pool-fc128-10       151,306
seed_mlp   MLP 64-48-10 (the shared seed model)  3,610
========== ===================================== ==========

Vector inputs (UCI HAR, synthetic) give the gateway a deep MLP instead of the CNN.

The HDUS authors' own families (CIFAR-style ``resnet8/18/50`` and ``mobilenet_s/m/l``,
with BatchNorm; :mod:`clients.model_families`) are device classes and seed architectures
too, for image inputs.
Every builder is deterministic: the same ``seed`` gives bit-identical initial weights,
without touching torch's global random state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from clients.errors import ModelError
from clients.layout import canonical_layout
from clients.model_families import FAMILY_ARCHITECTURES, Builder

__all__ = [
    "MAIN_ARCHITECTURES",
    "SEED_ARCHITECTURES",
    "ArchitectureInfo",
    "build_model",
    "canonical_layout",
    "describe_architectures",
    "parameter_count",
]


class MLP(nn.Module):
    """A fully connected ReLU network that flattens any input shape."""

    def __init__(self, in_features: int, hidden: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits of shape ``(batch, num_classes)``."""
        logits: torch.Tensor = self.net(x)
        return logits


class SmallCNN(nn.Module):
    """Two 3x3 conv layers, one 2x2 max-pool, two linear layers: the gateway's main model.

    Inputs are put into one fixed memory layout first (:func:`canonical_layout`), so the
    logits depend on the input's values only, not on how its array was made.
    """

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        channels, height, width = input_shape
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        flat = 64 * (height // 2) * (width // 2)
        self.head = nn.Sequential(nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits of shape ``(batch, num_classes)``."""
        logits: torch.Tensor = self.head(self.features(canonical_layout(x)))
        return logits


def _in_features(shape: tuple[int, ...]) -> int:
    return int(math.prod(shape))


def _sensor(shape: tuple[int, ...], classes: int) -> nn.Module:
    return MLP(_in_features(shape), (32,), classes)


def _phone(shape: tuple[int, ...], classes: int) -> nn.Module:
    return MLP(_in_features(shape), (256, 128), classes)


def _gateway(shape: tuple[int, ...], classes: int) -> nn.Module:
    if len(shape) == 3 and shape[1] >= 2 and shape[2] >= 2:
        return SmallCNN((shape[0], shape[1], shape[2]), classes)
    return MLP(_in_features(shape), (512, 256, 128), classes)


def _seed_mlp(shape: tuple[int, ...], classes: int) -> nn.Module:
    return MLP(_in_features(shape), (48,), classes)


def _seed_tiny(shape: tuple[int, ...], classes: int) -> nn.Module:
    return MLP(_in_features(shape), (16,), classes)


def _linear(shape: tuple[int, ...], classes: int) -> nn.Module:
    return MLP(_in_features(shape), (), classes)


#: Main-model architectures by device class.
MAIN_ARCHITECTURES: dict[str, Builder] = {
    "sensor": _sensor,
    "phone": _phone,
    "gateway": _gateway,
    "linear": _linear,
    **FAMILY_ARCHITECTURES,
}

#: Seed architectures (one is chosen per scenario and shared by every peer).
SEED_ARCHITECTURES: dict[str, Builder] = {
    "seed_mlp": _seed_mlp,
    "seed_tiny": _seed_tiny,
    **FAMILY_ARCHITECTURES,
}


def build_model(
    arch: str, input_shape: tuple[int, ...], num_classes: int, *, seed: int
) -> nn.Module:
    """Build a model of architecture ``arch`` with weights drawn from ``seed`` alone.

    Parameters
    ----------
    arch
        A name from :data:`MAIN_ARCHITECTURES` or :data:`SEED_ARCHITECTURES`.
    input_shape
        Shape of one input sample, e.g. ``(1, 8, 8)`` or ``(561,)``.
    num_classes
        Number of output logits.
    seed
        Initialisation seed; torch's global random state is left untouched.

    Returns
    -------
    torch.nn.Module
        The model in eval mode (training code switches it to train mode).

    Raises
    ------
    ModelError
        If ``arch`` is unknown or the shape is unusable.

    Examples
    --------
    >>> m1 = build_model("sensor", (1, 8, 8), 10, seed=3)
    >>> m2 = build_model("sensor", (1, 8, 8), 10, seed=3)
    >>> all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    True
    >>> parameter_count(m1)
    2410
    """
    builders = {**MAIN_ARCHITECTURES, **SEED_ARCHITECTURES}
    if arch not in builders:
        raise ModelError(f"unknown model architecture {arch!r}; choose one of {sorted(builders)}")
    if num_classes < 2:
        raise ModelError(f"num_classes must be >= 2, got {num_classes}")
    if not input_shape or any(d <= 0 for d in input_shape):
        raise ModelError(f"input_shape must be non-empty and positive, got {input_shape}")
    with torch.random.fork_rng(devices=[]):
        # the CPU generator only: torch.manual_seed also queues lazy CUDA/XPU seeding,
        # which records a stack trace per call (most of a small model's build time)
        torch.default_generator.manual_seed(seed)
        model = builders[arch](tuple(input_shape), num_classes)
    return model.eval()


def parameter_count(model: nn.Module) -> int:
    """Return the number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass(frozen=True)
class ArchitectureInfo:
    """One architecture's name, role (``main`` or ``seed``) and parameter count."""

    name: str
    role: str
    parameters: int


def describe_architectures(
    input_shape: tuple[int, ...], num_classes: int
) -> list[ArchitectureInfo]:
    """List every architecture with its parameter count for this input shape."""
    rows = [
        ArchitectureInfo(
            name, "main", parameter_count(build_model(name, input_shape, num_classes, seed=0))
        )
        for name in MAIN_ARCHITECTURES
    ]
    rows += [
        ArchitectureInfo(
            name, "seed", parameter_count(build_model(name, input_shape, num_classes, seed=0))
        )
        for name in SEED_ARCHITECTURES
    ]
    return rows
