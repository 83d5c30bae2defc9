"""The driver side of a hosted runtime: peers in several host processes, driven in lockstep.

:class:`HostedRuntime` is everything the ``ray`` and ``process`` runtimes share: peers are
packed on hosts by id (:func:`~hdus_sim.world.placement_of`), each protocol step goes to
every host at once, and the driver then waits for global quiescence: it polls every host's
count of messages submitted and completed until the sums agree twice in a row (Mattern's
counting method), so a seed relayed from host to host still completes within its round.
Metrics come back as rows; models stay on the hosts. A subclass says only how a call
reaches a host (:meth:`HostedRuntime._calls`) and how hosts stop.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Sequence
from typing import Any

from clients.messages import DataOwner
from clients.peer import Peer, PeerSeeds
from hdus_sim.audit import AuditTrail
from hdus_sim.errors import RunError
from hdus_sim.plan import RunPlan
from hdus_sim.runtime.base import (
    DeliveryStats,
    DropListener,
    PeerSpec,
    Runtime,
    RuntimeSnapshot,
)
from hdus_sim.world import placement_of

__all__ = ["Call", "HostedRuntime", "hosted_peers", "merge_wire_stats"]

#: A driver call to one host: ``(host index, method name, arguments)``.
Call = tuple[int, str, tuple[Any, ...]]


def hosted_peers(peer_ids: Sequence[int], peers_per_host: int) -> dict[int, list[int]]:
    """Host index -> the peer ids packed on it.

    Examples
    --------
    >>> hosted_peers([0, 1, 2, 5], 2)
    {0: [0, 1], 1: [2], 2: [5]}
    """
    n = placement_of(max(peer_ids), peers_per_host) + 1
    return {i: [p for p in peer_ids if placement_of(p, peers_per_host) == i] for i in range(n)}


def merge_learning(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The hosts' cohort reports as one: counts summed, the largest cohort, every fallback."""
    if not parts:
        return {}
    return {
        "enabled": all(p.get("enabled", False) for p in parts),
        "batched": sum(p.get("batched", 0) for p in parts),
        "alone": sum(p.get("alone", 0) for p in parts),
        "largest_cohort": max(p.get("largest_cohort", 0) for p in parts),
        "fallback": sorted({r for p in parts for r in p.get("fallback", [])}),
    }


