"""The sections of a scenario file, one validated model each (everything but the whole).

:class:`~hdus_sim.scenario.Scenario` puts them together and checks across them. Every model
refuses unknown fields, is immutable, and takes no ``inf`` / ``nan`` in a float field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from clients.catalog import MAIN_ARCHITECTURE_NAMES as MAIN_ARCHITECTURES
from clients.catalog import SEED_ARCHITECTURE_NAMES as SEED_ARCHITECTURES
from clients.datasets import DATASETS
from clients.partition import SCHEMES
from topologies import BUILDERS

#: every model: no unknown fields, immutable, and no ``inf`` / ``nan`` in any float field
STRICT_MODEL = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
NonNegInt = Annotated[int, Field(ge=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]


class DatasetSpec(BaseModel):
    """Where the data comes from: ``digits`` (bundled), ``synthetic``, or files under ``root``."""

    model_config = STRICT_MODEL
    name: str = "digits"
    root: str | None = None
    synthetic_samples: PosInt | None = None
    synthetic_dim: PosInt = 32
    #: image pixels in [0, 1] (``unit``, every loader's range) or [-1, 1] (``signed``, as
    #: the HDUS authors normalise); a fixed map per pixel, so no peer's data shapes it
    pixels: Literal["unit", "signed"] = "unit"

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in DATASETS:
            raise ValueError(f"unknown dataset {v!r}; choose one of {list(DATASETS)}")
        return v

    @model_validator(mode="after")
    def _needs(self) -> DatasetSpec:
        if self.name == "synthetic" and self.synthetic_samples is None:
            raise ValueError("dataset 'synthetic' needs synthetic_samples (e.g. 20000)")
        if self.pixels == "signed" and self.name in ("synthetic", "uci_har"):
            raise ValueError(
                f"dataset.pixels: 'signed' rescales image pixels, but {self.name!r} gives "
                "feature vectors; remove dataset.pixels"
            )
        if self.name not in ("digits", "mnist_subset", "synthetic") and self.root is None:
            raise ValueError(f"dataset {self.name!r} is read from local files: set dataset.root")
        return self


class ReferenceSpec(BaseModel):
    """The public reference set every peer distils on, held out from all peers' data."""

    model_config = STRICT_MODEL
    source: Literal["public", "synthetic"] = "public"
    size: Annotated[float, Field(gt=0)] = 0.15


class PartitionSpec(BaseModel):
    """How the data is split among peers, and the held-out reference and global test sets."""

    model_config = STRICT_MODEL
    scheme: str = "class_drop"
    alpha: Annotated[float, Field(gt=0)] = 0.5
    classes_dropped: NonNegInt = 2
    quantity_sigma: Annotated[float, Field(gt=0)] = 1.0
    reference: ReferenceSpec = ReferenceSpec()
    global_test_size: Annotated[float, Field(gt=0)] = 0.15
    local_test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2

    @field_validator("scheme")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in SCHEMES:
            raise ValueError(f"unknown partition scheme {v!r}; choose one of {list(SCHEMES)}")
        return v


class TopologySpec(BaseModel):
    """The initial graph over the initial peers: a builder name and its parameters."""

    model_config = STRICT_MODEL
    kind: str = "small_world"
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in BUILDERS:
            raise ValueError(f"unknown topology {v!r}; choose one of {sorted(BUILDERS)}")
        return v


class DynamicsSpec(BaseModel):
    """How the graph changes: how a joining peer attaches and how a leave is repaired."""

    model_config = STRICT_MODEL
    attach: Literal["random", "preferential", "nearest"] = "random"
    attach_k: PosInt = 2
    repair: Literal["none", "reconnect_neighbors", "ring_bridge"] = "reconnect_neighbors"
    #: after every change: ``report`` a partitioned graph in the events log, or ``repair`` it
    guard: Literal["report", "repair"] = "report"


class DeviceProfile(BaseModel):
    """What a device class can do: Ray resources, simulated compute speed and link.

    ``cpu`` is the Ray CPU request per peer of this class (scaled down together when the
    cluster is smaller than the sum); ``speed`` is training throughput in samples per
    second; ``bandwidth_mbps`` and ``latency_ms`` describe its uplink. Round timing uses
    them: a peer's simulated time is work / speed + bits sent / bandwidth + latency.
    """

    model_config = STRICT_MODEL
    cpu: Annotated[float, Field(gt=0)] = 0.1
    speed: Annotated[float, Field(gt=0)] = 20_000.0
    bandwidth_mbps: Annotated[float, Field(gt=0)] = 10.0
    latency_ms: NonNegFloat = 20.0


