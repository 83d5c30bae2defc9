"""Peers as Ray actors talking real gRPC: the ``ray`` runtime.

A Ray actor is a whole Python process (about 1 s to start and 180 MB with torch), so each
:class:`HostActor` is one :class:`~hdus_sim.runtime.host.Host`: many peers
(``runtime.peers_per_actor``, packed by peer id) and one gRPC ``PeerService`` server; peers
on different actors, and on the same one, exchange every message over that wire. The
driver side is :class:`~hdus_sim.runtime.hosted.HostedRuntime`; this module adds only what
is Ray's: placing actors (CPU requests from device profiles), calling them, and surviving
their loss.

Each actor checkpoints its peers (and their audit chains) at the end of every round. An
actor that dies, killed by the scenario (``kill_actor``) or from outside (``kill -9``, the
OOM killer, a lost node), is restarted by Ray (``max_restarts``) and reloads its peers from
that checkpoint; the scenario says whether they are ``restore``-d as they were or
``rejoin`` under a new epoch. Every driver call goes through
:meth:`~hdus_sim.runtime.ray_recovery.ActorCalls._calls`, which notices a lost actor,
waits for its restart and re-sends the call (see :mod:`~hdus_sim.runtime.ray_recovery`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hdus_sim.plan import RunPlan
from hdus_sim.runtime.base import DropListener
from hdus_sim.runtime.host import Host, host_name
from hdus_sim.runtime.hosted import HostedRuntime, hosted_peers
from hdus_sim.runtime.ray_cluster import RAY_CLUSTER, cpu_requests, ensure_ray, node_cpus
from hdus_sim.runtime.ray_recovery import ActorCalls, LossListener, NotStarted

__all__ = ["RAY_CLUSTER", "HostActor", "RayRuntime", "ensure_ray"]


class HostActor(Host):
    """One Ray actor: a :class:`~hdus_sim.runtime.host.Host` (wrapped by ``ray.remote``).

    A process that Ray restarted after a death has not been started by the driver yet (no
    gRPC server, an out-of-date directory): it refuses every call but ``start`` with
    :class:`~hdus_sim.runtime.ray_recovery.NotStarted`, so the driver notices the loss
    instead of running a round against a half-made actor.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.started = False

    def start(self) -> dict[str, Any]:
        """Start the gRPC server; also say which Ray node this actor runs on."""
        import ray

        info = super().start()
        self.started = True
        return {**info, "node_id": ray.get_runtime_context().get_node_id()}

    def call(self, method: str, *args: Any) -> Any:
        """Run one host method for the driver, once the driver has started this process."""
        if not self.started and method != "start":
            raise NotStarted(os.getpid())
        return super().call(method, *args)


class RayRuntime(ActorCalls, HostedRuntime):
    """The driver side of the ``ray`` runtime; see the module docstring.

    ``on_actor_lost(index, outcome)`` is told of every actor found lost (not killed by
    :meth:`kill_actor`) once Ray has restarted it and its peers are back; the simulation
    treats it exactly like a scripted ``kill_actor``. An actor that cannot come back
    raises :class:`~hdus_sim.errors.ActorLostError`; from then on the driver answers from
    the surviving actors (``lost`` says which actor is gone and why).
    """

    kind = "ray"

    def __init__(
        self,
        plan: RunPlan,
        *,
        on_drop: DropListener | None = None,
        on_actor_lost: LossListener | None = None,
    ) -> None:
        from hdus_sim.wire.security import make_test_pki

        HostedRuntime.__init__(self, plan, on_drop=on_drop)
        self.on_actor_lost = on_actor_lost
        rt = self.scenario.runtime
        self.ray = ensure_ray(rt.address)
        ids = plan.peer_ids
        self.ppa = rt.packing(len(ids))
        hosted = hosted_peers(ids, self.ppa)
        self.n_actors = self.n_hosts = len(hosted)
        self.pki = (
            make_test_pki({host_name(i): peers for i, peers in hosted.items()})
            if rt.wire.tls
            else None
        )
        base = Path(rt.checkpoint_dir) if rt.checkpoint_dir else Path(tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        self.checkpoint_dir = tempfile.mkdtemp(prefix="hdus-ckpt-", dir=base)
        self._own_checkpoints = rt.checkpoint_dir is None  # ours to delete on close
        # device classes -> Ray CPU requests, scaled together to fit the cluster
        profile = self.scenario.peers.profile
        wanted = [
            sum(profile(plan.devices.get(p, "sensor")).cpu for p in hosted[i]) or 0.01
            for i in range(self.n_hosts)
        ]
        # (per node: every actor must fit on one node, not merely in the cluster's total)
        requests = cpu_requests(wanted, node_cpus(self.ray))
        self.cpu_scale = min(1.0, sum(requests) / sum(wanted))
        strategy = "SPREAD" if rt.placement == "spread" else "DEFAULT"
        actor_cls = self.ray.remote(HostActor)
        self.actors = [
            actor_cls.options(
                num_cpus=requests[i],
                max_restarts=rt.max_restarts,
                scheduling_strategy=strategy,
            ).remote(plan, i, self.n_hosts, self.ppa, self.pki, self.checkpoint_dir)
            for i in range(self.n_hosts)
        ]
        self.info = self.ray.get([a.call.remote("start") for a in self.actors])
        self._broadcast_directory()

    def actor_of(self, peer_id: int) -> Any:
        """The actor hosting ``peer_id``."""
        from hdus_sim.world import placement_of

        return self.actors[placement_of(peer_id, self.ppa)]

    def delete_points(
        self, peer_id: int, ids: list[int], request_id: str, now: int
    ) -> dict[str, Any]:
        """Point deletion on the peer's actor; a refusal comes back as the peer raised it."""
        try:
            return super().delete_points(peer_id, ids, request_id, now)
        except self.ray.exceptions.RayTaskError as exc:
            raise exc.as_instanceof_cause() from None

    def end_round(self, now: int) -> None:
        """Checkpoint every actor's peers (what a restarted actor comes back from)."""
        self._all("save_checkpoint")

    def describe(self) -> dict[str, Any]:
        """Where actors run: node, process and the peers each hosts."""
        hosted = hosted_peers(self.plan.peer_ids, self.ppa)
        out: dict[str, Any] = {
            "actors": [
                {**{k: v for k, v in i.items() if k != "restored"}, "peers": hosted[idx]}
                for idx, i in enumerate(self.info)
            ],
            "peers_per_actor": self.ppa,
            "cpu_scale": self.cpu_scale,
            "nodes": sorted({i["node_id"] for i in self.info}),
            "cluster": dict(RAY_CLUSTER),
        }
        if self.lost:
            out["lost"] = [self.lost[i] for i in sorted(self.lost)]
        return out

    def kill_actor(self, index: int, now: int) -> dict[str, Any]:
        """Kill actor ``index``; Ray restarts it and it reloads its peers' last checkpoint.

        The restart is waited for exactly as for an actor lost from outside. Returns the
        peers it restored (exactly the ones it hosted) and the old and new process ids.
        """
        from hdus_sim.errors import RunError

        if not 0 <= index < self.n_hosts:
            raise RunError(
                f"kill_actor: actor {index} does not exist; actors are 0..{self.n_hosts - 1}"
            )
        return self._kill_and_restart(index)

    def _has_hosts(self) -> bool:
        return bool(self.actors)

    def _stop_hosts(self) -> None:
        for actor in self.actors:
            with contextlib.suppress(Exception):  # already gone
                self.ray.kill(actor)
        self.actors = []
        if self._own_checkpoints:
            shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
