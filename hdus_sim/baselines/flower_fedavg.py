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
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.simulation import run_simulation
from torch import nn

from clients.training import TrainConfig, train_supervised
from hdus_sim.rng import derive_seed

__all__ = ["FedAvgRun", "run_fedavg"]

#: keys of the records in our messages
_ARRAYS, _CONFIG, _METRICS, _CLIENT = "arrays", "config", "metrics", "client"
#: the metric FedAvg weights by (Flower's default key)
_WEIGHT = "num-examples"
#: environment variable that keeps embedded Ray on 127.0.0.1 (read once, at ray's import)
_RAY_LOOPBACK = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
#: seconds the ServerApp waits for the simulated nodes to register, and for the first
#: replies (which include Ray's start-up and every actor importing torch)
_DISCOVERY_TIMEOUT_S = 600.0
#: seconds the ServerApp waits for one training round's replies
_ROUND_TIMEOUT_S = 3600.0


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


# --------------------------------------------------------------------- client side
@dataclass(frozen=True)
class _ClientSide:
    """What every ClientApp instance carries (pickled into each message's Ray task)."""

    data_dir: str
    client_ids: tuple[int, ...]  # partition index -> client id
    model_factory: Callable[[], nn.Module]

    def client_of(self, context: Context) -> int:
        """Our client id for the simulated node running ``context``."""
        return self.client_ids[int(context.node_config["partition-id"])]


def _number(record: ConfigRecord | MetricRecord, key: str) -> float:
    """Read one scalar ``key`` of a Flower record as a number (records hold unions)."""
    value = record[key]
    if not isinstance(value, int | float):
        raise TypeError(f"record entry {key!r} must be a number, got {type(value).__name__}")
    return value


#: per actor process: data loaded from the current run's directory, by file path
_DATA_CACHE: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _data_file(data_dir: str | Path, client_id: int) -> Path:
    return Path(data_dir) / f"client-{client_id}.npz"


def _client_data(data_dir: str, client_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Load (once per actor process) client ``client_id``'s training data."""
    path = str(_data_file(data_dir, client_id))
    if path not in _DATA_CACHE:
        if any(not key.startswith(data_dir) for key in _DATA_CACHE):
            _DATA_CACHE.clear()  # an earlier run's data in a reused process
        with np.load(path, allow_pickle=False) as npz:
            _DATA_CACHE[path] = (npz["x"], npz["y"])
    return _DATA_CACHE[path]


#: per actor process: whether torch's first-use cost has been paid (see :func:`_warm_up`)
_WARM = False


def _warm_up(side: _ClientSide, x: np.ndarray, y: np.ndarray) -> None:
    """Pay torch's one-off first-training cost in this process, outside the timed rounds.

    The first optimiser step in a process imports parts of torch (``torch._dynamo``), about
    1.5 s on one core; without this, round 0 would be timed seconds longer than the rest.
    A throwaway model takes one step on two samples; nothing of it is kept.
    """
    global _WARM
    if _WARM or len(y) == 0:
        return
    torch.set_num_threads(1)
    with torch.random.fork_rng(devices=[]):
        train_supervised(
            side.model_factory(),
            x[:2],
            y[:2],
            TrainConfig(epochs=1, batch_size=2),
            generator=torch.Generator().manual_seed(0),
        )
    _WARM = True


def _hello(side: _ClientSide, message: Message, context: Context) -> Message:
    """Answer the discovery query: which client this node is, and its sample count."""
    client_id = side.client_of(context)
    x, y = _client_data(side.data_dir, client_id)
    _warm_up(side, x, y)
    content = RecordDict(
        {
            _CLIENT: ConfigRecord({"client-id": client_id}),
            _METRICS: MetricRecord({_WEIGHT: len(y)}),
        }
    )
    return Message(content, reply_to=message)


def _train(side: _ClientSide, message: Message, context: Context) -> Message:
    """Train the received global model on this client's data; reply with the result."""
    torch.set_num_threads(1)  # bit-identical results whichever actor runs this
    client_id = side.client_of(context)
    x, y = _client_data(side.data_dir, client_id)
    config = message.content.config_records[_CONFIG]
    round_index = int(_number(config, "server-round")) - 1  # Flower counts rounds from 1
    model = side.model_factory()
    model.load_state_dict(message.content.array_records[_ARRAYS].to_torch_state_dict())
    train = TrainConfig(
        epochs=int(_number(config, "local-epochs")),
        batch_size=int(_number(config, "batch-size")),
        lr=float(_number(config, "lr")),
    )
    seed = derive_seed(int(_number(config, "seed")), "fedavg_train", client_id, round_index)
    torch.manual_seed(seed)  # layers drawing from the global stream (dropout) stay reproducible
    loss = train_supervised(model, x, y, train, generator=torch.Generator().manual_seed(seed))
    content = RecordDict(
        {
            _ARRAYS: ArrayRecord(model.state_dict()),
            _METRICS: MetricRecord({_WEIGHT: len(y), "train-loss": loss}),
            _CLIENT: ConfigRecord({"client-id": client_id}),
        }
    )
    return Message(content, reply_to=message)


def _client_app(side: _ClientSide) -> ClientApp:
    """Build the ClientApp: ``query`` says who the node is, ``train`` trains."""
    app = ClientApp()

    @app.query()
    def hello(message: Message, context: Context) -> Message:
        return _hello(side, message, context)

    @app.train()
    def train(message: Message, context: Context) -> Message:
        return _train(side, message, context)

    return app


# --------------------------------------------------------------------- server side
@dataclass
class _Outcome:
    """Filled in by the ServerApp thread, read by :func:`run_fedavg` afterwards."""

    arrays: ArrayRecord | None = None
    first_round_start: float = 0.0
    last_round_end: float = 0.0
    bytes_sent: int = 0
    sample_epochs: int = 0
    replies: list[int] = field(default_factory=list)  # replies per round
    #: client id -> parameter name -> accumulated weighted update (see FedAvgRun)
    client_updates: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)


