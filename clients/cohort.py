"""Cohort engine: many peers' local training and seed distillation as one batched computation.

Peers whose models share an architecture form a *cohort*. Instead of each peer running its
own Python loop of tiny optimiser steps, the cohort stacks its members' parameters
(``(P, out, in)`` weights, ``(P, out)`` biases) and takes every member's step at once with
batched matrix products (``torch.baddbmm`` forward, ``torch.bmm`` backward) and one Adam
update over the stacked tensors. Each member keeps its own data, its own batch order (drawn
from its own generator exactly as :func:`~clients.training.train_supervised` draws it), its
own optimiser state and its own number of steps: at step slot ``t`` the members that still
have a ``t``-th batch take it, grouped by that batch's length, so ragged dataset sizes and
short last batches are handled without padding.

**Exactness.** A member's parameters after a cohort round are bit-identical to training it
alone with :func:`~clients.training.train_supervised` / :func:`~clients.training.distil`:
the batched ops compute each member's slice with the same arithmetic as the per-model ops
(the backward is written out with the same products autograd uses for ``nn.Linear``), the
Adam update repeats ``torch.optim.Adam``'s single-tensor arithmetic, and every member of a
step group shares that step's Adam step count (each call uses a fresh optimiser). Whether
this holds on the running platform is *checked*, not assumed: :func:`cohort_exact` trains
two small models both ways once per process and architecture, and a cohort whose check
fails is trained one model at a time (and says so in :attr:`CohortReport.fallback`).

The arithmetic (stacked state, batched forward and backward, Adam) is in
:mod:`clients.cohort_ops`; batched evaluation in :mod:`clients.cohort_eval`.

What is batched: multilayer perceptrons of the zoo (``Flatten``, ``Linear``, ``ReLU``),
which covers every seed model and every main model except the convolutional gateway.
Anything else (the CNN, point-deletion mains) is trained alone, as before.

Examples
--------
>>> from clients.models import build_model
>>> from clients.training import TrainConfig, train_supervised
>>> x = torch.randn(40, 64); y = torch.randint(0, 10, (40,))
>>> cfg = TrainConfig(epochs=1, batch_size=16)
>>> alone = build_model("sensor", (64,), 10, seed=1)
>>> _ = train_supervised(alone, x, y, cfg, generator=torch.Generator().manual_seed(5))
>>> batched = build_model("sensor", (64,), 10, seed=1)
>>> job = TrainJob(batched, x, y, cfg, torch.Generator().manual_seed(5))
>>> report = train_cohorts([job])
>>> all(torch.equal(a, b) for a, b in zip(alone.parameters(), batched.parameters()))
True
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clients import cohort_ops as ops
from clients.cohort_ops import _module_state, _signature, _Stack, _state_signature, mlp_layers
from clients.training import (
    DistillConfig,
    TrainConfig,
    as_float_tensor,
    batch_schedule,
    distil,
    distil_schedule,
    train_supervised,
)

__all__ = [
    "CohortReport",
    "DistilJob",
    "TrainJob",
    "cohort_exact",
    "distil_cohorts",
    "mlp_layers",
    "train_cohorts",
]

_T = TypeVar("_T")

BATCH_MEMBERS = 128
"""Members per batched computation: a larger cohort is computed in slices of this many.

