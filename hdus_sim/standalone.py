"""One peer as its own process, on a real device: ``hdus-sim peer serve --config peer.yaml``.

The same :class:`~clients.peer.Peer` as in simulation, behind the same gRPC wire, but
driven by a wall clock instead of the scenario engine: every ``tick_s`` seconds it trains
(while its budget lasts), re-announces its seed, sends heartbeats, and declares neighbours
silent for ``heartbeat_timeout`` ticks crashed. It writes its state to ``status_file``
after every tick, so an operator (or a test) can watch what it holds.

The tick loop never waits on a neighbour: sends go to per-neighbour lanes with bounded
backlogs and deadlines (:mod:`hdus_sim.wire.lanes`), so a frozen or partitioned neighbour
costs one sender thread, not the loop's rate. A configured neighbour that was dropped
(declared crashed, or it dropped this device) is probed in the background with
exponential backoff (1, 2, 4 … up to 16 ticks); once it answers, the link is made again
and the usual protocol takes over: whoever was tombstoned is told so and continues under
a new epoch, and seeds flow again.

Start-up refuses, with one clear line, what would run unsafely: ``sign: true`` without a
``pki_dir`` (it would serve unsigned notices), a ``pki_dir`` holding another device's
private keys or the CA key (this device could speak for others), and a ``listen``
address another process already serves (gRPC binds with ``SO_REUSEPORT`` by default, so
two peers on one port would both report serving and share its calls).

``peer.yaml``::

    peer_id: 0
    scenario: scenarios/quickstart.yaml   # data split, models and protocol settings
    device: sensor                        # main-model architecture
    listen: 127.0.0.1:50051               # this peer's PeerService address
    neighbors: {1: 127.0.0.1:50052, 2: 127.0.0.1:50053}   # bootstrap neighbours
    pki_dir: certs/peer0/                 # optional: mutual TLS; this device's own folder
                                          # written by `hdus-sim certs certs --peers N`
    sign: true                            # sign notices with its own key (needs pki_dir)
    tick_s: 0.5
    heartbeat_timeout: 3                  # ticks of silence before a crash is declared
    status_file: peer0.status.json
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hdus_sim.errors import RunError, ScenarioError
from hdus_sim.rundir import atomic_write
from hdus_sim.runtime.base import PeerSpec
from hdus_sim.runtime.inprocess import InProcessRuntime
from hdus_sim.scenario import load_scenario, with_overrides
from hdus_sim.world import World

if TYPE_CHECKING:
    from hdus_sim.wire.security import KeyRing, TestPki

__all__ = ["PeerServeConfig", "load_peer_config", "serve"]


class PeerServeConfig(BaseModel):
    """A standalone peer's configuration (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    peer_id: Annotated[int, Field(ge=0)]
    epoch: Annotated[int, Field(ge=0)] = 0
    scenario: str
    device: str = "sensor"
    listen: str = "127.0.0.1:0"
    neighbors: dict[int, str] = Field(default_factory=dict)
    pki_dir: str | None = None
    sign: bool = False
    tick_s: Annotated[float, Field(gt=0)] = 0.5
    heartbeat_timeout: Annotated[int, Field(ge=1)] = 3
    reannounce_ticks: Annotated[int, Field(ge=1)] = 4
    deadline_s: Annotated[float, Field(gt=0)] = 2.0
    ticks: Annotated[int, Field(ge=1)] | None = None
    status_file: str | None = None


def load_peer_config(path: str | Path) -> PeerServeConfig:
    """Read and validate ``peer.yaml``; errors name the field."""
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"peer config {p} does not exist; see `hdus-sim peer serve --help`")
    try:
        raw = yaml.safe_load(p.read_text())
        return PeerServeConfig.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ScenarioError(f"invalid peer config {p}: {exc}") from None


def _host(pid: int) -> str:
    return f"peer{pid}"


def _write_status(path: Path, status: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(status, indent=1, sort_keys=True))