def _last_line(reason: str | None, limit: int = 300) -> str:
    """The end of an error reason (Flower puts the whole remote traceback in it)."""
    lines = (reason or "").strip().splitlines()
    return lines[-1][-limit:] if lines else "(no reason given)"


def _raise_on_errors(replies: list[Message], node_to_client: Mapping[int, int], what: str) -> None:
    """Raise if any reply is an error (Flower itself would only log it at INFO)."""
    failed = [m for m in replies if m.has_error()]
    if failed:

        def who(node: int) -> str:
            return f"client {node_to_client[node]}" if node in node_to_client else f"node {node}"

        reasons = "; ".join(
            f"{who(m.metadata.src_node_id)}: {_last_line(m.error.reason)}" for m in failed
        )
        raise RuntimeError(
            f"FedAvg {what} failed on {len(failed)} client(s) (tracebacks logged above "
            f"by flwr): {reasons}"
        )


def _discover(grid: Grid, client_ids: Sequence[int], sizes: Mapping[int, int]) -> dict[int, int]:
    """Return ``{client id: Flower node id}`` by asking every simulated node who it is."""
    deadline = time.monotonic() + _DISCOVERY_TIMEOUT_S
    while len(node_ids := sorted(grid.get_node_ids())) < len(client_ids):
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {len(node_ids)} of {len(client_ids)} Flower nodes registered "
                f"within {_DISCOVERY_TIMEOUT_S:.0f} s"
            )
        time.sleep(0.02)
    queries = [
        Message(RecordDict(), dst_node_id=node, message_type=MessageType.QUERY) for node in node_ids
    ]
    replies = list(grid.send_and_receive(queries, timeout=_DISCOVERY_TIMEOUT_S))
    _raise_on_errors(replies, {}, "start-up")
    node_of: dict[int, int] = {}
    for reply in replies:
        client_id = int(_number(reply.content.config_records[_CLIENT], "client-id"))
        node_of[client_id] = reply.metadata.src_node_id
        count = int(_number(reply.content.metric_records[_METRICS], _WEIGHT))
        if count != sizes[client_id]:
            raise RuntimeError(
                f"client {client_id} loaded {count} samples, expected {sizes[client_id]}"
            )
    missing = sorted(set(client_ids) - set(node_of))
    if missing:
        raise RuntimeError(f"clients {missing} did not answer within {_DISCOVERY_TIMEOUT_S:.0f} s")
    return node_of


