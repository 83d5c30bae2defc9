"""What a peer holds of others: seeds, their leases, tombstones and revocation floors.

Holding a seed is a lease its owner keeps renewing: the :class:`Holdings` part of a
:class:`~clients.peer.Peer` takes (checked) renewals, drops a seed whose lease or hint
grace ran out, tombstones departed data owners, and raises floors that point deletions
announce. Every method returns the data owners whose seeds it dropped.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from clients.messages import DataOwner, Lease
from clients.peer_state import PeerState
from clients.peer_types import LeaseState

__all__ = ["Holdings"]


class Holdings(PeerState):
    """Held seeds, leases, tombstones and floors of one peer."""

    def own_lease(self, now: int | None = None) -> Lease:
        """A signed renewal of this peer's lease at ``now`` (default: the latest round seen).

        It also carries the own revocation floor, so holders drop versions a point deletion
        revoked on the owner's word alone.
        """
        seq = self.now if now is None else now
        lease = self._own_lease
        if lease is None or (lease.epoch, lease.seq, lease.floor) != (
            self.epoch,
            seq,
            self.own_floor,
        ):
            fresh = Lease(self.peer_id, self.epoch, seq, self.own_floor)
            lease = dataclasses.replace(
                fresh, signature=self.credentials.sign(fresh.signed_payload())
            )
            self._own_lease = lease
        return lease

    def _relay_lease(self, key: DataOwner) -> Lease | None:
        """The newest renewal held for ``key``, aged by the rounds it was kept here."""
        state = self.leases.get(key)
        if state is None:
            return None
        return dataclasses.replace(
            state.lease, age=state.lease.age + max(self.now - state.received_at, 0)
        )

    def lineage(self) -> frozenset[DataOwner]:
        """Every data owner that anything this peer uses for prediction depends on."""
        owners: set[DataOwner] = {self.key}
        for held in self.held.values():
            owners |= held.record.lineage
        return frozenset(owners)

    def holdings(self) -> dict[DataOwner, dict[str, Any]]:
        """Held seeds: version, lineage, digest and the peer they came from."""
        return {
            k: {
                "version": h.record.version,
                "lineage": sorted(h.record.lineage),
                "digest": h.record.digest,
                "deletions": list(h.record.deletions),
                "received_from": h.received_from,
            }
            for k, h in sorted(self.held.items())
        }

    def _drop(self, key: DataOwner) -> bool:
        if key not in self.held or self.config.debug_keep_dropped_seeds:
            return False
        del self.held[key]
        self.leases.pop(key, None)
        self.hints.pop(key, None)
        return True

    def _tombstone(self, key: DataOwner) -> list[DataOwner]:
        """Tombstone ``key`` and drop it; return the keys actually dropped."""
        self.tombstones.add(key)
        return [key] if self._drop(key) else []

    def note_epoch(self, peer: int, epoch: int) -> list[DataOwner]:
        """Record ``peer``'s current epoch (told at connection time); returns seeds dropped."""
        self.link_epochs[peer] = max(self.link_epochs.get(peer, -1), epoch)
        return self._learn_epoch(peer, epoch)

    def _learn_epoch(self, peer: int, epoch: int) -> list[DataOwner]:
        """Note that ``peer`` is at ``epoch``; every older epoch of it is gone for good."""
        known = self.known_epochs.get(peer, -1)
        if epoch <= known:
            return []
        self.known_epochs[peer] = epoch
        dropped: list[DataOwner] = []
        for key in [k for k in self.held if k[0] == peer and k[1] < epoch]:
            dropped += self._tombstone(key)
        return dropped

    def _age(self, lease: Lease, now: int) -> int:
        """Rounds since ``lease`` was signed, as far as this peer can tell."""
        if self.config.shared_clock:
            return max(lease.age, now - lease.seq)
        return lease.age

    def _renew(self, lease: Lease, now: int) -> list[DataOwner]:
        """Take a (checked) renewal of a held seed's lease; returns seeds a floor revoked."""
        key = lease.key
        state = self.leases.get(key)
        if state is None or lease.seq > state.lease.seq:
            age = self._age(lease, now)
            lease = dataclasses.replace(lease, age=age)
            expires = now - age + self.config.lease_rounds
            self.leases[key] = LeaseState(lease, now, expires)
            self.hints.pop(key, None)  # a fresh word from the owner outweighs any hint
        return self._raise_floor(key, lease.floor)

    def _hint(self, key: DataOwner, now: int) -> list[DataOwner]:
        """Somebody without the owner's signature says ``key`` is gone.

        The claim alone decides nothing; it makes this holder act on its *own* evidence:
        the seed goes as soon as this holder, too, has had no new renewal from the owner
        for ``hint_grace`` rounds (at once if that is already so). A live owner's renewals
        keep arriving, so a forged claim costs it nothing.
        """
        if key not in self.held:
            return []
        state = self.leases.get(key)
        deadline = (now if state is None else state.received_at) + self.config.hint_grace
        if deadline <= now:
            return self._expire(key)
        self.hints[key] = min(self.hints.get(key, deadline), deadline)
        return []

    def _expire(self, key: DataOwner) -> list[DataOwner]:
        """Drop ``key`` for want of renewals; remember the last renewal seen."""
        state = self.leases.pop(key, None)
        self.hints.pop(key, None)
        seq = -1 if state is None else state.lease.seq
        self.expired[key] = max(self.expired.get(key, -1), seq)
        return [key] if self._drop(key) else []

    def lease_deadline(self, key: DataOwner) -> int | None:
        """The round at which a held seed is dropped unless renewed (``None``: no lease)."""
        state = self.leases.get(key)
        deadline = None if state is None else state.expires
        hint = self.hints.get(key)
        if hint is not None:
            deadline = hint if deadline is None else min(deadline, hint)
        return deadline

    def expire_leases(self, now: int) -> list[DataOwner]:
        """Drop every held seed whose lease (or hint's grace) ran out by ``now``.

        The last renewal seen is remembered: only a newer one (the owner is alive after
        all, e.g. across a healed partition) re-admits the seed; a departed owner signs
        none, so nothing of it comes back.
        """
        self.now = max(self.now, now)
        dropped: list[DataOwner] = []
        for key in sorted(self.held):
            deadline = self.lease_deadline(key)
            if deadline is not None and now >= deadline:
                dropped += self._expire(key)
        return dropped

    def _raise_floor(self, key: DataOwner, version: int) -> list[DataOwner]:
        """Seeds of ``key`` below ``version`` are revoked: drop a held one, refuse later ones."""
        if key[0] == self.peer_id or version <= self.floors.get(key, 0):
            return []
        self.floors[key] = version
        held = self.held.get(key)
        if held is not None and held.record.version < version:
            return [key] if self._drop(key) else []
        return []
