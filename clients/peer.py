"""The ``Peer`` state machine: one device's HDUS logic, the same in every runtime.

A peer trains its main model on its own data, distils its seed on the public reference
set, sends the seed to its neighbours (optionally relayed ``k`` hops), predicts with the
erasable ensemble, and drops a departed peer's seed when told (leave notice), when it
detects the crash itself (missed heartbeats), or when a neighbour's heartbeat carries the
tombstone. Every inbound message is checked; a refused message leaves the state unchanged.

Pure Python plus torch: no Ray, gRPC or protobuf. Methods return the messages to send as
:class:`Envelope` objects; the runtime delivers them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import torch
from torch import nn

from clients.ensemble import CombineMode, combine, mean_seed_scores
from clients.errors import PeerError
from clients.messages import (
    DataOwner,
    Heartbeat,
    LeaveNotice,
    LeaveReason,
    SeedMessage,
    SeedRecord,
    content_hash,
)
from clients.models import build_model, parameter_count
from clients.partition import PeerData
from clients.training import DistillConfig, TrainConfig, distil, logits_of, train_supervised

__all__ = [
    "Envelope",
    "HeldSeed",
    "Peer",
    "PeerConfig",
    "PeerSeeds",
    "Reaction",
    "Refusal",
    "sub_seed",
]

Message = SeedMessage | LeaveNotice | Heartbeat


def sub_seed(base: int, *keys: int) -> int:
    """Derive an independent 63-bit seed from ``base`` and integer ``keys``.

    Examples
    --------
    >>> sub_seed(1, 2) == sub_seed(1, 2)
    True
    >>> sub_seed(1, 2) == sub_seed(1, 3)
    False
    """
    seq = np.random.SeedSequence(entropy=base, spawn_key=tuple(int(k) for k in keys))
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@dataclass(frozen=True)
class PeerSeeds:
    """The peer's private random streams, each derived from (scenario seed, peer id, epoch).

    Attributes
    ----------
    main_init
        Initial weights of the main model.
    train
        Batch order of local training (one sub-stream per training round).
    seed_init
        The fixed initial weights every seed distillation starts from.
    distil
        Reference batch sampling of distillation (one sub-stream per seed version).
    """

    main_init: int
    train: int
    seed_init: int
    distil: int


@dataclass(frozen=True)
class PeerConfig:
    """What a peer does and how; shared by all peers of a scenario except ``device``."""

    device: str = "sensor"
    seed_arch: str = "seed_mlp"
    train: TrainConfig = field(default_factory=TrainConfig)
    train_rounds: int = 3
    distill: DistillConfig = field(default_factory=DistillConfig)
    rho: float = 0.5
    combine: CombineMode = CombineMode.PROBS
    relay_hops: int = 1
    heartbeat_timeout: int = 2
    withhold_epochs: frozenset[int] = frozenset()
    #: point-level deletion inside the peer: None (a plain main model, deletion retrains it
    #: from scratch) or a kind of :func:`clients.unlearning.build_unlearnable`
    unlearning: str | None = None
    unlearning_options: tuple[tuple[str, Any], ...] = ()
    #: declare a neighbour crashed even if it was never heard from (simulation: links are
    #: made in lockstep; a device starting up slowly must not be suspected: set False)
    suspect_unheard: bool = True
    debug_keep_dropped_seeds: bool = False
    #: negative control: never relay a leave notice, never gossip tombstones or floors
    debug_mute_relay: bool = False
    #: negative control: answer deletion requests without forgetting anything
    debug_noop_deletion: bool = False


class Refusal(StrEnum):
    """Kinds of refusal, so a transport can map them to its own status codes."""

    FORBIDDEN = "forbidden"  # the sender may not send this (not a neighbour, about oneself)
    GONE = "gone"  # the data owner departed (tombstoned) or the epoch is over
    INVALID = "invalid"  # malformed content: architecture, shape, dtype, NaN, ttl, lineage
    CORRUPT = "corrupt"  # the content hash does not match
    STALE = "stale"  # older than (or conflicting with) the version held


@dataclass(frozen=True)
class Envelope:
    """A message and the peer it is for."""

    dst: int
    message: Message


@dataclass
class Reaction:
    """What handling one inbound message did.

    Attributes
    ----------
    accepted
        ``False`` when the message was refused (the state is then unchanged).
    reason
        Why it was refused, or what it did (``"stored"``, ``"duplicate"``, ...).
    outgoing
        Messages to send as a consequence (relays, forwarded notices).
    dropped
        Data owners whose seeds this peer dropped while handling the message.
    code
        The kind of refusal (``None`` when accepted); a wire maps it to a status code.
    """

    accepted: bool
    reason: str
    outgoing: list[Envelope] = field(default_factory=list)
    dropped: list[DataOwner] = field(default_factory=list)
    code: Refusal | None = None


@dataclass
class HeldSeed:
    """A seed held from another peer: the record, its remaining relay budget, and its model."""

    record: SeedRecord
    ttl: int
    received_from: int
    module: nn.Module | None = None


def _state_tensors(model: nn.Module) -> tuple[tuple[str, np.ndarray], ...]:
    return tuple((k, v.detach().cpu().numpy().copy()) for k, v in model.state_dict().items())


class Peer:
    """One device running HDUS.

    Parameters
    ----------
    peer_id
        The device's id, stable across re-joins.
    epoch
        Incremented by the runtime each time the device (re-)joins.
    data
        The peer's private local train and test split.
    reference_x
        The public reference inputs, shared by all peers (never copied).
    num_classes, input_shape
        Task shape.
    config
        Behaviour (device class, training budget, rho, relay hops, ...).
    seeds
        Private random streams.
    """

    def __init__(
        self,
        peer_id: int,
        epoch: int,
        data: PeerData,
        reference_x: torch.Tensor,
        num_classes: int,
        input_shape: tuple[int, ...],
        config: PeerConfig,
        seeds: PeerSeeds,
    ) -> None:
        self.peer_id = peer_id
        self.epoch = epoch
        self.data = data
        self.reference_x = reference_x
        self.num_classes = num_classes
        self.input_shape = tuple(input_shape)
        self.config = config
        self.seeds = seeds
        self.deletions: tuple[str, ...] = ()
        self.main: Any = self._new_main()
        self.trained_rounds = 0
        #: bumped by every training round and every point deletion (receipts name it)
        self.model_version = 0
        #: samples processed so far (training: samples x epochs; distillation: steps x batch)
        self.work_samples = 0
        self.own_seed: SeedRecord | None = None
        self._own_seed_module: nn.Module | None = None
        self.held: dict[DataOwner, HeldSeed] = {}
        self.tombstones: set[DataOwner] = set()
        self.known_epochs: dict[int, int] = {}
        self.neighbors: set[int] = set()
        self.last_heard: dict[int, int] = {}
        self.relayed_to: dict[DataOwner, set[int]] = {}
        self.declared_dead = False
        self.heard: set[int] = set()
        #: lowest acceptable seed version per data owner (point deletions revoke older ones)
        self.floors: dict[DataOwner, int] = {}
        self.own_floor = 0
        self._train_x = torch.from_numpy(np.ascontiguousarray(data.train_x)).float()
        self._train_y = torch.from_numpy(np.ascontiguousarray(data.train_y)).long()
        self._seed_param_shapes = {
            k: tuple(v.shape)
            for k, v in build_model(config.seed_arch, self.input_shape, num_classes, seed=0)
            .state_dict()
            .items()
        }

    # ------------------------------------------------------------------ identity
    @property
    def key(self) -> DataOwner:
        """Data owner key ``(peer_id, epoch)`` of this peer."""
        return (self.peer_id, self.epoch)

    @property
    def shares_own_seed(self) -> bool:
        """Whether this epoch's seed is sent (the retrain oracle withholds some epochs)."""
        return self.epoch not in self.config.withhold_epochs

    @property
    def unlearnable(self) -> bool:
        """Whether the main model supports point-level deletion itself (SISA, certified, ...)."""
        return self.config.unlearning is not None

    def _new_main(self) -> Any:
        if self.config.unlearning is None:
            return build_model(
                self.config.device, self.input_shape, self.num_classes, seed=self.seeds.main_init
            )
        from clients.unlearning import build_unlearnable

        options = dict(self.config.unlearning_options)
        if self.config.unlearning in ("certified", "sq"):
            options.setdefault("public_x", self.reference_x.numpy())
        return build_unlearnable(
            self.config.unlearning,
            arch=self.config.device,
            input_shape=self.input_shape,
            num_classes=self.num_classes,
            seed=self.seeds.main_init,
            **options,
        )

    def main_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The main model's logits on ``x`` (whatever kind of main model it is)."""
        if self.unlearnable:
            return self.main.logits(x)
        return logits_of(self.main, x)

    @property
    def main_parameters(self) -> int:
        """Parameter count of the main model (all shards for SISA; the head's weights)."""
        if not self.unlearnable:
            return parameter_count(self.main)
        models = getattr(self.main, "shard_models", None)
        if models is not None:
            return sum(parameter_count(m) for m in models)
        weights = getattr(self.main, "weights", None)
        return int(np.size(weights)) if weights is not None else 0

    def __repr__(self) -> str:
        return (
            f"Peer(id={self.peer_id}, epoch={self.epoch}, device={self.config.device!r}, "
            f"neighbors={sorted(self.neighbors)}, held={sorted(self.held)})"
        )

    # ------------------------------------------------------------------ learning
    @property
    def training_done(self) -> bool:
        """Whether the training budget is spent (an unlearnable model is fit once)."""
        budget = 1 if self.unlearnable else self.config.train_rounds
        return self.trained_rounds >= budget

    def train_round(self) -> bool:
        """Train the main model one round and re-distil the seed, if budget remains.

        Returns ``True`` if a new seed version was made (the caller then announces it).
        """
        if self.training_done:
            return False
        self._train_one_round()
        self.distil_seed()
        return True

    def _train_one_round(self) -> None:
        if self.unlearnable:
            self.main.fit(self.data.train_x, self.data.train_y, self.data.train_ids)
        else:
            gen = _generator(sub_seed(self.seeds.train, self.trained_rounds))
            train_supervised(
                self.main, self._train_x, self._train_y, self.config.train, generator=gen
            )
        self.trained_rounds += 1
        self.model_version += 1
        self.work_samples += self.config.train.samples_per_round(len(self._train_y))

    def _ids_key(self) -> int:
        """A stable integer of the current training ids (seeds the distillation stream)."""
        ids = np.sort(np.asarray(self.data.train_ids, dtype=np.int64))
        return int(hashlib.sha256(ids.tobytes()).hexdigest()[:15], 16)

    def delete_points(self, ids: Sequence[int], request_id: str) -> dict[str, Any]:
        """Forget training samples ``ids``, re-distil the seed, and return a receipt.

        The main model forgets them with its own method (SISA: retrain the affected
        shards; certified: a Newton step; sq: subtract their sums), or, for a plain main
        model, by retraining from scratch on the remaining data, replaying the same rounds
        with the same random streams (exact). The seed is then distilled again from its
        fixed initialisation with a stream keyed by the remaining ids, so it equals the
        seed of a peer that never had the points; its version is bumped and its
        ``deletions`` name this request. Unknown ids raise :class:`PeerError`; nothing
        changes then.
        """
        wanted = tuple(sorted({int(i) for i in ids}))
        present = set(int(i) for i in self.data.train_ids)
        unknown = [i for i in wanted if i not in present]
        if not wanted or unknown:
            raise PeerError(
                f"peer {self.peer_id} cannot delete sample ids {unknown or 'none'}: "
                "they are not in its training data (never held, or already deleted)"
            )
        start = time.perf_counter()
        if self.config.debug_noop_deletion:  # claims it, forgets nothing (negative control)
            digest = hashlib.sha256(f"{request_id}|{self.key}|{wanted}".encode()).hexdigest()[:32]
            self.deletions = (*self.deletions, digest)
            seed = self.own_seed
            if seed is not None:
                self.own_seed = dataclasses.replace(
                    seed, version=seed.version + 1, deletions=self.deletions
                )
                self.own_floor = self.own_seed.version
            return {
                "request_id": request_id,
                "peer": self.peer_id,
                "epoch": self.epoch,
                "deleted": list(wanted),
                "receipt": digest,
                "new_model_version": self.model_version,
                "new_seed_version": None if seed is None else seed.version + 1,
                "wall_s": 0.0,
                "method": "noop",
                "retrained": {},
                "certificate": "exact",
                "residual": None,
                "budget_left": None,
                "samples_processed": 0,
            }
        keep = ~np.isin(self.data.train_ids, np.asarray(wanted, dtype=np.int64))
        info: dict[str, Any] = {}
        if self.unlearnable:
            outcome = self.main.delete(wanted)
            info = {
                "method": outcome.method,
                "retrained": outcome.retrained,
                "certificate": outcome.certificate,
                "residual": outcome.residual,
                "budget_left": outcome.budget_left,
                "samples_processed": outcome.samples_processed,
            }
        self.data = dataclasses.replace(
            self.data,
            train_x=self.data.train_x[keep],
            train_y=self.data.train_y[keep],
            train_ids=self.data.train_ids[keep],
        )
        self._train_x = torch.from_numpy(np.ascontiguousarray(self.data.train_x)).float()
        self._train_y = torch.from_numpy(np.ascontiguousarray(self.data.train_y)).long()
        if not self.unlearnable:
            rounds, self.trained_rounds = self.trained_rounds, 0
            self.main = self._new_main()
            for _ in range(rounds):
                self._train_one_round()
            info = {
                "method": "retrain",
                "retrained": {"rounds": rounds},
                "certificate": "exact",
                "residual": None,
                "budget_left": None,
                "samples_processed": rounds
                * self.config.train.samples_per_round(len(self._train_y)),
            }
        self.model_version += 1
        digest = hashlib.sha256(f"{request_id}|{self.key}|{wanted}".encode()).hexdigest()[:32]
        self.deletions = (*self.deletions, digest)
        seed = self.distil_seed() if self.own_seed is not None else None
        if seed is not None:
            # every older version of this seed carries the deleted points: revoke them
            self.own_floor = seed.version
        return {
            "request_id": request_id,
            "peer": self.peer_id,
            "epoch": self.epoch,
            "deleted": list(wanted),
            "receipt": digest,
            "new_model_version": self.model_version,
            "new_seed_version": None if seed is None else seed.version,
            "wall_s": time.perf_counter() - start,
            **info,
        }

    def distil_seed(self) -> SeedRecord:
        """Distil a new seed version from the current main model, from the fixed initialisation.

        Starting every version from the same initial weights means a seed depends only on
        the current main model and the public reference set, never on earlier versions.
        """
        version = 1 if self.own_seed is None else self.own_seed.version + 1
        student = build_model(
            self.config.seed_arch, self.input_shape, self.num_classes, seed=self.seeds.seed_init
        )
        teacher = self.main_logits(self.reference_x)
        # keyed by what the seed depends on (rounds trained, ids trained on), not by the
        # version: a peer that deleted points distils exactly what one without them would
        gen = _generator(sub_seed(self.seeds.distil, self.trained_rounds, self._ids_key()))
        distil(student, teacher, self.reference_x, self.config.distill, generator=gen)
        self.work_samples += self.config.distill.steps * min(
            self.config.distill.batch_size, len(self.reference_x)
        )
        tensors = _state_tensors(student)
        self.own_seed = SeedRecord(
            owner=self.peer_id,
            epoch=self.epoch,
            version=version,
            arch=self.config.seed_arch,
            tensors=tensors,
            lineage=frozenset({self.key}),
            deletions=self.deletions,
            digest=content_hash(tensors),
        )
        self._own_seed_module = student
        return self.own_seed

    def rekey(self, epoch: int, seeds: PeerSeeds) -> SeedRecord:
        """Continue under a new ``epoch`` after others declared this one over (refutation).

        A live peer that learns it was declared crashed (a false suspicion, e.g. across a
        partition) cannot revive its old epoch: every holder tombstoned it. It keeps its
        data and trained main model, drops all links (the runtime re-makes them), and
        distils a fresh seed under the new key, which neighbours accept as a new owner.
        """
        if epoch <= self.epoch:
            raise PeerError(f"peer {self.peer_id}: new epoch {epoch} must exceed {self.epoch}")
        self.tombstones.add(self.key)
        self.epoch = epoch
        self.seeds = seeds
        self.own_seed = None
        self.neighbors.clear()
        self.last_heard.clear()
        self.relayed_to.clear()
        self.declared_dead = False
        return self.distil_seed()

    # ------------------------------------------------------------------ inference
    def _seed_module(self, held: HeldSeed) -> nn.Module:
        if held.module is None:
            module = build_model(held.record.arch, self.input_shape, self.num_classes, seed=0)
            module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in held.record.tensors})
            held.module = module.eval()
        return held.module

    def own_seed_module(self) -> nn.Module | None:
        """The peer's own current seed model (``None`` before the first distillation)."""
        return self._own_seed_module

    def seed_modules(self) -> dict[DataOwner, nn.Module]:
        """Models of every held seed, keyed by data owner."""
        return {k: self._seed_module(h) for k, h in sorted(self.held.items())}

    @torch.no_grad()
    def logits_parts(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[DataOwner, torch.Tensor]]:
        """Return the main model's logits and every held seed's logits on ``x``."""
        main = self.main_logits(x)
        seeds = {k: logits_of(m, x) for k, m in self.seed_modules().items()}
        return main, seeds

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Return the erasable ensemble's scores on ``x`` (argmax is the prediction)."""
        if x.shape[1:] != self.input_shape:
            raise PeerError(
                f"peer {self.peer_id} expects inputs of shape (n, *{self.input_shape})"
                f", got {tuple(x.shape)}"
            )
        main, seeds = self.logits_parts(x)
        return combine(main, seeds, rho=self.config.rho, mode=self.config.combine)

    def seeds_only(self, seed_logits: dict[DataOwner, torch.Tensor]) -> torch.Tensor | None:
        """Mean of held seeds' scores alone (``None`` if no seed is held)."""
        return mean_seed_scores(seed_logits, self.config.combine)

    # ------------------------------------------------------------------ lineage
    def lineage(self) -> frozenset[DataOwner]:
        """Every data owner that anything this peer uses for prediction depends on."""
        owners: set[DataOwner] = {self.key}
        for held in self.held.values():
            owners |= held.record.lineage
        return frozenset(owners)

    def holdings(self) -> dict[DataOwner, dict[str, Any]]:
        """Held seeds: version, lineage, digest and the peer they came from."""
        return {
            k: {
                "version": h.record.version,
                "lineage": sorted(h.record.lineage),
                "digest": h.record.digest,
                "deletions": list(h.record.deletions),
                "received_from": h.received_from,
            }
            for k, h in sorted(self.held.items())
        }

    # ------------------------------------------------------------------ topology
    def _seed_envelopes(self, targets: Iterable[int], skip: int | None = None) -> list[Envelope]:
        out: list[Envelope] = []
        hops = self.config.relay_hops
        for dst in sorted(targets):
            if dst == skip:
                continue
            if self.shares_own_seed and self.own_seed is not None:
                out.append(Envelope(dst, SeedMessage(self.own_seed, self.peer_id, hops - 1)))
        return out

    def announce_seed(self) -> list[Envelope]:
        """Send the current own seed to every neighbour (after a new version)."""
        return self._seed_envelopes(self.neighbors)

    def add_neighbor(self, other: int, now: int) -> list[Envelope]:
        """Record a new link to ``other`` and send it the own seed and relayable held seeds."""
        if other == self.peer_id:
            raise PeerError(f"peer {self.peer_id} cannot be its own neighbour")
        # A link may be re-made to a peer still listed (e.g. a crashed peer that re-joined
        # before it was detected): send the seeds again; receivers ignore duplicates.
        self.neighbors.add(other)
        self.last_heard[other] = now
        out = self._seed_envelopes([other])
        for key, held in sorted(self.held.items()):
            if held.ttl > 0 and held.record.owner != other:
                out.append(Envelope(other, SeedMessage(held.record, self.peer_id, held.ttl - 1)))
                self.relayed_to.setdefault(key, set()).add(other)
        return out

    def remove_neighbor(self, other: int) -> None:
        """Forget the link to ``other`` (a graceful topology change); held seeds are kept."""
        self.neighbors.discard(other)
        self.last_heard.pop(other, None)

    # ------------------------------------------------------------------ removal
    def _drop(self, key: DataOwner) -> bool:
        if key not in self.held or self.config.debug_keep_dropped_seeds:
            return False
        del self.held[key]
        return True

    def _tombstone(self, key: DataOwner) -> list[DataOwner]:
        """Tombstone ``key`` and drop it; return the keys actually dropped."""
        self.tombstones.add(key)
        return [key] if self._drop(key) else []

    def note_epoch(self, peer: int, epoch: int) -> list[DataOwner]:
        """Record ``peer``'s current epoch (told at connection time); returns seeds dropped."""
        return self._learn_epoch(peer, epoch)

    def _learn_epoch(self, peer: int, epoch: int) -> list[DataOwner]:
        """Note that ``peer`` is at ``epoch``; every older epoch of it is gone for good."""
        known = self.known_epochs.get(peer, -1)
        if epoch <= known:
            return []
        self.known_epochs[peer] = epoch
        dropped: list[DataOwner] = []
        for key in [k for k in self.held if k[0] == peer and k[1] < epoch]:
            dropped += self._tombstone(key)
        return dropped

    # ------------------------------------------------------------------ inbound
    def receive(self, message: Message, now: int) -> Reaction:
        """Handle one inbound message; refusals leave the state unchanged."""
        if isinstance(message, SeedMessage):
            return self._on_seed(message)
        if isinstance(message, LeaveNotice):
            return self._on_leave(message)
        if isinstance(message, Heartbeat):
            return self._on_heartbeat(message, now)
        raise PeerError(
            f"peer {self.peer_id} cannot handle message of type {type(message).__name__}"
        )

    def check_seed(self, message: SeedMessage) -> tuple[Refusal, str] | None:
        """Return the kind of and reason for refusing ``message``, or ``None`` if acceptable."""
        rec = message.record
        if message.sender not in self.neighbors:
            return (
                Refusal.FORBIDDEN,
                f"sender {message.sender} is not a neighbour of peer {self.peer_id}",
            )
        if rec.owner == self.peer_id:
            return Refusal.FORBIDDEN, "seed of the receiving peer itself"
        if rec.key in self.tombstones:
            return Refusal.GONE, f"seed of departed data owner {rec.key} (tombstoned)"
        if self.known_epochs.get(rec.owner, -1) > rec.epoch:
            return Refusal.GONE, f"seed of an old epoch {rec.epoch} of peer {rec.owner}"
        if rec.arch != self.config.seed_arch:
            want = self.config.seed_arch
            return (
                Refusal.INVALID,
                f"unknown seed architecture {rec.arch!r}; this scenario uses {want!r}",
            )
        if not rec.verify_digest():
            return Refusal.CORRUPT, "content hash does not match the tensors"
        shapes = {name: tuple(arr.shape) for name, arr in rec.tensors}
        if shapes != self._seed_param_shapes:
            return (
                Refusal.INVALID,
                f"tensor names or shapes {shapes} do not match architecture {rec.arch!r}",
            )
        for name, arr in rec.tensors:
            if arr.dtype != np.float32:
                return Refusal.INVALID, f"tensor {name!r} has dtype {arr.dtype}, expected float32"
            if not np.isfinite(arr).all():
                return Refusal.INVALID, f"tensor {name!r} holds NaN or Inf"
        if rec.lineage != frozenset({rec.key}):
            return (
                Refusal.INVALID,
                f"lineage {sorted(rec.lineage)} is not the owner's own {rec.key}",
            )
        if message.ttl < 0 or message.ttl >= self.config.relay_hops:
            return (
                Refusal.INVALID,
                f"ttl {message.ttl} outside [0, relay_hops - 1 = {self.config.relay_hops - 1}]",
            )
        return None

    def _on_seed(self, message: SeedMessage) -> Reaction:
        problem = self.check_seed(message)
        if problem is not None:
            return Reaction(False, problem[1], code=problem[0])
        rec = message.record
        if rec.version < self.floors.get(rec.key, 0):
            return Reaction(
                False,
                f"version {rec.version} of {rec.key} was revoked by a point deletion "
                f"(lowest acceptable: {self.floors[rec.key]})",
                code=Refusal.STALE,
            )
        held = self.held.get(rec.key)
        if held is not None and rec.version < held.record.version:
            return Reaction(
                False,
                f"version {rec.version} older than held {held.record.version}",
                code=Refusal.STALE,
            )
        if held is not None and rec.version == held.record.version:
            if rec.digest != held.record.digest:
                return Reaction(
                    False,
                    f"version {rec.version} already held with other content",
                    code=Refusal.STALE,
                )
            if message.ttl <= held.ttl:
                return Reaction(True, "duplicate")
            held.ttl = message.ttl  # a shorter path: relay further, model unchanged
            reason = "relay budget raised"
        else:
            reason = "stored" if held is None else "replaced older version"
        dropped = self._learn_epoch(rec.owner, rec.epoch)
        known_deletions = () if held is None else held.record.deletions
        if len(rec.deletions) > len(known_deletions):
            # a newer point deletion: every version before this one is revoked
            self.floors[rec.key] = max(self.floors.get(rec.key, 0), rec.version)
        if held is None or rec.version != held.record.version:
            self.held[rec.key] = HeldSeed(rec, message.ttl, message.sender)
        out: list[Envelope] = []
        if message.ttl > 0:
            for dst in sorted(self.neighbors - {message.sender, rec.owner}):
                out.append(Envelope(dst, SeedMessage(rec, self.peer_id, message.ttl - 1)))
                self.relayed_to.setdefault(rec.key, set()).add(dst)
        return Reaction(True, reason, out, dropped)

    def _notice_targets(self, key: DataOwner, ttl: int, skip: int) -> list[int]:
        targets = set(self.relayed_to.pop(key, set()))
        if ttl > 0:
            targets |= self.neighbors
        targets -= {skip, key[0], self.peer_id}
        return sorted(targets)

    def _on_leave(self, notice: LeaveNotice) -> Reaction:
        key = notice.key
        if notice.peer == self.peer_id:
            if notice.reason is LeaveReason.CRASH and notice.epoch == self.epoch:
                self.declared_dead = True  # suspected by a neighbour: re-key, see rekey()
            return Reaction(
                False, "leave notice about the receiving peer itself", code=Refusal.FORBIDDEN
            )
        if notice.ttl < 0 or notice.ttl >= max(self.config.relay_hops, 1):
            return Reaction(
                False, f"ttl {notice.ttl} outside [0, relay_hops - 1]", code=Refusal.INVALID
            )
        if notice.reason is LeaveReason.GRACEFUL and notice.vouched_by != notice.peer:
            return Reaction(
                False,
                f"graceful leave of peer {notice.peer} vouched for by peer {notice.vouched_by}: "
                "only the leaving peer may announce its own leave",
                code=Refusal.FORBIDDEN,
            )
        if notice.reason is LeaveReason.GRACEFUL and notice.reporter == notice.peer:
            self.remove_neighbor(notice.peer)
        if key in self.tombstones:
            return Reaction(True, "already tombstoned")
        dropped = self._tombstone(key)
        relayed = dataclasses.replace(
            notice, reporter=self.peer_id, ttl=max(notice.ttl - 1, 0), origin=notice.vouched_by
        )
        targets = self._notice_targets(key, notice.ttl, notice.reporter)
        if self.config.debug_mute_relay:  # negative control: the removal stops here
            targets = []
        out = [Envelope(dst, relayed) for dst in targets]
        return Reaction(True, "tombstoned", out, dropped)

    def _on_heartbeat(self, beat: Heartbeat, now: int) -> Reaction:
        if beat.sender not in self.neighbors:
            return Reaction(
                False,
                f"heartbeat from {beat.sender}, not a neighbour of {self.peer_id}",
                code=Refusal.FORBIDDEN,
            )
        # the receiver's own clock: standalone peers' clocks are not synchronised
        self.last_heard[beat.sender] = now
        self.heard.add(beat.sender)
        dropped = self._learn_epoch(beat.sender, beat.epoch)
        if self.key in beat.tombstones:
            # Somebody declared this peer crashed (a false suspicion, e.g. a partition):
            # the epoch is over for everybody else; the runtime re-keys it (a new epoch).
            self.declared_dead = True
        for key in sorted(beat.tombstones - self.tombstones):
            if key[0] != self.peer_id:
                dropped += self._tombstone(key)
        for owner, epoch, version in sorted(beat.revoked):
            dropped += self._raise_floor((owner, epoch), version)
        return Reaction(True, "alive", [], dropped)

    def _raise_floor(self, key: DataOwner, version: int) -> list[DataOwner]:
        """Seeds of ``key`` below ``version`` are revoked: drop a held one, refuse later ones."""
        if key[0] == self.peer_id or version <= self.floors.get(key, 0):
            return []
        self.floors[key] = version
        held = self.held.get(key)
        if held is not None and held.record.version < version:
            return [key] if self._drop(key) else []
        return []

    # ------------------------------------------------------------------ outbound
    def heartbeats(self, now: int) -> list[Envelope]:
        """A heartbeat (with tombstones) for every neighbour."""
        muted = self.config.debug_mute_relay
        beat = Heartbeat(
            self.peer_id,
            self.epoch,
            now,
            frozenset() if muted else frozenset(self.tombstones),
            frozenset(
                [(k[0], k[1], v) for k, v in self.floors.items()]
                + ([(self.peer_id, self.epoch, self.own_floor)] if self.own_floor else [])
            ),
        )
        return [Envelope(dst, beat) for dst in sorted(self.neighbors)]

    def leave_notices(self) -> list[Envelope]:
        """The graceful goodbye: a signed-by-self leave notice to every neighbour."""
        ttl = max(self.config.relay_hops - 1, 0)
        notice = LeaveNotice(
            self.peer_id, self.epoch, LeaveReason.GRACEFUL, self.peer_id, ttl, origin=self.peer_id
        )
        return [Envelope(dst, notice) for dst in sorted(self.neighbors)]

    def detect_crashes(self, now: int) -> tuple[list[DataOwner], list[Envelope], list[DataOwner]]:
        """Declare neighbours silent for ``heartbeat_timeout`` rounds crashed.

        Returns ``(crashed, outgoing, dropped)``: the crashed data owners, the crash notices
        to relay (``relay_hops >= 2`` only: 1-hop holders are neighbours and detect it
        themselves), and the seeds dropped.
        """
        crashed: list[DataOwner] = []
        out: list[Envelope] = []
        dropped: list[DataOwner] = []
        for other in sorted(self.neighbors):
            if now - self.last_heard.get(other, now) < self.config.heartbeat_timeout:
                continue
            if not self.config.suspect_unheard and other not in self.heard:
                continue  # never heard from yet (still starting up): nothing to suspect
            self.remove_neighbor(other)
            epochs = {k[1] for k in self.held if k[0] == other}
            if other in self.known_epochs:
                epochs.add(self.known_epochs[other])
            for epoch in sorted(epochs):
                key = (other, epoch)
                if key in self.tombstones:
                    continue
                crashed.append(key)
                dropped += self._tombstone(key)
                ttl = self.config.relay_hops - 2
                targets = (
                    self._notice_targets(key, ttl + 1, other)
                    if ttl >= 0
                    else sorted(self.relayed_to.pop(key, set()) - {other})
                )
                notice = LeaveNotice(
                    other, epoch, LeaveReason.CRASH, self.peer_id, max(ttl, 0), origin=self.peer_id
                )
                out += [Envelope(dst, notice) for dst in targets]
        return crashed, out, dropped