class _ScheduledFedAvg(FedAvg):
    """FedAvg whose round ``r`` trains exactly ``schedule[r]``, averaged in client-id order."""

    def __init__(
        self, schedule: Sequence[frozenset[int]], node_of: Mapping[int, int], outcome: _Outcome
    ) -> None:
        super().__init__(
            fraction_evaluate=0.0,  # no federated evaluation: the bench evaluates
            weighted_by_key=_WEIGHT,
            arrayrecord_key=_ARRAYS,
            configrecord_key=_CONFIG,
        )
        self.schedule = schedule
        self.node_of = dict(node_of)
        self.client_of = {node: client for client, node in node_of.items()}
        self.outcome = outcome
        self.local_epochs = 0
        self.sent: dict[str, np.ndarray] = {}

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Send the global model to the round's scheduled clients (no sampling)."""
        if server_round == 1:
            self.outcome.first_round_start = time.perf_counter()
        self.local_epochs = int(_number(config, "local-epochs"))
        self.sent = {
            k: arrays[k].numpy()
            for k in arrays
            if np.issubdtype(arrays[k].numpy().dtype, np.floating)
        }
        clients = sorted(self.schedule[server_round - 1])
        config["server-round"] = server_round
        record = RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: config})
        self.outcome.bytes_sent += len(clients) * arrays.count_bytes()
        return self._construct_messages(
            record, [self.node_of[c] for c in clients], MessageType.TRAIN
        )

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Check every scheduled client answered, then average in client-id order."""
        got = list(replies)
        _raise_on_errors(got, self.client_of, f"round {server_round - 1}")
        expected = set(self.schedule[server_round - 1])
        answered = {self.client_of[m.metadata.src_node_id] for m in got}
        if answered != expected or len(got) != len(expected):
            raise RuntimeError(
                f"FedAvg round {server_round - 1}: expected replies from {sorted(expected)}, "
                f"got {sorted(answered)} ({len(got)} messages)"
            )
        got.sort(key=lambda m: self.client_of[m.metadata.src_node_id])
        counts = [int(_number(m.content.metric_records[_METRICS], _WEIGHT)) for m in got]
        total = max(1, sum(counts))
        for m, examples in zip(got, counts, strict=True):
            local = m.content.array_records[self.arrayrecord_key]
            self.outcome.bytes_sent += local.count_bytes()
            self.outcome.sample_epochs += examples * self.local_epochs
            acc = self.outcome.client_updates.setdefault(
                self.client_of[m.metadata.src_node_id],
                {k: np.zeros_like(v) for k, v in self.sent.items()},
            )
            for k, before in self.sent.items():
                acc[k] += (examples / total) * (local[k].numpy() - before)
        arrays, metrics = super().aggregate_train(server_round, got)
        self.outcome.last_round_end = time.perf_counter()
        self.outcome.replies.append(len(got))
        return arrays, metrics


def _server_app(
    schedule: Sequence[frozenset[int]],
    client_ids: Sequence[int],
    sizes: Mapping[int, int],
    initial: ArrayRecord,
    train_config: ConfigRecord,
    outcome: _Outcome,
) -> ServerApp:
    """Build the ServerApp: discover the nodes, then run the scheduled FedAvg rounds."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        node_of = _discover(grid, client_ids, sizes)
        strategy = _ScheduledFedAvg(schedule, node_of, outcome)
        result = strategy.start(
            grid=grid,
            initial_arrays=initial,
            num_rounds=len(schedule),
            timeout=_ROUND_TIMEOUT_S,
            train_config=train_config,
        )
        outcome.arrays = result.arrays

    return app


