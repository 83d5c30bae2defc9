"""Frozen feature maps for the linear heads of certified removal and the summation form.

Certified removal (Guo et al. 2020) certifies only a linear model, and only if the features
never depended on the private data: any representation fitted on data that may later be
deleted would carry that data past the removal. So the heads here see inputs through a
*frozen* map that is fixed before the private data arrives:

``"relu"``  (default)
    A random ReLU projection ``relu(W (x - m) + c)`` with ``W``, ``c`` drawn from the seed,
    ``D`` = ``dim`` output features. If public inputs are given, ``m`` is their mean and
    the features are centred on their public mean too (a large shared direction makes the
    removal bound loose, see :mod:`clients.unlearning.certified`).
``"pca"``
    Whitened principal components of the *public* inputs (e.g. the peer's reference set):
    the ``dim`` leading directions, each scaled to unit variance on the public data.
    Needs ``public_x``. On scikit-learn's digits it beats random features at equal noise.
``"identity"``
    The flattened input itself (centred on the public mean if given).
a callable or ``torch.nn.Module``
    Any user map from ``(n, *input_shape)`` float32 inputs to ``(n, D)`` features, e.g. an
    extractor trained on public data only. That it saw no private data is the caller's
    responsibility; the map is applied in eval mode without gradients.

Every map then appends a constant 1 (the bias feature, ``bias=True``) and scales each row
to unit L2 norm (``normalize=True``), the precondition ``||x_i|| <= 1`` of the removal
bounds. Rows are normalised one at a time, so no statistic of the private data enters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from clients.unlearning.base import (
    PURPOSE_FEATURES,
    CertificationError,
    UnlearningError,
    derive_seed,
)

__all__ = ["FEATURE_MAPS", "FeatureMap", "build_feature_map"]

#: Built-in frozen feature maps, by name.
FEATURE_MAPS: tuple[str, ...] = ("relu", "pca", "identity")

#: Rows whose norm exceeds 1 by more than this (float rounding) violate the precondition.
NORM_SLACK = 1e-9

Transform = Callable[[np.ndarray], np.ndarray]


class FeatureMap:
    """A frozen map from raw inputs to feature rows of L2 norm at most 1 (float64).

    Parameters
    ----------
    transform
        Maps ``(n, *input_shape)`` float32 inputs to ``(n, D)`` raw features.
    description
        Human-readable name, recorded in model summaries.
    bias
        Append a constant 1 feature before normalising (gives the linear head an intercept).
    normalize
        Scale every row to unit L2 norm. If ``False`` rows must already have norm <= 1.
    """

    def __init__(
        self, transform: Transform, description: str, *, bias: bool = True, normalize: bool = True
    ) -> None:
        self._transform = transform
        self.description = description
        self.bias = bias
        self.normalize = normalize

    def __call__(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Return the ``(n, D)`` float64 features of ``x``, every row of norm <= 1.

        Raises
        ------
        CertificationError
            If the map returns NaN/Inf, a wrong shape, or (with ``normalize=False``) a row
            of norm above 1: the precondition of the removal bounds would not hold.
        """
        xa = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        xa = np.ascontiguousarray(xa, dtype=np.float32)
        raw = np.asarray(self._transform(xa), dtype=np.float64)
        if raw.ndim != 2 or raw.shape[0] != xa.shape[0]:
            raise CertificationError(
                f"feature map {self.description!r} must return shape (n, D) = "
                f"({xa.shape[0]}, D), got {raw.shape}"
            )
        if not np.isfinite(raw).all():
            raise CertificationError(
                f"feature map {self.description!r} returned NaN or Inf; fix the map or the inputs"
            )
        if self.bias:
            raw = np.hstack([raw, np.ones((raw.shape[0], 1))])
        if self.normalize:
            norms = np.linalg.norm(raw, axis=1, keepdims=True)
            raw = raw / np.where(norms > 0, norms, 1.0)
        worst = float(np.linalg.norm(raw, axis=1).max(initial=0.0))
        if worst > 1.0 + NORM_SLACK:
            raise CertificationError(
                f"feature rows must have L2 norm <= 1 (precondition of the removal bound), "
                f"got a row of norm {worst:.6g}; use normalize=True or rescale the map"
            )
        return raw


def _flatten(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1).astype(np.float64)


def _public_matrix(public_x: Any, input_shape: tuple[int, ...]) -> np.ndarray | None:
    if public_x is None:
        return None
    arr = public_x.detach().cpu().numpy() if isinstance(public_x, torch.Tensor) else public_x
    arr = np.asarray(arr, dtype=np.float64)
    if arr.shape[1:] != input_shape or arr.shape[0] < 1:
        raise UnlearningError(
            f"public_x must have shape (m, *{input_shape}) with m >= 1, got {arr.shape}"
        )
    return arr.reshape(arr.shape[0], -1)


