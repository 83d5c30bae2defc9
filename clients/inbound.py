"""Handling inbound messages: seeds, leave notices and heartbeats, each to a Reaction.

The :class:`Inbound` part of a :class:`~clients.peer.Peer` runs the checks of
:mod:`clients.admission` and then updates the holdings: stores or replaces a seed and
relays it, tombstones a departed owner or notes a crash hint and passes the notice on,
and takes a neighbour's heartbeat (renewals, leave proofs, tombstones).
"""

from __future__ import annotations

import dataclasses

from clients.admission import Admission
from clients.errors import PeerError
from clients.gossip import Gossip
from clients.messages import Heartbeat, LeaveNotice, LeaveReason, SeedMessage
from clients.peer_types import Envelope, HeldSeed, Message, Reaction, Refusal

__all__ = ["Inbound"]


class Inbound(Admission, Gossip):
    """Handlers of the three inbound message kinds."""

    def receive(self, message: Message, now: int) -> Reaction:
        """Handle one inbound message; refusals leave the state unchanged."""
        self.now = max(self.now, now)
        if isinstance(message, SeedMessage):
            return self._on_seed(message, now)
        if isinstance(message, LeaveNotice):
            return self._on_leave(message, now)
        if isinstance(message, Heartbeat):
            return self._on_heartbeat(message, now)
        raise PeerError(
            f"peer {self.peer_id} cannot handle message of type {type(message).__name__}"
        )

    def _on_seed(self, message: SeedMessage, now: int) -> Reaction:
        problem = self.check_seed(message)
        if problem is not None:
            return Reaction(False, problem[1], code=problem[0])
        rec = message.record
        if rec.version < self.floors.get(rec.key, 0):
            return Reaction(
                False,
                f"version {rec.version} of {rec.key} was revoked by a point deletion "
                f"(lowest acceptable: {self.floors[rec.key]})",
                code=Refusal.STALE,
            )
        held = self.held.get(rec.key)
        if held is None:
            full = self._full(message.sender)
            if full is not None:
                return Reaction(False, full, code=Refusal.INVALID)
        if held is not None and rec.version < held.record.version:
            return Reaction(
                False,
                f"version {rec.version} older than held {held.record.version}",
                code=Refusal.STALE,
            )
        if held is not None and rec.version == held.record.version:
            if rec.digest != held.record.digest:
                return Reaction(
                    False,
                    f"version {rec.version} already held with other content",
                    code=Refusal.STALE,
                )
            assert message.lease is not None  # checked
            dropped = self._renew(message.lease, now)
            if message.ttl <= held.ttl:
                return Reaction(True, "duplicate", dropped=dropped)
            held.ttl = message.ttl  # a shorter path: relay further, model unchanged
            reason = "relay budget raised"
        else:
            reason = "stored" if held is None else "replaced older version"
        dropped = self._learn_epoch(rec.owner, rec.epoch)
        known_deletions = () if held is None else held.record.deletions
        if len(rec.deletions) > len(known_deletions):
            # a newer point deletion: every version before this one is revoked
            self.floors[rec.key] = max(self.floors.get(rec.key, 0), rec.version)
        if held is None or rec.version != held.record.version:
            self.held[rec.key] = HeldSeed(rec, message.ttl, message.sender)
        assert message.lease is not None  # checked
        self.expired.pop(rec.key, None)  # a newer renewal than the one that ran out
        dropped += self._renew(message.lease, now)
        out: list[Envelope] = []
        if message.ttl > 0:
            current = self.held[rec.key]
            for dst in sorted(self.neighbors - {message.sender, rec.owner}):
                out.append(self._relayed(rec.key, current, dst))
        return Reaction(True, reason, out, dropped)

    def _on_leave(self, notice: LeaveNotice, now: int) -> Reaction:
        key = notice.key
        if notice.peer == self.peer_id:
            first_hand = notice.reporter in self.neighbors and notice.vouched_by == notice.reporter
            if notice.reason is LeaveReason.CRASH and notice.epoch == self.epoch and first_hand:
                self.declared_dead = True  # a neighbour tombstoned us: re-key, see rekey()
            return Reaction(
                False, "leave notice about the receiving peer itself", code=Refusal.FORBIDDEN
            )
        held = self.held.get(key)
        if notice.reporter not in self.neighbors and (
            held is None or held.received_from != notice.reporter
        ):
            return Reaction(
                False,
                f"leave notice about {key} from peer {notice.reporter}, which is neither a "
                f"neighbour of peer {self.peer_id} nor the peer its seed came from",
                code=Refusal.FORBIDDEN,
            )
        problem = self._check_leave(notice)
        if problem is not None:
            return Reaction(False, problem[1], code=problem[0])
        graceful = notice.reason is LeaveReason.GRACEFUL
        if graceful and notice.reporter == notice.peer:
            self.remove_neighbor(notice.peer)
        if key in self.tombstones:
            return Reaction(True, "already tombstoned")
        if graceful:
            self.leave_proofs[key] = notice
            dropped = self._tombstone(key)
            reason = "tombstoned"
        else:
            # a crash claim is somebody else's word: the seed goes only if no fresh renewal
            # by its owner arrives within the grace (the owner's lease bounds the rest)
            if key in self.hints:
                return Reaction(True, "crash hint already noted")
            dropped = self._hint(key, now)
            reason = (
                "crash hint: dropped, no renewal here either"
                if dropped
                else f"crash hint: dropped unless renewed within {self.config.hint_grace} rounds"
            )
        relayed = dataclasses.replace(
            notice, reporter=self.peer_id, ttl=max(notice.ttl - 1, 0), origin=notice.vouched_by
        )
        targets = self._notice_targets(key, notice.ttl, notice.reporter)
        if self.config.debug_mute_relay:  # negative control: the removal stops here
            targets = []
        out = [Envelope(dst, relayed) for dst in targets]
        return Reaction(True, reason, out, dropped)

    def _on_heartbeat(self, beat: Heartbeat, now: int) -> Reaction:
        if beat.sender not in self.neighbors:
            return Reaction(
                False,
                f"heartbeat from {beat.sender}, not a neighbour of {self.peer_id}",
                code=Refusal.FORBIDDEN,
            )
        problem = self._check_beat(beat)
        if problem is not None:
            return Reaction(False, problem[1], code=problem[0])
        # the receiver's own clock: standalone peers' clocks are not synchronised
        self.last_heard[beat.sender] = now
        self.heard.add(beat.sender)
        self.neighbor_holding[beat.sender] = beat.holding
        self.link_epochs[beat.sender] = max(self.link_epochs.get(beat.sender, -1), beat.epoch)
        dropped = self._learn_epoch(beat.sender, beat.epoch)
        if self.key in beat.tombstones:
            # A neighbour declared this peer crashed (a false suspicion, e.g. a partition):
            # it tombstoned this epoch; the runtime re-keys it (a new epoch).
            self.declared_dead = True
        for proof in beat.proofs:
            if proof.peer != self.peer_id and proof.key not in self.tombstones:
                self.leave_proofs[proof.key] = proof
                dropped += self._tombstone(proof.key)
        for lease in beat.leases:
            if lease.owner == self.peer_id or self._age(lease, now) >= self.config.lease_rounds:
                continue
            dropped += self._learn_epoch(lease.owner, lease.epoch)  # owner-signed epoch
            if lease.key in self.held:
                dropped += self._renew(lease, now)
        for key in sorted(beat.tombstones):
            if key[0] != self.peer_id:
                dropped += self._hint(key, now)
        return Reaction(True, "alive", [], dropped)
