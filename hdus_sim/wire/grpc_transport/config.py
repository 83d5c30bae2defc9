"""The gRPC wire's settings (:class:`WireConfig`) and its counters (:class:`WireStats`).

Plain data: the config is built once per run (from a scenario's ``runtime.wire`` by
:meth:`WireConfig.from_spec`) and handed to every transport; the stats are the counters a
transport's server and client halves add to, read through ``GrpcTransport.counters``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from hdus_sim.wire.admission import AdmissionLimits

__all__ = ["WireConfig", "WireStats"]


@dataclass(frozen=True)
class WireConfig:
    """Settings of the gRPC wire.

    Attributes
    ----------
    hosts
        gRPC servers to spread the peers over (peer ``i`` lives on host ``i % hosts``).
    tls
        Mutual TLS with a per-run test CA; a message's claimed sender must be one of the
        peers named in the connection's client certificate.
    sign
        Leave notices must carry an Ed25519 signature of the peer that vouches for them.
    deadline_s
        Deadline of one RPC attempt (seconds).
    retries, backoff_s
        Attempts after the first for UNAVAILABLE / DEADLINE_EXCEEDED, and the first backoff
        (doubled each attempt).
    max_queue
        Messages waiting to be sent before new ones are dropped (backpressure).
    max_pending_per_peer
        Messages waiting for one destination peer while its previous one is in flight;
        beyond it the oldest is dropped (a frozen neighbour holds one sender thread and
        a bounded backlog, see :mod:`hdus_sim.wire.lanes`).
    quiesce
        ``deliver`` waits until nothing is in flight (the scenario engine's rounds);
        a standalone device sends and goes on (``False``).
    workers
        Sender threads.
    chunk_bytes
        Bytes of tensor data per streamed seed chunk.
    max_message_bytes
        gRPC's per-message limit (chunks must fit; whole seeds need not).
    max_seed_bytes
        Largest seed a receiver accepts.
    drain_timeout_s
        How long ``deliver`` waits for quiescence before failing the run.
    max_items
        Most entries of each kind (tombstones, leases, holdings, proofs) a heartbeat may
        carry; more is refused before the message is converted (a flood costs a parse).
    server_workers
        Threads of each gRPC server.
    busy_wait_s
        Longest a sender keeps retrying a message refused as busy/rate-limited, following
        the receiver's retry hints (these retries do not count against ``retries``).
    limits
        Admission control of each server (rates, concurrency, idle streams).
    """

    hosts: int = 2
    tls: bool = False
    sign: bool = True
    deadline_s: float = 10.0
    retries: int = 4
    backoff_s: float = 0.05
    max_queue: int = 100_000
    max_pending_per_peer: int = 100_000
    quiesce: bool = True
    workers: int = 8
    chunk_bytes: int = 1 << 20
    max_message_bytes: int = 4 << 20
    max_seed_bytes: int = 64 << 20
    drain_timeout_s: float = 300.0
    max_items: int = 4096
    server_workers: int = 16
    busy_wait_s: float = 120.0
    limits: AdmissionLimits = field(default_factory=AdmissionLimits)

    @classmethod
    def from_spec(cls, spec: Any, **overrides: Any) -> WireConfig:
        """The wire of a scenario's ``runtime.wire`` (a ``WireSpec``), with ``overrides``.

        Fields named alike are copied; ``chunk_kb`` becomes ``chunk_bytes``; the admission
        limits come from the spec's fields named like :class:`AdmissionLimits`'.
        """
        given = dict(spec) if not hasattr(spec, "model_dump") else spec.model_dump()
        given = {k: v for k, v in given.items() if v is not None}
        mine = {f.name for f in fields(cls)}
        values = {k: v for k, v in given.items() if k in mine and k != "limits"}
        if "chunk_kb" in given:
            values["chunk_bytes"] = int(given["chunk_kb"]) * 1024
        limit_names = {f.name for f in fields(AdmissionLimits)}
        limits = {k: v for k, v in given.items() if k in limit_names}
        if limits:
            values["limits"] = AdmissionLimits(**limits)
        values.update(overrides)
        return cls(**values)


@dataclass
class WireStats:
    """What happened on the wire.

    ``refused`` counts error statuses senders got back, ``rejected`` the ones receivers
    answered with (both by status name); in one process they describe the same calls.
    """

    rpcs: int = 0
    retries: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    backpressure_drops: int = 0
    failed: int = 0
    busy_retries: int = 0
