"""One peer as its own process, on a real device: ``hdus-sim peer serve --config peer.yaml``.

The same :class:`~clients.peer.Peer` as in simulation, behind the same gRPC wire, but
driven by a wall clock instead of the scenario engine: every ``tick_s`` seconds it trains
(while its budget lasts), re-announces its seed, sends heartbeats, and declares neighbours
silent for ``heartbeat_timeout`` ticks crashed. It writes its state to ``status_file``
after every tick, so an operator (or a test) can watch what it holds: ``state``
(``serving``, then ``left``), the seeds it holds and has tombstoned, its neighbours, and
``drops``, the latest seeds it dropped with the tick and the reason (``leave``: the
owner's signed notice; ``crash``: this peer declared it crashed; ``lease`` ...).

The tick loop never waits on a neighbour: sends go to per-neighbour lanes with bounded
backlogs and deadlines (:mod:`hdus_sim.wire.lanes`), so a frozen or partitioned neighbour
costs one sender thread, not the loop's rate. A configured neighbour that was dropped
(declared crashed, or it dropped this device) is probed in the background with
exponential backoff (1, 2, 4 … up to 16 ticks); once it answers, the link is made again
and the usual protocol takes over: whoever was tombstoned is told so and continues under
a new epoch, and seeds flow again.

On SIGTERM or SIGINT the device leaves gracefully: it sends each neighbour its own
signed leave notice (the one an in-process ``leave`` sends), so they drop its seed at
once instead of after ``heartbeat_timeout`` ticks of silence; it waits up to
``leave_timeout_s`` for the notices to be answered (a frozen or unreachable neighbour
does not hold it longer), writes its final status (``"state": "left"``, and under
``"leave"`` the neighbours notified and whether all answered) and exits 0. SIGKILL stays
a crash, which the neighbours detect by silence. A device that stops after ``ticks``
ticks does not leave: it just stops (as before).

The peer keeps the hash-chained audit chain of an in-process run (learn, distil, send,
receive, drop, delete; see :mod:`hdus_sim.standalone_audit`) and writes it, atomically
and fsynced, after every tick that added records and at exit, to
``<audit_dir>/audit/peer<P>.jsonl`` with its heads entry in ``audit/heads/peer-<P>.json``.
Several devices may share one ``audit_dir``; ``hdus-sim audit <audit_dir>`` checks all
their chains (stop the devices first: a chain being rewritten may not match its head).

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
    leave_timeout_s: 3.0                  # longest wait for leave notices on SIGTERM
    audit_dir: .                          # default: the status file's folder (else
                                          # peer.yaml's)

``status_file`` and ``audit_dir`` are relative to the working directory; ``scenario``
and ``pki_dir`` to the folder of ``peer.yaml``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hdus_sim.errors import RunError, ScenarioError
from hdus_sim.rundir import atomic_write
from hdus_sim.runtime.base import PeerSpec
from hdus_sim.scenario import Scenario, load_scenario, with_overrides
from hdus_sim.standalone_audit import DeviceAudit
from hdus_sim.standalone_runtime import DeviceRuntime, Relinker, host_name
from hdus_sim.wire.grpc_transport import GrpcTransport, WireConfig
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
    leave_timeout_s: Annotated[float, Field(gt=0)] = 3.0
    audit_dir: str | None = None


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
    own = host_name(config.peer_id)
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


def _scenario_for(config: PeerServeConfig, base: Path) -> Scenario:
    """The device's scenario, with its ``heartbeat_timeout``; it must give this peer data."""
    path = Path(config.scenario)
    if not path.is_absolute():
        path = base / path
    scenario = with_overrides(
        load_scenario(path), {"exchange.heartbeat_timeout": config.heartbeat_timeout}
    )
    if config.peer_id not in scenario.all_peer_ids:
        raise ScenarioError(
            f"peer_id {config.peer_id} has no data in scenario {path} "
            f"(its peers are {scenario.all_peer_ids})"
        )
    return scenario