Stacked products over thousands of members are memory-bound (their activations leave the
cache): on this 2-core machine one forward of 10,000 stacked 64-32-10 MLPs on 500 samples
took 1.56 s at once and 0.79 s in slices of 128. Every slice is computed with the same
arithmetic, so results are bit-identical for any slice size (the tests mix sizes).
"""


MIN_BATCHED_ROWS = 3
"""Evaluation on fewer input rows than this runs model by model: a lone model's product
on one or two rows takes a matrix-vector path whose sums differ in the last bit (seen
here for the 64-16-10 seed at 1 and 2 rows, the 64-32-10 sensor at 1)."""


def _slices(members: list[_T]) -> list[list[_T]]:
    """``members`` cut into consecutive runs of at most :data:`BATCH_MEMBERS`."""
    return [members[s : s + BATCH_MEMBERS] for s in range(0, len(members), BATCH_MEMBERS)]


@dataclass
class TrainJob:
    """One model to train with cross-entropy, as ``train_supervised(model, x, y, config, ...)``."""

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    config: TrainConfig
    generator: torch.Generator


@dataclass
class DistilJob:
    """One student to distil, as ``distil(student, teacher_logits, reference_x, config, ...)``.

    The student is either a module (``student``) or, so that a cohort of thousands builds
    no module per member, its initial state (``init``, named tensors in ``state_dict``
    order) with a ``build`` function for the case it must be distilled alone. Afterwards
    ``state`` holds the distilled state as named arrays (what a seed record carries).
    """

    student: nn.Module | None
    teacher_logits: torch.Tensor
    reference_x: torch.Tensor
    config: DistillConfig
    generator: torch.Generator
    init: tuple[tuple[str, torch.Tensor], ...] = ()
    build: Callable[[], nn.Module] | None = None
    state: tuple[tuple[str, np.ndarray], ...] = ()

    def initial_state(self) -> tuple[tuple[str, torch.Tensor], ...]:
        """The student's state before distillation."""
        if self.student is not None:
            return tuple((k, v.detach()) for k, v in self.student.state_dict().items())
        return self.init

    def module(self) -> nn.Module:
        """The student as a module (built from ``build`` when only ``init`` was given)."""
        if self.student is None:
            if self.build is None:
                raise ValueError("a DistilJob needs a student module or a build function")
            self.student = self.build()
        return self.student


@dataclass
class CohortReport:
    """What one batched phase did: cohort sizes, models trained alone, and why.

    Attributes
    ----------
    cohorts
        Sizes of the batched cohorts (one per architecture and configuration).
    alone
        Models trained one at a time.
    fallback
        Reasons some models were trained alone (architecture not batchable, or the
        platform's exactness check failed for it); empty when everything was batched.
    """

    cohorts: list[int] = field(default_factory=list)
    alone: int = 0
    fallback: set[str] = field(default_factory=set)

    def as_dict(self, enabled: bool) -> dict[str, object]:
        """The report as ``summary.json`` shows it (counts are model-trainings over a run).

        Examples
        --------
        >>> CohortReport([7, 3], 1, {"SmallCNN is not batched"}).as_dict(True)["batched"]
        10
        """
        return {
            "enabled": enabled,
            "batched": sum(self.cohorts),
            "alone": self.alone,
            "largest_cohort": max(self.cohorts, default=0),
            "fallback": sorted(self.fallback),
        }

    def merge(self, other: CohortReport) -> CohortReport:
        """Both reports' counts together."""
        return CohortReport(
            self.cohorts + other.cohorts, self.alone + other.alone, self.fallback | other.fallback
        )


def cohort_exact(signature: tuple[tuple[int, int], ...]) -> bool:
    """Whether batched training of this MLP shape is bit-identical to alone on this platform.

    Trains four small models of the shape (ragged data, a one-sample batch, weight decay
    on) for a few steps both ways and compares every parameter bit for bit, then their
    eval logits on a few and many rows (shared and own inputs) against each model's; cached per
    process and shape. Only single-threaded torch is batched (``runtime.torch_threads: 1``,
    the default): with more threads the per-model products split their work by thread
    count and size (seen here: a 64-16-10 seed's logits on 5 rows differ in the last bit
    at 2 threads while the check's own sizes agree), so such runs compute alone.
    """
    threads = torch.get_num_threads()
    return threads == 1 and _exact(signature, threads)


