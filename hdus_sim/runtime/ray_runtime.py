"""Peers as Ray actors talking real gRPC: the ``ray`` runtime.

A Ray actor is a whole Python process (about 1 s to start and 180 MB with torch), so each
:class:`HostActor` hosts many peers (``runtime.peers_per_actor``, packed by peer id) and
one gRPC ``PeerService`` server; peers on different actors, and on the same one, exchange
every message over that wire. The :class:`~clients.peer.Peer` class is the very one the
in-process runtime uses: an actor wraps an :class:`InProcessRuntime` whose transport is the
gRPC wire.

The driver (:class:`RayRuntime`) sends each protocol step to every actor at once and then
waits for global quiescence: it polls every actor's count of messages submitted and
completed until the sums agree twice in a row (Mattern's counting method), so a message
relayed from actor to actor still completes within its round. Metrics come back as rows;
models stay in the actors (only the final predictions are pulled, once).

Each actor checkpoints its peers at the end of every round. An actor that dies, killed by
the scenario (``kill_actor``) or from outside (``kill -9``, the OOM killer, a lost node), is
restarted by Ray (``max_restarts``) and reloads its peers from that checkpoint; the
scenario says whether they are ``restore``-d as they were or ``rejoin`` under a new epoch.
Every driver call goes through :meth:`RayRuntime._calls`, which notices a lost actor,
waits for its restart and re-sends the call (see :mod:`~hdus_sim.runtime.ray_recovery`).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import socket
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from clients.messages import DataOwner
from clients.peer import Peer
from hdus_sim.errors import RunError
from hdus_sim.runtime.base import DeliveryStats, DropListener, PeerSpec
from hdus_sim.runtime.inprocess import InProcessRuntime
from hdus_sim.runtime.ray_recovery import ActorCalls, LossListener, NotStarted
from hdus_sim.scenario import Scenario, load_scenario, scenario_to_dict
from hdus_sim.world import World, placement_of

__all__ = ["HostActor", "RayRuntime"]


def actor_name(index: int) -> str:
    """Host name (and certificate name) of actor ``index``."""
    return f"actor{index}"


class HostActor:
    """One Ray actor: a gRPC host serving the peers placed on it (wrapped by ``ray.remote``).

    Parameters
    ----------
    scenario
        The scenario as plain data; the actor rebuilds the world (data split) from it.
    index, n_actors, peers_per_actor
        This actor's index, how many there are, and the packing that places peers.
    withheld
        Data owners whose own seed is never sent (the retrain oracle).
    pki
        Test certificates for mutual TLS (``None`` when ``runtime.wire.tls`` is off).
    checkpoint_dir
        Where this actor writes its peers after every round and reloads them on restart.
    """

    def __init__(
        self,
        scenario: dict[str, Any],
        index: int,
        n_actors: int,
        peers_per_actor: int,
        withheld: frozenset[DataOwner],
        pki: Any,
        checkpoint_dir: str,
    ) -> None:
        from hdus_sim.rng import derive_seed
        from hdus_sim.wire.faults import fault_layer_for
        from hdus_sim.wire.grpc_transport import GrpcTransport, WireConfig
        from hdus_sim.wire.security import KeyRing

        sc = load_scenario(scenario)
        self.index = index
        self.name = actor_name(index)
        self.checkpoint = Path(checkpoint_dir) / f"{self.name}.pkl"
        self.world = World.build(sc)
        w = sc.runtime.wire
        config = WireConfig.from_spec(w, hosts=n_actors)
        keyring = (
            KeyRing.generate(sc.all_peer_ids, seed=derive_seed(sc.seed, "keys")) if w.sign else None
        )
        self.transport = GrpcTransport(
            config,
            pki=pki,
            keyring=keyring,
            faults=fault_layer_for(sc),
            online=lambda: self.runtime.online(),
            local_hosts=[self.name],
            placement=lambda pid: actor_name(placement_of(pid, peers_per_actor)),
        )
        self.drops: list[tuple[int, DataOwner, int]] = []
        self.runtime = InProcessRuntime(
            self.world.make_peer,
            self.world.global_x,
            self.world.global_y,
            on_drop=lambda holder, key, now: self.drops.append((holder, key, now)),
            transport=self.transport,
            credentials=None if keyring is None else keyring.credentials,
        )
        self.transport.handler = self.runtime
        self.restored = self._restore()
        self.withheld = withheld
        self.started = False  # a process Ray restarted refuses calls until started again

    # -------------------------------------------------------------- lifecycle
    def _restore(self) -> list[int]:
        if not self.checkpoint.is_file():
            return []
        with self.checkpoint.open("rb") as fh:
            peers: dict[int, Peer] = pickle.load(fh)
        for peer in peers.values():
            peer.reference_x = self.world.reference  # share, as a fresh peer would
        self.runtime.peers.update(peers)
        return sorted(peers)

    def start(self) -> dict[str, Any]:
        """Start the gRPC server; return where it listens and where this actor runs."""
        import ray

        self.transport.start()
        self.started = True
        return {
            "host": self.name,
            "address": self.transport.addresses[self.name],
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "restored": self.restored,
        }

    def call(self, method: str, *args: Any) -> Any:
        """Run one of this actor's methods for the driver (the one way the driver calls in).

        A process that Ray restarted after a death has not been started by the driver yet
        (no gRPC server, an out-of-date directory): it refuses with :class:`NotStarted`, so
        the driver notices the loss instead of running a round against a half-made actor.
        """
        if not self.started:
            raise NotStarted(os.getpid())
        return getattr(self, method)(*args)

    def set_directory(self, addresses: dict[str, str]) -> None:
        """Learn where the other actors listen."""
        self.transport.set_directory(addresses)

    def save_checkpoint(self) -> int:
        """Write this actor's peers (atomically); returns the bytes written."""
        with self.runtime.lock:
            data = pickle.dumps(self.runtime.peers, protocol=pickle.HIGHEST_PROTOCOL)
        tmp = self.checkpoint.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.checkpoint)
        return len(data)

    def set_now(self, now: int) -> None:
        """Set the round that messages arriving here are handled in."""
        self.transport.now = now

    def counters(self) -> tuple[int, int]:
        """Messages submitted and completed by this actor's sender (for quiescence)."""
        return self.transport.submitted, self.transport.completed

    def drain_drops(self) -> list[tuple[int, DataOwner, int]]:
        """Seed drops since the last call: ``(holder, owner, round)``."""
        drops, self.drops = self.drops, []
        return drops

    def close(self) -> None:
        """Stop the gRPC server."""
        self.transport.close()

    # -------------------------------------------------------------- the runtime, remotely
    def spawn(self, spec: PeerSpec) -> None:
        """Create a peer here."""
        self.runtime.spawn(spec)

    def retire(self, peer_id: int, graceful: bool, now: int) -> None:
        """Stop a peer here (a graceful one says goodbye first)."""
        self.runtime.retire(peer_id, graceful=graceful, now=now)

    def open_link(self, local: int, other: int, other_epoch: int, now: int) -> None:
        """First half of a link."""
        self.runtime.open_link(local, other, other_epoch, now)

    def flush(self, now: int) -> None:
        """Send what opened links queued."""
        self.runtime.flush(now)

    def begin_round(self) -> None:
        """Reset per-round counters."""
        self.runtime.begin_round()

    def delete_points(self, peer_id: int, ids: list[int], request_id: str, now: int) -> Any:
        """Point deletion at a peer here (exceptions travel back to the driver)."""
        return self.runtime.delete_points(peer_id, ids, request_id, now)

    def train_round(self, now: int) -> list[int]:
        """Train the peers here; returns who made a new seed."""
        return self.runtime.train_round(now)

    def send_heartbeats(self, now: int) -> None:
        """Heartbeats from the peers here."""
        self.runtime.send_heartbeats(now)

    def detect(self, now: int) -> list[tuple[int, DataOwner, str]]:
        """Crash detection and lease expiry by the peers here."""
        return self.runtime.detect(now)

    def evaluate(self, now: int) -> list[dict[str, Any]]:
        """Accuracy rows of the peers here."""
        return self.runtime.evaluate(now)

    def predict_probe(self) -> dict[int, Any]:
        """Final ensemble scores of the peers here."""
        return self.runtime.predict_probe()

    def holdings(self) -> dict[int, dict[str, Any]]:
        """Held seeds and lineage of the peers here."""
        return self.runtime.holdings()

    def holders_of(self, owner: DataOwner) -> set[int]:
        """Peers here holding ``owner``'s seed."""
        return self.runtime.holders_of(owner)

    def declared_dead(self) -> list[int]:
        """Peers here that learned they were declared crashed."""
        return self.runtime.declared_dead()

    def rekey(self, peer_id: int, epoch: int) -> None:
        """Move a peer here to a new epoch."""
        self.runtime.rekey(peer_id, epoch, self.world.seeds_for(peer_id, epoch))

    def neighbor_sets(self) -> dict[int, set[int]]:
        """Links of the peers here."""
        return self.runtime.neighbor_sets()

    def round_stats(self) -> DeliveryStats:
        """Message counters of this round."""
        return self.runtime.round_stats()

    def main_parameters(self) -> dict[int, int]:
        """Main-model sizes of the peers here."""
        return self.runtime.main_parameters()

    def online(self) -> list[int]:
        """Peers running here."""
        return self.runtime.online()

    def get_peer(self, peer_id: int) -> Peer:
        """A copy of one peer (for inspection from the driver)."""
        with self.runtime.lock:
            return self.runtime.peer(peer_id)

    def wire_stats(self) -> dict[str, Any]:
        """Wire counters of this actor."""
        return self.transport.counters()