def merge_wire_stats(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Wire counters of several hosts, summed (fault and limit counters by kind)."""
    total: dict[str, Any] = dict.fromkeys(
        ("rpcs", "retries", "busy_retries", "failed", "backpressure_drops"), 0
    )
    total["idle_streams_cancelled"] = 0
    sums: dict[str, Counter[str]] = {"faults": Counter(), "limited": Counter()}
    for st in parts:
        for k in total:
            total[k] += st.get(k, 0)
        for what, counter in sums.items():
            counter.update(st.get(what, {}))
    total.update({what: dict(c) for what, c in sums.items() if c})
    return total


class HostedRuntime(Runtime):
    """Peers on host processes; see the module docstring.

    Subclasses set ``n_hosts`` and ``ppa`` (peers per host) and implement :meth:`_calls`
    and :meth:`_stop_hosts`.
    """

    n_hosts: int
    ppa: int

    def __init__(self, plan: RunPlan, *, on_drop: DropListener | None = None) -> None:
        self.plan = plan
        self.scenario = plan.scenario
        self.on_drop = on_drop
        #: hosts lost for good: index -> cause (calls to every host skip them)
        self.lost: dict[int, dict[str, Any]] = {}
        self._online: set[int] = set()
        self._epochs: dict[int, int] = {}
        self._final: tuple[RuntimeSnapshot, dict[int, Any], AuditTrail] | None = None
        self._now = -1

    # -------------------------------------------------------------- how calls travel
    @abstractmethod
    def _calls(self, calls: Sequence[Call]) -> list[Any]:
        """Run ``(host, method, args)`` calls at once; their results in order."""

    @abstractmethod
    def _stop_hosts(self) -> None:
        """Stop every host process (after the final state was pulled)."""

    def _call(self, index: int, method: str, *args: Any) -> Any:
        """One call to host ``index``."""
        return self._calls([(index, method, args)])[0]

    def _all(self, method: str, *args: Any) -> list[Any]:
        """The same call to every host (every surviving one once a host is lost)."""
        live = [i for i in range(self.n_hosts) if i not in self.lost]
        return self._calls([(i, method, args) for i in live])

    def _on(self, peer_id: int, method: str, *args: Any) -> Any:
        """Call ``method`` on the host of ``peer_id``."""
        return self._call(placement_of(peer_id, self.ppa), method, *args)

    def _tick(self, now: int) -> None:
        """Tell every host the current round (arrivals are handled in it)."""
        if now != self._now:
            self._all("set_now", now)
            self._now = now

    def barrier(self, timeout_s: float = 300.0) -> None:
        """Wait until no message is in flight anywhere, then report the seed drops."""
        deadline = time.monotonic() + timeout_s
        previous: tuple[int, int] | None = None
        while True:
            counts = self._all("counters")
            total = (sum(c[0] for c in counts), sum(c[1] for c in counts))
            if total[0] == total[1] and total == previous:
                break
            if time.monotonic() > deadline:
                raise RunError(f"messages still in flight after {timeout_s} s: {total}")
            previous = total
            time.sleep(0.002)
        drops = sorted(d for batch in self._all("drain_drops") for d in batch)
        if self.on_drop is not None:
            for holder, key, now in drops:
                self.on_drop(holder, key, now)

    # -------------------------------------------------------------- lifecycle
    def spawn(self, spec: PeerSpec) -> None:
        """Create a peer on its host."""
        self._on(spec.peer_id, "spawn", spec)
        self._online.add(spec.peer_id)
        self._epochs[spec.peer_id] = spec.epoch

    def retire(self, peer_id: int, *, graceful: bool, now: int) -> None:
        """Stop a peer (graceful: goodbye first) and wait for the consequences."""
        self._tick(now)
        self._on(peer_id, "retire", peer_id, graceful, now)
        self._online.discard(peer_id)
        self.barrier()

    def rekey(self, peer_id: int, epoch: int, seeds: PeerSeeds | None = None) -> None:
        """Move a peer to a new epoch (its host derives the random streams)."""
        self._on(peer_id, "rekey", peer_id, epoch)
        self._epochs[peer_id] = epoch

    def link(self, a: int, b: int, now: int) -> None:
        """Connect two peers (possibly on different hosts)."""
        self._tick(now)
        ia, ib = placement_of(a, self.ppa), placement_of(b, self.ppa)
        self._calls(
            [
                (ia, "open_link", (a, b, self._epochs[b], now)),
                (ib, "open_link", (b, a, self._epochs[a], now)),
            ]
        )
        self._calls([(i, "flush", (now,)) for i in sorted({ia, ib})])
        self.barrier()

    # -------------------------------------------------------------- protocol steps
    def begin_round(self) -> None:
        """Reset per-round counters everywhere."""
        self._all("begin_round")

    def train_round(self, now: int) -> list[int]:
        """Every host trains its peers at once; then wait for the announcements."""
        self._tick(now)
        changed = sorted(p for batch in self._all("train_round", now) for p in batch)
        self.barrier()
        return changed

    def heartbeat_round(self, now: int) -> list[tuple[int, DataOwner, str]]:
        """Heartbeats everywhere, then crash detection and lease expiry everywhere."""
        self._tick(now)
        self._all("send_heartbeats", now)
        self.barrier()
        detections = sorted(d for batch in self._all("detect", now) for d in batch)
        self.barrier()
        return detections

    def delete_points(
        self, peer_id: int, ids: list[int], request_id: str, now: int
    ) -> dict[str, Any]:
        """Point deletion at a peer on its host; wait for the new seed to spread."""
        self._tick(now)
        receipt: dict[str, Any] = self._on(peer_id, "delete_points", peer_id, ids, request_id, now)
        self.barrier()
        return receipt

    def check_hosts(self) -> None:
        """Call every host once, before a round: a host lost since is found here."""
        self._all("counters")

    # -------------------------------------------------------------- observation
    def online(self) -> list[int]:
        """Peers running anywhere."""
        return sorted(self._online)

    def is_online(self, peer_id: int) -> bool:
        """Whether ``peer_id`` runs."""
        return peer_id in self._online

    def round_stats(self) -> DeliveryStats:
        """Message counters of this round, merged over hosts."""
        merged = DeliveryStats()
        for st in self._all("round_stats"):
            merged.sent.update(st.sent)
            merged.bytes_sent.update(st.bytes_sent)
            merged.lost += st.lost
            merged.refused.update(st.refused)
        return merged

    def evaluate(self, now: int) -> list[dict[str, Any]]:
        """Accuracy rows from every host (models stay where they are)."""
        rows = (r for batch in self._all("evaluate", now) for r in batch)
        return sorted(rows, key=lambda r: r["peer"])

    def predict_probe(self) -> dict[int, Any]:
        """Final ensemble scores of every peer (pulled once, at the end)."""
        if self._final is not None:
            return self._final[1]
        out: dict[int, Any] = {}
        for batch in self._all("predict_probe"):
            out.update(batch)
        return dict(sorted(out.items()))

    def holders_of(self, owner: DataOwner) -> set[int]:
        """Peers anywhere holding ``owner``'s seed."""
        return set().union(*self._all("holders_of", owner))

    def declared_dead(self) -> list[int]:
        """Peers that learned they were declared crashed."""
        return sorted(p for batch in self._all("declared_dead") for p in batch)

    def neighbor_sets(self) -> dict[int, set[int]]:
        """Links of every peer."""
        out: dict[int, set[int]] = {}
        for batch in self._all("neighbor_sets"):
            out.update(batch)
        return out

    def snapshot(self) -> RuntimeSnapshot:
        """Every host's snapshot, merged (the final one once :meth:`close` pulled it)."""
        if self._final is not None:
            return self._final[0]
        parts: list[RuntimeSnapshot] = self._all("snapshot")
        return RuntimeSnapshot(
            online=sorted(p for s in parts for p in s.online),
            holdings=dict(sorted((k, v) for s in parts for k, v in s.holdings.items())),
            neighbors={k: v for s in parts for k, v in s.neighbors.items()},
            declared_dead=sorted(p for s in parts for p in s.declared_dead),
            main_parameters=dict(
                sorted((k, v) for s in parts for k, v in s.main_parameters.items())
            ),
            wire={**merge_wire_stats([s.wire for s in parts]), self.kind: self.describe()},
            learning=merge_learning([s.learning for s in parts]),
        )

    def peer(self, peer_id: int) -> Peer:
        """A snapshot copy of a peer, fetched from its host (changes do not go back)."""
        if peer_id not in self._online:
            raise RunError(f"peer {peer_id} is not online; online peers: {self.online()}")
        peer: Peer = self._on(peer_id, "get_peer", peer_id)
        return peer

    def audit_trail(self) -> AuditTrail:
        """Every host's audit chains, merged (each peer's chain lives on its one host)."""
        if self._final is not None:
            return self._final[2]
        merged = AuditTrail()
        for part in self._all("audit_trail"):
            merged.merge(part)
        return merged

    def close(self) -> None:
        """Pull the final state once (predictions, snapshot, audit), then stop every host.

        After closing, observation answers from that final state (of the surviving hosts'
        peers, after a host was lost for good).
        """
        try:
            if self._final is None and self._has_hosts():
                self._final = (self.snapshot(), self.predict_probe(), self.audit_trail())
        finally:
            self._stop_hosts()

    def _has_hosts(self) -> bool:
        """Whether hosts are still there to ask."""
        return True
