"""One peer as its own process, on a real device: ``hdus-sim peer serve --config peer.yaml``.

The same :class:`~clients.peer.Peer` as in simulation, behind the same gRPC wire, but
driven by a wall clock instead of the scenario engine: every ``tick_s`` seconds it trains
(while its budget lasts), re-announces its seed, sends heartbeats, and declares neighbours
silent for ``heartbeat_timeout`` ticks crashed. It writes its state to ``status_file``
after every tick, so an operator (or a test) can watch what it holds.

``peer.yaml``::

    peer_id: 0
    scenario: scenarios/quickstart.yaml   # data split, models and protocol settings
    device: sensor                        # main-model architecture
    listen: 127.0.0.1:50051               # this peer's PeerService address
    neighbors: {1: 127.0.0.1:50052, 2: 127.0.0.1:50053}   # bootstrap neighbours
    pki_dir: certs/                       # optional: mutual TLS (hdus-sim certs --peers N)
    tick_s: 0.5
    heartbeat_timeout: 3                  # ticks of silence before a crash is declared
    status_file: peer0.status.json
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hdus_sim.errors import ScenarioError
from hdus_sim.runtime.base import PeerSpec
from hdus_sim.runtime.inprocess import InProcessRuntime
from hdus_sim.scenario import load_scenario, with_overrides
from hdus_sim.world import World

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
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, indent=1, sort_keys=True))
    os.replace(tmp, path)


def serve(config: PeerServeConfig, *, base_dir: Path | None = None) -> None:
    """Run one peer until ``config.ticks`` ticks have passed or SIGTERM/SIGINT arrives."""
    from hdus_sim.wire.grpc_transport import GrpcTransport, WireConfig
    from hdus_sim.wire.security import KeyRing, TestPki

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
    world = World.build(scenario)
    pki = TestPki.load(base / config.pki_dir) if config.pki_dir else None
    keyring = KeyRing.load(base / config.pki_dir) if (config.sign and config.pki_dir) else None
    host, _, port = config.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise ScenarioError(f"listen {config.listen!r}: this build binds 127.0.0.1 only")
    transport = GrpcTransport(
        WireConfig(
            hosts=1,
            tls=pki is not None,
            sign=keyring is not None,
            deadline_s=config.deadline_s,
            retries=1,
            drain_timeout_s=30.0,
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
    transport.start()
    transport.set_directory({_host(n): addr for n, addr in config.neighbors.items()})
    peer = runtime.peer(config.peer_id)
    with runtime.lock:
        for other in sorted(config.neighbors):
            peer.add_neighbor(other, 0)
    stop = False

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    status_path = Path(config.status_file) if config.status_file else None
    tick = 0
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
                    for other in sorted(config.neighbors):
                        peer.add_neighbor(other, tick)
            if status_path is not None:
                with runtime.lock:
                    _write_status(
                        status_path,
                        {
                            "peer": config.peer_id,
                            "epoch": peer.epoch,
                            "tick": tick,
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
        transport.close()
