"""The FedAvg baseline over a timeline, trained by Flower's simulation engine.

Every scripted round, the peers online in that round are FedAvg clients of one central
server (:func:`~hdus_sim.baselines.flower_fedavg.run_fedavg` runs the rounds between two
departures as one Flower simulation). At each departure the global model is unlearned in
one of two ways, each reported as its own method:

* **retrain** (exact): a new Flower simulation trains from the initial weights, over every
  round so far, with every departed owner absent;
* **KD repair** (approximate, in the style of Wu, Zhu & Mitra 2022, as the HDUS authors'
  baseline): the server subtracts the departed client's accumulated weighted updates from
  the global model, then repairs the damage by distilling the old global model into it on
  the public reference set. The old model still carries the departed data, so nothing
  proves it is gone: the verdict is EMPIRICAL.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from clients.models import build_model, parameter_count
from clients.training import DistillConfig, TrainConfig, distil, logits_of
from hdus_sim.baselines.common import (
    DepartureEvent,
    EventOutcome,
    MethodResult,
    Timeline,
    survivor_accuracy,
)
from hdus_sim.baselines.flower_fedavg import FedAvgRun, run_fedavg
from hdus_sim.rng import derive_seed
from hdus_sim.world import World

__all__ = ["run_fedavg_baselines"]


class _Global:
    """The server's global model as parameters, plus what it needs to unlearn."""

    def __init__(self, factory: Callable[[], nn.Module]) -> None:
        self.factory = factory
        self.params = [t.detach().numpy().copy() for t in factory().state_dict().values()]
        self.updates: dict[int, list[np.ndarray]] = {}
        self.bytes_sent = 0

    def model(self) -> nn.Module:
        model = self.factory()
        keys = list(model.state_dict())
        params = zip(keys, self.params, strict=True)
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in params})
        return model.eval()

    def absorb(self, run: FedAvgRun) -> None:
        self.params = [np.asarray(p).copy() for p in run.parameters]
        self.bytes_sent += run.bytes_sent
        for cid, upd in (getattr(run, "client_updates", None) or {}).items():
            acc = self.updates.setdefault(cid, [np.zeros_like(u) for u in upd])
            for a, u in zip(acc, upd, strict=True):
                a += u


def _schedule(
    timeline: Timeline, rounds: range, gone: frozenset[tuple[int, int]], sub_rounds: int
) -> list[frozenset[int]]:
    """Clients per FedAvg round: ``sub_rounds`` per scenario round; empty rounds skipped."""
    out = [timeline.members(r, excluding=gone) for r in rounds for _ in range(sub_rounds)]
    return [m for m in out if m]


@dataclass
class _Federation:
    """The clients of one FedAvg baseline and how a schedule of rounds is run on them."""

    world: World
    timeline: Timeline
    clients: dict[int, tuple[np.ndarray, np.ndarray]]
    factory: Callable[[], nn.Module]
    train: TrainConfig
    seed: int
    sub_rounds: int

    def fedavg(self, schedule: Sequence[frozenset[int]], start: _Global, tag: int) -> FedAvgRun:
        """Run ``schedule`` (one member set per FedAvg round) from ``start``'s weights."""
        return run_fedavg(
            {p: self.clients[p] for p in sorted(set().union(*schedule))},
            schedule,
            self.factory,
            local_epochs=self.train.epochs,
            batch_size=self.train.batch_size,
            lr=self.train.lr,
            seed=derive_seed(self.seed, "fedavg", tag),
            initial=start.params,
        )

    def exact_unlearn(
        self, state: _Global, event: DepartureEvent, survivors: list[int]
    ) -> tuple[_Global, EventOutcome]:
        """Retrain from the initial weights without every departed owner; the new state."""
        shared = dict.fromkeys(survivors, state.model())
        local_b, global_b = survivor_accuracy(self.world, shared, survivors)
        t0 = time.perf_counter()
        fresh = _Global(self.factory)
        fresh.bytes_sent = state.bytes_sent
        resched = _schedule(
            self.timeline,
            range(event.round),
            self.timeline.departed_by(event.round),
            self.sub_rounds,
        )
        cost, rounds_s = 0, 0.0
        if resched:
            run = self.fedavg(resched, fresh, 10_000 + event.round)
            fresh.absorb(run)
            cost, rounds_s = run.sample_epochs, run.rounds_wall_s
        wall = time.perf_counter() - t0
        shared = dict.fromkeys(survivors, fresh.model())
        local_a, global_a = survivor_accuracy(self.world, shared, survivors)
        outcome = EventOutcome(
            event,
            local_b,
            local_a,
            global_b,
            global_a,
            wall,
            cost,
            "EXACT",
            notes=(
                f"a Flower simulation from the initial weights without the departed data; "
                f"its rounds took {rounds_s:.2f} s, the rest is Ray/Flower start and stop"
            ),
        )
        return fresh, outcome