def load_device_keys(config: PeerServeConfig, base: Path) -> tuple[TestPki | None, KeyRing | None]:
    """Load the device's certificates and signing keys from ``pki_dir``, refusing unsafe ones.

    Returns ``(pki, keyring)``: ``pki`` is ``None`` without a ``pki_dir`` (plaintext
    gRPC), ``keyring`` is ``None`` unless ``sign`` is on; the ring can sign only as this
    peer and verifies every peer.

    Raises
    ------
    ScenarioError
        For ``sign: true`` without ``pki_dir``, or a ``pki_dir`` that is not this
        device's own folder (another host's TLS key, the CA key, another peer's
        signing key).
    """
    from hdus_sim.wire.security import KeyRing, TestPki

    if config.pki_dir is None:
        if config.sign:
            raise ScenarioError(
                f"peer {config.peer_id}: sign: true needs pki_dir (this device's folder "
                "written by `hdus-sim certs`, with its own signing key and every peer's "
                "public key); without it the peer would serve unsigned notices. Set "
                "pki_dir, or sign: false"
            )
        return None, None
    folder = base / config.pki_dir
    pki = TestPki.load(folder)
    own = _host(config.peer_id)
    if own not in pki.hosts:
        raise ScenarioError(
            f"pki_dir {folder} has no certificate for {own} (it has {sorted(pki.hosts)}); "
            f"point pki_dir at {own}'s folder written by `hdus-sim certs OUT --peers N`"
        )
    if set(pki.hosts) != {own} or pki.ca_key_pem is not None:
        extra = sorted(set(pki.hosts) - {own})
        held = ([f"the TLS keys of {extra}"] if extra else []) + (
            ["the CA key"] if pki.ca_key_pem is not None else []
        )
        raise ScenarioError(
            f"pki_dir {folder} holds {' and '.join(held)}: with them this device could "
            f"speak for others; give it only its own folder (`hdus-sim certs OUT` writes "
            f"OUT/{own}/)"
        )
    keyring = KeyRing.load_for(folder, [config.peer_id]) if config.sign else None
    return pki, keyring


@contextlib.contextmanager
def _exclusive_ports() -> Iterator[None]:
    """Make the gRPC servers created in this block bind their port exclusively.

    That is, without ``SO_REUSEPORT``: gRPC sets it by default, so a second process
    binds a port that is already served and both report serving. The option is added
    here, around the transport's start, because the transport builds its servers itself.
    """
    import grpc

    real: Callable[..., Any] = grpc.server

    def server(*args: Any, **kwargs: Any) -> Any:
        options = [*(kwargs.pop("options", None) or ()), ("grpc.so_reuseport", 0)]
        return real(*args, options=options, **kwargs)

    grpc.server = server
    try:
        yield
    finally:
        grpc.server = real


class Relinker(threading.Thread):
    """Re-make links to configured neighbours that were dropped, probing with backoff.

    Runs beside the tick loop (probes block up to a deadline; the loop must not).
    ``tick()`` reads the loop's current tick.
    """

    MAX_BACKOFF_TICKS = 16

    def __init__(
        self,
        runtime: Any,
        peer: Any,
        neighbors: list[int],
        tick: Callable[[], int],
        tick_s: float,
        deadline_s: float,
    ) -> None:
        super().__init__(name="hdus-relinker", daemon=True)
        self.runtime, self.peer, self.neighbors = runtime, peer, neighbors
        self.tick, self.tick_s, self.deadline_s = tick, tick_s, deadline_s
        self.stop = threading.Event()
        self.relinks = 0
        self._due: dict[int, tuple[int, int]] = {}  # neighbour -> (next tick, backoff)

    def run(self) -> None:
        while not self.stop.wait(self.tick_s):
            for other in self.neighbors:
                self.visit(other)

    def visit(self, other: int) -> None:
        """Probe ``other`` if it is unlinked and due; re-link it if it answers."""
        now = self.tick()
        with self.runtime.lock:
            linked = other in self.peer.neighbors
        if linked:
            self._due.pop(other, None)
            return
        due, backoff = self._due.get(other, (now, 1))
        if now < due:
            return
        transport = self.runtime.transport
        if not transport.probe(_host(self.peer.peer_id), _host(other), self.deadline_s):
            backoff = min(2 * backoff, self.MAX_BACKOFF_TICKS)
            self._due[other] = (self.tick() + backoff, backoff)
            return
        with self.runtime.lock:
            envelopes = self.peer.add_neighbor(other, self.tick())
        transport.deliver(self.runtime, self.peer.peer_id, envelopes, self.tick())
        self._due.pop(other, None)
        self.relinks += 1


