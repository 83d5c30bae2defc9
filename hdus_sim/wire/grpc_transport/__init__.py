"""Peers talking real gRPC: a ``PeerService`` server per host and a non-blocking client.

One *host* is one gRPC server on ``127.0.0.1`` (port chosen by the OS) serving some peers:
in a simulation many peers share a host; on a device a host serves one peer. Every message
between peers on different hosts *and on the same host* goes through a real RPC.

Sending never blocks the caller's training: messages go into a bounded queue served by a
pool of sender threads, each call with a deadline and retried with exponential backoff
when the receiver is unavailable. Arrivals are checked at the boundary, in this order:
decoding (:mod:`hdus_sim.wire.serde`), the certificate identity of the connection (mTLS),
signatures of leave notices (Ed25519), then the receiving peer's own checks. Every refusal
is a gRPC status with a message naming the problem; the receiver's state is unchanged.
Before any of that, admission control (:mod:`hdus_sim.wire.admission`) charges the call to
its connection and sender: a caller over its rate, or a server at capacity, gets
``RESOURCE_EXHAUSTED`` with a retry hint that honest senders follow, and a seed stream that
stalls is cancelled; heartbeats with more entries than ``max_items`` are refused before
they are converted.

:meth:`GrpcTransport.deliver` returns once no message is in flight (counted from hand-over
to the sender queue until the receiver has handled it and queued what it sends on), so a
round of the scenario engine still completes before the next.

Modules
-------
:mod:`~hdus_sim.wire.grpc_transport.config`
    :class:`WireConfig` (settings) and :class:`WireStats` (counters);
:mod:`~hdus_sim.wire.grpc_transport.server`
    the ``PeerService`` servicer of one host and starting its server;
:mod:`~hdus_sim.wire.grpc_transport.client`
    channels to remote hosts and one retried RPC per message;
:mod:`~hdus_sim.wire.grpc_transport.transport`
    :class:`GrpcTransport`: lifecycle, sender queue, quiescence.

This package re-exports their public names, so ``hdus_sim.wire.grpc_transport`` keeps
working.
"""

from __future__ import annotations

from hdus_sim.wire.grpc_transport.client import RETRYABLE
from hdus_sim.wire.grpc_transport.config import WireConfig, WireStats
from hdus_sim.wire.grpc_transport.server import STATUS_FOR_REFUSAL
from hdus_sim.wire.grpc_transport.transport import GrpcTransport

__all__ = ["RETRYABLE", "STATUS_FOR_REFUSAL", "GrpcTransport", "WireConfig", "WireStats"]
