"""What each kind of event does to a running simulation: one handler per event kind.

The engine pops an event of the run plan at the start of its round and
:meth:`~hdus_sim.simulation.Simulation.apply_event` hands it to the handler of its kind in
:data:`HANDLERS`: a join spawns the peer and attaches it to the graph; a leave or a crash
retires it, starts the removal tracking and repairs the graph; a delete asks the peer to
forget some samples; a ``kill_actor`` kills the host process of some peers and applies the
restart policy. Every handler logs what it did, with the fields ``verify`` and the report read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import networkx as nx

from clients.errors import ClientsError
from hdus_sim.errors import RunError
from hdus_sim.rng import derive_seed
from hdus_sim.scenario import CrashEvent, DeleteEvent, JoinEvent, KillActorEvent, LeaveEvent
from hdus_sim.world import placement_of
from topologies.dynamics import attach, ensure_connected, repair

if TYPE_CHECKING:
    from hdus_sim.simulation import Simulation

__all__ = ["HANDLERS", "actor_restarted", "guard_partitions", "restore_links"]


def on_join(sim: Simulation, event: JoinEvent, now: int, rid: str | None) -> None:
    """A peer joins: it starts under its next epoch and attaches to the graph."""
    s = sim.scenario
    pid = event.peer
    assert pid is not None  # validated: a join names its peer
    if sim.runtime.is_online(pid):
        raise RunError(f"join of peer {pid} at round {now}: it is already online")
    if event.device is not None:
        sim.devices[pid] = event.device
    sim.spawn(pid)
    before = set(sim.graph.edges)
    sim.graph = attach(
        sim.graph,
        pid,
        rule=s.dynamics.attach,
        k=s.dynamics.attach_k,
        seed=derive_seed(s.seed, "attach", pid, sim.epochs[pid]),
    )
    new_edges = sorted(tuple(sorted(e)) for e in set(sim.graph.edges) - before)
    for a, b in new_edges:
        sim.runtime.link(a, b, now)
    sim.log(
        now,
        "join",
        peer=pid,
        epoch=sim.epochs[pid],
        device=sim.devices[pid],
        links=[list(e) for e in new_edges],
    )


def on_departure(
    sim: Simulation, event: LeaveEvent | CrashEvent, now: int, rid: str | None
) -> None:
    """A peer leaves (graceful: it says goodbye) or crashes; the graph is repaired."""
    s = sim.scenario
    pid = event.peer
    assert pid is not None  # validated: a leave or crash names its peer
    if not sim.runtime.is_online(pid):
        raise RunError(
            f"{event.kind} of peer {pid} at round {now}: peer {pid} is not online; "
            f"online peers: {sim.runtime.online()}"
        )
    key = (pid, sim.epochs[pid])
    holders = sim.runtime.holders_of(key)
    sim.tracker.start(pid, key[1], event.kind, now, holders, s.exchange.lease_rounds)
    sim.runtime.retire(pid, graceful=event.kind == "leave", now=now)
    sim.tracker.holder_gone(pid, now)
    old_neighbors = set(sim.graph.neighbors(pid))
    before = {tuple(sorted(e)) for e in sim.graph.edges}
    sim.graph = repair(
        sim.graph, pid, rule=s.dynamics.repair, seed=derive_seed(s.seed, "repair", pid, key[1])
    )
    new_edges = sorted({tuple(sorted(e)) for e in sim.graph.edges} - before)
    for a, b in new_edges:
        sim.runtime.link(a, b, now)
    sim.log(
        now,
        event.kind,
        peer=pid,
        epoch=key[1],
        holders=sorted(holders),
        former_neighbors=sorted(old_neighbors),
        repair_links=[list(e) for e in new_edges],
        connected=sim.graph.number_of_nodes() > 0 and nx.is_connected(sim.graph),
    )
    guard_partitions(sim, now)


def on_delete(sim: Simulation, event: DeleteEvent, now: int, rid: str | None) -> None:
    """A data owner asks a peer to forget some of its samples (request ``rid``)."""
    assert event.peer is not None
    if rid is None:  # applied by hand: explicit ids only
        if event.ids is None:
            raise RunError("a delete applied by hand must name its `ids`")
        rid = f"del-manual-{len(sim.deletion_requests)}"
        sim.deletion_requests[rid] = event
    assert event.ids is not None
    pid = event.peer
    if not sim.runtime.is_online(pid):
        why = "it has left" if pid in sim.epochs else "no such peer"
        sim.log(
            now,
            "delete_refused",
            peer=pid,
            request_id=rid,
            ids=event.ids,
            reason=f"peer {pid} is not online ({why}): nobody holds its data here",
        )
        return
    if set(event.ids) <= sim.withheld_points.get(pid, frozenset()):
        sim.log(now, "delete_absent", peer=pid, request_id=rid, ids=event.ids)
        return
    try:
        receipt = sim.runtime.delete_points(pid, event.ids, rid, now)
    except ClientsError as exc:
        sim.log(now, "delete_refused", peer=pid, request_id=rid, ids=event.ids, reason=str(exc))
        return
    receipt = {**receipt, "round": now}
    sim.point_deletions.append(receipt)
    fields = {k: v for k, v in receipt.items() if k not in ("round", "wall_s")}
    sim.log(now, "delete", delete_wall_s=receipt["wall_s"], **fields)


def on_kill_actor(sim: Simulation, event: KillActorEvent, now: int, rid: str | None) -> None:
    """An actor process dies between rounds and is restarted from its last checkpoint.

    With ``on_actor_restart: restore`` its peers come back exactly as checkpointed; with
    ``rejoin`` they are treated as crashed and re-join under a new epoch (their old
    epochs are tracked and verified as departures). In the in-process runtime there is
    no process to kill; the same peers get the same treatment, so oracles agree.
    """
    s = sim.scenario
    assert event.actor is not None
    ppa = s.runtime.packing(len(s.all_peer_ids))
    hosted = [p for p in sim.runtime.online() if placement_of(p, ppa) == event.actor]
    outcome = sim.runtime.kill_actor(event.actor, now) or {
        "restored": hosted,
        "old_pid": None,
        "new_pid": None,
    }
    actor_restarted(sim, now, "kill_actor", event.actor, outcome)


def actor_restarted(
    sim: Simulation, now: int, kind: str, actor: int, outcome: dict[str, Any]
) -> None:
    """Log a restarted actor (``kill_actor`` or ``actor_lost``) and apply the policy."""
    s = sim.scenario
    hosted = list(outcome["restored"])
    sim.log(now, kind, actor=actor, peers=hosted, policy=s.runtime.on_actor_restart, **outcome)
    if s.runtime.on_actor_restart == "rejoin":
        for pid in hosted:
            old = (pid, sim.epochs[pid])
            sim.tracker.start(pid, old[1], "actor_crash", now, sim.runtime.holders_of(old))
            sim.epochs[pid] = old[1] + 1
            sim.runtime.rekey(pid, old[1] + 1, sim.seeds_for(pid, old[1] + 1))
            sim.log(now, "rejoin", peer=pid, old_epoch=old[1], epoch=old[1] + 1)
        restore_links(sim, now)


def guard_partitions(sim: Simulation, now: int) -> None:
    """Report a partitioned graph; with ``dynamics.guard: repair`` join the pieces."""
    if sim.graph.number_of_nodes() == 0 or nx.is_connected(sim.graph):
        return  # (connectivity only: a full report's diameter is quadratic in the peers)
    pieces = sorted(sorted(c) for c in nx.connected_components(sim.graph))
    if sim.scenario.dynamics.guard == "repair":
        before = {tuple(sorted(e)) for e in sim.graph.edges}
        sim.graph = ensure_connected(sim.graph, seed=derive_seed(sim.scenario.seed, "guard", now))
        links = sorted({tuple(sorted(e)) for e in sim.graph.edges} - before)
        for a, b in links:
            sim.runtime.link(a, b, now)
        sim.log(now, "partition_repaired", components=pieces, links=[list(e) for e in links])
    else:
        sim.log(now, "partition", components=pieces)


def restore_links(sim: Simulation, now: int) -> None:
    """Re-make graph links a peer dropped (a suspicion, a re-key); devices retry them."""
    links = sim.runtime.neighbor_sets()
    for a, b in sorted(tuple(sorted(e)) for e in sim.graph.edges):
        if a in links and b in links and (b not in links[a] or a not in links[b]):
            sim.runtime.link(a, b, now)


#: event kind -> ``handler(sim, event, round, request_id)``
HANDLERS: dict[str, Callable[[Simulation, Any, int, str | None], None]] = {
    "join": on_join,
    "leave": on_departure,
    "crash": on_departure,
    "delete": on_delete,
    "kill_actor": on_kill_actor,
}