# --------------------------------------------------------------------- validation
def _validate(
    clients: Mapping[int, tuple[np.ndarray, np.ndarray]],
    schedule: Sequence[frozenset[int]],
    model_factory: Callable[[], nn.Module],
    local_epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    initial: list[np.ndarray] | None,
) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], dict[str, torch.Tensor]]:
    """Check every argument a caller can get wrong; return clean data and the start state.

    Returns the clients' data as contiguous ``float32`` / ``int64`` arrays and the initial
    ``state_dict`` (``initial`` loaded into a fresh model, or the model's own).
    """
    for name, value in (("local_epochs", local_epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    if not clients:
        raise ValueError("clients is empty; give at least one client id -> (train_x, train_y)")
    bad_ids = [c for c in clients if not isinstance(c, int) or isinstance(c, bool) or c < 0]
    if bad_ids:
        raise ValueError(f"client ids must be non-negative integers, got {bad_ids!r}")
    if len(schedule) == 0:
        raise ValueError(
            "schedule is empty; give one set of client ids per round, e.g. "
            "[frozenset(clients)] * rounds"
        )
    for r, members in enumerate(schedule):
        if not members:
            raise ValueError(
                f"schedule[{r}] is empty; every round needs at least one client "
                "(drop the round instead)"
            )
        unknown = sorted(set(members) - set(clients), key=repr)
        if unknown:
            raise ValueError(
                f"schedule[{r}] names clients {unknown} that are not in clients "
                f"(known ids: {sorted(clients)}); add their data or remove them"
            )

    try:
        model = model_factory()
    except Exception as exc:
        raise ValueError(f"model_factory() failed: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ValueError(f"model_factory() must return a torch.nn.Module, got {type(model)}")
    from ray import cloudpickle  # Ray's pickler is the one that ships the factory

    try:
        cloudpickle.dumps(model_factory)
    except Exception as exc:
        raise ValueError(
            f"model_factory cannot be pickled for the Ray workers ({exc}); pass e.g. "
            "functools.partial(clients.models.build_model, arch, shape, classes, seed=S)"
        ) from exc

    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if initial is not None:
        if len(initial) != len(state):
            raise ValueError(
                f"initial has {len(initial)} arrays but the model's state_dict has "
                f"{len(state)} ({list(state)}); pass parameters in state_dict order"
            )
        for (name, tensor), array in zip(state.items(), initial, strict=True):
            if tuple(np.shape(array)) != tuple(tensor.shape):
                raise ValueError(
                    f"initial array for {name!r} has shape {np.shape(array)}, the model "
                    f"expects {tuple(tensor.shape)}; pass parameters in state_dict order"
                )
            state[name] = torch.as_tensor(np.asarray(array)).to(tensor.dtype).clone()
        model.load_state_dict(state)

    data: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    sample_shape: tuple[int, ...] | None = None
    scheduled = set().union(*schedule)
    for cid in sorted(clients):
        pair = clients[cid]
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError(f"clients[{cid}] must be a (train_x, train_y) tuple")
        x, y = np.asarray(pair[0]), np.asarray(pair[1])
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"client {cid}: train_x must be floating point, got {x.dtype}")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"client {cid}: train_y must be integer labels, got {y.dtype}")
        if y.ndim != 1 or x.ndim < 2 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"client {cid}: train_x must be (n, *sample_shape) and train_y (n,) with the "
                f"same n, got {x.shape} and {y.shape}"
            )
        if sample_shape is None:
            sample_shape = x.shape[1:]
        elif x.shape[1:] != sample_shape:
            raise ValueError(
                f"client {cid}: samples have shape {x.shape[1:]}, other clients' have "
                f"{sample_shape}; every client must hold the same kind of input"
            )
        if len(y) == 0 and cid in scheduled:
            raise ValueError(
                f"client {cid} has no training samples but is scheduled; remove it from "
                "the schedule"
            )
        data[cid] = (np.ascontiguousarray(x, dtype=np.float32), y.astype(np.int64))

    probe = next((x[:1] for x, _ in data.values() if len(x)), None)
    if probe is not None:
        try:
            with torch.no_grad():
                out = model.eval()(torch.from_numpy(probe))
        except Exception as exc:
            raise ValueError(
                f"the model rejects samples of shape {probe.shape[1:]}: {exc}; build the "
                "model for the clients' input shape"
            ) from exc
        classes = int(out.shape[-1])
        for cid, (_, y) in data.items():
            if len(y) and (y.min() < 0 or y.max() >= classes):
                raise ValueError(
                    f"client {cid}: labels span [{y.min()}, {y.max()}] but the model has "
                    f"{classes} outputs; labels must lie in [0, {classes})"
                )
    return data, state


