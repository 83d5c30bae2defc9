"""Plain frozen records that peers exchange: seeds, leave notices and heartbeats.

These are the only things that cross between peers. The in-process runtime hands them over
as they are; the gRPC wire (``hdus_sim``) turns them into protobuf at its boundary and back.
Nothing here imports torch, Ray or gRPC.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

__all__ = [
    "DataOwner",
    "DeletionReceipt",
    "DeletionRequest",
    "Heartbeat",
    "JoinNotice",
    "LeaveNotice",
    "LeaveReason",
    "SeedMessage",
    "SeedRecord",
    "content_hash",
]

#: A data owner: ``(peer_id, epoch)``. A device that re-joins gets a new epoch, so data it
#: contributed before leaving and after re-joining are told apart.
DataOwner = tuple[int, int]


def content_hash(tensors: tuple[tuple[str, np.ndarray], ...]) -> str:
    """Return a SHA-256 hex digest over tensor names, dtypes, shapes and bytes.

    Examples
    --------
    >>> a = (("w", np.zeros((2, 2), dtype=np.float32)),)
    >>> content_hash(a) == content_hash(a)
    True
    >>> content_hash(a) == content_hash((("w", np.ones((2, 2), dtype=np.float32)),))
    False
    """
    digest = hashlib.sha256()
    for name, array in tensors:
        arr = np.ascontiguousarray(array)
        digest.update(name.encode())
        digest.update(str(arr.dtype).encode())
        digest.update(repr(arr.shape).encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class SeedRecord:
    """One version of one peer's seed model, as it travels.

    Attributes
    ----------
    owner
        Peer id of the peer whose main model the seed was distilled from.
    epoch
        The owner's epoch (incremented each time the device re-joins).
    version
        Increases each time the owner re-distils; holders keep only the newest.
    arch
        Seed architecture name (shared by all peers of a scenario).
    tensors
        ``(name, array)`` pairs of the seed's parameters, in state-dict order.
    lineage
        Every data owner whose data the seed depends on. For HDUS this is ``{(owner, epoch)}``
        alone: the seed is distilled from the owner's main model on public data.
    deletions
        Digests of point-deletion receipts applied before this version was distilled.
    digest
        :func:`content_hash` of ``tensors``; a mismatch means a corrupted or forged record.
    """

    owner: int
    epoch: int
    version: int
    arch: str
    tensors: tuple[tuple[str, np.ndarray], ...]
    lineage: frozenset[DataOwner]
    deletions: tuple[str, ...] = ()
    digest: str = ""

    @property
    def key(self) -> DataOwner:
        """The ``(owner, epoch)`` this seed belongs to."""
        return (self.owner, self.epoch)

    @property
    def nbytes(self) -> int:
        """Payload size in bytes (tensor data only)."""
        return int(sum(a.nbytes for _, a in self.tensors))

    def verify_digest(self) -> bool:
        """Return ``True`` if ``digest`` matches the tensors."""
        return self.digest == content_hash(self.tensors)


@dataclass(frozen=True)
class SeedMessage:
    """A seed record in transit from ``sender`` (the owner or a relay).

    ``ttl`` is the number of further hops the seed may be relayed after this delivery:
    with ``relay_hops = k`` the owner sends with ``ttl = k - 1``.
    """

    record: SeedRecord
    sender: int
    ttl: int

    @property
    def nbytes(self) -> int:
        """Approximate bytes on the wire: tensors plus a fixed 64-byte header."""
        return self.record.nbytes + 64 + 16 * len(self.record.lineage)


class LeaveReason(StrEnum):
    """Why a data owner's seed must be dropped."""

    GRACEFUL = "graceful"
    CRASH = "crash"


@dataclass(frozen=True)
class LeaveNotice:
    """``peer`` (at ``epoch``) has left; every holder must drop its seed and tombstone it.

    ``reporter`` is the peer that sent this copy (the leaver itself, or a neighbour that
    detected a crash or relays the notice); ``ttl`` counts further hops as for seeds.
    ``origin`` is the peer that vouches for the departure and signed it: the leaver for a
    graceful leave, the detecting neighbour for a crash (``-1``: the reporter). Relays keep
    ``origin`` and ``signature`` unchanged, so any receiver can check who said it.
    """

    peer: int
    epoch: int
    reason: LeaveReason
    reporter: int
    ttl: int
    signature: bytes = b""
    origin: int = -1

    @property
    def vouched_by(self) -> int:
        """The peer whose signature must cover this notice."""
        return self.origin if self.origin >= 0 else self.reporter

    @property
    def key(self) -> DataOwner:
        """The ``(peer, epoch)`` to drop."""
        return (self.peer, self.epoch)

    def signed_payload(self) -> bytes:
        """The bytes a signature covers: who left, which epoch, why (not the relay fields)."""
        return f"leave|{self.peer}|{self.epoch}|{self.reason.value}|{self.vouched_by}".encode()

    @property
    def nbytes(self) -> int:
        """Approximate bytes on the wire."""
        return 32


@dataclass(frozen=True)
class Heartbeat:
    """A liveness beacon from ``sender`` at ``round``, carrying its tombstones.

    Piggy-backing tombstones (anti-entropy) lets a removal reach holders that the k-hop
    leave notice missed because the graph changed since the seed travelled; revocations
    (seed versions superseded by a point deletion) spread the same way.
    """

    sender: int
    epoch: int
    round: int
    tombstones: frozenset[DataOwner] = field(default_factory=frozenset)
    #: ``(peer, epoch, min_version)``: seed versions below it were revoked by a deletion
    revoked: frozenset[tuple[int, int, int]] = field(default_factory=frozenset)

    @property
    def nbytes(self) -> int:
        """Approximate bytes on the wire."""
        return 24 + 16 * len(self.tombstones) + 24 * len(self.revoked)


@dataclass(frozen=True)
class JoinNotice:
    """``peer`` (at ``epoch``, a device of class ``device``) joined and links to the receiver."""

    peer: int
    epoch: int
    device: str
    address: str = ""

    @property
    def nbytes(self) -> int:
        """Approximate bytes on the wire."""
        return 32 + len(self.device) + len(self.address)


@dataclass(frozen=True)
class DeletionRequest:
    """A data owner asks ``peer`` to delete some of its samples (point-level unlearning).

    ``signature`` is made by the peer the data belongs to, so nobody else can ask.
    """

    request_id: str
    peer: int
    epoch: int
    sample_ids: tuple[int, ...]
    requester: int
    signature: bytes = b""

    def signed_payload(self) -> bytes:
        """The bytes a signature covers."""
        ids = ",".join(str(i) for i in self.sample_ids)
        return f"delete|{self.request_id}|{self.peer}|{self.epoch}|{ids}".encode()

    @property
    def nbytes(self) -> int:
        """Approximate bytes on the wire."""
        return 48 + 8 * len(self.sample_ids) + len(self.signature)


@dataclass(frozen=True)
class DeletionReceipt:
    """What a peer did about a :class:`DeletionRequest`.

    ``certificate`` is ``"exact"``, ``"certified(eps,delta)"`` or ``"refused: <why>"``.
    """

    request_id: str
    peer: int
    epoch: int
    deleted: tuple[int, ...]
    new_model_version: int
    new_seed_version: int
    certificate: str
    wall_s: float = 0.0