def serve(
    config: PeerServeConfig,
    *,
    base_dir: Path | None = None,
    on_serving: Callable[[str], None] | None = None,
) -> None:
    """Run one peer until ``config.ticks`` ticks have passed or SIGTERM/SIGINT arrives.

    ``on_serving(address)`` is called once the peer's server listens (not before).
    """
    from hdus_sim.wire.grpc_transport import GrpcTransport, WireConfig

    base = base_dir or Path.cwd()
    scenario_path = Path(config.scenario)
    if not scenario_path.is_absolute():
        scenario_path = base / scenario_path
    scenario = load_scenario(scenario_path)
    scenario = with_overrides(scenario, {"exchange.heartbeat_timeout": config.heartbeat_timeout})
    if config.peer_id not in scenario.all_peer_ids:
        raise ScenarioError(
            f"peer_id {config.peer_id} has no data in scenario {scenario_path} "
            f"(its peers are {scenario.all_peer_ids})"
        )
    pki, keyring = load_device_keys(config, base)
    host, _, port = config.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise ScenarioError(f"listen {config.listen!r}: this build binds 127.0.0.1 only")
    world = World.build(scenario)
    transport = GrpcTransport(
        WireConfig.from_spec(
            scenario.runtime.wire,
            hosts=1,
            tls=pki is not None,
            sign=keyring is not None,
            deadline_s=config.deadline_s,
            retries=1,
            drain_timeout_s=30.0,
            quiesce=False,  # a device sends and goes on; lanes bound what waits
            max_pending_per_peer=8,
        ),
        pki=pki,
        keyring=keyring,
        local_hosts=[_host(config.peer_id)],
        placement=_host,
        port=int(port or 0),
    )

    def make_peer(spec: PeerSpec) -> Any:
        peer = world.make_peer(spec)
        # a device may start later than its neighbours: only suspect peers once heard
        peer.config = dataclasses.replace(peer.config, suspect_unheard=False, shared_clock=False)
        return peer

    runtime = InProcessRuntime(
        make_peer,
        world.global_x,
        world.global_y,
        transport=transport,
        credentials=None if keyring is None else keyring.credentials,
    )
    transport.handler = runtime
    transport.online = runtime.online
    runtime.spawn(PeerSpec(config.peer_id, config.epoch, config.device))
    try:
        with _exclusive_ports():
            transport.start()
    except (RuntimeError, RunError) as exc:
        transport.close()
        if "bind" not in str(exc).lower():
            raise
        raise RunError(
            f"peer {config.peer_id} cannot listen on {config.listen}: the address is in "
            "use (another `hdus-sim peer serve`?); stop that process or choose another "
            "listen port"
        ) from exc
    if on_serving is not None:
        on_serving(transport.addresses[_host(config.peer_id)])
    transport.set_directory({_host(n): addr for n, addr in config.neighbors.items()})
    peer = runtime.peer(config.peer_id)
    with runtime.lock:
        for other in sorted(config.neighbors):
            peer.add_neighbor(other, 0)
    stop = False
    tick = 0
    relinker = Relinker(
        runtime,
        peer,
        sorted(config.neighbors),
        lambda: tick,
        config.tick_s,
        config.deadline_s,
    )
    relinker.start()

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    status_path = Path(config.status_file) if config.status_file else None
    try:
        while not stop and (config.ticks is None or tick < config.ticks):
            started = time.monotonic()
            transport.now = tick
            runtime.train_round(tick)
            if tick % config.reannounce_ticks == 0:
                with runtime.lock:
                    envelopes = peer.announce_seed(tick)
                transport.deliver(runtime, config.peer_id, envelopes, tick)
            runtime.send_heartbeats(tick)
            detections = runtime.detect(tick)
            if peer.declared_dead:
                # a neighbour suspected us (we were too slow): continue under a new epoch
                with runtime.lock:
                    peer.rekey(peer.epoch + 1, world.seeds_for(config.peer_id, peer.epoch + 1))
                    envelopes = [
                        env
                        for other in sorted(config.neighbors)
                        for env in peer.add_neighbor(other, tick)
                    ]
                transport.deliver(runtime, config.peer_id, envelopes, tick)
            if status_path is not None:
                with runtime.lock:
                    _write_status(
                        status_path,
                        {
                            "peer": config.peer_id,
                            "epoch": peer.epoch,
                            "tick": tick,
                            "time": time.time(),
                            "relinks": relinker.relinks,
                            "address": transport.addresses[_host(config.peer_id)],
                            "held": sorted(f"{k[0]}:{k[1]}" for k in peer.held),
                            "tombstones": sorted(f"{k[0]}:{k[1]}" for k in peer.tombstones),
                            "neighbors": sorted(peer.neighbors),
                            "detections": [
                                f"{k[0]}:{k[1]}" for _, k, cause in detections if cause == "crash"
                            ],
                            "lease_expired": [
                                f"{k[0]}:{k[1]}" for _, k, cause in detections if cause == "lease"
                            ],
                            "seed_version": peer.own_seed.version if peer.own_seed else None,
                        },
                    )
            tick += 1
            time.sleep(max(0.0, config.tick_s - (time.monotonic() - started)))
    finally:
        relinker.stop.set()
        transport.close()
