"""The federated workload of ``benchmarks/overhead.py``: its scenario, its compute, its Flower app.

This is a module of its own (not part of the ``overhead.py`` script) so that Flower's Ray
actors import it by name: the client state cached here (the data split, the tensors, the
main model) then lives once per actor process, as it would in a real Flower app, instead of
being re-pickled with every message.

One **client-round** is, everywhere (plain loop, Flower, the in-process and the Ray
runtime), what :meth:`clients.peer.Peer.train_round` computes, through the very same
functions (:func:`clients.training.train_supervised`, :func:`clients.training.distil`,
:func:`clients.models.build_model`):

1. ``local_steps`` Adam steps (minibatches of ``batch_size``) of the ``sensor`` main model
   on the client's own IID share of scikit-learn's digits;
2. the main model's logits on the public reference set, a fresh ``seed_tiny`` seed model
   from its fixed initialisation, and ``distill_steps`` Adam distillation steps on the
   reference set (KL at temperature 3).

What each system does around that compute (Flower: serialising the model into messages and
FedAvg aggregation; hdus-sim: seed records, their delivery to the graph neighbours,
heartbeats and per-round evaluation) is its overhead.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from clients.models import build_model
from clients.peer import sub_seed
from clients.training import DistillConfig, TrainConfig, distil, logits_of, train_supervised
from hdus_sim.rng import derive_seed
from hdus_sim.runtime.base import PeerSpec
from hdus_sim.scenario import load_scenario
from hdus_sim.world import World

__all__ = [
    "CallTimer",
    "ClientState",
    "Workload",
    "actor_timers_read",
    "actor_timers_start",
    "actor_timers_stop",
    "client_app",
    "client_round",
    "make_server_app",
    "peer_targets",
    "run_flower",
    "train_only",
    "workload_scenario",
]

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")  # no network: never try to phone home


@dataclass(frozen=True)
class Workload:
    """The knobs of the benchmark's workload (the same for every system).

    Attributes
    ----------
    clients
        Number of clients (peers, Flower supernodes).
    rounds
        Training rounds; every client trains in every round.
    local_steps, batch_size, lr
        Main-model training per client-round: optimiser steps, minibatch size, Adam rate.
    distill_steps, distill_batch
        Seed distillation per client-round: optimiser steps, reference samples per step.
    reference_size, global_test_size
        Public reference set and global test set sizes (samples held out of digits).
    degree
        Neighbours per peer in hdus-sim's k-regular graph (each receives the peer's seed).
    seed
        The scenario seed (data split, initialisation, batch order).
    samples_per_client
        0: the clients share scikit-learn's digits (1,797 samples: enough for N <= 100).
        Otherwise synthetic 64-feature data (a class-conditional Gaussian mixture, the same
        shape as digits) with this many samples per client, for fleets digits cannot fill.
    """

    clients: int
    rounds: int
    local_steps: int = 5
    batch_size: int = 32
    lr: float = 0.01
    distill_steps: int = 5
    distill_batch: int = 64
    reference_size: int = 200
    global_test_size: int = 100
    degree: int = 4
    seed: int = 17
    samples_per_client: int = 0

    def dataset(self) -> dict[str, Any]:
        """The scenario's ``dataset`` section (see :attr:`samples_per_client`)."""
        if not self.samples_per_client:
            return {"name": "digits"}
        held_out = self.reference_size + self.global_test_size
        return {
            "name": "synthetic",
            "synthetic_samples": held_out + self.clients * self.samples_per_client,
            "synthetic_dim": 64,
        }


def workload_scenario(w: Workload, runtime: dict[str, Any] | None = None) -> dict[str, Any]:
    """The hdus-sim scenario of the workload: no events, ``w.rounds`` training rounds, no settle."""
    return {
        "name": "overhead",
        "description": "simulator-overhead benchmark: every peer trains every round",
        "seed": w.seed,
        "rounds": w.rounds,
        "settle_rounds": 0,
        "dataset": w.dataset(),
        "partition": {
            "scheme": "iid",
            "reference": {"source": "public", "size": w.reference_size},
            "global_test_size": w.global_test_size,
            "local_test_fraction": 0.2,
        },
        "topology": {"kind": "k_regular", "params": {"k": w.degree}},
        "peers": {"initial": w.clients, "devices": {"sensor": 1}},
        "training": {
            "local_steps": w.local_steps,
            "train_rounds": w.rounds,
            "batch_size": w.batch_size,
            "lr": w.lr,
        },
        "seed_model": {
            "arch": "seed_tiny",
            "distill_steps": w.distill_steps,
            "batch_size": w.distill_batch,
            "lr": 0.01,
            "temperature": 3.0,
        },
        "exchange": {"relay_hops": 1, "heartbeat_timeout": 2},
        "runtime": {"kind": "inprocess", "torch_threads": 1, **(runtime or {})},
    }


