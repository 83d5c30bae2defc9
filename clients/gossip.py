"""A peer's links and what it sends on its own: seeds, heartbeats, goodbyes, crash notices.

The :class:`Gossip` part of a :class:`~clients.peer.Peer` keeps the neighbour set, sends
the own seed (and relayable held seeds) over new links, builds the heartbeats that renew
leases and carry anti-entropy news, says goodbye with a signed leave notice, and declares
silent neighbours crashed. Methods return :class:`~clients.peer_types.Envelope` objects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from clients.errors import PeerError
from clients.holdings import Holdings
from clients.messages import DataOwner, Heartbeat, LeaveNotice, LeaveReason, SeedMessage
from clients.peer_types import Envelope, HeldSeed

__all__ = ["Gossip"]


class Gossip(Holdings):
    """Neighbours, outbound seeds and heartbeats, leave notices and crash detection."""

    def _seed_envelopes(self, targets: Iterable[int], skip: int | None = None) -> list[Envelope]:
        out: list[Envelope] = []
        hops = self.config.relay_hops
        for dst in sorted(targets):
            if dst == skip:
                continue
            if self.shares_own_seed and self.own_seed is not None:
                message = SeedMessage(self.own_seed, self.peer_id, hops - 1, self.own_lease())
                out.append(Envelope(dst, message))
        return out

    def _relayed(self, key: DataOwner, held: HeldSeed, dst: int) -> Envelope:
        """A held seed passed on to ``dst`` with one hop less and its newest renewal."""
        self.relayed_to.setdefault(key, set()).add(dst)
        lease = self._relay_lease(key)
        return Envelope(dst, SeedMessage(held.record, self.peer_id, held.ttl - 1, lease))

    def announce_seed(self, now: int | None = None) -> list[Envelope]:
        """Send the current own seed to every neighbour (after a new version)."""
        if now is not None:
            self.now = max(self.now, now)
        return self._seed_envelopes(self.neighbors)

    def add_neighbor(self, other: int, now: int) -> list[Envelope]:
        """Record a new link to ``other`` and send it the own seed and relayable held seeds."""
        if other == self.peer_id:
            raise PeerError(f"peer {self.peer_id} cannot be its own neighbour")
        self.now = max(self.now, now)
        # A link may be re-made to a peer still listed (e.g. a crashed peer that re-joined
        # before it was detected): send the seeds again; receivers ignore duplicates.
        self.neighbors.add(other)
        self.last_heard[other] = now
        out = self._seed_envelopes([other])
        for key, held in sorted(self.held.items()):
            if held.ttl > 0 and held.record.owner != other:
                out.append(self._relayed(key, held, other))
        return out

    def _link_epoch(self, other: int) -> int:
        """The epoch of neighbour ``other`` its link told (else the newest known; -1: none)."""
        return self.link_epochs.get(other, self.known_epochs.get(other, -1))

    def remove_neighbor(self, other: int) -> None:
        """Forget the link to ``other`` (a graceful topology change); held seeds are kept."""
        self.neighbors.discard(other)
        self.link_epochs.pop(other, None)
        self.last_heard.pop(other, None)
        self.neighbor_holding.pop(other, None)

    def _notice_targets(self, key: DataOwner, ttl: int, skip: int) -> list[int]:
        targets = set(self.relayed_to.pop(key, set()))
        if ttl > 0:
            targets |= self.neighbors
        targets -= {skip, key[0], self.peer_id}
        return sorted(targets)

    def heartbeats(self, now: int) -> list[Envelope]:
        """A heartbeat for every neighbour: leases, holdings and news about its holdings.

        Each neighbour gets the own renewal and those of relayable held seeds, what this
        peer holds, and — for the seeds that neighbour said it holds — the owner-signed
        leave notices this peer has (acted on) and the removals it made without one
        (hints); a neighbour this peer tombstoned is told so, so it can re-key.
        """
        self.now = max(self.now, now)
        muted = self.config.debug_mute_relay
        relayed = [
            lease
            for key, held in sorted(self.held.items())
            if held.ttl > 0 and (lease := self._relay_lease(key)) is not None
        ]
        holding = frozenset((k[0], k[1], h.record.version) for k, h in self.held.items())
        removed = self.tombstones | set(self.expired)
        own = self.own_lease(now)
        out: list[Envelope] = []
        for dst in sorted(self.neighbors):
            theirs = {(o, e) for o, e, _ in self.neighbor_holding.get(dst, frozenset())}
            mine = (dst, self._link_epoch(dst))
            proofs = tuple(self.leave_proofs[k] for k in sorted(theirs) if k in self.leave_proofs)
            hints = {k for k in theirs if k in removed and k not in self.leave_proofs}
            if mine in self.tombstones:
                hints.add(mine)
            beat = Heartbeat(
                self.peer_id,
                self.epoch,
                now,
                frozenset() if muted else frozenset(hints),
                (own, *[lease for lease in relayed if lease.owner != dst]),
                holding,
                () if muted else proofs,
            )
            out.append(Envelope(dst, beat))
        return out

    def leave_notices(self) -> list[Envelope]:
        """The graceful goodbye: a signed-by-self leave notice to every neighbour."""
        ttl = max(self.config.relay_hops - 1, 0)
        notice = LeaveNotice(
            self.peer_id, self.epoch, LeaveReason.GRACEFUL, self.peer_id, ttl, origin=self.peer_id
        )
        notice = dataclasses.replace(
            notice, signature=self.credentials.sign(notice.signed_payload())
        )
        return [Envelope(dst, notice) for dst in sorted(self.neighbors)]

    def detect_crashes(self, now: int) -> tuple[list[DataOwner], list[Envelope], list[DataOwner]]:
        """Declare neighbours silent for ``heartbeat_timeout`` rounds crashed.

        What is declared crashed is the epoch the silent link spoke for (its handshake and
        heartbeats), never one learned only from a relayed seed (see :attr:`link_epochs`).

        Returns ``(crashed, outgoing, dropped)``: the crashed data owners, the crash notices
        to relay (``relay_hops >= 2`` only: 1-hop holders are neighbours and detect it
        themselves), and the seeds dropped.
        """
        crashed: list[DataOwner] = []
        out: list[Envelope] = []
        dropped: list[DataOwner] = []
        for other in sorted(self.neighbors):
            if now - self.last_heard.get(other, now) < self.config.heartbeat_timeout:
                continue
            if not self.config.suspect_unheard and other not in self.heard:
                continue  # never heard from yet (still starting up): nothing to suspect
            # only the epoch this link spoke for is declared crashed: a newer epoch of the
            # same device (a re-join elsewhere, learned from a relayed seed) has not gone
            # silent here. Relayed seeds must not steer it: the retrain oracle withholds
            # them, and a decision that differs there makes the runs diverge (a false
            # suspicion re-keys its victim, and every later model of it differs)
            key = (other, self._link_epoch(other))
            self.remove_neighbor(other)
            if key[1] < 0 or key in self.tombstones:
                continue
            crashed.append(key)
            dropped += self._tombstone(key)
            ttl = self.config.relay_hops - 2
            targets = (
                self._notice_targets(key, ttl + 1, other)
                if ttl >= 0
                else sorted(self.relayed_to.pop(key, set()) - {other})
            )
            notice = LeaveNotice(
                other, key[1], LeaveReason.CRASH, self.peer_id, max(ttl, 0), origin=self.peer_id
            )
            out += [Envelope(dst, notice) for dst in targets]
        return crashed, out, dropped
