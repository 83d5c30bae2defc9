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
    "Lease",
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
    signature
        The owner's Ed25519 signature over :meth:`signed_payload` (empty where signatures
        are off). Relays forward it unchanged, so a holder can check who made the seed
        whoever delivers it: nobody can plant a seed in another peer's name.
    """

    owner: int
    epoch: int
    version: int
    arch: str
    tensors: tuple[tuple[str, np.ndarray], ...]
    lineage: frozenset[DataOwner]
    deletions: tuple[str, ...] = ()
    digest: str = ""
    signature: bytes = b""

    def signed_payload(self) -> bytes:
        """The bytes the owner signs: identity, version, content digest, lineage, deletions."""
        lineage = ",".join(f"{p}:{e}" for p, e in sorted(self.lineage))
        deletions = ",".join(self.deletions)
        return (
            f"seed|{self.owner}|{self.epoch}|{self.version}|{self.arch}|{self.digest}"
            f"|{lineage}|{deletions}"
        ).encode()

    @property
    def key(self) -> DataOwner:
        """The ``(owner, epoch)`` this seed belongs to."""
        return (self.owner, self.epoch)

    @property
    def nbytes(self) -> int:
        """Payload size in bytes (tensor data only)."""
        return int(sum(a.nbytes for _, a in self.tensors))

    def verify_digest(self) -> bool:
        """Return ``True`` if ``digest`` matches the tensors.

        A record whose arrays are all read-only (as a peer's own distilled seeds are)
        remembers a match, so the many holders of one in-memory record hash it once; a
        record with writeable arrays (anything decoded from the wire) is hashed every time.
        """
        if self.__dict__.get("_digest_checked") == self.digest:
            return True
        ok = self.digest == content_hash(self.tensors)
        if ok and all(not a.flags.writeable for _, a in self.tensors):
            object.__setattr__(self, "_digest_checked", self.digest)
        return ok


@dataclass(frozen=True)
class Lease:
    """An owner's signed renewal of the right to hold its seed: ``owner`` is alive at ``seq``.

    Holding a seed is a lease its owner keeps renewing: every heartbeat of the owner carries
    a fresh one, relays pass it on as far as the seed travels, and a holder drops a seed
    whose lease has run out, whatever it has or has not heard. A departed device renews
    nothing, so it is forgotten everywhere within ``lease`` rounds of its last renewal even
    when nobody detects the crash and no notice arrives.

    Attributes
    ----------
    owner, epoch
        The data owner whose seed this renews.
    seq
        The owner's clock (round) when it signed the renewal; only a renewal with a higher
        ``seq`` extends a lease, so replaying an old one extends nothing.
    floor
        Lowest seed version the owner still stands behind: versions below it were revoked
        by a point deletion (signed here, so nobody else can revoke a live peer's seed).
    signature
        The owner's Ed25519 signature over :meth:`signed_payload` (empty when signatures
        are off).
    age
        Rounds since the renewal was signed, as counted by the relays that carried it
        (each adds the rounds it kept it). Not signed: it only ever shortens what a holder
        grants, and an honest relay cannot make it younger than it is.
    """

    owner: int
    epoch: int
    seq: int
    floor: int = 0
    signature: bytes = b""
    age: int = 0

    @property
    def key(self) -> DataOwner:
        """The ``(owner, epoch)`` this lease renews."""
        return (self.owner, self.epoch)

    def signed_payload(self) -> bytes:
        """The bytes the owner signs (not ``age``, which relays advance)."""
        return f"lease|{self.owner}|{self.epoch}|{self.seq}|{self.floor}".encode()

    @property
    def nbytes(self) -> int:
        """Approximate bytes on the wire."""
        return 40 + len(self.signature)


@dataclass(frozen=True)
class SeedMessage:
    """A seed record in transit from ``sender`` (the owner or a relay).

    ``ttl`` is the number of further hops the seed may be relayed after this delivery:
    with ``relay_hops = k`` the owner sends with ``ttl = k - 1``. ``lease`` is the newest
    renewal of the seed's lease the sender has (the owner's own when it sends): a holder
    accepts a seed only together with a lease that has not run out.
    """

    record: SeedRecord
    sender: int
    ttl: int
    lease: Lease | None = None

    @property
    def nbytes(self) -> int:
        """Approximate bytes on the wire: tensors plus a fixed 64-byte header."""
        extra = len(self.record.signature) + (0 if self.lease is None else self.lease.nbytes)
        return self.record.nbytes + 64 + 16 * len(self.record.lineage) + extra


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
    """A liveness beacon from ``sender`` at ``round``: leases, holdings and removal news.

    Anti-entropy without full lists: each beat carries a summary of what the sender holds
    (``holding``); the receiver answers in its next beat with what it knows about exactly
    those seeds: owner-signed leave notices (``proofs``, acted on at once) and removals it
    made itself without an owner's signature (``tombstones``: a detected crash, an expired
    lease), which are only *hints*: a holder then gives the seed a short grace period in
    which only a fresh owner-signed renewal keeps it. So a notice lost in a partition is
    repaired when it heals, and no single neighbour can force out a live peer's seed.

    Attributes
    ----------
    tombstones
        Removal hints for seeds the receiver holds (as of its last ``holding``).
    leases
        The sender's own renewal and the newest renewals of the seeds it relays.
    holding
        ``(owner, epoch, version)`` of every seed the sender holds.
    proofs
        Owner-signed graceful leave notices for seeds the receiver holds.
    """

    sender: int
    epoch: int
    round: int
    tombstones: frozenset[DataOwner] = field(default_factory=frozenset)
    leases: tuple[Lease, ...] = ()
    holding: frozenset[tuple[int, int, int]] = field(default_factory=frozenset)
    proofs: tuple[LeaveNotice, ...] = ()

    @property
    def nbytes(self) -> int:
        """Approximate bytes on the wire."""
        return (
            24
            + 16 * len(self.tombstones)
            + sum(lease.nbytes for lease in self.leases)
            + 24 * len(self.holding)
            + sum(32 + len(p.signature) for p in self.proofs)
        )


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
