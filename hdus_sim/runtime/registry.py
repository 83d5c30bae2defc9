"""Runtimes by ``runtime.kind``: how a run plan becomes the runtime its peers live in.

======================  ==================================================================
``inprocess``           every peer in this process, messages as plain records in memory
                        (``wire_roundtrip``: each passes through its protobuf encoding)
``grpc``                the same peers, every message over real gRPC on loopback
``process``             peers packed on OS processes of this machine, gRPC between them
``ray``                 peers packed on Ray actors (embedded Ray or a cluster), gRPC
======================  ==================================================================

Every one writes the same hash-chained audit of its peers and answers the engine through
:class:`~hdus_sim.runtime.base.Runtime`; the driver never asks which one it has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from clients.peer import Message
from hdus_sim.plan import RunPlan
from hdus_sim.runtime.base import DropListener, Runtime
from hdus_sim.runtime.inprocess import InProcessRuntime
from hdus_sim.runtime.ray_recovery import LossListener
from hdus_sim.transport import LocalTransport, Transport
from hdus_sim.world import World

__all__ = ["RUNTIMES", "RuntimeHooks", "make_runtime"]


@dataclass(frozen=True)
class RuntimeHooks:
    """What the engine wants to hear from a runtime while it runs."""

    #: a holder dropped a seed: ``on_drop(holder, (owner, epoch), round)``
    on_drop: DropListener | None = None
    #: a host process was lost and came back (Ray): ``on_host_lost(index, outcome)``
    on_host_lost: LossListener | None = None


def _transport(plan: RunPlan, runtime: Callable[[], Runtime]) -> Transport:
    """The in-process runtimes' transport: in memory, or real gRPC on loopback."""
    s = plan.scenario
    rt = s.runtime
    if rt.kind == "inprocess":
        if rt.wire_roundtrip:
            from hdus_sim.wire.serde import roundtrip

            # every message kind is one of roundtrip's record types
            return LocalTransport(codec=cast(Callable[[Message], Message], roundtrip))
        return LocalTransport()
    from hdus_sim.wire.faults import fault_layer_for
    from hdus_sim.wire.grpc_transport import GrpcTransport, WireConfig
    from hdus_sim.wire.security import KeyRing, make_test_pki

    w = rt.wire
    ids = plan.peer_ids
    pki = None
    if w.tls:
        pki = make_test_pki(
            {f"host{h}": [p for p in ids if p % w.hosts == h] for h in range(w.hosts)}
        )
    keyring = KeyRing.for_simulation(ids, s.seed) if w.sign else None
    return GrpcTransport(
        WireConfig.from_spec(w),
        pki=pki,
        keyring=keyring,
        faults=fault_layer_for(s),
        online=lambda: runtime().online(),
    )


def _in_process(plan: RunPlan, world: World, hooks: RuntimeHooks) -> Runtime:
    made: list[Runtime] = []
    transport = _transport(plan, lambda: made[0])
    keyring = transport.keyring
    runtime = InProcessRuntime(
        world.make_peer,
        world.global_x,
        world.global_y,
        on_drop=hooks.on_drop,
        transport=transport,
        credentials=None if keyring is None else keyring.credentials,
        cohorts=plan.scenario.runtime.cohorts,
    )
    runtime.record_audit()
    made.append(runtime)
    return runtime


def _process(plan: RunPlan, world: World, hooks: RuntimeHooks) -> Runtime:
    from hdus_sim.runtime.process_runtime import ProcessRuntime

    return ProcessRuntime(plan, on_drop=hooks.on_drop)


def _ray(plan: RunPlan, world: World, hooks: RuntimeHooks) -> Runtime:
    from hdus_sim.runtime.ray_runtime import RayRuntime

    return RayRuntime(plan, on_drop=hooks.on_drop, on_actor_lost=hooks.on_host_lost)


#: ``runtime.kind`` -> factory(plan, the driver's world, hooks)
RUNTIMES: dict[str, Callable[[RunPlan, World, RuntimeHooks], Runtime]] = {
    "inprocess": _in_process,
    "grpc": _in_process,
    "process": _process,
    "ray": _ray,
}


def make_runtime(plan: RunPlan, world: World, hooks: RuntimeHooks) -> Runtime:
    """The runtime ``plan.scenario.runtime.kind`` names, built for ``plan``."""
    return RUNTIMES[plan.scenario.runtime.kind](plan, world, hooks)
