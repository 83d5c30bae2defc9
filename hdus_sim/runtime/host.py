"""One host process of a hosted runtime: a gRPC server and the peers placed on it.

A hosted runtime (``ray`` or ``process``) runs peers in several OS processes. Each process
holds one :class:`Host`: the run plan's world (it loads the data of its own peers from the
plan, as a real device holds only its own data), an
:class:`~hdus_sim.runtime.inprocess.InProcessRuntime` for its peers whose transport is the
real gRPC wire, and the audit chains of its peers. The driver reaches a host through one
generic :meth:`Host.call`: a host-level method (server, directory, checkpoint, counters)
or a protocol step forwarded, unchanged, to the in-process machinery it wraps — so a peer
on a host behaves exactly as it would in-process, by construction.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from clients.messages import DataOwner
from clients.peer import Peer
from hdus_sim.audit import AuditTrail
from hdus_sim.errors import RunError
from hdus_sim.plan import RunPlan
from hdus_sim.runtime.inprocess import InProcessRuntime
from hdus_sim.world import World, placement_of

__all__ = ["FORWARDED", "Host", "host_name"]

#: protocol steps a host forwards to its in-process runtime as they are
FORWARDED = frozenset(
    {
        "spawn",
        "open_link",
        "flush",
        "begin_round",
        "delete_points",
        "train_round",
        "send_heartbeats",
        "detect",
        "evaluate",
        "predict_probe",
        "holders_of",
        "declared_dead",
        "neighbor_sets",
        "round_stats",
        "online",
        "snapshot",
    }
)
#: the host's own methods the driver may call
HOST_METHODS = frozenset(
    {
        "retire",
        "rekey",
        "set_directory",
        "save_checkpoint",
        "set_now",
        "counters",
        "drain_drops",
        "get_peer",
        "audit_trail",
        "close",
    }
)


def host_name(index: int) -> str:
    """Host name (and certificate name) of host ``index``."""
    return f"actor{index}"


class Host:
    """The peers of one host process and the gRPC server they share.

    Parameters
    ----------
    plan
        The resolved run plan (the same object the driver holds).
    index, n_hosts, peers_per_host
        This host's index, how many there are, and the packing that places peers.
    pki
        Test certificates for mutual TLS (``None`` when ``runtime.wire.tls`` is off).
    checkpoint_dir
        Where this host writes its peers after every round and reloads them on restart
        (``None``: no checkpoints).
    """

    def __init__(
        self,
        plan: RunPlan,
        index: int,
        n_hosts: int,
        peers_per_host: int,
        pki: Any,
        checkpoint_dir: str | None,
    ) -> None:
        from hdus_sim.wire.faults import fault_layer_for
        from hdus_sim.wire.grpc_transport import GrpcTransport, WireConfig
        from hdus_sim.wire.security import KeyRing

        sc = plan.scenario
        self.plan = plan
        self.index = index
        self.name = host_name(index)
        self.checkpoint = (
            None if checkpoint_dir is None else Path(checkpoint_dir) / f"{self.name}.pkl"
        )
        self.world = World.build(sc)
        w = sc.runtime.wire
        keyring = KeyRing.for_simulation(plan.peer_ids, sc.seed) if w.sign else None
        self.transport = GrpcTransport(
            WireConfig.from_spec(w, hosts=n_hosts),
            pki=pki,
            keyring=keyring,
            faults=fault_layer_for(sc),
            online=lambda: self.runtime.online(),
            local_hosts=[self.name],
            placement=lambda pid: host_name(placement_of(pid, peers_per_host)),
        )
        self.drops: list[tuple[int, DataOwner, int]] = []
        self.runtime = InProcessRuntime(
            self.world.make_peer,
            self.world.global_x,
            self.world.global_y,
            on_drop=lambda holder, key, now: self.drops.append((holder, key, now)),
            transport=self.transport,
            credentials=None if keyring is None else keyring.credentials,
            cohorts=sc.runtime.cohorts,
        )
        self.audit = self.runtime.record_audit()
        self.transport.handler = self.runtime
        self.restored = self._restore()

    # -------------------------------------------------------------- the one way in
    def call(self, method: str, *args: Any) -> Any:
        """Run ``method`` for the driver: a host method, or a protocol step forwarded."""
        if method in HOST_METHODS or method == "start":
            return getattr(self, method)(*args)
        if method in FORWARDED:
            return getattr(self.runtime, method)(*args)
        raise RunError(f"host {self.index}: no method {method!r} (a driver/host mismatch)")

    # -------------------------------------------------------------- lifecycle
    def _restore(self) -> list[int]:
        if self.checkpoint is None or not self.checkpoint.is_file():
            return []
        with self.checkpoint.open("rb") as fh:
            saved: dict[str, Any] = pickle.load(fh)
        peers: dict[int, Peer] = saved["peers"]
        for peer in peers.values():
            peer.reference_x = self.world.reference  # share, as a fresh peer would
        self.runtime.peers.update(peers)
        self.audit.chains.update(saved["audit"])
        return sorted(peers)

    def start(self) -> dict[str, Any]:
        """Start the gRPC server; return where it listens and which peers came back."""
        self.transport.start()
        return {
            "host": self.name,
            "address": self.transport.addresses[self.name],
            "pid": os.getpid(),
            "restored": self.restored,
        }

    def set_directory(self, addresses: dict[str, str]) -> None:
        """Learn where the other hosts listen."""
        self.transport.set_directory(addresses)

    def save_checkpoint(self) -> int:
        """Write this host's peers and their audit chains (atomically); bytes written."""
        if self.checkpoint is None:
            return 0
        with self.runtime.lock:
            state = {"peers": self.runtime.peers, "audit": self.audit.chains}
            data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        tmp = self.checkpoint.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.checkpoint)
        return len(data)

    def set_now(self, now: int) -> None:
        """Set the round that messages arriving here are handled in."""
        self.transport.now = now

    def counters(self) -> tuple[int, int]:
        """Messages submitted and completed by this host's sender (for quiescence)."""
        return self.transport.submitted, self.transport.completed

    def drain_drops(self) -> list[tuple[int, DataOwner, int]]:
        """Seed drops since the last call: ``(holder, owner, round)``."""
        drops, self.drops = self.drops, []
        return drops

    def close(self) -> None:
        """Stop the gRPC server."""
        self.transport.close()

    # -------------------------------------------------------------- host-side steps
    def retire(self, peer_id: int, graceful: bool, now: int) -> None:
        """Stop a peer here (a graceful one says goodbye first)."""
        self.runtime.retire(peer_id, graceful=graceful, now=now)

    def rekey(self, peer_id: int, epoch: int) -> None:
        """Move a peer here to a new epoch (its random streams are derived here)."""
        self.runtime.rekey(peer_id, epoch, self.world.seeds_for(peer_id, epoch))

    def get_peer(self, peer_id: int) -> Peer:
        """A copy of one peer (for inspection from the driver)."""
        with self.runtime.lock:
            return self.runtime.peer(peer_id)

    def audit_trail(self) -> AuditTrail:
        """The audit chains of the peers that ran here."""
        with self.runtime.lock:
            return AuditTrail({p: list(c) for p, c in self.audit.chains.items()})
