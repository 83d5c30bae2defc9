"""The composition root of a run: scenario → data split → graph → peers → engine → results.

:class:`Simulation` is the Python API that notebooks, scripts and the CLI share::

    sim = Simulation.from_file("scenarios/quickstart.yaml")
    sim.run()                      # or: while not sim.finished: sim.step()
    sim.peer(3).holdings()         # inspect any peer
    sim.metrics_table()            # per round and peer accuracy rows
    sim.write("runs/quickstart")   # metrics.jsonl, summary.json, predictions.npz, ...
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from clients.messages import DataOwner
from clients.partition import FederatedSplit
from clients.peer import Peer, PeerSeeds
from hdus_sim.engine import Engine
from hdus_sim.errors import ActorLostError, RunError
from hdus_sim.handlers import HANDLERS, actor_restarted, guard_partitions
from hdus_sim.journal import Journal, is_finished, load_checkpoint
from hdus_sim.metrics import RemovalTracker, forgetting_summary, mean_of
from hdus_sim.plan import PlannedEvent, RunPlan, resolve_events, resolve_plan
from hdus_sim.rounds import ACCURACY_KEYS, play_round, rho_curves
from hdus_sim.runtime.base import Runtime
from hdus_sim.runtime.registry import RuntimeHooks, make_runtime
from hdus_sim.scenario import (
    Event,
    EventBase,
    Scenario,
    load_scenario,
    make_event,
    scenario_to_dict,
)
from hdus_sim.world import World
from topologies.dynamics import connectivity_report

__all__ = ["Simulation"]


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
    #: rounds between checkpoints of a journaled run (kept in the checkpoint for resume)
    checkpoint_every: int = 1

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
        self.work_seen: dict[DataOwner, int] = {}
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
                self.spawn(pid)
            for a, b in sorted(tuple(sorted(e)) for e in self.graph.edges):
                self.runtime.link(a, b, 0)
            # a file topology may start in pieces: repaired (dynamics.guard: repair) or
            # reported, never silent (validation refuses it unless the guard repairs)
            guard_partitions(self, 0)
            plan = s.churn_plan
            for note in plan.warnings if plan is not None else ():
                self.log(0, "churn_note", note=note)
            for planned in self.plan.events:
                # an actor dies at the very start of its round, before that round's other events,
                # so its last checkpoint (end of the previous round) is exactly what it lost
                self.engine.schedule(planned.at, planned, priority=planned.priority)
        except BaseException:
            self.runtime.close()  # no leaked actors or servers when building fails
            raise
        self._built = True
        return self

    def spawn(self, pid: int) -> None:
        """Start peer ``pid`` under its next epoch (restored, if churn says so)."""
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
    def log(self, now: int, kind: str, **fields: Any) -> None:
        """Append one record to the run's event log (and its journal)."""
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
        """Apply an event at round ``now`` (the engine calls this with the plan's events).

        Each kind has its handler in :data:`hdus_sim.handlers.HANDLERS`.
        """
        rid = event.request_id if isinstance(event, PlannedEvent) else None
        event = event.event if isinstance(event, PlannedEvent) else event
        HANDLERS[event.kind](self, event, now, rid)

    def _actor_lost(self, actor: int, outcome: dict[str, Any]) -> None:
        """A Ray actor died on its own (``kill -9``, OOM, a lost node) and Ray restarted it.

        The runtime found it at its next call and waited for the restart; from here on it
        is handled exactly as a scripted ``kill_actor`` of that actor in this round, and
        logged as ``actor_lost`` with its ``cause``.
        """
        actor_restarted(self, self.engine.now, "actor_lost", actor, {**outcome, "recovered": True})

    def apply(self, event: Event | Mapping[str, Any]) -> None:
        """Apply an event by hand before the next round runs (notebook use), and record it.

        ``at`` defaults to the next round (``engine.now``), where the event takes effect at
        once; a later ``at`` schedules it. Either way it joins the scenario's ``applied``
        list (so ``write`` saves it in ``scenario.yaml`` and ``verify`` replays it) and
        runs first in its round, as it does here. The scenario is re-validated with it
        first; an event that does not fit (an unknown peer, a round past the end) is
        refused with :class:`~hdus_sim.errors.ScenarioError` and nothing changes.
        """
        self.build()
        now = self.engine.now
        fields = dict(event.model_dump()) if isinstance(event, EventBase) else dict(event)
        fields.setdefault("at", now)
        ev = make_event(**fields)
        if ev.at < now:
            raise RunError(
                f"apply(): `at` {ev.at} has already run (the next round is {now}); "
                f"leave `at` out or pass at={now} or later"
            )
        data = scenario_to_dict(self.scenario)
        data["applied"] = [*data.get("applied", []), ev.model_dump(mode="json")]
        scenario = load_scenario(data, label=f"{self.scenario.name} with apply({fields})")
        events = resolve_events(scenario, self.world.train_ids())
        if events[:-1] != self.plan.events:  # appended last: nothing else may move
            raise RunError("apply(): recording the event would change the run's other events")
        planned = events[-1]
        self.scenario = scenario
        self.plan = dataclasses.replace(self.plan, events=events)
        self.deletion_requests = self.plan.requests
        if planned.at == now:
            self.apply_event(planned, now)
        else:
            self.engine.schedule(planned.at, planned, priority=planned.priority)

    # ------------------------------------------------------------------ rounds
    def run_round(self, now: int, *, train: bool) -> None:
        """Play round ``now`` (the engine's clock calls this; see :mod:`hdus_sim.rounds`)."""
        play_round(self, now, train=train)

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
            self.log(now, "actor_lost", recovered=False, error=str(exc), cause=exc.cause)
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
        sim.journal = Journal(run_dir, sim.checkpoint_every)
        sim.journal.append({"type": "resume", "round": sim.engine.now})
        sim._wall0 = time.perf_counter()
        return sim

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["progress"] = None
        state["checkpoint_every"] = self.journal.checkpoint_every if self.journal else 1
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
            "cohorts": dict(snap.learning),
            "withheld": sorted(self.withheld),
            "forgetting": forgetting_summary(self.tracker.rows(), last_round or 0),
            "signatures": self._signatures(),
            **({"rho_curves": rho_curves(self.rounds)} if self.scenario.peers.rho_grid else {}),
            **({"stopped": self.stopped} if self.stopped is not None else {}),
        }

    def _signatures(self) -> str:
        """How owner-signed records were checked in this run (for the summary)."""
        if self.scenario.runtime.signs:
            return (
                "Ed25519: seeds, lease renewals, revocation floors and graceful leaves are "
                "owner-signed and checked by every holder"
            )
        return (
            "off: signatures are no-ops in this run (in-process or wire.sign false); the same "
            "checks ran, every signature passed"
        )