#: How this process got its Ray instance (set by :func:`_ensure_ray`; in the run's summary).
RAY_CLUSTER: dict[str, Any] = {}


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast (a clear :class:`RunError`) if nothing listens at a ``host:port`` address.

    ``ray.init`` itself retries an unreachable GCS for minutes, logging "Failed to connect
    to GCS" again and again.
    """
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        if address == "auto":
            return
        raise RunError(
            f"runtime.address {address!r}: write it as HOST:PORT of the Ray head (the port "
            "`ray start --head` printed, 6379 by default), or leave it out for a private "
            "local Ray instance"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise RunError(
            f"runtime.address {address}: no Ray cluster answers there ({why} within "
            f"{timeout_s:g} s); start one with `ray start --head --port={port}` on {host}, "
            "or leave runtime.address out to run on a private local Ray instance"
        ) from None


def _ensure_ray(address: str | None, num_cpus: int | None = None) -> Any:
    """Ray for this process: join the cluster at ``address``, or start a private local one.

    Without ``address`` Ray is always started fresh (``address="local"``): never a cluster
    found through ``RAY_ADDRESS`` or the ``ray_current_cluster`` file an earlier
    ``ray start`` left in Ray's temp folder (a dead one made ``ray.init()`` hang on
    "Failed to connect to GCS"). What was done is kept in :data:`RAY_CLUSTER`.
    """
    if address == "local":
        address = None
    if not address:
        # embedded local Ray binds 127.0.0.1 only with this set before ray is imported
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    if ray.is_initialized():
        if not RAY_CLUSTER:
            RAY_CLUSTER.update(mode="reused", note="reused the Ray instance of this process")
        return ray
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address:
        _check_reachable(address)
        host = address.rsplit(":", 1)[0]
        if host.startswith("127."):
            # a local multi-node test cluster: join from the head's loopback address
            # (Ray would otherwise resolve loopback to the machine's interface)
            kwargs["_node_ip_address"] = host
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
            raise RunError(
                f"runtime.address {address}: cannot join that Ray cluster: {exc}"
            ) from exc
        note = f"joined the Ray cluster at {address} (runtime.address)"
        RAY_CLUSTER.clear()
        RAY_CLUSTER.update(mode="joined", address=address, note=note)
        return ray
    ignored = []
    stale_env = os.environ.pop("RAY_ADDRESS", None)  # workers inherit it: drop it here
    if stale_env:
        ignored.append(f"RAY_ADDRESS={stale_env}")
    with contextlib.suppress(Exception):  # private Ray API: only for the note
        from ray._common.utils import get_ray_address_file

        found = Path(get_ray_address_file(None))
        if found.is_file():
            ignored.append(f"the cluster {found.read_text().strip()} named in {found}")
    ray.init(address="local", num_cpus=num_cpus, **kwargs)
    note = "started a private local Ray instance (runtime.address not set)"
    if ignored:
        note += "; ignored " + " and ".join(ignored) + " (set runtime.address to join a cluster)"
    RAY_CLUSTER.clear()
    RAY_CLUSTER.update(mode="private", address=ray.get_runtime_context().gcs_address, note=note)
    return ray


class RayRuntime(ActorCalls):
    """The driver side of the ``ray`` runtime; see the module docstring.

    ``on_actor_lost(index, outcome)`` is told of every actor found lost (not killed by
    :meth:`kill_actor`) once Ray has restarted it and its peers are back; the simulation
    treats it exactly like a scripted ``kill_actor``. An actor that cannot come back
    raises :class:`~hdus_sim.errors.ActorLostError`; from then on the driver answers from
    the surviving actors (``lost`` says which actor is gone and why).
    """

    def __init__(
        self,
        scenario: Scenario,
        world: World,
        *,
        on_drop: DropListener | None = None,
        withheld: frozenset[DataOwner] = frozenset(),
        devices: dict[int, str] | None = None,
        on_actor_lost: LossListener | None = None,
    ) -> None:
        from hdus_sim.wire.security import make_test_pki

        self.scenario = scenario
        self.world = world
        self.on_drop = on_drop
        self.on_actor_lost = on_actor_lost
        self.lost: dict[int, dict[str, Any]] = {}
        self.global_x, self.global_y = world.global_x, world.global_y
        rt = scenario.runtime
        self.ray = _ensure_ray(rt.address)
        ids = scenario.all_peer_ids
        self.ppa = rt.packing(len(ids))
        self.n_actors = placement_of(max(ids), self.ppa) + 1
        hosted = {
            i: [p for p in ids if placement_of(p, self.ppa) == i] for i in range(self.n_actors)
        }
        self.pki = (
            make_test_pki({actor_name(i): hosted[i] for i in range(self.n_actors)})
            if rt.wire.tls
            else None
        )
        base = Path(rt.checkpoint_dir) if rt.checkpoint_dir else Path(tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        self.checkpoint_dir = tempfile.mkdtemp(prefix="hdus-ckpt-", dir=base)
        self._own_checkpoints = rt.checkpoint_dir is None  # ours to delete on close
        # device classes -> Ray CPU requests, scaled together to fit the cluster
        devices = devices or {}
        wanted = [
            sum(scenario.peers.profile(devices.get(p, "sensor")).cpu for p in hosted[i]) or 0.01
            for i in range(self.n_actors)
        ]
        cluster = float(self.ray.cluster_resources().get("CPU", 1.0))
        self.cpu_scale = min(1.0, 0.9 * cluster / sum(wanted))
        strategy = "SPREAD" if rt.placement == "spread" else "DEFAULT"
        actor_cls = self.ray.remote(HostActor)
        plain = scenario_to_dict(scenario)
        self.actors = [
            actor_cls.options(
                num_cpus=round(wanted[i] * self.cpu_scale, 4),
                max_restarts=rt.max_restarts,
                scheduling_strategy=strategy,
            ).remote(plain, i, self.n_actors, self.ppa, withheld, self.pki, self.checkpoint_dir)
            for i in range(self.n_actors)
        ]
        self.info = self.ray.get([a.start.remote() for a in self.actors])
        self._broadcast_directory()
        self._online: set[int] = set()
        self._epochs: dict[int, int] = {}
        self.stats = DeliveryStats()
        self._final: dict[str, Any] | None = None
        self._now = -1

    def _tick(self, now: int) -> None:
        """Tell every actor the current round (arrivals are handled in it)."""
        if now != self._now:
            self._all("set_now", now)
            self._now = now

    # -------------------------------------------------------------- plumbing
    def actor_of(self, peer_id: int) -> Any:
        """The actor hosting ``peer_id``."""
        return self.actors[placement_of(peer_id, self.ppa)]

    def _on(self, peer_id: int, method: str, *args: Any) -> Any:
        """Call ``method`` on the actor hosting ``peer_id``."""
        return self._call(placement_of(peer_id, self.ppa), method, *args)

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

    def describe(self) -> dict[str, Any]:
        """Where actors run: node, process and the peers each hosts."""
        out = {
            "actors": [
                {
                    **{k: v for k, v in i.items() if k != "restored"},
                    "peers": [
                        p for p in self.scenario.all_peer_ids if placement_of(p, self.ppa) == idx
                    ],
                }
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

    # -------------------------------------------------------------- runtime protocol
    def spawn(self, spec: PeerSpec) -> None:
        """Create a peer on its actor."""
        self._on(spec.peer_id, "spawn", spec)
        self._online.add(spec.peer_id)
        self._epochs[spec.peer_id] = spec.epoch

    def retire(self, peer_id: int, *, graceful: bool, now: int) -> None:
        """Stop a peer (graceful: goodbye first) and wait for the consequences."""
        self._tick(now)
        self._on(peer_id, "retire", peer_id, graceful, now)
        self._online.discard(peer_id)
        self.barrier()

    def link(self, a: int, b: int, now: int) -> None:
        """Connect two peers (possibly on different actors)."""
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

    def delete_points(self, peer_id: int, ids: list[int], request_id: str, now: int) -> Any:
        """Point deletion at a peer on its actor; wait for the new seed to spread."""
        self._tick(now)
        try:
            receipt = self._on(peer_id, "delete_points", peer_id, ids, request_id, now)
        except self.ray.exceptions.RayTaskError as exc:
            raise exc.as_instanceof_cause() from None
        self.barrier()
        return receipt

    def online(self) -> list[int]:
        """Peers running anywhere."""
        return sorted(self._online)

    def is_online(self, peer_id: int) -> bool:
        """Whether ``peer_id`` runs."""
        return peer_id in self._online

    def check_actors(self) -> None:
        """Call every actor once, before a round: an actor lost since is found here.

        A death between two rounds is then handled at the very start of the next one,
        exactly where a scripted ``kill_actor`` of that round acts.
        """
        self._all("counters")

    def begin_round(self) -> None:
        """Reset per-round counters everywhere."""
        self._all("begin_round")

    def round_stats(self) -> DeliveryStats:
        """Message counters of this round, merged over actors."""
        merged = DeliveryStats()
        for st in self._all("round_stats"):
            merged.sent.update(st.sent)
            merged.bytes_sent.update(st.bytes_sent)
            merged.lost += st.lost
            merged.refused.update(st.refused)
        return merged

    def train_round(self, now: int) -> list[int]:
        """Every actor trains its peers at once; then wait for the announcements."""
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

    def end_round(self, now: int) -> None:
        """Checkpoint every actor's peers (what a restarted actor comes back from)."""
        self._all("save_checkpoint")

    def evaluate(self, now: int) -> list[dict[str, Any]]:
        """Accuracy rows from every actor (models stay where they are)."""
        return sorted(
            (r for batch in self._all("evaluate", now) for r in batch), key=lambda r: r["peer"]
        )

    def predict_probe(self) -> dict[int, Any]:
        """Final ensemble scores of every peer (pulled once, at the end)."""
        if self._final is not None:
            return self._final["predict_probe"]  # type: ignore[no-any-return]
        out: dict[int, Any] = {}
        for batch in self._all("predict_probe"):
            out.update(batch)
        return dict(sorted(out.items()))

    def holdings(self) -> dict[int, dict[str, Any]]:
        """Held seeds and lineage of every peer."""
        if self._final is not None:
            return self._final["holdings"]  # type: ignore[no-any-return]
        out: dict[int, dict[str, Any]] = {}
        for batch in self._all("holdings"):
            out.update(batch)
        return dict(sorted(out.items()))

    def holders_of(self, owner: DataOwner) -> set[int]:
        """Peers anywhere holding ``owner``'s seed."""
        return set().union(*self._all("holders_of", owner))

    def declared_dead(self) -> list[int]:
        """Peers that learned they were declared crashed."""
        if self._final is not None:
            return self._final["declared_dead"]  # type: ignore[no-any-return]
        return sorted(p for batch in self._all("declared_dead") for p in batch)

    def rekey(self, peer_id: int, epoch: int, seeds: Any = None) -> None:
        """Move a peer to a new epoch (its actor derives the seeds)."""
        self._on(peer_id, "rekey", peer_id, epoch)
        self._epochs[peer_id] = epoch

    def neighbor_sets(self) -> dict[int, set[int]]:
        """Links of every peer."""
        if self._final is not None:
            return self._final["neighbor_sets"]  # type: ignore[no-any-return]
        out: dict[int, set[int]] = {}
        for batch in self._all("neighbor_sets"):
            out.update(batch)
        return out

    def main_parameters(self) -> dict[int, int]:
        """Main-model sizes of every peer."""
        if self._final is not None:
            return self._final["main_parameters"]  # type: ignore[no-any-return]
        out: dict[int, int] = {}
        for batch in self._all("main_parameters"):
            out.update(batch)
        return dict(sorted(out.items()))

    def peer(self, peer_id: int) -> Peer:
        """A snapshot copy of a peer, fetched from its actor (changes do not go back)."""
        if peer_id not in self._online:
            raise RunError(f"peer {peer_id} is not online; online peers: {self.online()}")
        return self._on(peer_id, "get_peer", peer_id)  # type: ignore[no-any-return]

    def wire_stats(self) -> dict[str, Any]:
        """Wire counters summed over actors, plus where actors ran."""
        if self._final is not None:
            return self._final["wire_stats"]  # type: ignore[no-any-return]
        total: dict[str, Any] = dict.fromkeys(
            ("rpcs", "retries", "busy_retries", "failed", "backpressure_drops"), 0
        )
        total["idle_streams_cancelled"] = 0
        sums: dict[str, Counter[str]] = {"faults": Counter(), "limited": Counter()}
        for st in self._all("wire_stats"):
            for k in total:
                total[k] += st.get(k, 0)
            for what, counter in sums.items():
                counter.update(st.get(what, {}))
        total.update({what: dict(c) for what, c in sums.items() if c})
        total["ray"] = self.describe()
        return total

    def kill_actor(self, index: int, now: int) -> dict[str, Any]:
        """Kill actor ``index``; Ray restarts it and it reloads its peers' last checkpoint.

        The restart is waited for exactly as for an actor lost from outside. Returns the
        peers it restored (exactly the ones it hosted) and the old and new process ids.
        """
        if not 0 <= index < self.n_actors:
            raise RunError(
                f"kill_actor: actor {index} does not exist; actors are 0..{self.n_actors - 1}"
            )
        return self._kill_and_restart(index)

    def close(self) -> None:
        """Pull the final state once (predictions, holdings, counters), then stop every actor.

        After closing, the observation methods answer from that final snapshot (of the
        surviving actors' peers, after an actor was lost for good).
        """
        try:
            if self.actors and self._final is None:
                self._final = {
                    "predict_probe": self.predict_probe(),
                    "holdings": self.holdings(),
                    "main_parameters": self.main_parameters(),
                    "wire_stats": self.wire_stats(),
                    "neighbor_sets": self.neighbor_sets(),
                    "declared_dead": self.declared_dead(),
                }
        finally:
            for actor in self.actors:
                with contextlib.suppress(Exception):  # already gone
                    self.ray.kill(actor)
            self.actors = []
            if self._own_checkpoints:
                shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
