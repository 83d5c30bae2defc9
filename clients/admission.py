"""Checks of inbound messages: what a peer refuses, and why, before anything changes.

The :class:`Admission` part of a :class:`~clients.peer.Peer` answers every check with a
``(Refusal, reason)`` pair or ``None`` (acceptable). Checks only read the state, so a
refused message leaves it unchanged.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from clients.holdings import Holdings
from clients.messages import Heartbeat, Lease, LeaveNotice, LeaveReason, SeedMessage
from clients.peer_types import Refusal

__all__ = ["Admission"]


class Admission(Holdings):
    """Validation of inbound seeds, lease renewals, leave notices and heartbeats."""

    def check_seed(self, message: SeedMessage) -> tuple[Refusal, str] | None:
        """Return the kind of and reason for refusing ``message``, or ``None`` if acceptable."""
        rec = message.record
        if message.sender not in self.neighbors:
            return (
                Refusal.FORBIDDEN,
                f"sender {message.sender} is not a neighbour of peer {self.peer_id}",
            )
        if rec.owner == self.peer_id:
            return Refusal.FORBIDDEN, "seed of the receiving peer itself"
        if rec.key in self.tombstones:
            return Refusal.GONE, f"seed of departed data owner {rec.key} (tombstoned)"
        if self.known_epochs.get(rec.owner, -1) > rec.epoch:
            return Refusal.GONE, f"seed of an old epoch {rec.epoch} of peer {rec.owner}"
        if rec.arch != self.config.seed_arch:
            want = self.config.seed_arch
            return (
                Refusal.INVALID,
                f"unknown seed architecture {rec.arch!r}; this scenario uses {want!r}",
            )
        if not rec.verify_digest():
            return Refusal.CORRUPT, "content hash does not match the tensors"
        shapes = {name: tuple(arr.shape) for name, arr in rec.tensors}
        if shapes != self._seed_param_shapes:
            return (
                Refusal.INVALID,
                f"tensor names or shapes {shapes} do not match architecture {rec.arch!r}",
            )
        for name, arr in rec.tensors:
            dtype = self._seed_dtypes[name]
            if arr.dtype != dtype:
                return Refusal.INVALID, f"tensor {name!r} has dtype {arr.dtype}, expected {dtype}"
            if not np.isfinite(arr).all():
                return Refusal.INVALID, f"tensor {name!r} holds NaN or Inf"
        if rec.lineage != frozenset({rec.key}):
            return (
                Refusal.INVALID,
                f"lineage {sorted(rec.lineage)} is not the owner's own {rec.key}",
            )
        if message.ttl < 0 or message.ttl >= self.config.relay_hops:
            return (
                Refusal.INVALID,
                f"ttl {message.ttl} outside [0, relay_hops - 1 = {self.config.relay_hops - 1}]",
            )
        if not self.credentials.verify(rec.owner, rec.signed_payload(), rec.signature):
            return (
                Refusal.FORBIDDEN,
                f"seed {rec.key} version {rec.version} is not signed by its owner, peer "
                f"{rec.owner} (forged, or altered on the way)",
            )
        return self._check_seed_lease(message)

    def _check_lease(self, lease: Lease) -> tuple[Refusal, str] | None:
        """Refuse a renewal that is malformed or not signed by its owner."""
        if lease.age < 0 or lease.seq < 0 or lease.floor < 0:
            return Refusal.INVALID, f"lease of {lease.key} has a negative seq, floor or age"
        if not self.credentials.verify(lease.owner, lease.signed_payload(), lease.signature):
            return (
                Refusal.FORBIDDEN,
                f"lease renewal of {lease.key} (seq {lease.seq}, floor {lease.floor}) is not "
                f"signed by its owner, peer {lease.owner}",
            )
        return None

    def _check_seed_lease(self, message: SeedMessage) -> tuple[Refusal, str] | None:
        rec, lease = message.record, message.lease
        if lease is None:
            return (
                Refusal.INVALID,
                f"seed {rec.key} arrived without a lease renewal; send it with its owner's "
                "newest Lease",
            )
        if lease.key != rec.key:
            return Refusal.INVALID, f"lease of {lease.key} sent with the seed of {rec.key}"
        problem = self._check_lease(lease)
        if problem is not None:
            return problem
        age = self._age(lease, self.now)
        if age >= self.config.lease_rounds:
            return (
                Refusal.GONE,
                f"lease of {rec.key} ran out: last renewed {age} rounds ago, the lease "
                f"is {self.config.lease_rounds} rounds",
            )
        seen = self.expired.get(rec.key)
        if seen is not None and lease.seq <= seen:
            return (
                Refusal.GONE,
                f"lease of {rec.key} expired here at renewal {seen}; only a newer renewal "
                f"re-admits it (got {lease.seq})",
            )
        if rec.version < lease.floor:
            return (
                Refusal.STALE,
                f"version {rec.version} of {rec.key} was revoked by its owner (lowest "
                f"acceptable: {lease.floor})",
            )
        return None

    def _full(self, sender: int) -> str | None:
        """Why a seed of a new owner from ``sender`` cannot be held, or ``None``."""
        cap, per = self.config.max_held, self.config.max_held_per_sender
        if len(self.held) >= cap:
            return f"peer {self.peer_id} holds {cap} seeds already, its limit (max_held)"
        mine = sum(1 for h in self.held.values() if h.received_from == sender)
        if mine >= per:
            return (
                f"peer {self.peer_id} holds {mine} seeds delivered by peer {sender}, the "
                f"limit for one neighbour (max_held_per_sender)"
            )
        return None

    def _check_leave(self, notice: LeaveNotice) -> tuple[Refusal, str] | None:
        """Refuse a malformed notice, or a graceful leave its owner did not sign."""
        if notice.ttl < 0 or notice.ttl >= max(self.config.relay_hops, 1):
            return Refusal.INVALID, f"ttl {notice.ttl} outside [0, relay_hops - 1]"
        if notice.reason is LeaveReason.GRACEFUL:
            if notice.vouched_by != notice.peer:
                return (
                    Refusal.FORBIDDEN,
                    f"graceful leave of peer {notice.peer} vouched for by peer "
                    f"{notice.vouched_by}: only the leaving peer may announce its own leave",
                )
            if not self.credentials.verify(notice.peer, notice.signed_payload(), notice.signature):
                return (
                    Refusal.FORBIDDEN,
                    f"graceful leave of {notice.key} is not signed by peer {notice.peer}",
                )
        return None

    def _check_beat(self, beat: Heartbeat) -> tuple[Refusal, str] | None:
        """Refuse a flood, a renewal or a leave proof not signed by its owner."""
        cap = self.config.max_beat_items
        for what, items in (
            ("tombstones", beat.tombstones),
            ("leases", beat.leases),
            ("holdings", beat.holding),
            ("leave proofs", beat.proofs),
        ):
            if len(items) > cap:
                return (
                    Refusal.INVALID,
                    f"heartbeat from {beat.sender} carries {len(items)} {what}, more than the "
                    f"{cap} a peer takes per heartbeat",
                )
        for lease in beat.leases:
            problem = self._check_lease(lease)
            if problem is not None:
                return problem
        for proof in beat.proofs:
            if proof.reason is not LeaveReason.GRACEFUL:
                return Refusal.INVALID, f"leave proof for {proof.key} is not a graceful leave"
            problem = self._check_leave(dataclasses.replace(proof, ttl=0))
            if problem is not None:
                return problem
        return None
