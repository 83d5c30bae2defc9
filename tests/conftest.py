"""Shared fixtures: small scenarios that run in a couple of seconds."""

from __future__ import annotations

import copy
from typing import Any

import pytest

TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 3,
    "rounds": 5,
    "dataset": {"name": "digits"},
    "partition": {
        "scheme": "class_drop",
        "classes_dropped": 2,
        "reference": {"source": "public", "size": 0.2},
        "global_test_size": 0.15,
    },
    "topology": {"kind": "ring"},
    "peers": {"initial": 6, "devices": {"sensor": 1, "phone": 1}, "rho": 0.5},
    "training": {"local_epochs": 4, "train_rounds": 1, "batch_size": 32, "lr": 0.01},
    "seed_model": {"distill_steps": 60, "batch_size": 64},
    "exchange": {"relay_hops": 1, "heartbeat_timeout": 2},
    "events": [
        {"at": 2, "kind": "leave", "peer": 1},
        {"at": 2, "kind": "join", "peer": 6, "device": "sensor"},
        {"at": 3, "kind": "crash", "peer": 4},
    ],
}


@pytest.fixture
def tiny() -> dict[str, Any]:
    """A 6-peer ring scenario with a leave, a join and a crash (about 2 s to run)."""
    return copy.deepcopy(TINY)
