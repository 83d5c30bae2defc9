"""Symmetric ``x_to_proto`` / ``x_from_proto`` pairs for every record except seeds.

Leave and join notices, heartbeats (with their leases), deletion requests and receipts,
acks and health answers. Every request carries ``dst``, the destination peer id, because
one server hosts many peers: ``*_to_proto`` takes it as an argument and ``*_from_proto``
returns it next to the record (a :class:`~clients.messages.DeletionReceipt` is a response
and has none). Malformed fields raise :class:`~hdus_sim.wire.errors.WireError` naming
the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from clients.messages import (
    DeletionReceipt,
    DeletionRequest,
    Heartbeat,
    JoinNotice,
    Lease,
    LeaveNotice,
    LeaveReason,
)
from hdus_sim.proto import peer_pb2 as pb
from hdus_sim.wire.errors import WireError
from hdus_sim.wire.serde.checks import (
    building,
    check_ids,
    check_nonneg,
    check_owners,
    owners_from_proto,
)

_REASON_TO_PB: Final[dict[LeaveReason, pb.LeaveReason]] = {
    LeaveReason.GRACEFUL: pb.GRACEFUL,
    LeaveReason.CRASH: pb.CRASH,
}
_REASON_FROM_PB: Final[dict[int, LeaveReason]] = {v: k for k, v in _REASON_TO_PB.items()}


# ---------------------------------------------------------------------------- leases
def lease_to_proto(lease: Lease, field: str = "Lease") -> pb.Lease:
    """Encode a lease renewal; negative numbers raise :class:`WireError` naming ``field``."""
    with building(field):
        return pb.Lease(
            owner=check_nonneg(f"{field}.owner", lease.owner),
            epoch=check_nonneg(f"{field}.epoch", lease.epoch),
            seq=check_nonneg(f"{field}.seq", lease.seq),
            floor=check_nonneg(f"{field}.floor", lease.floor),
            signature=lease.signature,
            age=check_nonneg(f"{field}.age", lease.age),
        )


def lease_from_proto(p: pb.Lease, field: str = "Lease") -> Lease:
    """Decode a lease renewal; negative numbers raise :class:`WireError` naming ``field``."""
    return Lease(
        owner=check_nonneg(f"{field}.owner", p.owner),
        epoch=check_nonneg(f"{field}.epoch", p.epoch),
        seq=check_nonneg(f"{field}.seq", p.seq),
        floor=check_nonneg(f"{field}.floor", p.floor),
        signature=p.signature,
        age=check_nonneg(f"{field}.age", p.age),
    )


# ---------------------------------------------------------------------------- small records
def leave_to_proto(n: LeaveNotice, dst: int) -> pb.LeaveNotice:
    """Encode a leave notice for peer ``dst``.

    Raises
    ------
    WireError
        ``INVALID_ARGUMENT`` for negative peer/epoch/reporter/ttl/dst or an unknown reason.
    """
    reason = _REASON_TO_PB.get(n.reason)
    if reason is None:
        raise WireError(f"LeaveNotice.reason must be a LeaveReason, got {n.reason!r}")
    with building("LeaveNotice"):
        return pb.LeaveNotice(
            peer=check_nonneg("LeaveNotice.peer", n.peer),
            epoch=check_nonneg("LeaveNotice.epoch", n.epoch),
            reason=reason,
            reporter=check_nonneg("LeaveNotice.reporter", n.reporter),
            ttl=check_nonneg("LeaveNotice.ttl", n.ttl, bits=32),
            signature=n.signature,
            dst=check_nonneg("dst", dst),
            origin=_origin(n.origin),
        )


def leave_from_proto(p: pb.LeaveNotice) -> tuple[int, LeaveNotice]:
    """Decode a leave notice into ``(dst, LeaveNotice)``.

    Raises
    ------
    WireError
        ``INVALID_ARGUMENT`` for negative numbers, or a reason that is
        ``LEAVE_REASON_UNSPECIFIED`` (field missing) or unknown.
    """
    reason = _REASON_FROM_PB.get(p.reason)
    if reason is None:
        what = "LEAVE_REASON_UNSPECIFIED" if p.reason == 0 else f"unknown value {p.reason}"
        raise WireError(f"LeaveNotice.reason is {what}; senders must set GRACEFUL or CRASH")
    notice = LeaveNotice(
        peer=check_nonneg("LeaveNotice.peer", p.peer),
        epoch=check_nonneg("LeaveNotice.epoch", p.epoch),
        reason=reason,
        reporter=check_nonneg("LeaveNotice.reporter", p.reporter),
        ttl=check_nonneg("LeaveNotice.ttl", p.ttl, bits=32),
        signature=p.signature,
        origin=_origin(p.origin),
    )
    return check_nonneg("LeaveNotice.dst", p.dst), notice


def _origin(value: int) -> int:
    """``LeaveNotice.origin``: a peer id, or -1 for "the reporter"."""
    return -1 if value == -1 else check_nonneg("LeaveNotice.origin", value)


def join_to_proto(n: JoinNotice, dst: int) -> pb.JoinNotice:
    """Encode a join notice for peer ``dst``; negative peer/epoch/dst raise WireError."""
    with building("JoinNotice"):
        return pb.JoinNotice(
            peer=check_nonneg("JoinNotice.peer", n.peer),
            epoch=check_nonneg("JoinNotice.epoch", n.epoch),
            device=n.device,
            address=n.address,
            dst=check_nonneg("dst", dst),
        )


def join_from_proto(p: pb.JoinNotice) -> tuple[int, JoinNotice]:
    """Decode a join notice into ``(dst, JoinNotice)``; negative numbers raise WireError."""
    notice = JoinNotice(
        peer=check_nonneg("JoinNotice.peer", p.peer),
        epoch=check_nonneg("JoinNotice.epoch", p.epoch),
        device=p.device,
        address=p.address,
    )
    return check_nonneg("JoinNotice.dst", p.dst), notice


def heartbeat_to_proto(h: Heartbeat, dst: int) -> pb.Heartbeat:
    """Encode a heartbeat for peer ``dst``; sets are sent sorted (deterministic bytes).

    Raises
    ------
    WireError
        ``INVALID_ARGUMENT`` for negative sender/epoch/round/dst or negative entries.
    """
    tombstones = check_owners("Heartbeat.tombstones", h.tombstones)
    holding = sorted(h.holding)
    with building("Heartbeat"):
        return pb.Heartbeat(
            sender=check_nonneg("Heartbeat.sender", h.sender),
            epoch=check_nonneg("Heartbeat.epoch", h.epoch),
            round=check_nonneg("Heartbeat.round", h.round),
            tombstones=[pb.DataOwner(peer=p, epoch=e) for p, e in tombstones],
            dst=check_nonneg("dst", dst),
            leases=[lease_to_proto(x, f"Heartbeat.leases[{i}]") for i, x in enumerate(h.leases)],
            holding=[
                pb.SeedVersion(
                    peer=check_nonneg(f"Heartbeat.holding[{i}].peer", p),
                    epoch=check_nonneg(f"Heartbeat.holding[{i}].epoch", e),
                    version=check_nonneg(f"Heartbeat.holding[{i}].version", v),
                )
                for i, (p, e, v) in enumerate(holding)
            ],
            proofs=[leave_to_proto(n, 0) for n in h.proofs],
        )


def heartbeat_from_proto(p: pb.Heartbeat, max_items: int | None = None) -> tuple[int, Heartbeat]:
    """Decode a heartbeat into ``(dst, Heartbeat)``; negative numbers raise WireError.

    With ``max_items``, a heartbeat with more entries of one kind is refused
    (``INVALID_ARGUMENT``) before any is converted: a flood costs its parse, not more.
    """
    if max_items is not None:
        for what, items in (
            ("tombstones", p.tombstones),
            ("leases", p.leases),
            ("holdings", p.holding),
            ("leave proofs", p.proofs),
        ):
            if len(items) > max_items:
                raise WireError(
                    f"heartbeat from {p.sender} carries {len(items)} {what}, more than the "
                    f"{max_items} this receiver takes per heartbeat (wire.max_items)"
                )
    beat = Heartbeat(
        sender=check_nonneg("Heartbeat.sender", p.sender),
        epoch=check_nonneg("Heartbeat.epoch", p.epoch),
        round=check_nonneg("Heartbeat.round", p.round),
        tombstones=owners_from_proto("Heartbeat.tombstones", p.tombstones),
        leases=tuple(lease_from_proto(x, f"Heartbeat.leases[{i}]") for i, x in enumerate(p.leases)),
        holding=frozenset(
            (
                check_nonneg(f"Heartbeat.holding[{i}].peer", r.peer),
                check_nonneg(f"Heartbeat.holding[{i}].epoch", r.epoch),
                check_nonneg(f"Heartbeat.holding[{i}].version", r.version),
            )
            for i, r in enumerate(p.holding)
        ),
        proofs=tuple(leave_from_proto(n)[1] for n in p.proofs),
    )
    return check_nonneg("Heartbeat.dst", p.dst), beat


def deletion_request_to_proto(r: DeletionRequest, dst: int) -> pb.DeletionRequest:
    """Encode a deletion request for peer ``dst``.

    Raises
    ------
    WireError
        ``INVALID_ARGUMENT`` for negative peer/epoch/requester/dst or sample ids.
    """
    with building("DeletionRequest"):
        return pb.DeletionRequest(
            request_id=r.request_id,
            peer=check_nonneg("DeletionRequest.peer", r.peer),
            epoch=check_nonneg("DeletionRequest.epoch", r.epoch),
            sample_ids=check_ids("DeletionRequest.sample_ids", r.sample_ids),
            requester=check_nonneg("DeletionRequest.requester", r.requester),
            signature=r.signature,
            dst=check_nonneg("dst", dst),
        )


def deletion_request_from_proto(p: pb.DeletionRequest) -> tuple[int, DeletionRequest]:
    """Decode a deletion request into ``(dst, DeletionRequest)``; negatives raise WireError."""
    request = DeletionRequest(
        request_id=p.request_id,
        peer=check_nonneg("DeletionRequest.peer", p.peer),
        epoch=check_nonneg("DeletionRequest.epoch", p.epoch),
        sample_ids=check_ids("DeletionRequest.sample_ids", p.sample_ids),
        requester=check_nonneg("DeletionRequest.requester", p.requester),
        signature=p.signature,
    )
    return check_nonneg("DeletionRequest.dst", p.dst), request


def _wall_s(value: Any) -> float:
    """Check a wall-clock duration: a finite float >= 0, seconds."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise WireError(f"DeletionReceipt.wall_s must be a number, got {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise WireError(f"DeletionReceipt.wall_s must be finite and >= 0 s, got {seconds}")
    return seconds


def deletion_receipt_to_proto(r: DeletionReceipt) -> pb.DeletionReceipt:
    """Encode a deletion receipt (a response: it has no ``dst``).

    Raises
    ------
    WireError
        ``INVALID_ARGUMENT`` for negative peer/epoch/versions or deleted ids, or a
        ``wall_s`` that is negative or not finite.
    """
    with building("DeletionReceipt"):
        return pb.DeletionReceipt(
            request_id=r.request_id,
            peer=check_nonneg("DeletionReceipt.peer", r.peer),
            epoch=check_nonneg("DeletionReceipt.epoch", r.epoch),
            deleted=check_ids("DeletionReceipt.deleted", r.deleted),
            new_model_version=check_nonneg(
                "DeletionReceipt.new_model_version", r.new_model_version
            ),
            new_seed_version=check_nonneg("DeletionReceipt.new_seed_version", r.new_seed_version),
            certificate=r.certificate,
            wall_s=_wall_s(r.wall_s),
        )


def deletion_receipt_from_proto(p: pb.DeletionReceipt) -> DeletionReceipt:
    """Decode a deletion receipt; the same checks as :func:`deletion_receipt_to_proto`."""
    return DeletionReceipt(
        request_id=p.request_id,
        peer=check_nonneg("DeletionReceipt.peer", p.peer),
        epoch=check_nonneg("DeletionReceipt.epoch", p.epoch),
        deleted=check_ids("DeletionReceipt.deleted", p.deleted),
        new_model_version=check_nonneg("DeletionReceipt.new_model_version", p.new_model_version),
        new_seed_version=check_nonneg("DeletionReceipt.new_seed_version", p.new_seed_version),
        certificate=p.certificate,
        wall_s=_wall_s(p.wall_s),
    )


# ---------------------------------------------------------------------------- acks and health
def ack(accepted: bool, reason: str = "") -> pb.Ack:
    """Build the reply to a one-way message (``reason``: short human-readable text)."""
    with building("Ack"):
        return pb.Ack(accepted=bool(accepted), reason=reason)


def ack_from_proto(p: pb.Ack) -> tuple[bool, str]:
    """Decode an :class:`Ack` into ``(accepted, reason)``."""
    return p.accepted, p.reason


@dataclass(frozen=True)
class HealthStatus:
    """A server's liveness answer.

    Attributes
    ----------
    status
        ``"SERVING"``, or a short reason the server is not serving.
    peers
        Ids of the peers this server hosts.
    round
        The server's current scenario round.
    """

    status: str
    peers: tuple[int, ...]
    round: int


def health_request() -> pb.HealthRequest:
    """Build the (empty) liveness probe."""
    return pb.HealthRequest()


def health_to_proto(h: HealthStatus) -> pb.HealthResponse:
    """Encode a server's liveness answer; negative peer ids or round raise WireError."""
    with building("HealthResponse"):
        return pb.HealthResponse(
            status=h.status,
            peers=check_ids("HealthResponse.peers", h.peers),
            round=check_nonneg("HealthResponse.round", h.round),
        )


def health_from_proto(p: pb.HealthResponse) -> HealthStatus:
    """Decode a liveness answer; negative peer ids or round raise WireError."""
    return HealthStatus(
        status=p.status,
        peers=check_ids("HealthResponse.peers", p.peers),
        round=check_nonneg("HealthResponse.round", p.round),
    )
