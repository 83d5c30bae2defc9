"""The composition root of a run: scenario → data split → graph → peers → engine → results.

:class:`Simulation` is the Python API that notebooks, scripts and the CLI share::

    sim = Simulation.from_file("scenarios/quickstart.yaml")
    sim.run()                      # or: while not sim.finished: sim.step()
    sim.peer(3).holdings()         # inspect any peer
    sim.metrics_table()            # per round and peer accuracy rows
    sim.write("runs/quickstart")   # metrics.jsonl, summary.json, predictions.npz, ...
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from clients.errors import ClientsError
from clients.messages import DataOwner
from clients.partition import FederatedSplit
from clients.peer import Peer, PeerSeeds
from hdus_sim.engine import Engine
from hdus_sim.errors import ActorLostError, RunError
from hdus_sim.journal import Journal, is_finished, load_checkpoint
from hdus_sim.metrics import RemovalTracker, forgetting_summary, mean_of
from hdus_sim.plan import PlannedEvent, RunPlan, resolve_plan
from hdus_sim.rng import derive_seed
from hdus_sim.runtime.base import Runtime
from hdus_sim.runtime.registry import RuntimeHooks, make_runtime
from hdus_sim.scenario import Event, Scenario, load_scenario
from hdus_sim.world import World, placement_of
from topologies.dynamics import attach, connectivity_report, ensure_connected, repair

__all__ = ["Simulation"]

ACCURACY_KEYS = (
    "local_main",
    "local_seeds",
    "local_ensemble",
    "global_main",
    "global_seeds",
    "global_ensemble",
)


class Simulation:
    """One run of a scenario, stepped round by round or run to the end.

    Parameters
    ----------
    scenario
        A validated scenario (see :func:`~hdus_sim.scenario.load_scenario`).
    withheld
        Data owners whose own seed is never sent (they may still relay others' seeds).
        The retrain oracle uses this: it is the run in which their data never left them.
    progress
        Optional callback ``progress(round_done, total_rounds)``.
    """

    #: set when a lost Ray actor stopped the run: round, error and cause (else None)
    stopped: dict[str, Any] | None = None

    def __init__(
        self,
        scenario: Scenario,
        *,
        withheld: frozenset[DataOwner] = frozenset(),
        withheld_points: Mapping[int, Sequence[int]] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.withheld = withheld
        self.withheld_points = {int(k): frozenset(v) for k, v in (withheld_points or {}).items()}
        self.point_deletions: list[dict[str, Any]] = []
        #: deletion request id -> its event (the plan's requests, then any applied by hand)
        self.deletion_requests: dict[str, Event] = {}
        self.plan: RunPlan
        self.journal: Journal | None = None
        self.progress = progress
        self.root_seed = scenario.seed
        self.metrics: list[dict[str, Any]] = []
        self.rounds: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.stopped = None
        self.tracker = RemovalTracker()
        self._work_seen: dict[DataOwner, int] = {}
        self.epochs: dict[int, int] = {}
        self.devices: dict[int, str] = {}
        self.engine = Engine(self, scenario.rounds, scenario.effective_settle_rounds)
        self._wall0 = time.perf_counter()
        self._built = False
        self.world: World
        self.split: FederatedSplit
        self.graph: nx.Graph
        self.runtime: Runtime

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Simulation:
        """Load a YAML scenario and build a simulation of it."""
        return cls(load_scenario(path), **kwargs).build()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **kwargs: Any) -> Simulation:
        """Validate a scenario dict and build a simulation of it."""
        return cls(load_scenario(data), **kwargs).build()

    # ------------------------------------------------------------------ building
    def seeds_for(self, pid: int, epoch: int) -> PeerSeeds:
        """The private random streams of peer ``pid`` at ``epoch``."""
        return self.world.seeds_for(pid, epoch)

    def build(self) -> Simulation:
        """Load data, split it, build the graph and start the initial peers (idempotent)."""
        if self._built:
            return self
        s = self.scenario
        self.world = World.build(s)
        self.split = self.world.split
        self.plan = resolve_plan(
            s,
            self.world.train_ids(),
            withheld=self.withheld,
            withheld_points=self.withheld_points,
        )
        self.devices = dict(self.plan.devices)
        self.deletion_requests = self.plan.requests
        hooks = RuntimeHooks(on_drop=self.tracker.dropped, on_host_lost=self._actor_lost)
        self.runtime = make_runtime(self.plan, self.world, hooks)
        try:
            self.graph = self.plan.graph.copy()
            for pid in range(s.peers.initial):
                self._spawn(pid)
            for a, b in sorted(tuple(sorted(e)) for e in self.graph.edges):
                self.runtime.link(a, b, 0)
            # a file topology may start in pieces: repaired (dynamics.guard: repair) or
            # reported, never silent (validation refuses it unless the guard repairs)
            self._guard_partitions(0)
            plan = s.churn_plan
            for note in plan.warnings if plan is not None else ():
                self._log(0, "churn_note", note=note)
            for planned in self.plan.events:
                # an actor dies at the very start of its round, before that round's other events,
                # so its last checkpoint (end of the previous round) is exactly what it lost
                self.engine.schedule(planned.at, planned, priority=planned.priority)
        except BaseException:
            self.runtime.close()  # no leaked actors or servers when building fails
            raise
        self._built = True
        return self

    def _spawn(self, pid: int) -> None:
        epoch = self.epochs.get(pid, -1) + 1
        self.epochs[pid] = epoch
        spec = self.plan.peer_spec(pid, epoch, self.devices[pid])
        churn = self.scenario.churn
        if (
            churn is not None
            and churn.on_return == "restore"
            and self.runtime.restore(pid, epoch, self.seeds_for(pid, epoch))
        ):
            return
        self.runtime.spawn(spec)

    # ------------------------------------------------------------------ events
    def _log(self, now: int, kind: str, **fields: Any) -> None:
        record = {
            "round": now,
            "wall_s": round(time.perf_counter() - self._wall0, 6),
            "kind": kind,
            **fields,
        }
        self.events.append(record)
        if self.journal is not None:
            self.journal.append({"type": "event", **record})

    def apply_event(self, event: Event | PlannedEvent, now: int) -> None:
        """Apply an event at round ``now`` (the engine calls this with the plan's events)."""
        s = self.scenario
        rid = event.request_id if isinstance(event, PlannedEvent) else None
        event = event.event if isinstance(event, PlannedEvent) else event
        if event.kind == "kill_actor":
            self._kill_actor(event, now)
            return
        if event.kind == "delete":
            self._delete(event, now, rid)
            return
        pid = event.peer
        assert pid is not None  # validated: join/leave/crash name a peer
        if event.kind == "join":
            if self.runtime.is_online(pid):
                raise RunError(f"join of peer {pid} at round {now}: it is already online")
            if event.device is not None:
                self.devices[pid] = event.device
            self._spawn(pid)
            before = set(self.graph.edges)
            self.graph = attach(
                self.graph,
                pid,
                rule=s.dynamics.attach,
                k=s.dynamics.attach_k,
                seed=derive_seed(s.seed, "attach", pid, self.epochs[pid]),
            )
            new_edges = sorted(tuple(sorted(e)) for e in set(self.graph.edges) - before)
            for a, b in new_edges:
                self.runtime.link(a, b, now)
            self._log(
                now,
                "join",
                peer=pid,
                epoch=self.epochs[pid],
                device=self.devices[pid],
                links=[list(e) for e in new_edges],
            )
            return
        if not self.runtime.is_online(pid):
            raise RunError(
                f"{event.kind} of peer {pid} at round {now}: peer {pid} is not online; "
                f"online peers: {self.runtime.online()}"
            )
        key = (pid, self.epochs[pid])
        holders = self.runtime.holders_of(key)
        self.tracker.start(pid, key[1], event.kind, now, holders, s.exchange.lease_rounds)
        self.runtime.retire(pid, graceful=event.kind == "leave", now=now)
        self.tracker.holder_gone(pid, now)
        old_neighbors = set(self.graph.neighbors(pid))
        before = {tuple(sorted(e)) for e in self.graph.edges}
        self.graph = repair(
            self.graph, pid, rule=s.dynamics.repair, seed=derive_seed(s.seed, "repair", pid, key[1])
        )
        new_edges = sorted({tuple(sorted(e)) for e in self.graph.edges} - before)
        for a, b in new_edges:
            self.runtime.link(a, b, now)
        self._log(
            now,
            event.kind,
            peer=pid,
            epoch=key[1],
            holders=sorted(holders),
            former_neighbors=sorted(old_neighbors),
            repair_links=[list(e) for e in new_edges],
            connected=connectivity_report(self.graph).is_connected,
        )
        self._guard_partitions(now)

    def _delete(self, event: Event, now: int, rid: str | None) -> None:
        """A data owner asks a peer to forget some of its samples (request ``rid``)."""
        assert event.peer is not None
        if rid is None:  # applied by hand: explicit ids only
            if event.ids is None:
                raise RunError("a delete applied by hand must name its `ids`")
            rid = f"del-manual-{len(self.deletion_requests)}"
            self.deletion_requests[rid] = event
        assert event.ids is not None
        pid = event.peer
        if not self.runtime.is_online(pid):
            why = "it has left" if pid in self.epochs else "no such peer"
            self._log(
                now,
                "delete_refused",
                peer=pid,
                request_id=rid,
                ids=event.ids,
                reason=f"peer {pid} is not online ({why}): nobody holds its data here",
            )
            return
        if set(event.ids) <= self.withheld_points.get(pid, frozenset()):
            self._log(now, "delete_absent", peer=pid, request_id=rid, ids=event.ids)
            return
        try:
            receipt = self.runtime.delete_points(pid, event.ids, rid, now)
        except ClientsError as exc:
            self._log(
                now, "delete_refused", peer=pid, request_id=rid, ids=event.ids, reason=str(exc)
            )
            return
        receipt = {**receipt, "round": now}
        self.point_deletions.append(receipt)
        fields = {k: v for k, v in receipt.items() if k not in ("round", "wall_s")}
        self._log(now, "delete", delete_wall_s=receipt["wall_s"], **fields)

    def _kill_actor(self, event: Event, now: int) -> None:
        """An actor process dies between rounds and is restarted from its last checkpoint.

        With ``on_actor_restart: restore`` its peers come back exactly as checkpointed; with
        ``rejoin`` they are treated as crashed and re-join under a new epoch (their old
        epochs are tracked and verified as departures). In the in-process runtime there is
        no process to kill; the same peers get the same treatment, so oracles agree.
        """
        s = self.scenario
        assert event.actor is not None
        ppa = s.runtime.packing(len(s.all_peer_ids))
        hosted = [p for p in self.runtime.online() if placement_of(p, ppa) == event.actor]
        outcome = self.runtime.kill_actor(event.actor, now) or {
            "restored": hosted,
            "old_pid": None,
            "new_pid": None,
        }
        self._actor_restarted(now, "kill_actor", event.actor, outcome)

    def _actor_lost(self, actor: int, outcome: dict[str, Any]) -> None:
        """A Ray actor died on its own (``kill -9``, OOM, a lost node) and Ray restarted it.

        The runtime found it at its next call and waited for the restart; from here on it
        is handled exactly as a scripted ``kill_actor`` of that actor in this round, and
        logged as ``actor_lost`` with its ``cause``.
        """
        self._actor_restarted(self.engine.now, "actor_lost", actor, {**outcome, "recovered": True})

    def _actor_restarted(self, now: int, kind: str, actor: int, outcome: dict[str, Any]) -> None:
        """Log a restarted actor (``kill_actor`` or ``actor_lost``) and apply the policy."""
        s = self.scenario
        hosted = list(outcome["restored"])
        self._log(
            now, kind, actor=actor, peers=hosted, policy=s.runtime.on_actor_restart, **outcome
        )
        if s.runtime.on_actor_restart == "rejoin":
            for pid in hosted:
                old = (pid, self.epochs[pid])
                self.tracker.start(pid, old[1], "actor_crash", now, self.runtime.holders_of(old))
                self.epochs[pid] = old[1] + 1
                self.runtime.rekey(pid, old[1] + 1, self.seeds_for(pid, old[1] + 1))
                self._log(now, "rejoin", peer=pid, old_epoch=old[1], epoch=old[1] + 1)
            self._restore_links(now)

    def _guard_partitions(self, now: int) -> None:
        """Report a partitioned graph; with ``dynamics.guard: repair`` join the pieces."""
        report = connectivity_report(self.graph)
        if report.is_connected or report.n_nodes == 0:
            return
        pieces = sorted(sorted(c) for c in nx.connected_components(self.graph))
        if self.scenario.dynamics.guard == "repair":
            before = {tuple(sorted(e)) for e in self.graph.edges}
            self.graph = ensure_connected(
                self.graph, seed=derive_seed(self.scenario.seed, "guard", now)
            )
            links = sorted({tuple(sorted(e)) for e in self.graph.edges} - before)
            for a, b in links:
                self.runtime.link(a, b, now)
            self._log(now, "partition_repaired", components=pieces, links=[list(e) for e in links])
        else:
            self._log(now, "partition", components=pieces)

    def apply(self, event: Event | Mapping[str, Any]) -> None:
        """Apply an event by hand now, before the next round runs (notebook use)."""
        ev = event if isinstance(event, Event) else Event.model_validate(dict(event))
        self.build()
        self.apply_event(ev, self.engine.now)

    # ------------------------------------------------------------------ rounds
    def run_round(self, now: int, *, train: bool) -> None:
        """Train (if ``train``), exchange, heartbeat, detect crashes, then record metrics."""
        self.runtime.begin_round()
        t0 = time.perf_counter()
        changed = self.runtime.train_round(now) if train else []
        t_train = time.perf_counter() - t0
        self._note_late_holders(now)
        for detector, key, cause in self.runtime.heartbeat_round(now):
            real = key in self.tracker.departures
            if cause == "lease":
                self.tracker.expired(detector, key)
                self._log(
                    now, "lease_expired", peer=key[0], epoch=key[1], holder=detector, departed=real
                )
                continue
            self.tracker.detected(key, detector, now)
            self._log(
                now,
                "crash_detected" if real else "false_suspicion",
                peer=key[0],
                epoch=key[1],
                detector=detector,
            )
        for key, dep in self.tracker.departures.items():
            if dep.done_round == now and not any(
                e["kind"] == "removal_complete" and e["peer"] == key[0] and e["epoch"] == key[1]
                for e in self.events
            ):
                self._log(
                    now,
                    "removal_complete",
                    peer=key[0],
                    epoch=key[1],
                    latency_rounds=now - dep.round,
                    latency_s=dep.latency_s,
                )
        self._note_late_holders(now)
        self._refute_suspicions(now)
        self._restore_links(now)
        resurrected = self._check_resurrections(now)
        self.runtime.end_round(now)
        rows = self.runtime.evaluate(now)
        stats = self.runtime.round_stats()
        sim_times = []
        for row in rows:
            row["messages"] = stats.sent.get(row["peer"], 0)
            row["bytes"] = stats.bytes_sent.get(row["peer"], 0)
            key = (row["peer"], row["epoch"])
            work = row["work_samples"] - self._work_seen.get(key, 0)
            self._work_seen[key] = row["work_samples"]
            prof = self.scenario.peers.profile(row["device"])
            row["sim_s"] = (
                work / prof.speed
                + row["bytes"] * 8 / (prof.bandwidth_mbps * 1e6)
                + (prof.latency_ms / 1000 if row["messages"] else 0.0)
            )
            sim_times.append(row["sim_s"])
        self.metrics += rows
        totals = stats.total()
        summary = {
            "round": now,
            "phase": "train" if train else "settle",
            "online": len(rows),
            "new_seeds": len(changed),
            "train_s": round(t_train, 4),
            "resurrected": resurrected,
            "sim_round_s": round(max(sim_times, default=0.0), 4),
            **totals,
            **{k: mean_of(rows, k) for k in ACCURACY_KEYS},
        }
        self.rounds.append(summary)
        if self.journal is not None:
            self.journal.append({"type": "round", **summary})
            due = (now + 1) % self.journal.checkpoint_every == 0
            if due or now + 1 == self.engine.total_rounds:
                self.engine.now = now + 1  # the state after this round: resume starts at the next
                self.journal.checkpoint(self, now)
        if self.progress is not None:
            self.progress(now + 1, self.engine.total_rounds)

    def _refute_suspicions(self, now: int) -> None:
        """Move every live peer that others declared crashed to a new epoch.

        Its old ``(peer, epoch)`` is tracked as a departure like any other (kind
        ``suspected``), so ``verify`` checks that nothing of that epoch survives anywhere.
        """
        for pid in self.runtime.declared_dead():
            old = (pid, self.epochs[pid])
            if old not in self.tracker.departures:
                self.tracker.start(
                    pid,
                    old[1],
                    "suspected",
                    now,
                    self.runtime.holders_of(old),
                    self.scenario.exchange.lease_rounds,
                )
            self.epochs[pid] = old[1] + 1
            self.runtime.rekey(pid, old[1] + 1, self.seeds_for(pid, old[1] + 1))
            self._log(now, "refuted", peer=pid, old_epoch=old[1], epoch=old[1] + 1)

    def _restore_links(self, now: int) -> None:
        """Re-make graph links a peer dropped (a suspicion, a re-key); devices retry them."""
        links = self.runtime.neighbor_sets()
        for a, b in sorted(tuple(sorted(e)) for e in self.graph.edges):
            if a in links and b in links and (b not in links[a] or a not in links[b]):
                self.runtime.link(a, b, now)

    def _note_late_holders(self, now: int) -> None:
        """Count peers that took in a departed seed while its removal was under way.

        A relay that had not heard of the departure yet may pass the seed on (with the
        lease it has, which bounds it like any other holder); such holders are pending too.
        """
        for key in self.tracker.incomplete():
            for holder in sorted(self.runtime.holders_of(key)):
                self.tracker.acquired(holder, key, now)

    def _check_resurrections(self, now: int) -> int:
        """Count holders of a departed seed whose removal had already completed (must be 0)."""
        count = 0
        for key, dep in self.tracker.departures.items():
            if dep.done_round is None:
                continue
            for holder in sorted(self.runtime.holders_of(key)):
                count += 1
                self._log(now, "resurrected", peer=key[0], epoch=key[1], holder=holder)
        return count

    @property
    def finished(self) -> bool:
        """Whether all rounds (scripted and settle) have run."""
        return self.engine.finished

    def step(self) -> dict[str, Any]:
        """Run one round; return its summary row."""
        self.build()
        self._advance()
        return self.rounds[-1]

    def run(self) -> Simulation:
        """Run every remaining round, then release sockets and threads."""
        self.build()
        try:
            while not self.engine.finished:
                self._advance()
        finally:
            self.close()
        return self

    def _advance(self) -> None:
        """Run the next round; a Ray actor lost for good stops the run (:attr:`stopped`).

        What was computed up to then stays: the rounds, metrics and events so far, written
        by :meth:`write` with the ``stopped`` reason in the summary (no final predictions
        or holdings: the run did not reach its end).
        """
        if self.stopped is not None:
            raise ActorLostError(
                f"the run stopped at round {self.stopped['round']}: {self.stopped['error']}",
                self.stopped["cause"],
            )
        try:
            self.runtime.check_hosts()  # a lost host process, found before the round
            self.engine.step()
        except ActorLostError as exc:
            now = self.engine.now
            self.stopped = {"round": now, "error": str(exc), "cause": exc.cause}
            self._log(now, "actor_lost", recovered=False, error=str(exc), cause=exc.cause)
            raise

    def enable_journal(self, run_dir: str | Path, checkpoint_every: int = 1) -> Simulation:
        """Journal every event and round to ``run_dir`` and checkpoint for ``--resume``."""
        if self.scenario.runtime.kind != "inprocess":
            raise RunError(
                f"resumable runs need runtime.kind inprocess, not {self.scenario.runtime.kind!r}"
                " (gRPC servers and Ray actors cannot be checkpointed as a whole)"
            )
        self.journal = Journal(run_dir, checkpoint_every)
        return self

    @classmethod
    def resume(cls, run_dir: str | Path) -> Simulation:
        """Continue a killed run from its last checkpoint (see :mod:`hdus_sim.journal`).

        A run whose journal records it finished (results written), or that was verified
        since, is refused: resuming it would rewrite its results and drop its verdicts.
        A run stopped after its last round but before its results were all written (a
        full disk) resumes to writing them.
        """
        if is_finished(run_dir) or (Path(run_dir) / "verify.json").is_file():
            raise RunError(
                f"the run in {run_dir} has finished and its results are written: nothing to "
                f"resume (--resume continues a killed run). Check it with: hdus-sim verify "
                f"{run_dir}; run it again with: hdus-sim run {Path(run_dir) / 'scenario.yaml'} "
                f"--out {run_dir} --overwrite"
            )
        sim = load_checkpoint(run_dir)
        if not isinstance(sim, Simulation):
            raise RunError(f"{run_dir}/checkpoint.pkl does not hold a simulation")
        import torch

        torch.set_num_threads(sim.scenario.runtime.torch_threads)  # as World.build does
        sim.journal = Journal(run_dir, sim._checkpoint_every)
        sim.journal.append({"type": "resume", "round": sim.engine.now})
        sim._wall0 = time.perf_counter()
        return sim

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["progress"] = None
        state["_checkpoint_every"] = self.journal.checkpoint_every if self.journal else 1
        state["journal"] = None
        return state

    def close(self) -> None:
        """Stop the transport (gRPC servers, sender threads); peers stay inspectable."""
        if self._built:
            self.runtime.close()

    def wire_stats(self) -> dict[str, Any]:
        """Counters of the gRPC wire and its fault layer (empty in memory)."""
        return dict(self.runtime.snapshot().wire)

    def write(self, out: str | Path) -> Path:
        """Write the run directory (see :mod:`hdus_sim.outputs`)."""
        from hdus_sim.outputs import write_run

        return write_run(self, out)

    # ------------------------------------------------------------------ inspection
    def peer(self, peer_id: int) -> Peer:
        """The live :class:`~clients.peer.Peer` ``peer_id`` (models, held seeds, lineage)."""
        self.build()
        return self.runtime.peer(peer_id)

    def departed(self) -> list[DataOwner]:
        """Every ``(peer, epoch)`` that left or crashed so far."""
        return sorted(self.tracker.departures)

    def metrics_table(self) -> list[dict[str, Any]]:
        """Per round and peer metric rows (load into pandas with ``DataFrame(rows)``)."""
        return list(self.metrics)

    def predictions(self) -> dict[int, np.ndarray]:
        """Each online peer's ensemble scores on the probe set (the global test inputs)."""
        return self.runtime.predict_probe()

    def summary(self) -> dict[str, Any]:
        """Headline figures of the run so far."""
        last_round = self.rounds[-1]["round"] if self.rounds else None
        final = [r for r in self.metrics if r["round"] == last_round]
        snap = self.runtime.snapshot()
        return {
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "rounds_run": len(self.rounds),
            "wall_s": round(time.perf_counter() - self._wall0, 3),
            "online_at_end": snap.online,
            "final_accuracy": {k: mean_of(final, k) for k in ACCURACY_KEYS},
            "departures": self.tracker.rows(),
            "point_deletions": self.point_deletions,
            "messages": int(sum(r["messages"] for r in self.rounds)),
            "false_suspicions": sum(e["kind"] == "false_suspicion" for e in self.events),
            "resurrected": int(sum(r["resurrected"] for r in self.rounds)),
            "bytes": int(sum(r["bytes"] for r in self.rounds)),
            "devices": {str(k): v for k, v in sorted(self.devices.items())},
            "main_parameters": {str(k): v for k, v in snap.main_parameters.items()},
            "graph": connectivity_report(self.graph).as_dict(),
            "runtime": self.scenario.runtime.kind,
            "wire": dict(snap.wire),
            "withheld": sorted(self.withheld),
            "forgetting": forgetting_summary(self.tracker.rows(), last_round or 0),
            "signatures": self._signatures(),
            **({"stopped": self.stopped} if self.stopped is not None else {}),
        }

    def _signatures(self) -> str:
        """How owner-signed records were checked in this run (for the summary)."""
        rt = self.scenario.runtime
        if rt.kind != "inprocess" and rt.wire.sign:
            return (
                "Ed25519: seeds, lease renewals, revocation floors and graceful leaves are "
                "owner-signed and checked by every holder"
            )
        return (
            "off: signatures are no-ops in this run (in-process or wire.sign false); the same "
            "checks ran, every signature passed"
        )
