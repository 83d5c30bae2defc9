"""Helpers for wire attacks on a live ring: connections that present a host's certificate."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from hdus_sim import Simulation
from hdus_sim.wire.security import channel_credentials
from hdus_sim.wire.service import PeerServiceClient

#: ``live_ring(**wire)`` (the fixture of tests/wire/conftest.py)
LiveRing = Callable[..., Simulation]


def channel_to(sim: Simulation, host: str = "host0", as_host: str = "host1") -> grpc.Channel:
    """A new mTLS connection to ``host`` presenting ``as_host``'s certificate."""
    transport = sim.runtime.transport
    return grpc.secure_channel(
        transport.addresses[host], channel_credentials(transport.pki, as_host)
    )


def client(channel: grpc.Channel) -> PeerServiceClient:
    """The typed ``PeerService`` client over ``channel``."""
    return PeerServiceClient(channel)