def _make_transport(
    config: PeerServeConfig, scenario: Scenario, pki: TestPki | None, keyring: KeyRing | None
) -> GrpcTransport:
    """The device's gRPC transport: one local host, bounded lanes, no waiting for quiet."""
    host, _, port = config.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise ScenarioError(f"listen {config.listen!r}: this build binds 127.0.0.1 only")
    return GrpcTransport(
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
        local_hosts=[host_name(config.peer_id)],
        placement=host_name,
        port=int(port or 0),
    )


def _audit_root(config: PeerServeConfig, base: Path) -> Path:
    """The folder whose ``audit/`` holds the chain.

    ``audit_dir``, else the status file's folder, else ``base`` (``peer.yaml``'s folder).
    """
    if config.audit_dir is not None:
        return Path(config.audit_dir)
    return Path(config.status_file).parent if config.status_file else base


@dataclass
class Device:
    """A running standalone peer: its runtime, transport and re-linker, and its next tick."""

    config: PeerServeConfig
    world: World
    runtime: DeviceRuntime
    transport: GrpcTransport
    audit: DeviceAudit
    tick: int = 0

    def __post_init__(self) -> None:
        self.peer = self.runtime.peer(self.config.peer_id)
        self.status_path = Path(self.config.status_file) if self.config.status_file else None
        self.relinker = Relinker(
            self.runtime,
            self.peer,
            sorted(self.config.neighbors),
            lambda: self.tick,
            self.config.tick_s,
            self.config.deadline_s,
        )


def start_device(
    config: PeerServeConfig, base: Path, on_serving: Callable[[str], None] | None = None
) -> Device:
    """Build the peer, start serving on ``config.listen`` and link the configured neighbours.

    Raises
    ------
    ScenarioError
        For a configuration that would run unsafely (see the module docstring).
    RunError
        When ``listen`` is already served by another process.
    """
    scenario = _scenario_for(config, base)
    pki, keyring = load_device_keys(config, base)
    transport = _make_transport(config, scenario, pki, keyring)
    world = World.build(scenario)

    def make_peer(spec: PeerSpec) -> Any:
        peer = world.make_peer(spec)
        # a device may start later than its neighbours: only suspect peers once heard
        peer.config = dataclasses.replace(peer.config, suspect_unheard=False, shared_clock=False)
        return peer

    runtime = DeviceRuntime(
        make_peer,
        world.global_x,
        world.global_y,
        transport=transport,
        credentials=None if keyring is None else keyring.credentials,
    )
    audit = DeviceAudit(
        peer_id=config.peer_id,
        run_dir=_audit_root(config, base),
        signer=None if keyring is None else keyring.sign,
    )
    runtime.record_audit(audit)  # sends are recorded by the sender, receipts by the receiver
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
    audit.flush(audit.chain)  # an empty chain: fails early if the folder is not writable
    if on_serving is not None:
        on_serving(transport.addresses[host_name(config.peer_id)])
    transport.set_directory({host_name(n): addr for n, addr in config.neighbors.items()})
    device = Device(config, world, runtime, transport, audit)
    with runtime.lock:
        for other in sorted(config.neighbors):
            device.peer.add_neighbor(other, 0)
    device.relinker.start()
    return device


def run_tick(dev: Device) -> list[tuple[int, Any, str]]:
    """One tick: train, re-announce, heartbeat, detect; re-key if a neighbour suspected us.

    Returns the tick's detections (see :meth:`InProcessRuntime.detect`).
    """
    config, runtime, peer, tick = dev.config, dev.runtime, dev.peer, dev.tick
    dev.transport.now = tick
    runtime.train_round(tick)
    if tick % config.reannounce_ticks == 0:
        with runtime.lock:
            envelopes = peer.announce_seed(tick)
        dev.transport.deliver(runtime, config.peer_id, envelopes, tick)
    runtime.send_heartbeats(tick)
    detections = runtime.detect(tick)
    if peer.declared_dead:
        # a neighbour suspected us (we were too slow): continue under a new epoch
        with runtime.lock:
            peer.rekey(peer.epoch + 1, dev.world.seeds_for(config.peer_id, peer.epoch + 1))
            envelopes = [
                env for other in sorted(config.neighbors) for env in peer.add_neighbor(other, tick)
            ]
        dev.transport.deliver(runtime, config.peer_id, envelopes, tick)
    return detections


