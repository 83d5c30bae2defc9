"""Centralized training on all peers' data pooled: the accuracy ceiling of the bench.

One model is trained from scratch on the union of the training data of every owner that
has joined and not departed, for as many epochs as an HDUS peer trains its main model in
all (``train_rounds x local_epochs``); every peer predicts with it. Unlearning retrains it
from scratch without the departed owner's data, which is exact. Pooling is what every
decentralized method exists to avoid, so its bytes are the raw training data uploaded
once (float32 inputs plus int64 labels).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from clients.models import build_model, parameter_count
from clients.training import TrainConfig, train_supervised
from hdus_sim.baselines.common import (
    DataOwner,
    EventOutcome,
    MethodResult,
    Timeline,
    survivor_accuracy,
)
from hdus_sim.rng import derive_seed
from hdus_sim.world import World

__all__ = ["run_pooled"]


def _owners_up_to(timeline: Timeline, last_round: int, gone: frozenset[DataOwner]) -> list[int]:
    """Peers whose data is in the pool after ``last_round``: joined by then and not gone."""
    keys = set().union(*timeline.online[: last_round + 1]) if last_round >= 0 else set()
    return sorted({p for p, e in keys if (p, e) not in gone})


def _train(
    world: World, peers: list[int], arch: str, train: TrainConfig, seed: int
) -> tuple[nn.Module, int]:
    xs = [world.data_of(p).train_x for p in peers]
    ys = [world.data_of(p).train_y for p in peers]
    x, y = np.concatenate(xs), np.concatenate(ys)
    split = world.split
    model = build_model(arch, split.input_shape, split.num_classes, seed=derive_seed(seed, "init"))
    gen = torch.Generator().manual_seed(derive_seed(seed, "pooled"))
    train_supervised(model, x, y, train, generator=gen)
    return model, len(y) * train.epochs


def run_pooled(
    world: World, timeline: Timeline, *, arch: str, train: TrainConfig, seed: int
) -> MethodResult:
    """Train on the pool before each departure and retrain without the departed owner."""
    t_run = time.perf_counter()
    outcomes: list[EventOutcome] = []
    model: nn.Module | None = None
    pool_key: tuple[int, ...] = ()
    uploaded: set[int] = set()
    for event in timeline.departures:
        gone_before = timeline.departed_by(event.round - 1)
        before_pool = _owners_up_to(timeline, event.round - 1, gone_before)
        if model is None or tuple(before_pool) != pool_key:
            model, _ = _train(world, before_pool, arch, train, seed)
            pool_key = tuple(before_pool)
        uploaded |= set(before_pool)
        survivors = timeline.survivors(event)
        local_b, global_b = survivor_accuracy(world, dict.fromkeys(survivors, model), survivors)
        after_pool = [p for p in before_pool if p != event.peer]
        t0 = time.perf_counter()
        model, cost = _train(world, after_pool, arch, train, seed)
        wall = time.perf_counter() - t0
        pool_key = tuple(after_pool)
        local_a, global_a = survivor_accuracy(world, dict.fromkeys(survivors, model), survivors)
        outcomes.append(
            EventOutcome(
                event,
                local_b,
                local_a,
                global_b,
                global_a,
                wall,
                cost,
                "EXACT",
                notes="retrain from scratch on the pool",
            )
        )
    uploaded |= set(_owners_up_to(timeline, timeline.rounds - 1, frozenset()))
    data_bytes = sum(
        world.data_of(p).train_x.astype(np.float32).nbytes + len(world.data_of(p).train_y) * 8
        for p in sorted(uploaded)
    )
    split = world.split
    n_params = parameter_count(build_model(arch, split.input_shape, split.num_classes, seed=0))
    return MethodResult(
        "centralized (data pooled)",
        f"one {arch} model ({n_params:,} parameters), {train.epochs} epochs on the pool",
        outcomes,
        bytes_sent=data_bytes,
        wall_s=time.perf_counter() - t_run,
        notes="the ceiling: raw data leaves every device; unlearning = retrain without it",
    )