@dataclass
class ClientState:
    """One client's data, models and configs (what a hdus-sim peer holds for training)."""

    pid: int
    train_x: torch.Tensor
    train_y: torch.Tensor
    reference: torch.Tensor
    input_shape: tuple[int, ...]
    num_classes: int
    main: nn.Module
    train: TrainConfig
    distill: DistillConfig
    seed_arch: str
    train_seed: int
    seed_init: int
    distil_seed: int
    rounds_done: int = 0


def client_states(world: World, pids: list[int] | None = None) -> dict[int, ClientState]:
    """Client state of every initial peer (or of ``pids``), built exactly as hdus-sim builds it."""
    s = world.scenario
    out: dict[int, ClientState] = {}
    for pid in pids if pids is not None else list(range(s.peers.initial)):
        data = world.data_of(pid)
        seeds = world.seeds_for(pid, 0)
        cfg = world.peer_config(PeerSpec(peer_id=pid, epoch=0, device="sensor"))
        out[pid] = ClientState(
            pid=pid,
            train_x=torch.from_numpy(np.ascontiguousarray(data.train_x)).float(),
            train_y=torch.from_numpy(np.ascontiguousarray(data.train_y)).long(),
            reference=world.reference,
            input_shape=world.split.input_shape,
            num_classes=world.split.num_classes,
            main=build_model(
                "sensor", world.split.input_shape, world.split.num_classes, seed=seeds.main_init
            ),
            train=cfg.train,
            distill=cfg.distill,
            seed_arch=cfg.seed_arch,
            train_seed=seeds.train,
            seed_init=seeds.seed_init,
            distil_seed=seeds.distil,
        )
    return out


def client_round(c: ClientState) -> nn.Module:
    """One client-round of compute (see the module docstring); returns the new seed model."""
    gen = torch.Generator().manual_seed(sub_seed(c.train_seed, c.rounds_done))
    train_supervised(c.main, c.train_x, c.train_y, c.train, generator=gen)
    c.rounds_done += 1
    student = build_model(c.seed_arch, c.input_shape, c.num_classes, seed=c.seed_init)
    teacher = logits_of(c.main, c.reference)
    gen = torch.Generator().manual_seed(sub_seed(c.distil_seed, c.rounds_done))
    distil(student, teacher, c.reference, c.distill, generator=gen)
    return student


def train_only(c: ClientState) -> None:
    """Only the main-model steps of a client-round (to split the compute; no round counted)."""
    gen = torch.Generator().manual_seed(sub_seed(c.train_seed, c.rounds_done))
    train_supervised(c.main, c.train_x, c.train_y, c.train, generator=gen)


# ---------------------------------------------------------------------------- timers
class CallTimer:
    """Inclusive wall time and call counts of patched methods, keyed by label (thread-safe)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._undo: list[tuple[Any, str, Any]] = []
        self.recording = True

    def _wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                if self.recording:
                    with self._lock:
                        self.seconds[label] = self.seconds.get(label, 0.0) + dt
                        self.calls[label] = self.calls.get(label, 0) + 1

        return timed

    def install(self, owner: Any, names: tuple[str, ...], prefix: str = "") -> None:
        """Time ``owner.<name>`` for every name ``owner`` itself defines, until :meth:`remove`."""
        for n in names:
            if n in owner.__dict__:
                self._undo.append((owner, n, owner.__dict__[n]))
                setattr(owner, n, self._wrap(prefix + n, owner.__dict__[n]))

    def remove(self) -> None:
        """Put every patched method back."""
        for owner, n, fn in reversed(self._undo):
            setattr(owner, n, fn)
        self._undo.clear()

    @contextlib.contextmanager
    def patch(self, owner: Any, names: tuple[str, ...], prefix: str = "") -> Iterator[None]:
        """:meth:`install` for the duration of a ``with`` block."""
        self.install(owner, names, prefix)
        try:
            yield
        finally:
            self.remove()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Calls made inside this block are not recorded (e.g. an interleaved other run)."""
        self.recording = False
        try:
            yield
        finally:
            self.recording = True

    def get(self, label: str) -> float:
        """Seconds recorded under ``label`` (0 if never called)."""
        return self.seconds.get(label, 0.0)


