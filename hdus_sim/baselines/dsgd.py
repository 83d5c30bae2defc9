"""Decentralized SGD (gossip averaging) over the scenario's own topology.

Each round every online peer trains its copy of one common model on its own data, then
mixes it with the mean of its online neighbours' copies, as in the HDUS authors' DSGD
baseline: ``w <- (w + gamma * mean_neighbours(w)) / (1 + gamma)`` with ``gamma = 0.9``,
computed from the copies as they were before anyone mixed (synchronous gossip).

Once parameters are mixed, every copy depends on every peer's data, so the only exact way
to unlearn a departed peer is to retrain everyone from scratch without it. That is what
:func:`run_dsgd` does at each departure, and it times the retrain.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import torch
from torch import nn

from clients.models import build_model
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

__all__ = ["GAMMA", "DsgdState", "run_dsgd"]

#: neighbour weight of the mixing step (the HDUS authors' value)
GAMMA = 0.9


class DsgdState:
    """Every peer's copy of the model, trained round by round along a timeline."""

    def __init__(
        self, world: World, arch: str, train: TrainConfig, seed: int, sub_rounds: int = 1
    ) -> None:
        self.world, self.arch, self.train, self.seed = world, arch, train, seed
        self.sub_rounds = sub_rounds
        self.models: dict[int, nn.Module] = {}
        self.sample_epochs = 0
        self.bytes_sent = 0

    def _fresh(self) -> nn.Module:
        # every copy starts from the same initial weights, as DSGD assumes
        split = self.world.split
        return build_model(
            self.arch, split.input_shape, split.num_classes, seed=derive_seed(self.seed, "init")
        )

    def run_round(
        self, r: int, members: frozenset[int], edges: Iterable[tuple[int, int]], sub: int = 0
    ) -> None:
        """Train every member one gossip round, then mix along ``edges`` among members."""
        for pid in list(self.models):
            if pid not in members:
                del self.models[pid]  # gone: its copy is no longer anyone's
        for pid in sorted(members):
            model = self.models.setdefault(pid, self._fresh())
            data = self.world.data_of(pid)
            gen = torch.Generator().manual_seed(derive_seed(self.seed, "dsgd", pid, r, sub))
            train_supervised(model, data.train_x, data.train_y, self.train, generator=gen)
            self.sample_epochs += len(data.train_y) * self.train.epochs
        neighbours: dict[int, list[int]] = {p: [] for p in members}
        for a, b in edges:
            if a in members and b in members:
                neighbours[a].append(b)
                neighbours[b].append(a)
        snapshot = {p: [t.detach().clone() for t in m.parameters()] for p, m in self.models.items()}
        for pid in sorted(members):
            near = sorted(neighbours[pid])
            if not near:
                continue
            nbytes = sum(t.numel() * t.element_size() for t in snapshot[pid])
            self.bytes_sent += nbytes * len(near)  # each neighbour sends its copy here
            with torch.no_grad():
                for i, param in enumerate(self.models[pid].parameters()):
                    mean = torch.stack([snapshot[q][i] for q in near]).mean(dim=0)
                    param.copy_((snapshot[pid][i] + GAMMA * mean) / (1 + GAMMA))

    def replay(self, timeline: Timeline, rounds: range, excluding: frozenset[DataOwner]) -> None:
        """Run ``rounds`` of ``timeline`` with the ``excluding`` owners absent.

        Each scenario round is ``sub_rounds`` gossip rounds over that round's graph.
        """
        for r in rounds:
            members = timeline.members(r, excluding=excluding)
            for sub in range(self.sub_rounds):
                self.run_round(r, members, timeline.edges[r], sub)

    def predictors(self) -> dict[int, nn.Module]:
        """Each peer predicts with its own copy."""
        return dict(self.models)


def run_dsgd(
    world: World,
    timeline: Timeline,
    *,
    arch: str,
    train: TrainConfig,
    seed: int,
    sub_rounds: int = 1,
) -> MethodResult:
    """Gossip-average along ``timeline``; retrain from scratch at every departure.

    ``train`` is one gossip round's local training; each scenario round holds
    ``sub_rounds`` gossip rounds.
    """
    t_run = time.perf_counter()
    state = DsgdState(world, arch, train, seed, sub_rounds)
    outcomes: list[EventOutcome] = []
    done = 0
    for event in timeline.departures:
        state.replay(timeline, range(done, event.round), timeline.departed_by(event.round - 1))
        done = event.round
        survivors = timeline.survivors(event)
        local_b, global_b = survivor_accuracy(world, state.predictors(), survivors)
        t0 = time.perf_counter()
        fresh = DsgdState(world, arch, train, seed, sub_rounds)
        fresh.replay(timeline, range(event.round), timeline.departed_by(event.round))
        wall = time.perf_counter() - t0
        fresh.bytes_sent = state.bytes_sent + fresh.bytes_sent
        fresh_cost = fresh.sample_epochs
        fresh.sample_epochs += state.sample_epochs
        state = fresh
        local_a, global_a = survivor_accuracy(world, state.predictors(), survivors)
        outcomes.append(
            EventOutcome(
                event,
                local_b,
                local_a,
                global_b,
                global_a,
                wall,
                fresh_cost,
                "EXACT",
                notes="retrain from scratch",
            )
        )
    state.replay(timeline, range(done, timeline.rounds), timeline.departed_by(timeline.rounds))
    n_params = sum(p.numel() for p in state._fresh().parameters())
    return MethodResult(
        "DSGD (gossip averaging)",
        f"{arch} on every peer ({n_params:,} parameters), {sub_rounds} gossip round(s) of "
        f"{train.epochs} local epoch(s) per scenario round, gamma {GAMMA}",
        outcomes,
        bytes_sent=state.bytes_sent,
        wall_s=time.perf_counter() - t_run,
        notes="unlearning = retrain every peer from scratch without the departed data",
    )
