"""The shared vocabulary of point-level deletion: the model protocol, the outcome, the errors.

A peer's *main model* may support deleting single training samples. Every such model
implements :class:`UnlearnableModel`: it is fitted once on the peer's data (with stable
sample ids), predicts with :meth:`~UnlearnableModel.logits`, and removes named ids with
:meth:`~UnlearnableModel.delete`, which returns a :class:`DeletionOutcome` saying what was
recomputed, at what cost and under which guarantee (``"exact"`` or
``"certified(eps=..,delta=..)"``).

The helpers below are shared by the four implementations: input validation (so every
model rejects the same mistakes with the same messages), seed derivation (every random
stream is derived from the model's seed and a purpose, never from global state) and the
bookkeeping of which ids are held and which were already deleted.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from clients.errors import ClientsError, ModelError

__all__ = [
    "CertificationError",
    "DeletionOutcome",
    "NotFittedError",
    "UnknownSampleError",
    "UnlearnableModel",
    "UnlearningError",
    "derive_seed",
]


class UnlearningError(ClientsError, ValueError):
    """A point-deletion model was configured or used wrongly (bad option, bad request)."""


class UnknownSampleError(UnlearningError):
    """A deletion request names sample ids the model does not hold (never seen or deleted).

    Attributes
    ----------
    unknown
        The offending ids, sorted.
    """

    def __init__(self, message: str, unknown: Sequence[int]) -> None:
        super().__init__(message)
        self.unknown: tuple[int, ...] = tuple(sorted(int(i) for i in unknown))


class NotFittedError(UnlearningError):
    """The model was asked to predict or delete before :meth:`UnlearnableModel.fit`."""


class CertificationError(UnlearningError):
    """A precondition of certified removal does not hold, so no certificate can be claimed."""


@dataclass(frozen=True)
class DeletionOutcome:
    """What one :meth:`UnlearnableModel.delete` call did.

    Attributes
    ----------
    deleted
        The sample ids removed, sorted ascending (duplicates in the request collapsed).
    method
        How they were removed: ``"sisa_retrain"``, ``"newton_step"``, ``"full_retrain"``,
        ``"subtract_statistics"`` or ``"noop"`` (empty request).
    retrained
        What was recomputed, model specific and JSON-ready: e.g. ``{"shards": [1, 3],
        "from_slice": {1: 0, 3: 2}}`` for SISA, ``{"newton_steps": 3, "full_retrain":
        False}`` for certified removal.
    certificate
        The guarantee the model holds after the deletion (see
        :meth:`UnlearnableModel.certificate`).
    residual
        Certified removal only: the accumulated upper bound on the gradient residual
        norm ``||grad L_b(w; D')||`` after the deletion (units of the sum-form
        objective's gradient); ``None`` for exact methods.
    budget_left
        Certified removal only: the residual still allowed before a retrain,
        ``sigma * eps / c - residual`` (same units); ``None`` for exact methods.
    wall_s
        Wall-clock seconds the deletion took (informative only: tests never assert it).
    samples_processed
        Compute measure: samples times passes actually processed, e.g. ``sum(epochs *
        samples)`` over the retrained SISA steps, or remaining samples per Newton step.
    terms
        Certified removal only: the trade-off behind the certificate, JSON-ready
        (``sigma``, ``lam``, ``budget``, ``residual``, ``eps_spent``, removals since the
        last training); empty for exact methods.
    """

    deleted: tuple[int, ...]
    method: str
    retrained: dict[str, Any]
    certificate: str
    residual: float | None
    budget_left: float | None
    wall_s: float
    samples_processed: int
    terms: dict[str, Any] = field(default_factory=dict)

    def receipt(self) -> str:
        """Return a SHA-256 digest of the deterministic fields (not ``wall_s``).

        A peer can attach it to the next seed version it distils (the ``deletions`` field
        of a seed record), so a holder can see which deletions a version reflects.
        """
        digest = hashlib.sha256()
        digest.update(repr(self.deleted).encode())
        digest.update(self.method.encode())
        digest.update(self.certificate.encode())
        digest.update(repr(sorted(self.retrained.items(), key=lambda kv: kv[0])).encode())
        digest.update(str(self.samples_processed).encode())
        if self.terms:
            digest.update(repr(sorted(self.terms.items(), key=lambda kv: kv[0])).encode())
        return digest.hexdigest()


@runtime_checkable
class UnlearnableModel(Protocol):
    """A peer's main model that can forget individual training samples.

    Attributes
    ----------
    name
        ``"sisa"``, ``"certified"``, ``"sq"`` or ``"retrain"``.
    """

    name: str

    def fit(self, x: np.ndarray, y: np.ndarray, ids: np.ndarray) -> None:
        """Train from scratch on ``x`` (``(n, *input_shape)``), labels ``y`` and unique ``ids``."""
        ...

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``(n, num_classes)`` float32 scores; argmax is the prediction."""
        ...

    def delete(self, ids: Sequence[int]) -> DeletionOutcome:
        """Remove the samples with these ids; unknown ids raise :class:`UnknownSampleError`."""
        ...

    @property
    def sample_ids(self) -> np.ndarray:
        """The ids the model currently learned from, ``int64``, sorted ascending."""
        ...

    def certificate(self) -> str:
        """``"exact"`` or ``"certified(eps=..,delta=..)"``."""
        ...


# ---------------------------------------------------------------------------- seeds
#: Purposes of the random streams derived from a model's seed (one integer each, so two
#: purposes never share a stream).
PURPOSE_INIT = 1
PURPOSE_BATCHES = 2
PURPOSE_PERTURBATION = 3
PURPOSE_FEATURES = 4


def derive_seed(base: int, *keys: int) -> int:
    """Derive an independent 63-bit seed from ``base`` and integer ``keys``.

    Same construction as :func:`clients.peer.sub_seed` (NumPy ``SeedSequence`` with a
    spawn key), repeated here so this package does not import the peer module.

    Examples
    --------
    >>> derive_seed(1, 2) == derive_seed(1, 2)
    True
    >>> derive_seed(1, 2) == derive_seed(1, 3)
    False
    """
    seq = np.random.SeedSequence(entropy=int(base), spawn_key=tuple(int(k) for k in keys))
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def torch_generator(seed: int) -> torch.Generator:
    """Return a CPU ``torch.Generator`` seeded with ``seed`` (global state untouched)."""
    return torch.Generator().manual_seed(int(seed))


# ---------------------------------------------------------------------------- options
def check_options(kind: str, options: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Raise :class:`UnlearningError` if ``options`` holds a name not in ``allowed``."""
    valid = sorted(allowed)
    bad = sorted(set(options) - set(valid))
    if bad:
        raise UnlearningError(
            f"unknown option(s) {bad} for unlearning kind {kind!r}; valid options: {valid}"
        )


def positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an ``int`` >= 1 or raise :class:`UnlearningError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise UnlearningError(f"option {name!r} must be an integer >= 1, got {value!r}")
    return int(value)


def positive_float(name: str, value: Any, *, allow_inf: bool = False) -> float:
    """Return ``value`` as a ``float`` > 0 or raise :class:`UnlearningError` naming ``name``."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise UnlearningError(f"option {name!r} must be a number > 0, got {value!r}") from None
    if math.isnan(out) or out <= 0 or (math.isinf(out) and not allow_inf):
        finite = "" if allow_inf else " and finite"
        raise UnlearningError(f"option {name!r} must be > 0{finite}, got {value!r}")
    return out


# ---------------------------------------------------------------------------- data
def check_task(input_shape: Sequence[int], num_classes: int) -> tuple[tuple[int, ...], int]:
    """Validate the task shape shared by every model; return it normalised."""
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d <= 0 for d in shape):
        raise ModelError(f"input_shape must be non-empty and positive, got {tuple(input_shape)}")
    if isinstance(num_classes, bool) or int(num_classes) < 2:
        raise ModelError(f"num_classes must be >= 2, got {num_classes}")
    return shape, int(num_classes)


def check_fit_data(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    ids: np.ndarray | torch.Tensor,
    input_shape: tuple[int, ...],
    num_classes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate training data and return it sorted by sample id.

    Sorting by id makes the model a function of the *set* of ``(id, x, y)`` triples, not
    of the order they were handed over in: after a deletion, "fit on the remaining data"
    is well defined whatever order the caller keeps its arrays in.

    Returns
    -------
    tuple of numpy.ndarray
        ``x`` as ``float32`` ``(n, *input_shape)``, ``y`` as ``int64`` and ``ids`` as
        ``int64``, all in ascending id order.

    Raises
    ------
    ModelError
        If shapes, lengths or label values do not fit the task.
    UnlearningError
        If ``ids`` has duplicates or there is no sample.
    """
    xa = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
    ya = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y)
    ia = np.asarray(ids.detach().cpu() if isinstance(ids, torch.Tensor) else ids)
    if xa.shape[1:] != input_shape:
        raise ModelError(
            f"x must have shape (n, *{input_shape}), got {xa.shape}; reshape the inputs or "
            "build the model with the data's input_shape"
        )
    n = xa.shape[0]
    if ya.shape != (n,) or ia.shape != (n,):
        raise ModelError(
            f"y and ids must have shape ({n},) like x's first axis, got {ya.shape} and {ia.shape}"
        )
    if n == 0:
        raise UnlearningError("cannot fit on zero samples; give the model at least one sample")
    if not np.issubdtype(ya.dtype, np.integer) or not np.issubdtype(ia.dtype, np.integer):
        raise ModelError(f"y and ids must be integer arrays, got {ya.dtype} and {ia.dtype}")
    if ya.min() < 0 or ya.max() >= num_classes:
        raise ModelError(
            f"labels must lie in 0..{num_classes - 1}, got values in {ya.min()}..{ya.max()}"
        )
    if not np.isfinite(xa).all():
        raise ModelError("x holds NaN or Inf; clean the inputs before fitting")
    order = np.argsort(ia, kind="stable")
    ia = ia[order].astype(np.int64)
    dup = ia[1:][ia[1:] == ia[:-1]]
    if dup.size:
        raise UnlearningError(
            f"sample ids must be unique, got duplicates {sorted(set(dup.tolist()))[:10]}; "
            "give every sample its own id"
        )
    return np.ascontiguousarray(xa[order]), ya[order].astype(np.int64), ia


def as_input_tensor(x: np.ndarray | torch.Tensor, input_shape: tuple[int, ...]) -> torch.Tensor:
    """Return ``x`` as a float32 CPU tensor of shape ``(n, *input_shape)`` or raise."""
    xt = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    xt = xt.detach().to(dtype=torch.float32, device="cpu")
    if tuple(xt.shape[1:]) != input_shape:
        raise ModelError(f"expected inputs of shape (n, *{input_shape}), got {tuple(xt.shape)}")
    return xt


class SampleBook:
    """Which sample ids a model holds, and which it already deleted.

    Every model keeps its training arrays sorted by id; this class turns a deletion
    request into row positions and refuses ids it does not hold, naming them (and saying
    which of them were already deleted), before anything is changed.
    """

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.deleted: set[int] = set()

    def resolve(
        self, request: Sequence[int] | np.ndarray | torch.Tensor, *, model: str
    ) -> np.ndarray:
        """Return the sorted unique requested ids, all held, or raise.

        Raises
        ------
        UnknownSampleError
            If any id is not held; the message lists the unknown ids (up to 20) and says
            which were deleted before.
        UnlearningError
            If the request would leave the model without any sample.
        """
        raw = np.asarray(request.detach().cpu() if isinstance(request, torch.Tensor) else request)
        if raw.size and not np.issubdtype(raw.dtype, np.integer):
            raise UnlearningError(
                f"{model}: a deletion request must be a sequence of integer sample ids, got "
                f"values of type {raw.dtype}"
            )
        req = np.unique(raw.astype(np.int64).reshape(-1))
        held = self._held(req)
        if not held.all():
            unknown = req[~held].tolist()
            again = [i for i in unknown if i in self.deleted]
            never = [i for i in unknown if i not in self.deleted]
            parts = []
            if never:
                parts.append(f"never trained on: {_preview(never)}")
            if again:
                parts.append(f"already deleted: {_preview(again)}")
            raise UnknownSampleError(
                f"{model}: cannot delete unknown sample id(s) ({'; '.join(parts)}); "
                "request only ids listed in sample_ids",
                unknown,
            )
        if req.size and req.size == self.ids.size:
            raise UnlearningError(
                f"{model}: deleting all {req.size} remaining samples would leave no training "
                "data; drop the whole model instead (the peer leaves)"
            )
        return req

    def positions(self, req: np.ndarray) -> np.ndarray:
        """Row positions of the (held) ids ``req`` in the id-sorted arrays."""
        return np.searchsorted(self.ids, req)

    def _held(self, req: np.ndarray) -> np.ndarray:
        """Which of ``req`` are held: a binary search per id, O(k log n).

        (``np.isin`` against the held ids sorts all ``n`` of them on every request, which
        at n = 60,000 costs more than a certified removal's arithmetic.)
        """
        pos = np.searchsorted(self.ids, req)
        inside = pos < self.ids.size
        held = np.zeros(req.shape, dtype=bool)
        held[inside] = self.ids[pos[inside]] == req[inside]
        return held

    def remove(self, req: np.ndarray) -> np.ndarray:
        """Forget the held ids ``req`` and return the boolean mask of rows to keep."""
        keep = np.ones(self.ids.size, dtype=bool)
        keep[self.positions(req)] = False
        self.ids = self.ids[keep]
        self.deleted.update(int(i) for i in req)
        return keep


def _preview(values: Sequence[int], limit: int = 20) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    more = f", ... ({len(values) - limit} more)" if len(values) > limit else ""
    return f"[{shown}{more}]"