def peer_targets() -> list[tuple[Any, tuple[str, ...], str]]:
    """What a peer does that the breakdowns time: (owner, methods, label prefix).

    ``build_model`` is timed where :mod:`clients.peer` calls it (a fresh student per
    distillation, and every held seed's module rebuilt for evaluation), and inside it
    ``torch.manual_seed``: with CUDA uninitialised it queues a lazy CUDA (and XPU) seeding
    that captures a Python stack trace each call, whose cost grows with the stack depth.
    """
    import clients.peer
    from clients.peer import Peer

    return [
        (Peer, ("_train_one_round", "distil_seed", "_seed_module"), "peer."),
        (clients.peer, ("build_model",), ""),
        (torch, ("manual_seed",), "torch."),
    ]


def _actor_targets() -> list[tuple[Any, tuple[str, ...], str]]:
    """What :func:`actor_timers_start` times inside a Ray actor: (class, methods, prefix)."""
    from hdus_sim.runtime.inprocess import InProcessRuntime
    from hdus_sim.wire.grpc_transport import GrpcTransport

    return [
        *peer_targets(),
        (
            InProcessRuntime,
            ("train_round", "send_heartbeats", "detect", "_evaluate", "handle"),
            "runtime.",
        ),
        (GrpcTransport, ("_rpc",), "wire."),
    ]


def actor_timers_start(actor: Any) -> int:
    """Run inside a hdus-sim Ray actor (``actor.__ray_call__``): start timing its peers' work.

    Message handling runs in gRPC server threads and sending in the transport's pool, so
    these timers, unlike a cProfile of the actor's main thread, see every thread.
    """
    timer = CallTimer()
    for owner, names, prefix in _actor_targets():
        timer.install(owner, names, prefix)
    actor._bench_timer = timer
    return os.getpid()


def actor_timers_read(actor: Any) -> dict[str, float]:
    """Run inside a hdus-sim Ray actor: seconds by label so far (timing goes on)."""
    timer: CallTimer = actor._bench_timer
    with timer._lock:
        return dict(timer.seconds)


def actor_timers_stop(actor: Any) -> dict[str, float]:
    """Run inside a hdus-sim Ray actor: stop timing; return seconds by label."""
    timer: CallTimer = actor._bench_timer
    timer.remove()
    return dict(timer.seconds)


# ---------------------------------------------------------------------------- Flower
# Imported lazily so the plain loop and hdus-sim runs never import Flower.
_CACHE: dict[str, tuple[World, dict[int, ClientState]]] = {}


def _client_state(scenario_json: str, pid: int) -> ClientState:
    """Client ``pid``'s state in this actor process (the split is built once per process)."""
    if scenario_json not in _CACHE:
        torch.set_num_threads(1)
        world = World.build(load_scenario(json.loads(scenario_json)))
        _CACHE[scenario_json] = (world, {})
    world, states = _CACHE[scenario_json]
    if pid not in states:
        states.update(client_states(world, [pid]))
    return states[pid]


def _prefixed(prefix: str, module: nn.Module) -> OrderedDict[str, torch.Tensor]:
    return OrderedDict((f"{prefix}.{k}", v) for k, v in module.state_dict().items())


def flower_train(msg: Any, context: Any) -> Any:
    """The ClientApp's ``train`` function: load the global main model, run one client-round.

    It replies with the trained main model and the new seed in one ``ArrayRecord`` (FedAvg
    averages both; a client ignores the averaged seed, as every seed starts from its fixed
    initialisation) and its own timers in the ``MetricRecord``. A module-level function, so
    Ray pickles it by reference and :data:`_CACHE` persists in each actor process.
    """
    from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict

    t0 = time.perf_counter()
    config = msg.content["config"]
    state = _client_state(str(config["scenario"]), int(context.node_config["partition-id"]))
    t1 = time.perf_counter()
    arrays = msg.content["arrays"].to_torch_state_dict()
    state.main.load_state_dict({k[5:]: v for k, v in arrays.items() if k.startswith("main.")})
    t2 = time.perf_counter()
    seed = client_round(state)
    t3 = time.perf_counter()
    reply = RecordDict(
        {
            "arrays": ArrayRecord(_prefixed("main", state.main) | _prefixed("seed", seed)),
            "metrics": MetricRecord(
                {
                    "num-examples": len(state.train_y),
                    "state-s": t1 - t0,
                    "compute-s": t3 - t2,
                    "client-s": time.perf_counter() - t0,
                }
            ),
        }
    )
    return Message(reply, reply_to=msg)