# --------------------------------------------------------------------- process hygiene
@contextlib.contextmanager
def _flower_process_guard() -> Iterator[None]:
    """Quiet Flower's log, keep it offline, and undo its ``PYTHONPATH`` change afterwards."""
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    from flwr.supercore import telemetry

    # flwr reads the variable once, at import, which may have come before the line above;
    # not restored afterwards: Flower posts its events from threads that may run later
    telemetry.FLWR_TELEMETRY_ENABLED = os.environ["FLWR_TELEMETRY_ENABLED"]
    logger = logging.getLogger("flwr")
    saved_level = logger.level
    saved_pythonpath = os.environ.get("PYTHONPATH")
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(saved_level)
        if saved_pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved_pythonpath


def _check_ray_state() -> None:
    """Refuse to start when Ray is up already or would listen beyond loopback."""
    import ray
    from ray._private import ray_constants

    if ray.is_initialized():
        raise RuntimeError(
            "Ray is already initialized in this process; Flower's simulation engine would "
            "reuse it and call ray.shutdown() at the end, killing its actors. Call "
            "ray.shutdown() first, or run the Flower baseline in a separate process."
        )
    if os.environ.get(_RAY_LOOPBACK) == "0" and ray_constants.ENABLE_RAY_CLUSTER:
        raise RuntimeError(
            f"ray was imported before {_RAY_LOOPBACK}=0 was set, so the Ray instance Flower "
            "starts would listen on every network interface; set it in the environment "
            "before anything imports ray"
        )


# --------------------------------------------------------------------- entry point
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
    os.environ.setdefault(_RAY_LOOPBACK, "0")
    data, state = _validate(
        clients, schedule, model_factory, local_epochs, batch_size, lr, seed, initial
    )
    _check_ray_state()
    schedule = [frozenset(s) for s in schedule]
    client_ids = tuple(sorted(data))
    sizes = {cid: len(y) for cid, (_, y) in data.items()}
    keys = list(state)
    initial_record = ArrayRecord(
        {k: Array(np.ascontiguousarray(v.cpu().numpy())) for k, v in state.items()}
    )
    train_config = ConfigRecord(
        {"local-epochs": local_epochs, "batch-size": batch_size, "lr": float(lr), "seed": seed}
    )
    workers = max(1, min(os.cpu_count() or 1, max(len(s) for s in schedule)))
    backend_config = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": workers,
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": "ERROR",
            "address": "local",  # a fresh instance, never one found via `ray start`
        },
    }
    outcome = _Outcome()
    with tempfile.TemporaryDirectory(prefix="hdus-fedavg-") as tmp:
        for cid, (x, y) in data.items():
            np.savez(_data_file(tmp, cid), x=x, y=y)
        side = _ClientSide(str(Path(tmp).resolve()), client_ids, model_factory)
        server = _server_app(schedule, client_ids, sizes, initial_record, train_config, outcome)
        with _flower_process_guard():
            run_simulation(
                server_app=server,
                client_app=_client_app(side),
                num_supernodes=len(client_ids),
                backend_config=backend_config,  # type: ignore[arg-type]
            )
    if outcome.arrays is None or len(outcome.replies) != len(schedule):
        raise RuntimeError(
            "the Flower simulation ended without finishing every round; see the flwr "
            "errors logged above"
        )
    parameters = [
        outcome.arrays[k].numpy().astype(state[k].numpy().dtype, copy=False) for k in keys
    ]
    return FedAvgRun(
        parameters=parameters,
        wall_s=time.perf_counter() - t_call,
        rounds_wall_s=outcome.last_round_end - outcome.first_round_start,
        bytes_sent=outcome.bytes_sent,
        sample_epochs=outcome.sample_epochs,
        rounds=len(schedule),
        client_updates={
            cid: [upd[k] if k in upd else np.zeros_like(parameters[i]) for i, k in enumerate(keys)]
            for cid, upd in sorted(outcome.client_updates.items())
        },
    )
