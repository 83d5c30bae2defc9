"""A live ring of peers over real mTLS gRPC, trained and still serving, for wire attacks."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from wire_helpers import LiveRing

from hdus_sim import Simulation


@pytest.fixture
def live_ring(tiny: dict[str, Any]) -> Iterator[LiveRing]:
    """``live_ring(**wire)``: the tiny ring on two mTLS hosts, two rounds in, serving.

    Even peers live on host0, odd on host1; ``wire`` overrides ``runtime.wire`` fields
    (e.g. admission limits). Every simulation made is closed after the test.
    """
    made: list[Simulation] = []

    def make(rounds: int = 8, warm: int = 2, **wire: Any) -> Simulation:
        sc = copy.deepcopy(tiny)
        sc["runtime"] = {"kind": "grpc", "wire": {"hosts": 2, "tls": True, "sign": True, **wire}}
        sc["events"] = []
        sc["rounds"] = rounds
        sim = Simulation.from_dict(sc)
        made.append(sim)
        for _ in range(warm):
            sim.step()
        return sim

    yield make
    for sim in made:
        sim.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test of the wire starts real gRPC servers on loopback: mark it ``grpc``."""
    here = str(__file__).rsplit("/", 1)[0]
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.grpc)