class _ReluTransform:
    """A fixed random ReLU projection (a picklable object: runs can be checkpointed)."""

    def __init__(
        self, weights: np.ndarray, offsets: np.ndarray, centre: np.ndarray, shift: np.ndarray
    ) -> None:
        self.weights, self.offsets, self.centre, self.shift = weights, offsets, centre, shift

    def project(self, flat: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.maximum((flat - self.centre) @ self.weights + self.offsets, 0.0)
        return out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.project(_flatten(x)) - self.shift
        return out


class _LinearTransform:
    """``(x - centre) @ proj`` (a picklable object: runs can be checkpointed)."""

    def __init__(self, centre: np.ndarray, proj: np.ndarray) -> None:
        self.centre, self.proj = centre, proj

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = (_flatten(x) - self.centre) @ self.proj
        return out


def _relu_map(d_in: int, dim: int, seed: int, public: np.ndarray | None) -> Transform:
    rng = np.random.default_rng(derive_seed(seed, PURPOSE_FEATURES, 1))
    weights = rng.standard_normal((d_in, dim)) * (2.0 / math.sqrt(d_in))
    offsets = rng.standard_normal(dim) * 0.5
    centre = np.zeros(d_in) if public is None else public.mean(axis=0)
    transform = _ReluTransform(weights, offsets, centre, np.zeros(dim))
    if public is not None:
        transform.shift = transform.project(public).mean(axis=0)
    return transform


def _pca_map(dim: int, public: np.ndarray | None) -> Transform:
    if public is None:
        raise UnlearningError(
            "feature_map 'pca' is fitted on public inputs: pass public_x (e.g. the peer's "
            "reference set), or choose feature_map='relu'"
        )
    centre = public.mean(axis=0)
    _, singular, vt = np.linalg.svd(public - centre, full_matrices=False)
    rank = int((singular > 1e-8 * singular[0]).sum()) if singular.size else 0
    if dim > rank:
        raise UnlearningError(
            f"features={dim} exceeds the rank {rank} of the public inputs; "
            f"ask for features <= {rank} or give more public samples"
        )
    proj = vt[:dim].T / (singular[:dim] / math.sqrt(public.shape[0]))
    return _LinearTransform(centre, proj)


def build_feature_map(
    spec: str | Transform | nn.Module,
    *,
    input_shape: tuple[int, ...],
    dim: int,
    seed: int,
    public_x: np.ndarray | torch.Tensor | None = None,
    bias: bool = True,
    normalize: bool = True,
) -> FeatureMap:
    """Build the frozen feature map ``spec`` (a name from :data:`FEATURE_MAPS` or a callable).

    Parameters
    ----------
    spec
        ``"relu"``, ``"pca"``, ``"identity"``, a callable ``(n, *input_shape) -> (n, D)``
        or a ``torch.nn.Module`` (run in eval mode, no gradients).
    input_shape
        Shape of one raw input.
    dim
        Output features ``D`` of ``"relu"`` and ``"pca"`` (ignored by the others).
    seed
        Seed of the random projection (``"relu"``).
    public_x
        Public inputs ``(m, *input_shape)`` that never held private data: used by
        ``"pca"`` (required) and for centring ``"relu"`` and ``"identity"`` (optional).
    bias, normalize
        See :class:`FeatureMap`.

    Raises
    ------
    UnlearningError
        If ``spec`` is unknown or ``"pca"`` lacks public data.
    """
    public = _public_matrix(public_x, input_shape)
    if isinstance(spec, nn.Module):
        module = spec.eval()

        def run_module(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                out = module(torch.from_numpy(x))
            flat: np.ndarray = out.reshape(out.shape[0], -1).double().numpy()
            return flat

        return FeatureMap(
            run_module, f"module:{type(spec).__name__}", bias=bias, normalize=normalize
        )
    if callable(spec):
        name = getattr(spec, "__name__", type(spec).__name__)
        return FeatureMap(spec, f"callable:{name}", bias=bias, normalize=normalize)
    d_in = int(math.prod(input_shape))
    if spec == "relu":
        transform = _relu_map(d_in, dim, seed, public)
    elif spec == "pca":
        transform = _pca_map(dim, public)
    elif spec == "identity":
        centre = np.zeros(d_in) if public is None else public.mean(axis=0)

        def transform(x: np.ndarray) -> np.ndarray:
            return _flatten(x) - centre
    else:
        raise UnlearningError(
            f"unknown feature_map {spec!r}; choose one of {list(FEATURE_MAPS)}, "
            "or pass a callable / torch.nn.Module trained on public data"
        )
    out_dim = d_in if spec == "identity" else dim
    centred = "" if public is None or spec == "pca" else ",public-centred"
    return FeatureMap(transform, f"{spec}(dim={out_dim}{centred})", bias=bias, normalize=normalize)