def run_fedavg_baselines(
    world: World,
    timeline: Timeline,
    *,
    arch: str,
    train: TrainConfig,
    seed: int,
    kd: DistillConfig | None,
    sub_rounds: int = 1,
) -> list[MethodResult]:
    """FedAvg with retrain-from-scratch unlearning, and (if ``kd``) with KD repair.

    ``train`` is one FedAvg round's local training; each scenario round holds
    ``sub_rounds`` FedAvg rounds.
    """
    split = world.split
    factory = functools.partial(
        build_model, arch, split.input_shape, split.num_classes, seed=derive_seed(seed, "init")
    )
    owners = sorted({p for r in range(timeline.rounds) for p in timeline.members(r)})
    clients = {
        p: (world.data_of(p).train_x.astype(np.float32), world.data_of(p).train_y.astype(np.int64))
        for p in owners
    }
    fed = _Federation(world, timeline, clients, factory, train, seed, sub_rounds)
    t_run = time.perf_counter()
    exact_state = _Global(factory)
    kd_state = _Global(factory) if kd is not None else None
    exact: list[EventOutcome] = []
    approx: list[EventOutcome] = []

    def advance(start: int, until: int) -> None:
        sched = _schedule(timeline, range(start, until), frozenset(), sub_rounds)
        for state in (exact_state, kd_state):
            if state is not None and sched:
                state.absorb(fed.fedavg(sched, state, start))

    done = 0
    for event in timeline.departures:
        survivors = timeline.survivors(event)
        advance(done, event.round)
        done = event.round
        exact_state, outcome = fed.exact_unlearn(exact_state, event, survivors)
        exact.append(outcome)
        if kd_state is not None and kd is not None:
            approx.append(_kd_unlearn(world, kd_state, event, survivors, kd, seed))
    advance(done, timeline.rounds)
    wall = time.perf_counter() - t_run
    n_params = parameter_count(factory())
    models = (
        f"{arch} on every client ({n_params:,} parameters), {sub_rounds} FedAvg round(s) of "
        f"{train.epochs} local epoch(s) per scenario round"
    )
    out = [
        MethodResult(
            "FedAvg (Flower), retrain",
            models,
            exact,
            bytes_sent=exact_state.bytes_sent,
            wall_s=wall,
            notes="Message API ClientApp/ServerApp, flwr.serverapp.strategy.FedAvg, simulation",
        )
    ]
    if kd_state is not None:
        out.append(
            MethodResult(
                "FedAvg (Flower) + KD repair",
                models,
                approx,
                bytes_sent=kd_state.bytes_sent,
                wall_s=wall,
                notes="approximate: subtract the client's updates, distil the old global model",
            )
        )
    return out


def _kd_unlearn(
    world: World,
    state: _Global,
    event: DepartureEvent,
    survivors: list[int],
    kd: DistillConfig,
    seed: int,
) -> EventOutcome:
    """Subtract the departed client's accumulated updates, then distil to repair (timed)."""
    old = state.model()
    local_b, global_b = survivor_accuracy(world, dict.fromkeys(survivors, old), survivors)
    t0 = time.perf_counter()
    mine = state.updates.pop(event.peer, None)
    if mine is not None:
        state.params = [p - u for p, u in zip(state.params, mine, strict=True)]
    student = state.model()
    wall_subtract = time.perf_counter() - t0
    _, global_sub = survivor_accuracy(world, dict.fromkeys(survivors, student), survivors)
    t1 = time.perf_counter()
    teacher = logits_of(old, world.reference)
    gen = torch.Generator().manual_seed(derive_seed(seed, "fedavg_kd", event.peer, event.round))
    distil(student, teacher, world.reference, kd, generator=gen)
    state.params = [t.detach().numpy().copy() for t in student.state_dict().values()]
    wall = wall_subtract + time.perf_counter() - t1
    cost = kd.steps * min(kd.batch_size, len(world.reference))
    local_a, global_a = survivor_accuracy(world, dict.fromkeys(survivors, student), survivors)
    note = (
        f"subtracted the client's updates (global accuracy then {100 * global_sub:.1f} %), "
        "then distilled the old model back in"
        if mine is not None
        else "no per-client updates recorded: distillation only"
    )
    return EventOutcome(
        event, local_b, local_a, global_b, global_a, wall, cost, "EMPIRICAL", notes=note
    )
