"""The message vocabulary shared by the Flower FedAvg ClientApp and ServerApp.

Record keys, the metric FedAvg weights by, and reading a scalar out of a Flower record.
The client data files' naming lives here too: :func:`~hdus_sim.baselines.flower_fedavg.run_fedavg`
writes them and every ClientApp actor reads them.
"""

from __future__ import annotations

from pathlib import Path

from flwr.app import ConfigRecord, MetricRecord

#: keys of the records in our messages
ARRAYS, CONFIG, METRICS, CLIENT = "arrays", "config", "metrics", "client"
#: the metric FedAvg weights by (Flower's default key)
WEIGHT = "num-examples"


def number(record: ConfigRecord | MetricRecord, key: str) -> float:
    """Read one scalar ``key`` of a Flower record as a number (records hold unions)."""
    value = record[key]
    if not isinstance(value, int | float):
        raise TypeError(f"record entry {key!r} must be a number, got {type(value).__name__}")
    return value


def data_file(data_dir: str | Path, client_id: int) -> Path:
    """The ``.npz`` file holding client ``client_id``'s ``(x, y)`` in ``data_dir``."""
    return Path(data_dir) / f"client-{client_id}.npz"
