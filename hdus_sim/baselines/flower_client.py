"""The Flower FedAvg ClientApp: discovery and local training, in Ray actor processes.

Simulation node ``k`` (``context.node_config["partition-id"]``) is our ``k``-th client in
sorted id order. A client's data is read from its file (see
:func:`~hdus_sim.baselines.flower_records.data_file`) once per actor process and kept;
answering the discovery query, an actor also pays torch's one-off first-training cost,
so the timed rounds measure training only. Training is bit-reproducible: one torch
thread, and a batch order drawn from ``derive_seed(seed, "fedavg_train", client, round)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from torch import nn

from clients.training import TrainConfig, train_supervised
from hdus_sim.baselines.flower_records import (
    ARRAYS,
    CLIENT,
    CONFIG,
    METRICS,
    WEIGHT,
    data_file,
    number,
)
from hdus_sim.rng import derive_seed


@dataclass(frozen=True)
class ClientSide:
    """What every ClientApp instance carries (pickled into each message's Ray task)."""

    data_dir: str
    client_ids: tuple[int, ...]  # partition index -> client id
    model_factory: Callable[[], nn.Module]

    def client_of(self, context: Context) -> int:
        """Our client id for the simulated node running ``context``."""
        return self.client_ids[int(context.node_config["partition-id"])]


#: per actor process: data loaded from the current run's directory, by file path
_DATA_CACHE: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _client_data(data_dir: str, client_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Load (once per actor process) client ``client_id``'s training data."""
    path = str(data_file(data_dir, client_id))
    if path not in _DATA_CACHE:
        if any(not key.startswith(data_dir) for key in _DATA_CACHE):
            _DATA_CACHE.clear()  # an earlier run's data in a reused process
        with np.load(path, allow_pickle=False) as npz:
            _DATA_CACHE[path] = (npz["x"], npz["y"])
    return _DATA_CACHE[path]


#: per actor process: whether torch's first-use cost has been paid (see :func:`_warm_up`)
_WARM = False


def _warm_up(side: ClientSide, x: np.ndarray, y: np.ndarray) -> None:
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


def _hello(side: ClientSide, message: Message, context: Context) -> Message:
    """Answer the discovery query: which client this node is, and its sample count."""
    client_id = side.client_of(context)
    x, y = _client_data(side.data_dir, client_id)
    _warm_up(side, x, y)
    content = RecordDict(
        {
            CLIENT: ConfigRecord({"client-id": client_id}),
            METRICS: MetricRecord({WEIGHT: len(y)}),
        }
    )
    return Message(content, reply_to=message)


def _train(side: ClientSide, message: Message, context: Context) -> Message:
    """Train the received global model on this client's data; reply with the result."""
    torch.set_num_threads(1)  # bit-identical results whichever actor runs this
    client_id = side.client_of(context)
    x, y = _client_data(side.data_dir, client_id)
    config = message.content.config_records[CONFIG]
    round_index = int(number(config, "server-round")) - 1  # Flower counts rounds from 1
    model = side.model_factory()
    model.load_state_dict(message.content.array_records[ARRAYS].to_torch_state_dict())
    train = TrainConfig(
        epochs=int(number(config, "local-epochs")),
        batch_size=int(number(config, "batch-size")),
        lr=float(number(config, "lr")),
    )
    seed = derive_seed(int(number(config, "seed")), "fedavg_train", client_id, round_index)
    torch.manual_seed(seed)  # layers drawing from the global stream (dropout) stay reproducible
    loss = train_supervised(model, x, y, train, generator=torch.Generator().manual_seed(seed))
    content = RecordDict(
        {
            ARRAYS: ArrayRecord(model.state_dict()),
            METRICS: MetricRecord({WEIGHT: len(y), "train-loss": loss}),
            CLIENT: ConfigRecord({"client-id": client_id}),
        }
    )
    return Message(content, reply_to=message)


def client_app(side: ClientSide) -> ClientApp:
    """Build the ClientApp: ``query`` says who the node is, ``train`` trains."""
    app = ClientApp()

    @app.query()
    def hello(message: Message, context: Context) -> Message:
        return _hello(side, message, context)

    @app.train()
    def train(message: Message, context: Context) -> Message:
        return _train(side, message, context)

    return app
