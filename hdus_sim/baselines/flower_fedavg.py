"""FedAvg with a central server, run on Flower's Message API and simulation engine.

:func:`run_fedavg` trains one global model for ``len(schedule)`` rounds. In round ``r``
the server sends the global parameters to exactly the clients in ``schedule[r]``; each
trains them locally (Adam, :func:`clients.training.train_supervised`) and sends them back;
the server replaces the global model by the average of the returned parameters, weighted
by each client's number of training samples (McMahan et al. 2017). Averaging the returned
parameters equals adding the weighted mean update, since every client starts from the same
global model and the weights sum to one. Every ``state_dict`` entry is averaged, buffers too.

How it maps onto Flower 1.41
----------------------------
* The **ServerApp** (``@app.main()``) runs in a thread of the calling process. It first
  sends a ``query`` message to every node and learns which Flower node id hosts which of
  our clients (the Grid only knows random node ids), then runs
  :meth:`flwr.serverapp.strategy.FedAvg.start` with a subclass whose ``configure_train``
  addresses the round's scheduled clients instead of sampling, and whose
  ``aggregate_train`` sorts the replies by client id before averaging (Flower averages
  them in arrival order, and float sums depend on order), counts the bytes, and turns a
  client's error reply into an exception instead of a log line.
* The **ClientApp** (``@app.train()``, ``@app.query()``) runs in Ray actor processes.
  Simulation node ``k`` (``context.node_config["partition-id"]``) is our ``k``-th client in
  sorted id order. Answering the discovery query, an actor also pays torch's one-off
  first-training cost (about 1.5 s per process), so ``rounds_wall_s`` times training only.

Client data: through files, not the ClientApp
---------------------------------------------
Flower's Ray backend pickles the ``ClientApp`` afresh with *every* message it hands to an
actor (``a.run.remote(app_fn, message, ...)`` in ``RayBackend.process_message``), so data
captured by the ClientApp would be shipped once per client-round, all clients' data each
time. Instead :func:`run_fedavg` writes each client's ``(x, y)`` to
``client-<id>.npz`` in a private temporary directory (deleted when the call ends); the
ClientApp carries only that directory, the id list and the model factory, and each actor
loads a client's file on first use and keeps it for the rest of the run. This needs the
actors on the calling machine, which holds since Flower starts its own local Ray.

Determinism
-----------
Each client-round's batch order comes from a ``torch.Generator`` seeded with
``derive_seed(seed, "fedavg_train", client_id, round)`` (torch's global generator is seeded
with it too, for dropout-like layers), the client runs torch on one thread, and the server
averages in client-id order, so the same inputs give bit-identical parameters whichever
actor ran which client and in whatever order replies arrived.

Ray and Flower side effects
---------------------------
* Flower starts a fresh embedded Ray (``address="local"``: never one found through
  ``ray start``) with one CPU per actor and as many actors as the busiest round has
  clients (at most the machine's cores), and shuts it down at the end. It listens on
  127.0.0.1 only because ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is set before ray is
  imported; if ray was imported earlier without it, :func:`run_fedavg` refuses to start.
* Each call pays Flower's and Ray's start-up and shutdown (about 9-11 s with one actor and
  14-20 s with two on a busy 2-core machine; shutdown alone about 2 s), and every round at
  least 0.1 s (Flower's simulation engine polls its queues every 0.1 s).
* If Ray is already initialized in this process, Flower would reuse that instance and
  call ``ray.shutdown()`` on it when done, killing the caller's own actors (e.g. the
  ``ray`` runtime's hosts). :func:`run_fedavg` therefore refuses to start; shut Ray down
  first or run the baseline in another process.
* Flower's telemetry (an HTTPS post per run) is switched off unless
  ``FLWR_TELEMETRY_ENABLED`` is set: the platform runs without network. Flower's log is
  raised to ERROR for the call (its INFO round log and the deprecation warning of
  ``run_simulation`` are hidden; client failures still show), and the ``PYTHONPATH``
  variable Flower overwrites for its workers is restored afterwards.

Modules
-------
This module is the entry point and assembles the result. The ClientApp is in
:mod:`~hdus_sim.baselines.flower_client`, the ServerApp and its strategy in
:mod:`~hdus_sim.baselines.flower_server`, their shared record keys in
:mod:`~hdus_sim.baselines.flower_records`, the argument checks in
:mod:`~hdus_sim.baselines.flower_checks` and the Ray/Flower process hygiene in
:mod:`~hdus_sim.baselines.flower_hygiene`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord
from flwr.simulation import run_simulation
from torch import nn

from hdus_sim.baselines.flower_checks import validate
from hdus_sim.baselines.flower_client import ClientSide, client_app
from hdus_sim.baselines.flower_hygiene import RAY_LOOPBACK, check_ray_state, flower_process_guard
from hdus_sim.baselines.flower_records import data_file
from hdus_sim.baselines.flower_server import Outcome, server_app

__all__ = ["FedAvgRun", "run_fedavg"]


@dataclass(frozen=True)
class FedAvgRun:
    """What one :func:`run_fedavg` call produced and what it cost.

    Attributes
    ----------
    parameters
        Final global model parameters, one array per ``model.state_dict()`` entry, in that
        order and with those dtypes.
    wall_s
        Seconds for the whole call, including Flower's and Ray's start-up and shutdown
        and writing the client data files.
    rounds_wall_s
        Seconds from the first round's start to the last round's end, measured inside the
        ServerApp: the training itself, without start-up, node discovery or shutdown.
    bytes_sent
        Model bytes sent server to clients plus clients to server over all rounds, as
        serialized by Flower (``ArrayRecord.count_bytes``: each array's ``.npy`` payload
        with its header, plus the key names). Configs and metrics are not counted.
    sample_epochs
        Sum over client-rounds of local training samples times local epochs: the
        number of single-sample forward and backward passes.
    rounds
        Number of rounds run (``len(schedule)``).
    client_updates
        Per client, its accumulated contribution to the global model, in
        ``parameters``' order: the sum over its rounds of ``n_k / n * (w_k - w)`` (its
        sample share times its local model minus the global model it started from). The
        global model moved by exactly the sum of these over clients, so subtracting one
        client's is the server-side removal of approximate federated unlearning
        (:mod:`hdus_sim.baselines.fedavg`). Only floating-point entries are tracked.
    """

    parameters: list[np.ndarray]
    wall_s: float
    rounds_wall_s: float
    bytes_sent: int
    sample_epochs: int
    rounds: int
    client_updates: dict[int, list[np.ndarray]] = field(default_factory=dict)


def run_fedavg(
    clients: Mapping[int, tuple[np.ndarray, np.ndarray]],
    schedule: Sequence[frozenset[int]],
    model_factory: Callable[[], nn.Module],
    *,
    local_epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    initial: list[np.ndarray] | None = None,
) -> FedAvgRun:
    """Run FedAvg in one Flower simulation: round ``r`` trains exactly ``schedule[r]``.

    Parameters
    ----------
    clients
        Client id (non-negative int) to its training data ``(train_x, train_y)``:
        ``train_x`` of shape ``(n, *sample_shape)`` (cast to float32), ``train_y`` of shape
        ``(n,)`` with integer labels in ``[0, num_classes)``. Clients that are never
        scheduled still get a simulated node but never train, so they contribute nothing.
    schedule
        ``schedule[r]``: ids of the clients that train in round ``r``; each a non-empty
        subset of ``clients``. ``len(schedule)`` rounds are run.
    model_factory
        Builds the model, called in the caller (initial parameters, checks) and in every
        Ray worker; must be picklable, e.g.
        ``functools.partial(clients.models.build_model, "sensor", (1, 8, 8), 10, seed=S)``.
    local_epochs, batch_size, lr
        Local training per client-round: passes over the client's data, samples per Adam
        step, and Adam's learning rate (a fresh optimiser each client-round).
    seed
        Root of every random stream: client ``c``'s batch order in round ``r`` is drawn from
        ``derive_seed(seed, "fedavg_train", c, r)``.
    initial
        Parameters to start from, in ``model.state_dict()`` order; default: those of
        ``model_factory()``.

    Returns
    -------
    FedAvgRun
        The final global parameters and what the run cost (see :class:`FedAvgRun`).

    Raises
    ------
    ValueError
        If an argument is unusable (empty schedule or round, unknown client id, wrong
        shapes or dtypes, labels outside the model's outputs, unpicklable factory,
        ``initial`` not matching the model); raised before Flower or Ray start.
    RuntimeError
        If Ray is already initialized in this process (Flower would shut it down), or a
        client fails or does not answer during the run.

    Examples
    --------
    >>> from functools import partial
    >>> from clients.models import build_model
    >>> factory = partial(build_model, "sensor", (1, 8, 8), 10, seed=0)
    >>> run = run_fedavg(data, [frozenset({0, 1})] * 5, factory,  # doctest: +SKIP
    ...                  local_epochs=1, batch_size=32, lr=0.01, seed=0)
    """
    t_call = time.perf_counter()
    # embedded Ray listens on 127.0.0.1 only if this is set before ray is first imported
    os.environ.setdefault(RAY_LOOPBACK, "0")
    data, state = validate(
        clients, schedule, model_factory, local_epochs, batch_size, lr, seed, initial
    )
    check_ray_state()
    schedule = [frozenset(s) for s in schedule]
    client_ids = tuple(sorted(data))
    sizes = {cid: len(y) for cid, (_, y) in data.items()}
    initial_record = ArrayRecord(
        {k: Array(np.ascontiguousarray(v.cpu().numpy())) for k, v in state.items()}
    )
    train_config = ConfigRecord(
        {"local-epochs": local_epochs, "batch-size": batch_size, "lr": float(lr), "seed": seed}
    )
    outcome = Outcome()
    with tempfile.TemporaryDirectory(prefix="hdus-fedavg-") as tmp:
        for cid, (x, y) in data.items():
            np.savez(data_file(tmp, cid), x=x, y=y)
        side = ClientSide(str(Path(tmp).resolve()), client_ids, model_factory)
        server = server_app(schedule, client_ids, sizes, initial_record, train_config, outcome)
        with flower_process_guard():
            run_simulation(
                server_app=server,
                client_app=client_app(side),
                num_supernodes=len(client_ids),
                backend_config=_backend_config(schedule),  # type: ignore[arg-type]
            )
    return _result(outcome, state, len(schedule), time.perf_counter() - t_call)


def _backend_config(schedule: Sequence[frozenset[int]]) -> dict[str, Any]:
    """Flower's Ray backend settings: a fresh local Ray, one CPU per actor.

    As many actors as the busiest round has clients, at most the machine's cores; no
    dashboard, and Ray's own log kept out of the driver's.
    """
    workers = max(1, min(os.cpu_count() or 1, max(len(s) for s in schedule)))
    return {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": workers,
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": "ERROR",
            "address": "local",  # a fresh instance, never one found via `ray start`
        },
    }


def _result(
    outcome: Outcome, state: dict[str, torch.Tensor], rounds: int, wall_s: float
) -> FedAvgRun:
    """Assemble the :class:`FedAvgRun` from what the ServerApp left in ``outcome``.

    The final parameters come back in ``state``'s order and dtypes; a client's updates of
    entries it never changed (non-float entries) are zeros.
    """
    if outcome.arrays is None or len(outcome.replies) != rounds:
        raise RuntimeError(
            "the Flower simulation ended without finishing every round; see the flwr "
            "errors logged above"
        )
    keys = list(state)
    parameters = [
        outcome.arrays[k].numpy().astype(state[k].numpy().dtype, copy=False) for k in keys
    ]
    return FedAvgRun(
        parameters=parameters,
        wall_s=wall_s,
        rounds_wall_s=outcome.last_round_end - outcome.first_round_start,
        bytes_sent=outcome.bytes_sent,
        sample_epochs=outcome.sample_epochs,
        rounds=rounds,
        client_updates={
            cid: [upd[k] if k in upd else np.zeros_like(parameters[i]) for i, k in enumerate(keys)]
            for cid, upd in sorted(outcome.client_updates.items())
        },
    )