def write_status(
    dev: Device, detections: list[tuple[int, Any, str]], state: str = "serving", **extra: Any
) -> None:
    """Write the status file (if configured): what the peer holds, knows and dropped, and why."""
    if dev.status_path is None:
        return
    peer = dev.peer

    def keys(items: Any) -> list[str]:
        return [f"{k[0]}:{k[1]}" for k in items]

    with dev.runtime.lock:
        _write_status(
            dev.status_path,
            {
                "peer": dev.config.peer_id,
                "state": state,
                "epoch": peer.epoch,
                "tick": dev.tick,
                "time": time.time(),
                "relinks": dev.relinker.relinks,
                "address": dev.transport.addresses[host_name(dev.config.peer_id)],
                "held": sorted(keys(peer.held)),
                "tombstones": sorted(keys(peer.tombstones)),
                "neighbors": sorted(peer.neighbors),
                "detections": keys(k for _, k, cause in detections if cause == "crash"),
                "lease_expired": keys(k for _, k, cause in detections if cause == "lease"),
                "drops": list(dev.runtime.drops),
                "seed_version": peer.own_seed.version if peer.own_seed else None,
                **extra,
            },
        )


def flush_audit(dev: Device) -> None:
    """Write the audit chain if it grew (snapshot under the lock, disk I/O outside it)."""
    with dev.runtime.lock:
        records = list(dev.audit.chain)
    dev.audit.flush(records)


def _wait_answered(transport: GrpcTransport, count: int, timeout_s: float) -> bool:
    """Wait until the first ``count`` queued messages finished; ``False`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while transport.completed < count:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def leave(dev: Device) -> dict[str, Any]:
    """Leave gracefully: signed leave notices to every neighbour, a bounded wait, final status.

    The notices are those of :meth:`InProcessRuntime.retire` with ``graceful=True``
    (signed by this peer's own key). Waits up to ``leave_timeout_s`` until everything
    queued so far was answered, refused or failed (an unreachable neighbour fails, a
    frozen one runs into the deadline). Returns what the final status says under
    ``"leave"``: the tick, the neighbours notified, and whether all were answered in time.
    """
    dev.relinker.stop.set()  # make no new link while leaving
    with dev.runtime.lock:
        notified = sorted(dev.peer.neighbors)
    dev.transport.now = dev.tick
    dev.runtime.retire(dev.config.peer_id, graceful=True, now=dev.tick)
    answered = _wait_answered(dev.transport, dev.transport.submitted, dev.config.leave_timeout_s)
    info = {"tick": dev.tick, "notified": notified, "answered": answered}
    write_status(dev, [], state="left", leave=info)
    return info


def shutdown(dev: Device) -> None:
    """Flush the audit chain and stop the transport without waiting on any neighbour.

    Messages still queued are not sent: with the directory cleared they end at once
    instead of each waiting out its deadline while the process exits.
    """
    dev.relinker.stop.set()
    flush_audit(dev)
    dev.transport.addresses.clear()
    dev.transport.close()


def serve(
    config: PeerServeConfig,
    *,
    base_dir: Path | None = None,
    on_serving: Callable[[str], None] | None = None,
) -> None:
    """Run one peer until ``config.ticks`` ticks have passed or SIGTERM/SIGINT arrives.

    On a signal the peer leaves gracefully (:func:`leave`) before it returns.
    ``on_serving(address)`` is called once the peer's server listens (not before).
    """
    dev = start_device(config, base_dir or Path.cwd(), on_serving)
    stopping = False

    def _stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stopping and (config.ticks is None or dev.tick < config.ticks):
            started = time.monotonic()
            detections = run_tick(dev)
            write_status(dev, detections)
            flush_audit(dev)
            dev.tick += 1
            time.sleep(max(0.0, config.tick_s - (time.monotonic() - started)))
        if stopping:
            leave(dev)
    finally:
        shutdown(dev)