def client_app() -> Any:
    """The Flower ``ClientApp`` (Message API): :func:`flower_train` registered as ``train``."""
    from flwr.clientapp import ClientApp

    app = ClientApp()
    app.train()(flower_train)
    return app


@dataclass
class ClientSums:
    """Sums of the clients' own timers over one round's replies (seconds)."""

    replies: int = 0
    compute_s: float = 0.0
    state_s: float = 0.0
    total_s: float = 0.0


@dataclass
class FlowerTimes:
    """What the ServerApp measured (``time.perf_counter`` seconds)."""

    t0: float = float("nan")
    t_end: float = float("nan")
    main_start: float = float("nan")
    round_start: list[float] = field(default_factory=list)
    round_end: list[float] = field(default_factory=list)
    clients: dict[int, ClientSums] = field(default_factory=dict)
    #: server-side seconds (configure_train + aggregate_train) by round
    server_s: dict[int, float] = field(default_factory=dict)

    def client_sums(self, rounds: range) -> ClientSums:
        """The clients' timers summed over ``rounds`` (Flower numbers rounds from 1)."""
        out = ClientSums()
        for r in rounds:
            c = self.clients.get(r, ClientSums())
            out.replies += c.replies
            out.compute_s += c.compute_s
            out.state_s += c.state_s
            out.total_s += c.total_s
        return out


def make_server_app(
    w: Workload,
    scenario_json: str,
    times: FlowerTimes,
    input_shape: tuple[int, ...],
    num_classes: int,
) -> Any:
    """A Flower ``ServerApp`` running FedAvg for ``w.rounds`` rounds over all ``w.clients``.

    Every round samples every client (no federated evaluation: hdus-sim's evaluation is
    counted as its own overhead, so Flower is not charged one); ``times`` records when each
    round starts and ends, and the clients' own timers.
    """
    from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg

    class TimedFedAvg(FedAvg):
        """FedAvg that stamps the start and end of every round."""

        def configure_train(
            self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
        ) -> Any:
            t0 = time.perf_counter()
            times.round_start.append(t0)
            out = list(super().configure_train(server_round, arrays, config, grid))
            dt = time.perf_counter() - t0
            times.server_s[server_round] = times.server_s.get(server_round, 0.0) + dt
            return out

        def aggregate_train(
            self, server_round: int, replies: Any
        ) -> tuple[ArrayRecord | None, MetricRecord | None]:
            t0 = time.perf_counter()
            replies = list(replies)
            sums = times.clients.setdefault(server_round, ClientSums())
            for r in replies:
                if not r.has_error():
                    m = r.content["metrics"]
                    sums.compute_s += float(m["compute-s"])
                    sums.state_s += float(m["state-s"])
                    sums.total_s += float(m["client-s"])
                    sums.replies += 1
            out = super().aggregate_train(server_round, replies)
            t1 = time.perf_counter()
            times.server_s[server_round] = times.server_s.get(server_round, 0.0) + t1 - t0
            times.round_end.append(t1)
            return out

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        times.main_start = time.perf_counter()
        main_model = build_model(
            "sensor", input_shape, num_classes, seed=derive_seed(w.seed, "flower")
        )
        seed_model = build_model("seed_tiny", input_shape, num_classes, seed=0)
        strategy = TimedFedAvg(
            fraction_train=1.0,
            fraction_evaluate=0.0,
            min_train_nodes=w.clients,
            min_available_nodes=w.clients,
        )
        initial = ArrayRecord(_prefixed("main", main_model) | _prefixed("seed", seed_model))
        strategy.start(
            grid=grid,
            initial_arrays=initial,
            num_rounds=w.rounds,
            train_config=ConfigRecord({"scenario": scenario_json}),
        )

    return app


def run_flower(
    w: Workload, backend_config: dict[str, Any], input_shape: tuple[int, ...], num_classes: int
) -> tuple[float, FlowerTimes]:
    """Run the workload on Flower's simulation engine; return (wall seconds, server timings)."""
    import logging

    from flwr.simulation import run_simulation

    logging.getLogger("flwr").setLevel(logging.WARNING)
    times = FlowerTimes()
    scenario_json = json.dumps(workload_scenario(w), sort_keys=True)
    times.t0 = t0 = time.perf_counter()
    run_simulation(
        server_app=make_server_app(w, scenario_json, times, input_shape, num_classes),
        client_app=client_app(),
        num_supernodes=w.clients,
        backend_config=backend_config,  # type: ignore[arg-type]
    )
    times.t_end = time.perf_counter()
    return times.t_end - t0, times