@functools.cache
@torch.enable_grad()
def _exact(signature: tuple[tuple[int, int], ...], threads: int) -> bool:
    from clients.models import MLP

    features, classes = signature[0][1], signature[-1][0]
    hidden = tuple(out for out, _ in signature[:-1])
    gen = torch.Generator().manual_seed(20261202)
    jobs, alone = [], []
    for i, n in enumerate((11, 7, 16, 9)):  # batch 4: short and 1-sample
        x = torch.randn(n, features, generator=gen)
        y = torch.randint(0, classes, (n,), generator=gen)
        cfg = TrainConfig(epochs=2, batch_size=4, lr=0.01, weight_decay=1e-3)
        pair = []
        for _ in range(2):
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(i)
                pair.append(MLP(features, hidden, classes))
        jobs.append(TrainJob(pair[0], x, y, cfg, torch.Generator().manual_seed(i)))
        alone.append((pair[1], x, y, cfg, torch.Generator().manual_seed(i)))
    _train_batched(jobs)
    for model, x, y, cfg, g in alone:
        train_supervised(model, x, y, cfg, generator=g)
    trained = all(
        torch.equal(a, b)
        for job, (model, *_rest) in zip(jobs, alone, strict=True)
        for a, b in zip(job.model.parameters(), model.parameters(), strict=True)
    )
    return trained and _forward_exact([j.model for j in jobs], features, gen)


@torch.no_grad()
def _forward_exact(models: Sequence[nn.Module], features: int, gen: torch.Generator) -> bool:
    """Whether the stacked forward gives each model's eval logits (few and many rows).

    Inputs shared by every member (an expanded view) and inputs of their own (stacked) are
    both checked: evaluation uses both. Fewer than :data:`MIN_BATCHED_ROWS` rows are never
    batched for evaluation.
    """
    stack = _Stack([_module_state(m) for m in models], moments=False)
    for rows in (MIN_BATCHED_ROWS, MIN_BATCHED_ROWS + 1, 37, 257):
        xs = [torch.randn(rows, features, generator=gen) for _ in models]
        shared, _ = ops._forward(
            stack.weights, stack.biases, xs[0].expand(len(models), *xs[0].shape)
        )
        own, _ = ops._forward(stack.weights, stack.biases, torch.stack(xs))
        for i, (model, x) in enumerate(zip(models, xs, strict=True)):
            model.eval()
            if not (torch.equal(shared[i], model(xs[0])) and torch.equal(own[i], model(x))):
                return False
    return True


def _group(
    models: Sequence[nn.Module | Sequence[tuple[str, object]]],
    keys: Sequence[object],
    report: CohortReport,
) -> tuple[dict[object, list[int]], list[int]]:
    """Indices of batchable models grouped by (shape, ``keys``), and those to train alone.

    A model is a module or its named state.
    """
    groups: dict[object, list[int]] = defaultdict(list)
    alone: list[int] = []
    for i, (model, key) in enumerate(zip(models, keys, strict=True)):
        if isinstance(model, nn.Module):
            signature, name = _signature(model), type(model).__name__
        else:
            signature, name = _state_signature(model), "this state"
        if signature is None:
            report.fallback.add(f"{name} is not a batched architecture")
            alone.append(i)
        elif torch.get_num_threads() != 1:
            report.fallback.add("torch runs more than one thread (batched only at 1)")
            alone.append(i)
        elif not cohort_exact(signature):
            report.fallback.add(f"batched MLP {signature} is not bit-exact on this platform")
            alone.append(i)
        else:
            groups[(signature, key)].append(i)
    return groups, alone


def _train_batched(jobs: Sequence[TrainJob]) -> _Stack:
    """Train ``jobs`` (same MLP shape, lr and weight decay) as one cohort, in place."""
    stack = _Stack([_module_state(j.model) for j in jobs])
    xs = [as_float_tensor(j.x).reshape(len(j.x), -1) for j in jobs]
    ys = [as_float_tensor(j.y, dtype=torch.long) for j in jobs]
    schedules = [
        batch_schedule(len(y), j.config, j.generator) for j, y in zip(jobs, ys, strict=True)
    ]
    cfg = jobs[0].config
    for t in range(max((len(s) for s in schedules), default=0)):
        by_length: dict[int, list[int]] = defaultdict(list)
        for i, schedule in enumerate(schedules):
            if t < len(schedule):
                by_length[len(schedule[t])].append(i)
        for members in by_length.values():
            x = torch.stack([xs[i][schedules[i][t]] for i in members])
            y = torch.stack([ys[i][schedules[i][t]] for i in members])
            ops._take_step(stack, members, (x, y), t + 1, cfg.lr, cfg.weight_decay, "ce")
    stack.write_back([j.model for j in jobs])
    return stack


