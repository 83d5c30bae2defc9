"""Batched evaluation: many zoo MLPs' logits as stacked forwards, bit-identical to each alone.

Evaluation is the other half of a round's arithmetic: every peer scores its main model and
every seed it holds on its own local test split and on the shared global test set. Done
model by model that is thousands of tiny forwards; here models of one MLP shape are stacked
(views of their parameters or of a seed record's arrays, never copies into new modules) and
evaluated with the cohort engine's batched forward (:mod:`clients.cohort_ops`), in slices of
:data:`~clients.cohort.BATCH_MEMBERS` models and chunks of 4,096 input rows, as
:func:`~clients.training.logits_of` chunks them. Models evaluated on the same inputs share
them (an expanded view); models evaluated on inputs of their own (a holder's local test
split) have them stacked, grouped by input shape. Anything that is not a zoo MLP, or whose
shape fails the platform check (:func:`~clients.cohort.cohort_exact`), or inputs of fewer
than :data:`~clients.cohort.MIN_BATCHED_ROWS` rows, come back ``None`` or are evaluated alone.

Examples
--------
>>> from clients.models import build_model
>>> from clients.training import logits_of
>>> threads = torch.get_num_threads()
>>> torch.set_num_threads(1)  # runtime.torch_threads' default (the platform check needs it)
>>> a, b = (build_model("seed_tiny", (64,), 10, seed=s) for s in (1, 2))
>>> xa, xb = torch.randn(5, 64), torch.randn(5, 64)
>>> la, lb = paired_logits([list(a.state_dict().items()), b], [xa, xb])  # a state, a module
>>> torch.equal(la, logits_of(a, xa)) and torch.equal(lb, logits_of(b, xb))
True
>>> torch.set_num_threads(threads)
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence

import torch
from torch import nn

from clients.cohort import MIN_BATCHED_ROWS, _slices, cohort_exact
from clients.cohort_ops import _forward, _module_state, _signature, _state_signature
from clients.training import as_float_tensor, logits_of

__all__ = ["cohort_logits", "paired_logits", "record_logits"]

#: Input rows per forward chunk (as :func:`clients.training.logits_of` chunks them).
ROWS_PER_CHUNK = 4096

Signature = tuple[tuple[int, int], ...]


def _stacked(
    members: Sequence[tuple[int, Sequence[torch.Tensor], torch.Tensor]],
) -> list[tuple[int, torch.Tensor]]:
    """Logits of ``(index, tensors, flat inputs)`` members of one shape, as one forward.

    Members whose inputs are one and the same tensor share them (an expanded view);
    otherwise their inputs (all of one shape) are stacked.
    """
    depth = len(members[0][1]) // 2
    weights = [torch.stack([t[2 * k] for _, t, _ in members]) for k in range(depth)]
    biases = [torch.stack([t[2 * k + 1] for _, t, _ in members]) for k in range(depth)]
    first = members[0][2]
    shared = all(x is first for _, _, x in members)
    chunks = []
    for start in range(0, max(len(first), 1), ROWS_PER_CHUNK):
        stop = start + ROWS_PER_CHUNK
        if shared:
            part = first[start:stop]
            inputs = part.expand(len(members), *part.shape)
        else:
            inputs = torch.stack([x[start:stop] for _, _, x in members])
        logits, _ = _forward(weights, biases, inputs)
        chunks.append(logits)
    result = torch.cat(chunks, dim=1) if len(chunks) > 1 else chunks[0]
    return [(i, result[pos]) for pos, (i, _, _) in enumerate(members)]


def _views(named: Sequence[tuple[str, object]]) -> list[torch.Tensor]:
    """Tensors of a named state, numpy arrays wrapped as views (no copy)."""
    with warnings.catch_warnings():  # read-only record arrays: only ever read here
        warnings.simplefilter("ignore", UserWarning)
        return [v if isinstance(v, torch.Tensor) else torch.from_numpy(v) for _, v in named]


@torch.no_grad()
def paired_logits(
    states: Sequence[nn.Module | Sequence[tuple[str, object]] | None], xs: Sequence[torch.Tensor]
) -> list[torch.Tensor | None]:
    """The logits of model ``i`` (a module or its named state) on ``xs[i]``, batched by shape.

    States of one MLP shape whose inputs have one shape are one stacked forward; pass the
    same tensor object for models that share inputs and they share it without a copy.
    Bit-identical to loading each state into its module and calling
    :func:`~clients.training.logits_of` (tested). Entries that are ``None``, not zoo MLPs
    or rejected by the platform check come back ``None``.
    """
    out: list[torch.Tensor | None] = [None] * len(states)
    flat: dict[int, torch.Tensor] = {}
    groups: dict[
        tuple[Signature, tuple[int, ...]], list[tuple[int, Sequence[torch.Tensor], torch.Tensor]]
    ]
    groups = defaultdict(list)
    for i, (named, x) in enumerate(zip(states, xs, strict=True)):
        if named is None:
            continue
        if isinstance(named, nn.Module):
            signature, tensors = _signature(named), _module_state(named)
        else:
            signature = _state_signature(named)
            tensors = _views(named) if signature is not None else []
        if signature is None or len(x) < MIN_BATCHED_ROWS or not cohort_exact(signature):
            continue
        if id(x) not in flat:
            f = as_float_tensor(x)
            flat[id(x)] = f.reshape(len(f), -1)
        inputs = flat[id(x)]
        groups[(signature, tuple(inputs.shape))].append((i, tensors, inputs))
    for group in groups.values():
        for part in _slices(group):
            for i, logits in _stacked(part):
                out[i] = logits
    return out


def record_logits(
    records: Sequence[Sequence[tuple[str, object]]], x: torch.Tensor
) -> list[torch.Tensor | None]:
    """Logits on ``x`` of models given as named state (a seed record's), without modules.

    :func:`paired_logits` with every model on the same inputs.
    """
    return paired_logits(records, [x] * len(records))


def cohort_logits(models: Sequence[nn.Module], x: torch.Tensor) -> list[torch.Tensor]:
    """Each model's eval-mode logits on the same inputs ``x``, batched where they share a shape.

    :func:`paired_logits` with every model on ``x``; bit-identical to
    :func:`~clients.training.logits_of` per model (the tests check it), which evaluates
    whatever cannot be batched.
    """
    found = paired_logits(list(models), [x] * len(models))
    return [f if f is not None else logits_of(m, x) for m, f in zip(models, found, strict=True)]