DEFAULT_PROFILES: dict[str, DeviceProfile] = {
    "sensor": DeviceProfile(cpu=0.05, speed=2_000, bandwidth_mbps=0.25, latency_ms=50),
    "linear": DeviceProfile(cpu=0.05, speed=2_000, bandwidth_mbps=0.25, latency_ms=50),
    "phone": DeviceProfile(cpu=0.1, speed=20_000, bandwidth_mbps=10, latency_ms=20),
    "gateway": DeviceProfile(cpu=0.25, speed=100_000, bandwidth_mbps=100, latency_ms=5),
}


class PeersSpec(BaseModel):
    """The initial peers, their device mix and the ensemble's mixing weight."""

    model_config = STRICT_MODEL
    initial: Annotated[int, Field(ge=2)]
    devices: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {"sensor": 1.0, "phone": 1.0, "gateway": 1.0}
    )
    rho: Annotated[float, Field(ge=0, le=1)] = 0.5
    combine: Literal["logits", "probs"] = "probs"
    #: extra rho values scored each round on the local test sets, in both combine modes
    #: (e.g. ``[0, 0.1, ..., 1]``: the HDUS authors' rho curve from one run)
    rho_grid: list[Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=list)
    profiles: dict[str, DeviceProfile] = Field(default_factory=lambda: dict(DEFAULT_PROFILES))
    #: device class by topology role (e.g. ``{gateway: gateway, device: sensor}``)
    devices_by_role: dict[str, str] = Field(default_factory=dict)
    #: device class of named initial peers, over the mix and the roles (e.g. the HDUS
    #: authors' ``{0: resnet8, 1: resnet18}``)
    devices_by_peer: dict[int, str] = Field(default_factory=dict)
    unlearning: Literal["none", "sisa", "certified", "sq", "retrain"] = "none"
    unlearning_by_device: dict[str, Literal["none", "sisa", "certified", "sq", "retrain"]] = Field(
        default_factory=dict
    )
    unlearning_options: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def unlearning_of(self, device: str) -> str | None:
        """Point-deletion method of a device class (``None``: plain model, retrain)."""
        kind = self.unlearning_by_device.get(device, self.unlearning)
        return None if kind == "none" else kind

    def profile(self, device: str) -> DeviceProfile:
        """The profile of a device class (the defaults fill what the scenario leaves out)."""
        return self.profiles.get(device) or DEFAULT_PROFILES.get(device) or DeviceProfile()

    @field_validator("devices")
    @classmethod
    def _known(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("give at least one device class, e.g. {sensor: 1}")
        for name in v:
            if name not in MAIN_ARCHITECTURES:
                raise ValueError(
                    f"unknown device class {name!r}; choose from {sorted(MAIN_ARCHITECTURES)}"
                )
        return v


class TrainingSpec(BaseModel):
    """Local training of main models: ``local_epochs`` per round for ``train_rounds`` rounds.

    ``local_steps``, if set, replaces ``local_epochs``: a training round is then exactly
    that many minibatch steps of ``batch_size``, cycling through the peer's data in shuffled
    passes drawn from the peer's own training stream (``null``, the default: epochs).
    """

    model_config = STRICT_MODEL
    local_epochs: PosInt = 5
    local_steps: int | None = None
    train_rounds: PosInt = 3
    batch_size: PosInt = 32
    lr: Annotated[float, Field(gt=0)] = 0.01

    @field_validator("local_steps")
    @classmethod
    def _positive_steps(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError(
                "local_steps must be a positive number of minibatch steps per training "
                "round (e.g. 5); leave it out (or null) to train `local_epochs` passes instead"
            )
        return v


class SeedModelSpec(BaseModel):
    """The shared seed architecture and its distillation on the reference set."""

    model_config = STRICT_MODEL
    arch: str = "seed_mlp"
    distill_steps: PosInt = 200
    batch_size: PosInt = 128
    lr: Annotated[float, Field(gt=0)] = 0.01
    temperature: Annotated[float, Field(gt=0)] = 3.0

    @field_validator("arch")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in SEED_ARCHITECTURES:
            raise ValueError(
                f"unknown seed architecture {v!r}; choose one of {sorted(SEED_ARCHITECTURES)}"
            )
        return v


class ExchangeSpec(BaseModel):
    """Seed exchange: hops a seed travels; rounds of silence before a crash is declared.

    ``lease``: rounds a holder keeps a seed after its owner's last renewal reached it (the
    bound on forgetting a departed device, detected or not); ``0`` means the default
    ``heartbeat_timeout + relay_hops + 1``.
    """

    model_config = STRICT_MODEL
    relay_hops: PosInt = 1
    heartbeat_timeout: PosInt = 2
    lease: NonNegInt = 0

    @property
    def lease_rounds(self) -> int:
        """The lease in rounds (the default when ``lease`` is 0)."""
        return self.lease or self.heartbeat_timeout + self.relay_hops + 1


class WireSpec(BaseModel):
    """The gRPC wire (``runtime.kind: grpc``): hosts on 127.0.0.1, TLS, signatures, limits."""

    model_config = STRICT_MODEL
    hosts: PosInt = 2
    tls: bool = True
    sign: bool = True
    chunk_kb: PosInt = 1024
    deadline_s: Annotated[float, Field(gt=0)] = 10.0
    retries: NonNegInt = 4
    workers: PosInt = 8
    # hostile-input limits of every server (None: the default of WireConfig/AdmissionLimits;
    # a rate of 0 turns that limit off); see hdus_sim.wire.admission
    max_items: PosInt | None = None
    server_workers: PosInt | None = None
    connection_msgs_per_s: NonNegFloat | None = None
    connection_bytes_per_s: NonNegFloat | None = None
    sender_msgs_per_s: NonNegFloat | None = None
    max_concurrent_rpcs: PosInt | None = None
    max_streams_per_connection: PosInt | None = None
    stream_idle_s: NonNegFloat | None = None
    max_unary_bytes: PosInt | None = None


class RuntimeSpec(BaseModel):
    """Where peers run and how they talk.

    ``inprocess``: all peers in this Python process, messages handed over as plain records
    (``wire_roundtrip: true`` passes each through its protobuf encoding). ``grpc``: the same
    peers, but every message crosses real gRPC between ``wire.hosts`` servers on loopback.
    ``ray``: peers packed ``peers_per_actor`` to a Ray actor, each actor a gRPC host; embedded
    local Ray, or the cluster at ``address``; ``placement`` spreads actors over nodes or packs
    them; a killed actor (``kill_actor``, or lost from outside: ``kill -9``, OOM, a lost
    node) is restarted (``max_restarts``) from its peers' last checkpoint and its peers are
    ``restore``-d as they were or ``rejoin`` under a new epoch. ``process``: the same hosts
    as ``ray`` (``peers_per_actor`` peers each, real gRPC between them), each a plain OS
    process of this machine started and driven by the run itself, no Ray needed.

    ``cohorts`` (default on, every kind): peers that share a model architecture train,
    distil and are evaluated as one batched computation (:mod:`clients.cohort`,
    :mod:`clients.cohort_eval`), bit-identical to one at a time; with ``torch_threads``
    above 1 (or a shape the platform check rejects) they compute alone, as ``false`` does.
    Every process of a run (hosts, ``--resume``, oracle re-runs) sets ``torch_threads``: a
    run's bits hold at that count only (multithreaded products split long sums by thread
    count, e.g. the CNN gateway's 1024-wide linear layer at 2 threads).
    """

    model_config = STRICT_MODEL
    kind: Literal["inprocess", "grpc", "ray", "process"] = "inprocess"
    torch_threads: PosInt = 1
    cohorts: bool = True
    wire_roundtrip: bool = False
    wire: WireSpec = WireSpec()
    peers_per_actor: PosInt | None = None
    address: str | None = None
    placement: Literal["spread", "pack"] = "spread"
    max_restarts: NonNegInt = 1
    on_actor_restart: Literal["restore", "rejoin"] = "restore"
    checkpoint_dir: str | None = None

    @property
    def hosted(self) -> bool:
        """Whether peers live in host processes of their own (``ray``, ``process``)."""
        return self.kind in ("ray", "process")

    @property
    def signs(self) -> bool:
        """Whether peers hold real Ed25519 keys (``wire.sign``, any runtime but ``inprocess``).

        Then owner-signed records are checked by every holder and audit heads are signed.
        """
        return self.kind != "inprocess" and self.wire.sign

    def packing(self, n_peers: int) -> int:
        """Peers per actor: as configured, or automatic (about 2 actors per core, >= 1)."""
        if self.peers_per_actor is not None:
            return self.peers_per_actor
        import os

        actors = max(1, 2 * (os.cpu_count() or 1))
        return max(1, -(-n_peers // actors))


class PartitionFault(BaseModel):
    """Cut ``peers`` off from everybody else during rounds ``start <= round < end``."""

    model_config = STRICT_MODEL
    peers: list[NonNegInt]
    start: NonNegInt
    end: NonNegInt

    @model_validator(mode="after")
    def _order(self) -> PartitionFault:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class FaultsSpec(BaseModel):
    """Faults injected on the gRPC wire (probabilities per message; delays in ms)."""

    model_config = STRICT_MODEL
    drop: Annotated[float, Field(ge=0, lt=1)] = 0.0
    duplicate: Annotated[float, Field(ge=0, le=1)] = 0.0
    reorder: Annotated[float, Field(ge=0, le=1)] = 0.0
    delay_ms: tuple[NonNegFloat, NonNegFloat] = (0.0, 0.0)
    reorder_ms: NonNegFloat = 20.0
    partitions: list[PartitionFault] = Field(default_factory=list)


class BackdoorSpec(BaseModel):
    """A peer that plants a trigger in ``fraction`` of its training data, labelled ``target``."""

    model_config = STRICT_MODEL
    peer: NonNegInt
    target: NonNegInt = 0
    fraction: Annotated[float, Field(gt=0, le=1)] = 0.3


class DebugSpec(BaseModel):
    """Test hooks that deliberately break the protocol (negative controls for ``verify``)."""

    model_config = STRICT_MODEL
    #: these peers keep seeds they should drop (a neighbour that silently keeps the seed)
    keep_dropped_seeds: list[int] = Field(default_factory=list)
    #: these peers never pass a removal on: no relayed leave notice, no tombstone gossip
    #: (a relay that forgets to forward the removal)
    mute_relays: list[int] = Field(default_factory=list)
    #: these peers answer deletion requests without forgetting anything (no-op unlearning)
    noop_deletions: list[int] = Field(default_factory=list)


class DeletionStream(BaseModel):
    """GDPR-style deletion requests, a Poisson stream per peer.

    Per peer and round, Poisson(``rate``) requests of ``count`` samples each, in rounds
    ``start <= round < end`` (``end`` defaults to the last round).
    """

    model_config = STRICT_MODEL
    rate: Annotated[float, Field(gt=0)]
    count: PosInt = 1
    start: NonNegInt = 0
    end: NonNegInt | None = None


class EventBase(BaseModel):
    """What every event has: the round ``at`` whose start it happens at."""

    model_config = STRICT_MODEL
    at: NonNegInt


class JoinEvent(EventBase):
    """A peer joins (a new id, or a departed one under its next epoch)."""

    kind: Literal["join"]
    peer: NonNegInt
    #: its device class (default: drawn from ``peers.devices`` by its id)
    device: str | None = None

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str | None) -> str | None:
        if v is not None and v not in MAIN_ARCHITECTURES:
            raise ValueError(
                f"unknown device class {v!r}; choose from {sorted(MAIN_ARCHITECTURES)}"
            )
        return v


class LeaveEvent(EventBase):
    """A peer leaves gracefully: it sends owner-signed leave notices first."""

    kind: Literal["leave"]
    peer: NonNegInt


class CrashEvent(EventBase):
    """A peer stops without a word; its neighbours must detect it."""

    kind: Literal["crash"]
    peer: NonNegInt


class DeleteEvent(EventBase):
    """A data owner asks ``peer`` to forget samples.

    Exactly one of ``count``, ``ids`` or ``fraction``; the run plan turns a count or a
    fraction into explicit ``ids``.
    """

    kind: Literal["delete"]
    peer: NonNegInt
    count: PosInt | None = None
    ids: list[NonNegInt] | None = None
    fraction: Annotated[float, Field(gt=0, lt=1)] | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> DeleteEvent:
        given = [k for k in ("count", "ids", "fraction") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a delete takes exactly one of `count`, `ids` or `fraction`")
        return self


class KillActorEvent(EventBase):
    """A host process dies and is restarted from its last checkpoint.

    ``actor`` is its index: it hosts peers ``actor * peers_per_actor ...``.
    """

    kind: Literal["kill_actor"]
    actor: NonNegInt

    @property
    def peer(self) -> None:
        """A host process names no peer."""
        return None


#: A scripted event at the start of round ``at``, one model per ``kind``.
Event = Annotated[
    JoinEvent | LeaveEvent | CrashEvent | DeleteEvent | KillActorEvent,
    Field(discriminator="kind"),
]
#: every event model, by kind
EVENT_MODELS: dict[str, type[EventBase]] = {
    "join": JoinEvent,
    "leave": LeaveEvent,
    "crash": CrashEvent,
    "delete": DeleteEvent,
    "kill_actor": KillActorEvent,
}
EVENT_KINDS = frozenset(EVENT_MODELS)
_EVENTS: TypeAdapter[Event] = TypeAdapter(Event)


def make_event(**fields: Any) -> Event:
    """Validate one event from its fields (the model its ``kind`` names).

    Examples
    --------
    >>> make_event(at=2, kind="leave", peer=1)
    LeaveEvent(at=2, kind='leave', peer=1)
    """
    return _EVENTS.validate_python(fields)
