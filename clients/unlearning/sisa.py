"""SISA training (Bourtoule et al. 2019): Sharded, Isolated, Sliced, Aggregated.

The main model is an ensemble of ``S`` shard models. A sample's shard and its slice
within the shard are functions of ``(sample id, seed)`` alone (SHA-256 buckets), so adding
or removing other samples never moves it, and no feature value influences where it goes.
Shard ``k`` is trained incrementally: step 0 trains on slice 0 for ``e`` epochs, step 1
continues on slices 0..1 for ``e`` epochs, ..., step ``R-1`` on the whole shard; the state
after every step is a **checkpoint**. Inside a step, samples are ordered by (slice, id) and
the batch order is drawn from a ``torch.Generator`` seeded by ``(seed, shard, step)``, with
a fresh Adam optimiser per step (so no optimiser state outlives a step).

Checkpoints are **content-addressed** (as in the official repository): the key is the
SHA-256 of the configuration, the seed, the shard, the step and the *sorted ids consumed
so far*. Deleting ids retrains, for each affected shard only, from the checkpoint before
the earliest slice holding a deleted id; every checkpoint whose id set held a deleted id
is dropped and replaced. Because training is deterministic given (state, ids, step), the
retrained shard equals, parameter for parameter, the shard a fresh fit on the remaining
data produces, and its checkpoint keys are those of that fresh fit; untouched shards keep
their keys.

Shard models aggregate *predictions*, never parameters: averaged probabilities
(``logits`` returns their log) or a label majority vote (vote counts; ties go to the
lowest class index, as ``argmax`` does). Shards holding no sample are left out.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clients.models import build_model
from clients.training import TrainConfig, adam_for, logits_of, train_supervised
from clients.unlearning.base import (
    PURPOSE_BATCHES,
    PURPOSE_INIT,
    DeletionOutcome,
    NotFittedError,
    SampleBook,
    UnlearningError,
    as_input_tensor,
    check_fit_data,
    check_task,
    derive_seed,
    positive_float,
    positive_int,
    torch_generator,
)

__all__ = ["AGGREGATIONS", "CheckpointInfo", "SisaModel", "assign_buckets"]

#: How shard predictions are combined.
AGGREGATIONS: tuple[str, ...] = ("probs", "vote")


def assign_buckets(ids: np.ndarray, *, seed: int, salt: str, buckets: int) -> np.ndarray:
    """Map every sample id to a bucket in ``0..buckets-1`` from SHA-256 of (salt, seed, id).

    A pure function of the id and seed: the shard (``salt="shard"``) or slice
    (``salt="slice"``) of a sample never depends on which other samples exist.

    Examples
    --------
    >>> a = assign_buckets(np.array([5, 9]), seed=1, salt="shard", buckets=4)
    >>> b = assign_buckets(np.array([9]), seed=1, salt="shard", buckets=4)
    >>> int(a[1]) == int(b[0])
    True
    """
    out = np.empty(len(ids), dtype=np.int64)
    for i, sample in enumerate(np.asarray(ids, dtype=np.int64).tolist()):
        digest = hashlib.sha256(f"sisa/{salt}/{seed}/{sample}".encode()).digest()
        out[i] = int.from_bytes(digest[:8], "little") % buckets
    return out


@dataclass(frozen=True)
class CheckpointInfo:
    """Lineage record of one checkpoint (the state after one training step of one shard).

    Attributes
    ----------
    key
        SHA-256 content address (configuration, seed, shard, step, sorted ids consumed).
    shard
        Shard index, ``0..S-1``.
    step
        Slice step, ``0..R-1``: the state after training on slices ``0..step``.
    sample_ids
        Every sample id the state depends on, sorted.
    parent
        Key of the checkpoint training started from (``None``: the seeded initial weights).
    """

    key: str
    shard: int
    step: int
    sample_ids: tuple[int, ...]
    parent: str | None


@dataclass
class _Stored:
    """One stored checkpoint: the sorted ids it consumed, its state, its key once asked.

    The content address is a pure function of (configuration, shard, step, ids), so it is
    computed the first time it is read (an audit, a listing), not on the delete path.
    """

    ids: np.ndarray
    state: dict[str, torch.Tensor]
    key: str | None = None


class SisaModel:
    """An ensemble of shard models trained slice by slice with content-addressed checkpoints.

    Parameters
    ----------
    arch
        Architecture of every shard model (see :func:`clients.models.build_model`).
    input_shape, num_classes
        Task shape.
    seed
        Seeds the assignment of samples to shards and slices, every shard's initial
        weights ``(seed, shard)`` and every step's batch order ``(seed, shard, step)``.
    shards
        Number of shards ``S``: a deletion retrains about ``1/S`` of the data.
    slices
        Slices per shard ``R``: a deletion in slice ``u`` retrains steps ``u..R-1`` only.
    epochs_per_slice
        Epochs ``e`` of every step (on the cumulative slices so far).
    batch_size, lr
        Samples per Adam step, Adam learning rate.
    aggregation
        ``"probs"`` (default) or ``"vote"``.
    """

    name = "sisa"

    def __init__(
        self,
        *,
        arch: str,
        input_shape: Sequence[int],
        num_classes: int,
        seed: int,
        shards: int = 4,
        slices: int = 3,
        epochs_per_slice: int = 2,
        batch_size: int = 32,
        lr: float = 0.01,
        aggregation: str = "probs",
    ) -> None:
        self.input_shape, self.num_classes = check_task(input_shape, num_classes)
        self.arch = arch
        self.seed = int(seed)
        self.shards = positive_int("shards", shards)
        self.slices = positive_int("slices", slices)
        if aggregation not in AGGREGATIONS:
            raise UnlearningError(
                f"unknown aggregation {aggregation!r}; choose one of {list(AGGREGATIONS)}"
            )
        self.aggregation = aggregation
        self.config = TrainConfig(
            epochs=positive_int("epochs_per_slice", epochs_per_slice),
            batch_size=positive_int("batch_size", batch_size),
            lr=positive_float("lr", lr),
        )
        self._models: list[nn.Module] = [self._fresh(k) for k in range(self.shards)]
        # Every shard's seeded initial weights, kept so a retrain from step 0 loads them
        # into the served module instead of building a new one (a cold build costs more
        # than the bookkeeping of a small delete).
        self._initial: list[dict[str, torch.Tensor]] = [
            {k: v.detach().clone() for k, v in m.state_dict().items()} for m in self._models
        ]
        # Batch-order seeds of every (shard, step), derived once (a SeedSequence per
        # retrained step costs more than the bookkeeping of a small delete).
        self._batch_seeds: list[list[int]] = [
            [derive_seed(self.seed, PURPOSE_BATCHES, k, u) for u in range(self.slices)]
            for k in range(self.shards)
        ]
        self._x = np.zeros((0, *self.input_shape), dtype=np.float32)
        self._y = np.zeros(0, dtype=np.int64)
        self._shard = np.zeros(0, dtype=np.int64)
        self._slice = np.zeros(0, dtype=np.int64)
        self._book = SampleBook(np.zeros(0, dtype=np.int64))
        # One Adam per shard module, reset to a fresh Adam's state before every step.
        self._optimisers = [adam_for(m, self.config) for m in self._models]
        self._chain: list[list[_Stored]] = [[] for _ in range(self.shards)]
        self._fitted = False

    # ------------------------------------------------------------------ protocol
    def fit(self, x: np.ndarray, y: np.ndarray, ids: np.ndarray) -> None:
        """Assign samples to shards and slices, then train every shard step by step."""
        self._x, self._y, ids_sorted = check_fit_data(x, y, ids, self.input_shape, self.num_classes)
        self._book = SampleBook(ids_sorted)
        self._shard = assign_buckets(ids_sorted, seed=self.seed, salt="shard", buckets=self.shards)
        self._slice = assign_buckets(ids_sorted, seed=self.seed, salt="slice", buckets=self.slices)
        self._chain = [[] for _ in range(self.shards)]
        for k in range(self.shards):
            self._train_shard(k, 0)
        self._fitted = True

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Aggregate the non-empty shards' predictions into ``(n, num_classes)`` scores.

        ``"probs"``: the log of the shards' mean softmax (``softmax`` of it gives the mean
        back). ``"vote"``: the number of shards voting for each class.
        """
        self._require_fit()
        xt = as_input_tensor(x, self.input_shape)
        active = [k for k in range(self.shards) if (self._shard == k).any()]
        outs = [logits_of(self._models[k], xt) for k in active]
        if self.aggregation == "probs":
            log_probs = torch.stack([F.log_softmax(o, dim=1) for o in outs])
            return torch.logsumexp(log_probs, dim=0) - math.log(len(outs))
        votes = torch.zeros(xt.shape[0], self.num_classes)
        rows = torch.arange(xt.shape[0])
        for o in outs:
            votes[rows, o.argmax(dim=1)] += 1.0
        return votes

    @property
    def sample_ids(self) -> np.ndarray:
        """Ids the shards currently learned from (``int64``, sorted)."""
        return self._book.ids.copy()

    def certificate(self) -> str:
        """Always ``"exact"``: retrained shards equal shards trained without the ids."""
        return "exact"

    def delete(self, ids: Sequence[int]) -> DeletionOutcome:
        """Retrain each affected shard from the checkpoint before its earliest deleted slice.

        Returns
        -------
        DeletionOutcome
            ``retrained`` holds ``shards`` (sorted affected shards), ``from_slice``
            (shard -> first retrained step) and ``steps`` (training steps re-run);
            ``samples_processed`` is the sum over re-run steps of ``epochs *
            samples in the step``.

        Raises
        ------
        UnknownSampleError
            If an id is not held (nothing is changed).
        """
        self._require_fit()
        start = time.perf_counter()
        request = self._book.resolve(ids, model="SISA model")
        pos = self._book.positions(request)
        from_slice: dict[int, int] = {}
        for shard, slice_ in zip(self._shard[pos].tolist(), self._slice[pos].tolist(), strict=True):
            from_slice[shard] = min(slice_, from_slice.get(shard, slice_))
        keep = self._book.remove(request)
        self._x, self._y = self._x[keep], self._y[keep]
        self._shard, self._slice = self._shard[keep], self._slice[keep]
        processed = 0
        for shard in sorted(from_slice):
            del self._chain[shard][from_slice[shard] :]
            processed += self._train_shard(shard, from_slice[shard])
        return DeletionOutcome(
            deleted=tuple(int(i) for i in request),
            method="sisa_retrain" if request.size else "noop",
            retrained={
                "shards": sorted(from_slice),
                "from_slice": dict(sorted(from_slice.items())),
                "steps": sum(self.slices - u for u in from_slice.values()),
            },
            certificate="exact",
            residual=None,
            budget_left=None,
            wall_s=time.perf_counter() - start,
            samples_processed=processed,
        )

    # ------------------------------------------------------------------ audit
    @property
    def shard_models(self) -> tuple[nn.Module, ...]:
        """The served shard modules, in shard order (live: do not train them).

        A deletion retrains an affected shard's module in place; ``copy.deepcopy`` the
        tuple to keep a snapshot across deletions.
        """
        return tuple(self._models)

    def shard_of(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Shard of each id (a pure function of id and seed; the id need not be held)."""
        return assign_buckets(np.asarray(ids), seed=self.seed, salt="shard", buckets=self.shards)

    def slice_of(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Slice (within its shard) of each id, ``0..slices-1``."""
        return assign_buckets(np.asarray(ids), seed=self.seed, salt="slice", buckets=self.slices)

    def shard_sizes(self) -> tuple[int, ...]:
        """Samples currently held by every shard."""
        return tuple(int((self._shard == k).sum()) for k in range(self.shards))

    def checkpoint_keys(self) -> tuple[tuple[str, ...], ...]:
        """For every shard, its checkpoint keys by step (the reachable lineage)."""
        return tuple(
            tuple(self._key_of(shard, step) for step in range(len(chain)))
            for shard, chain in enumerate(self._chain)
        )

    def checkpoints(self) -> dict[str, CheckpointInfo]:
        """Every stored checkpoint's lineage record, by key."""
        out: dict[str, CheckpointInfo] = {}
        for shard, chain in enumerate(self._chain):
            parent: str | None = None
            for step, stored in enumerate(chain):
                key = self._key_of(shard, step)
                out[key] = CheckpointInfo(key, shard, step, tuple(stored.ids.tolist()), parent)
                parent = key
        return out

    def checkpoint_state(self, key: str) -> dict[str, torch.Tensor]:
        """A copy of the state dict stored under ``key``.

        Raises
        ------
        UnlearningError
            If no checkpoint has this key (e.g. it was dropped by a deletion).
        """
        for shard, chain in enumerate(self._chain):
            for step, stored in enumerate(chain):
                if self._key_of(shard, step) == key:
                    return {k: v.clone() for k, v in stored.state.items()}
        raise UnlearningError(f"no checkpoint with key {key!r}; list keys with checkpoints()")

    def storage_bytes(self) -> int:
        """Bytes held for deletion: checkpoint tensors plus the raw training data."""
        tensors = sum(
            t.numel() * t.element_size()
            for chain in self._chain
            for stored in chain
            for t in stored.state.values()
        )
        return int(tensors + self._x.nbytes + self._y.nbytes)

    # ------------------------------------------------------------------ internals
    def _require_fit(self) -> None:
        if not self._fitted:
            raise NotFittedError("SISA model is not fitted; call fit() first")

    def _fresh(self, shard: int) -> nn.Module:
        seed = derive_seed(self.seed, PURPOSE_INIT, shard)
        return build_model(self.arch, self.input_shape, self.num_classes, seed=seed)

    def _key(self, shard: int, step: int, ids: np.ndarray) -> str:
        """Content address of a checkpoint; ``ids`` must be sorted."""
        digest = hashlib.sha256()
        cfg = self.config
        header = (
            f"sisa-v1|{self.arch}|{self.input_shape}|{self.num_classes}|{self.seed}|"
            f"{self.shards}|{self.slices}|{cfg.epochs}|{cfg.batch_size}|{cfg.lr!r}|"
            f"{shard}|{step}|"
        )
        digest.update(header.encode())
        digest.update(np.ascontiguousarray(ids, dtype="<i8").tobytes())
        return digest.hexdigest()

    def _key_of(self, shard: int, step: int) -> str:
        """Content address of ``shard``'s stored checkpoint after ``step`` (cached)."""
        stored = self._chain[shard][step]
        if stored.key is None:
            stored.key = self._key(shard, step, stored.ids)
        return stored.key

    def _train_shard(self, shard: int, from_step: int) -> int:
        """Run steps ``from_step..R-1`` of ``shard``; return samples x epochs processed.

        The served module is trained in place from the checkpoint before ``from_step`` (or
        the shard's initial weights): loading a state into a module of the same
        architecture gives the parameters a freshly built one would have, so the result
        is bit-identical to a fresh fit's.
        """
        model = self._models[shard]
        if from_step > 0:
            _load_state(model, self._chain[shard][from_step - 1].state)
        else:
            _load_state(model, self._initial[shard])
        # Rows ascend, so the ids they select ascend too (the book keeps ids sorted): the
        # checkpoint needs no sort, and a stable sort by slice gives (slice, id) order.
        in_shard = np.flatnonzero(self._shard == shard)
        processed = 0
        for step in range(from_step, self.slices):
            rows = in_shard[self._slice[in_shard] <= step]
            order = rows[np.argsort(self._slice[rows], kind="stable")]
            gen = torch_generator(self._batch_seeds[shard][step])
            x = torch.from_numpy(self._x[order])
            y = torch.from_numpy(self._y[order])
            train_supervised(
                model, x, y, self.config, generator=gen, optimiser=self._optimisers[shard]
            )
            processed += self.config.epochs * len(rows)
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            self._chain[shard].append(_Stored(self._book.ids[rows], state))
        model.eval()
        return processed


def _load_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy a state of ``model``'s own architecture into its tensors, in place.

    The same values ``load_state_dict`` writes (``copy_`` into every parameter and
    buffer, in ``state_dict`` order) without its per-call key matching and hooks, which
    cost a noticeable part of a one-point delete. The states stored here all come from
    ``state_dict()`` of a module of this architecture, so names and order agree.
    """
    targets = model.state_dict()
    if targets.keys() != state.keys():  # not this architecture's state: let torch explain
        model.load_state_dict(state)
        return
    with torch.no_grad():
        for target, source in zip(targets.values(), state.values(), strict=True):
            target.copy_(source)
