"""The Flower FedAvg ServerApp: find the nodes, then run the scheduled rounds.

The ServerApp runs in a thread of the calling process. It first sends a ``query`` to every
node to learn which Flower node id hosts which of our clients (the Grid only knows random
node ids), then runs :meth:`flwr.serverapp.strategy.FedAvg.start` with
:class:`ScheduledFedAvg`: round ``r`` addresses exactly ``schedule[r]`` instead of
sampling, the replies are sorted by client id before averaging (float sums depend on
order), the model bytes are counted, and a client's error reply becomes an exception
instead of a log line. What it learns goes into an :class:`Outcome` the caller reads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from hdus_sim.baselines.flower_records import ARRAYS, CLIENT, CONFIG, METRICS, WEIGHT, number

#: seconds the ServerApp waits for the simulated nodes to register, and for the first
#: replies (which include Ray's start-up and every actor importing torch)
_DISCOVERY_TIMEOUT_S = 600.0
#: seconds the ServerApp waits for one training round's replies
_ROUND_TIMEOUT_S = 3600.0


@dataclass
class Outcome:
    """Filled in by the ServerApp thread, read by :func:`run_fedavg` afterwards."""

    arrays: ArrayRecord | None = None
    first_round_start: float = 0.0
    last_round_end: float = 0.0
    bytes_sent: int = 0
    sample_epochs: int = 0
    replies: list[int] = field(default_factory=list)  # replies per round
    #: client id -> parameter name -> accumulated weighted update (see flower_fedavg.FedAvgRun)
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


def discover(grid: Grid, client_ids: Sequence[int], sizes: Mapping[int, int]) -> dict[int, int]:
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
        client_id = int(number(reply.content.config_records[CLIENT], "client-id"))
        node_of[client_id] = reply.metadata.src_node_id
        count = int(number(reply.content.metric_records[METRICS], WEIGHT))
        if count != sizes[client_id]:
            raise RuntimeError(
                f"client {client_id} loaded {count} samples, expected {sizes[client_id]}"
            )
    missing = sorted(set(client_ids) - set(node_of))
    if missing:
        raise RuntimeError(f"clients {missing} did not answer within {_DISCOVERY_TIMEOUT_S:.0f} s")
    return node_of


class ScheduledFedAvg(FedAvg):
    """FedAvg whose round ``r`` trains exactly ``schedule[r]``, averaged in client-id order."""

    def __init__(
        self, schedule: Sequence[frozenset[int]], node_of: Mapping[int, int], outcome: Outcome
    ) -> None:
        super().__init__(
            fraction_evaluate=0.0,  # no federated evaluation: the bench evaluates
            weighted_by_key=WEIGHT,
            arrayrecord_key=ARRAYS,
            configrecord_key=CONFIG,
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
        self.local_epochs = int(number(config, "local-epochs"))
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
        counts = [int(number(m.content.metric_records[METRICS], WEIGHT)) for m in got]
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


def server_app(
    schedule: Sequence[frozenset[int]],
    client_ids: Sequence[int],
    sizes: Mapping[int, int],
    initial: ArrayRecord,
    train_config: ConfigRecord,
    outcome: Outcome,
) -> ServerApp:
    """Build the ServerApp: discover the nodes, then run the scheduled FedAvg rounds."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        node_of = discover(grid, client_ids, sizes)
        strategy = ScheduledFedAvg(schedule, node_of, outcome)
        result = strategy.start(
            grid=grid,
            initial_arrays=initial,
            num_rounds=len(schedule),
            timeout=_ROUND_TIMEOUT_S,
            train_config=train_config,
        )
        outcome.arrays = result.arrays

    return app