Moments = list[tuple[torch.Tensor, torch.Tensor]]


def train_cohorts(
    jobs: Sequence[TrainJob], *, moments: list[Moments] | None = None
) -> CohortReport:
    """Train every job in place, batched by cohort; bit-identical to training each alone.

    ``moments``, if given, receives per job (in order) its final Adam moments
    ``(exp_avg, exp_avg_sq)`` per parameter in ``model.parameters()`` order, as
    ``torch.optim.Adam``'s state would hold them (empty for a job trained alone).
    """
    report = CohortReport()
    groups, alone = _group(
        [j.model for j in jobs], [(j.config.lr, j.config.weight_decay) for j in jobs], report
    )
    kept: dict[int, Moments] = {}
    for members in groups.values():
        report.cohorts.append(len(members))
        for part in _slices(members):
            stack = _train_batched([jobs[i] for i in part])
            depth = len(stack.weights)
            for pos, i in enumerate(part):
                pairs = [
                    (m[pos].clone(), v[pos].clone())
                    for m, v in zip(stack.exp_avg, stack.exp_avg_sq, strict=True)
                ]
                kept[i] = [p for k in range(depth) for p in (pairs[k], pairs[depth + k])]
    for i in alone:
        j = jobs[i]
        train_supervised(j.model, j.x, j.y, j.config, generator=j.generator)
    report.alone = len(alone)
    for j in jobs:
        j.model.eval()
    if moments is not None:
        moments += [kept.get(i, []) for i in range(len(jobs))]
    return report


def _distil_batched(jobs: Sequence[DistilJob]) -> None:
    """Distil ``jobs`` (same student shape and configuration) as one cohort, in place."""
    stack = _Stack([[t for _, t in j.initial_state()] for j in jobs])
    cfg = jobs[0].config
    refs = [as_float_tensor(j.reference_x) for j in jobs]
    refs = [r.reshape(len(r), -1) for r in refs]
    targets = torch.stack([F.softmax(j.teacher_logits / cfg.temperature, dim=1) for j in jobs])
    draws = torch.stack(
        [
            torch.stack(distil_schedule(len(r), cfg, j.generator))
            for j, r in zip(jobs, refs, strict=True)
        ]
    )  # (members, steps, batch) reference indices
    shared = all(r is refs[0] or torch.equal(r, refs[0]) for r in refs)
    stacked_refs = None if shared else torch.stack(refs)
    rows = torch.arange(len(jobs)).unsqueeze(1)
    members = list(range(len(jobs)))
    for t in range(cfg.steps):
        idx = draws[:, t]
        x = refs[0][idx] if stacked_refs is None else stacked_refs[rows, idx]
        ops._take_step(
            stack, members, (x, targets[rows, idx]), t + 1, cfg.lr, 0.0, "kl", cfg.temperature
        )
    for i, job in enumerate(jobs):
        names = [name for name, _ in job.initial_state()]
        job.state = tuple(
            (n, t.numpy().copy()) for n, t in zip(names, stack.member(i), strict=True)
        )
        if job.student is not None:
            with torch.no_grad():
                for param, value in zip(_module_state(job.student), stack.member(i), strict=True):
                    param.copy_(value)


def distil_cohorts(jobs: Sequence[DistilJob]) -> CohortReport:
    """Distil every job's student in place, batched by cohort; bit-identical to alone."""
    report = CohortReport()
    keys = [(j.config, len(j.reference_x)) for j in jobs]
    groups, alone = _group([j.initial_state() for j in jobs], keys, report)
    for members in groups.values():
        report.cohorts.append(len(members))
        for part in _slices(members):
            _distil_batched([jobs[i] for i in part])
    for i in alone:
        j = jobs[i]
        student = j.module()
        distil(student, j.teacher_logits, j.reference_x, j.config, generator=j.generator)
        j.state = tuple((k, v.detach().numpy().copy()) for k, v in student.state_dict().items())
    report.alone = len(alone)
    for j in jobs:
        if j.student is not None:
            j.student.eval()
    return report
