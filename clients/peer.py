"""The ``Peer`` state machine: one device's HDUS logic, the same in every runtime.

A peer trains its main model on its own data, distils its seed on the public reference
set, sends the seed to its neighbours (optionally relayed ``k`` hops), predicts with the
erasable ensemble, and drops a departed peer's seed when its owner says goodbye (an
owner-signed leave notice, or its proof relayed in a heartbeat), when it detects the
crash itself (missed heartbeats), or when the seed's **lease** runs out: holding a seed is
a lease its owner keeps renewing, so a departed device is forgotten everywhere within
``lease`` rounds of its last renewal whatever was or was not heard. Others' crash claims
and removals are hints only (a short grace in which a fresh renewal keeps the seed), so
no single neighbour can force out a live peer's seed; seeds, renewals and revocation
floors count only with their owner's signature (:mod:`clients.credentials`). Every
inbound message is checked; a refused message leaves the state unchanged.

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

from clients.credentials import UNCHECKED, Credentials
from clients.ensemble import CombineMode, combine, mean_seed_scores
from clients.errors import PeerError
from clients.messages import (
    DataOwner,
    Heartbeat,
    Lease,
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
    "LeaseState",
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
    #: rounds a seed may be held after its owner's last renewal; 0: the default,
    #: ``heartbeat_timeout + relay_hops + 1`` (see :attr:`lease_rounds`)
    lease: int = 0
    #: most entries of each kind (tombstones, leases, holdings, proofs) one heartbeat may
    #: carry; more is refused as a flood
    max_beat_items: int = 4096
    #: most seeds a peer holds, and most of them one neighbour may have delivered: a new
    #: owner's seed beyond either is refused (a flood of seeds cannot grow state without
    #: bound, nor crowd out other neighbours' seeds)
    max_held: int = 4096
    max_held_per_sender: int = 1024
    #: every peer's ``now`` is the same round clock (simulations): a renewal's age is then
    #: at least ``now - seq`` whatever a relay claims, so holding a renewal back and
    #: passing it on later buys nothing. Standalone devices (own clocks) trust relays' ages.
    shared_clock: bool = True
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

    @property
    def lease_rounds(self) -> int:
        """Rounds a holder keeps a seed after the owner's last renewal it has.

        The default, ``heartbeat_timeout + relay_hops + 1``, lets a live owner's renewal
        miss ``heartbeat_timeout`` rounds and still reach a holder ``relay_hops`` hops away.

        Examples
        --------
        >>> PeerConfig(heartbeat_timeout=2, relay_hops=1).lease_rounds
        4
        >>> PeerConfig(lease=10).lease_rounds
        10
        """
        return self.lease or self.heartbeat_timeout + self.relay_hops + 1

    @property
    def hint_grace(self) -> int:
        """Rounds without a new renewal after which a hinted removal drops the seed.

        One round more than a neighbour's crash detection waits: a relayed renewal arrives
        a round late, and one lost relay message must not let a hint through.
        """
        return self.heartbeat_timeout + 1


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


@dataclass(frozen=True)
class LeaseState:
    """The newest renewal a holder has of one seed's lease, and when it runs out.

    ``expires`` is on the holder's own clock: ``received_at - lease.age + lease_rounds``,
    so relays that pass the renewal on within a round grant no extra time.
    """

    lease: Lease
    received_at: int
    expires: int


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
        #: each neighbour's epoch as its own link says (handshake and its heartbeats): the
        #: epoch a silence is evidence against. ``known_epochs`` may be newer, learned from
        #: a relayed seed, which the retrain oracle withholds, so it must not steer detection
        self.link_epochs: dict[int, int] = {}
        self.neighbors: set[int] = set()
        self.last_heard: dict[int, int] = {}
        self.relayed_to: dict[DataOwner, set[int]] = {}
        self.declared_dead = False
        self.heard: set[int] = set()
        #: lowest acceptable seed version per data owner (point deletions revoke older ones)
        self.floors: dict[DataOwner, int] = {}
        self.own_floor = 0
        #: signs this peer's seeds, renewals and leave notices; checks others' (no-op default)
        self.credentials: Credentials = UNCHECKED
        #: the latest round (clock tick) this peer was told of
        self.now = 0
        #: newest lease renewal of every held seed
        self.leases: dict[DataOwner, LeaseState] = {}
        #: rounds by which a hinted removal drops a seed unless a fresh renewal arrives
        self.hints: dict[DataOwner, int] = {}
        #: seeds dropped because their lease ran out (or a hint's grace): the last renewal
        #: seen; only a newer renewal re-admits the seed
        self.expired: dict[DataOwner, int] = {}
        #: owner-signed graceful leave notices (proofs passed on by anti-entropy)
        self.leave_proofs: dict[DataOwner, LeaveNotice] = {}
        #: what each neighbour said it holds in its last heartbeat (anti-entropy)
        self.neighbor_holding: dict[int, frozenset[tuple[int, int, int]]] = {}
        self._own_lease: Lease | None = None
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
                self.own_seed = self._signed(
                    dataclasses.replace(seed, version=seed.version + 1, deletions=self.deletions)
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
        self.own_seed = self._signed(
            SeedRecord(
                owner=self.peer_id,
                epoch=self.epoch,
                version=version,
                arch=self.config.seed_arch,
                tensors=tensors,
                lineage=frozenset({self.key}),
                deletions=self.deletions,
                digest=content_hash(tensors),
            )
        )
        self._own_seed_module = student
        return self.own_seed

    def _signed(self, record: SeedRecord) -> SeedRecord:
        """``record`` with this peer's signature."""
        return dataclasses.replace(record, signature=self.credentials.sign(record.signed_payload()))

    def own_lease(self, now: int | None = None) -> Lease:
        """A signed renewal of this peer's lease at ``now`` (default: the latest round seen).

        It also carries the own revocation floor, so holders drop versions a point deletion
        revoked on the owner's word alone.
        """
        seq = self.now if now is None else now
        lease = self._own_lease
        if lease is None or (lease.epoch, lease.seq, lease.floor) != (
            self.epoch,
            seq,
            self.own_floor,
        ):
            fresh = Lease(self.peer_id, self.epoch, seq, self.own_floor)
            lease = dataclasses.replace(
                fresh, signature=self.credentials.sign(fresh.signed_payload())
            )
            self._own_lease = lease
        return lease

    def _relay_lease(self, key: DataOwner) -> Lease | None:
        """The newest renewal held for ``key``, aged by the rounds it was kept here."""
        state = self.leases.get(key)
        if state is None:
            return None
        return dataclasses.replace(
            state.lease, age=state.lease.age + max(self.now - state.received_at, 0)
        )

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
                message = SeedMessage(self.own_seed, self.peer_id, hops - 1, self.own_lease())
                out.append(Envelope(dst, message))
        return out

    def _relayed(self, key: DataOwner, held: HeldSeed, dst: int) -> Envelope:
        """A held seed passed on to ``dst`` with one hop less and its newest renewal."""
        self.relayed_to.setdefault(key, set()).add(dst)
        lease = self._relay_lease(key)
        return Envelope(dst, SeedMessage(held.record, self.peer_id, held.ttl - 1, lease))

    def announce_seed(self, now: int | None = None) -> list[Envelope]:
        """Send the current own seed to every neighbour (after a new version)."""
        if now is not None:
            self.now = max(self.now, now)
        return self._seed_envelopes(self.neighbors)

    def add_neighbor(self, other: int, now: int) -> list[Envelope]:
        """Record a new link to ``other`` and send it the own seed and relayable held seeds."""
        if other == self.peer_id:
            raise PeerError(f"peer {self.peer_id} cannot be its own neighbour")
        self.now = max(self.now, now)
        # A link may be re-made to a peer still listed (e.g. a crashed peer that re-joined
        # before it was detected): send the seeds again; receivers ignore duplicates.
        self.neighbors.add(other)
        self.last_heard[other] = now
        out = self._seed_envelopes([other])
        for key, held in sorted(self.held.items()):
            if held.ttl > 0 and held.record.owner != other:
                out.append(self._relayed(key, held, other))
        return out

    def _link_epoch(self, other: int) -> int:
        """The epoch of neighbour ``other`` its link told (else the newest known; -1: none)."""
        return self.link_epochs.get(other, self.known_epochs.get(other, -1))

    def remove_neighbor(self, other: int) -> None:
        """Forget the link to ``other`` (a graceful topology change); held seeds are kept."""
        self.neighbors.discard(other)
        self.link_epochs.pop(other, None)
        self.last_heard.pop(other, None)
        self.neighbor_holding.pop(other, None)

    # ------------------------------------------------------------------ removal
    def _drop(self, key: DataOwner) -> bool:
        if key not in self.held or self.config.debug_keep_dropped_seeds:
            return False
        del self.held[key]
        self.leases.pop(key, None)
        self.hints.pop(key, None)
        return True

    def _tombstone(self, key: DataOwner) -> list[DataOwner]:
        """Tombstone ``key`` and drop it; return the keys actually dropped."""
        self.tombstones.add(key)
        return [key] if self._drop(key) else []

    def note_epoch(self, peer: int, epoch: int) -> list[DataOwner]:
        """Record ``peer``'s current epoch (told at connection time); returns seeds dropped."""
        self.link_epochs[peer] = max(self.link_epochs.get(peer, -1), epoch)
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

    def _age(self, lease: Lease, now: int) -> int:
        """Rounds since ``lease`` was signed, as far as this peer can tell."""
        if self.config.shared_clock:
            return max(lease.age, now - lease.seq)
        return lease.age

    def _renew(self, lease: Lease, now: int) -> list[DataOwner]:
        """Take a (checked) renewal of a held seed's lease; returns seeds a floor revoked."""
        key = lease.key
        state = self.leases.get(key)
        if state is None or lease.seq > state.lease.seq:
            age = self._age(lease, now)
            lease = dataclasses.replace(lease, age=age)
            expires = now - age + self.config.lease_rounds
            self.leases[key] = LeaseState(lease, now, expires)
            self.hints.pop(key, None)  # a fresh word from the owner outweighs any hint
        return self._raise_floor(key, lease.floor)

    def _hint(self, key: DataOwner, now: int) -> list[DataOwner]:
        """Somebody without the owner's signature says ``key`` is gone.

        The claim alone decides nothing; it makes this holder act on its *own* evidence:
        the seed goes as soon as this holder, too, has had no new renewal from the owner
        for ``hint_grace`` rounds (at once if that is already so). A live owner's renewals
        keep arriving, so a forged claim costs it nothing.
        """
        if key not in self.held:
            return []
        state = self.leases.get(key)
        deadline = (now if state is None else state.received_at) + self.config.hint_grace
        if deadline <= now:
            return self._expire(key)
        self.hints[key] = min(self.hints.get(key, deadline), deadline)
        return []

    def _expire(self, key: DataOwner) -> list[DataOwner]:
        """Drop ``key`` for want of renewals; remember the last renewal seen."""
        state = self.leases.pop(key, None)
        self.hints.pop(key, None)
        seq = -1 if state is None else state.lease.seq
        self.expired[key] = max(self.expired.get(key, -1), seq)
        return [key] if self._drop(key) else []

    def lease_deadline(self, key: DataOwner) -> int | None:
        """The round at which a held seed is dropped unless renewed (``None``: no lease)."""
        state = self.leases.get(key)
        deadline = None if state is None else state.expires
        hint = self.hints.get(key)
        if hint is not None:
            deadline = hint if deadline is None else min(deadline, hint)
        return deadline

    def expire_leases(self, now: int) -> list[DataOwner]:
        """Drop every held seed whose lease (or hint's grace) ran out by ``now``.

        The last renewal seen is remembered: only a newer one (the owner is alive after
        all, e.g. across a healed partition) re-admits the seed; a departed owner signs
        none, so nothing of it comes back.
        """
        self.now = max(self.now, now)
        dropped: list[DataOwner] = []
        for key in sorted(self.held):
            deadline = self.lease_deadline(key)
            if deadline is not None and now >= deadline:
                dropped += self._expire(key)
        return dropped

    # ------------------------------------------------------------------ inbound
    def receive(self, message: Message, now: int) -> Reaction:
        """Handle one inbound message; refusals leave the state unchanged."""
        self.now = max(self.now, now)
        if isinstance(message, SeedMessage):
            return self._on_seed(message, now)
        if isinstance(message, LeaveNotice):
            return self._on_leave(message, now)
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
        if not self.credentials.verify(rec.owner, rec.signed_payload(), rec.signature):
            return (
                Refusal.FORBIDDEN,
                f"seed {rec.key} version {rec.version} is not signed by its owner, peer "
                f"{rec.owner} (forged, or altered on the way)",
            )
        return self._check_seed_lease(message)

    def _check_lease(self, lease: Lease) -> tuple[Refusal, str] | None:
        """Refuse a renewal that is malformed or not signed by its owner."""
        if lease.age < 0 or lease.seq < 0 or lease.floor < 0:
            return Refusal.INVALID, f"lease of {lease.key} has a negative seq, floor or age"
        if not self.credentials.verify(lease.owner, lease.signed_payload(), lease.signature):
            return (
                Refusal.FORBIDDEN,
                f"lease renewal of {lease.key} (seq {lease.seq}, floor {lease.floor}) is not "
                f"signed by its owner, peer {lease.owner}",
            )
        return None

    def _check_seed_lease(self, message: SeedMessage) -> tuple[Refusal, str] | None:
        rec, lease = message.record, message.lease
        if lease is None:
            return (
                Refusal.INVALID,
                f"seed {rec.key} arrived without a lease renewal; send it with its owner's "
                "newest Lease",
            )
        if lease.key != rec.key:
            return Refusal.INVALID, f"lease of {lease.key} sent with the seed of {rec.key}"
        problem = self._check_lease(lease)
        if problem is not None:
            return problem
        age = self._age(lease, self.now)
        if age >= self.config.lease_rounds:
            return (
                Refusal.GONE,
                f"lease of {rec.key} ran out: last renewed {age} rounds ago, the lease "
                f"is {self.config.lease_rounds} rounds",
            )
        seen = self.expired.get(rec.key)
        if seen is not None and lease.seq <= seen:
            return (
                Refusal.GONE,
                f"lease of {rec.key} expired here at renewal {seen}; only a newer renewal "
                f"re-admits it (got {lease.seq})",
            )
        if rec.version < lease.floor:
            return (
                Refusal.STALE,
                f"version {rec.version} of {rec.key} was revoked by its owner (lowest "
                f"acceptable: {lease.floor})",
            )
        return None

    def _on_seed(self, message: SeedMessage, now: int) -> Reaction:
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
        if held is None:
            full = self._full(message.sender)
            if full is not None:
                return Reaction(False, full, code=Refusal.INVALID)
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
            assert message.lease is not None  # checked
            dropped = self._renew(message.lease, now)
            if message.ttl <= held.ttl:
                return Reaction(True, "duplicate", dropped=dropped)
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
        assert message.lease is not None  # checked
        self.expired.pop(rec.key, None)  # a newer renewal than the one that ran out
        dropped += self._renew(message.lease, now)
        out: list[Envelope] = []
        if message.ttl > 0:
            current = self.held[rec.key]
            for dst in sorted(self.neighbors - {message.sender, rec.owner}):
                out.append(self._relayed(rec.key, current, dst))
        return Reaction(True, reason, out, dropped)

    def _full(self, sender: int) -> str | None:
        """Why a seed of a new owner from ``sender`` cannot be held, or ``None``."""
        cap, per = self.config.max_held, self.config.max_held_per_sender
        if len(self.held) >= cap:
            return f"peer {self.peer_id} holds {cap} seeds already, its limit (max_held)"
        mine = sum(1 for h in self.held.values() if h.received_from == sender)
        if mine >= per:
            return (
                f"peer {self.peer_id} holds {mine} seeds delivered by peer {sender}, the "
                f"limit for one neighbour (max_held_per_sender)"
            )
        return None

    def _notice_targets(self, key: DataOwner, ttl: int, skip: int) -> list[int]:
        targets = set(self.relayed_to.pop(key, set()))
        if ttl > 0:
            targets |= self.neighbors
        targets -= {skip, key[0], self.peer_id}
        return sorted(targets)

    def _check_leave(self, notice: LeaveNotice) -> tuple[Refusal, str] | None:
        """Refuse a malformed notice, or a graceful leave its owner did not sign."""
        if notice.ttl < 0 or notice.ttl >= max(self.config.relay_hops, 1):
            return Refusal.INVALID, f"ttl {notice.ttl} outside [0, relay_hops - 1]"
        if notice.reason is LeaveReason.GRACEFUL:
            if notice.vouched_by != notice.peer:
                return (
                    Refusal.FORBIDDEN,
                    f"graceful leave of peer {notice.peer} vouched for by peer "
                    f"{notice.vouched_by}: only the leaving peer may announce its own leave",
                )
            if not self.credentials.verify(notice.peer, notice.signed_payload(), notice.signature):
                return (
                    Refusal.FORBIDDEN,
                    f"graceful leave of {notice.key} is not signed by peer {notice.peer}",
                )
        return None

    def _on_leave(self, notice: LeaveNotice, now: int) -> Reaction:
        key = notice.key
        if notice.peer == self.peer_id:
            first_hand = notice.reporter in self.neighbors and notice.vouched_by == notice.reporter
            if notice.reason is LeaveReason.CRASH and notice.epoch == self.epoch and first_hand:
                self.declared_dead = True  # a neighbour tombstoned us: re-key, see rekey()
            return Reaction(
                False, "leave notice about the receiving peer itself", code=Refusal.FORBIDDEN
            )
        held = self.held.get(key)
        if notice.reporter not in self.neighbors and (
            held is None or held.received_from != notice.reporter
        ):
            return Reaction(
                False,
                f"leave notice about {key} from peer {notice.reporter}, which is neither a "
                f"neighbour of peer {self.peer_id} nor the peer its seed came from",
                code=Refusal.FORBIDDEN,
            )
        problem = self._check_leave(notice)
        if problem is not None:
            return Reaction(False, problem[1], code=problem[0])
        graceful = notice.reason is LeaveReason.GRACEFUL
        if graceful and notice.reporter == notice.peer:
            self.remove_neighbor(notice.peer)
        if key in self.tombstones:
            return Reaction(True, "already tombstoned")
        if graceful:
            self.leave_proofs[key] = notice
            dropped = self._tombstone(key)
            reason = "tombstoned"
        else:
            # a crash claim is somebody else's word: the seed goes only if no fresh renewal
            # by its owner arrives within the grace (the owner's lease bounds the rest)
            if key in self.hints:
                return Reaction(True, "crash hint already noted")
            dropped = self._hint(key, now)
            reason = (
                "crash hint: dropped, no renewal here either"
                if dropped
                else f"crash hint: dropped unless renewed within {self.config.hint_grace} rounds"
            )
        relayed = dataclasses.replace(
            notice, reporter=self.peer_id, ttl=max(notice.ttl - 1, 0), origin=notice.vouched_by
        )
        targets = self._notice_targets(key, notice.ttl, notice.reporter)
        if self.config.debug_mute_relay:  # negative control: the removal stops here
            targets = []
        out = [Envelope(dst, relayed) for dst in targets]
        return Reaction(True, reason, out, dropped)

    def _check_beat(self, beat: Heartbeat) -> tuple[Refusal, str] | None:
        """Refuse a flood, a renewal or a leave proof not signed by its owner."""
        cap = self.config.max_beat_items
        for what, items in (
            ("tombstones", beat.tombstones),
            ("leases", beat.leases),
            ("holdings", beat.holding),
            ("leave proofs", beat.proofs),
        ):
            if len(items) > cap:
                return (
                    Refusal.INVALID,
                    f"heartbeat from {beat.sender} carries {len(items)} {what}, more than the "
                    f"{cap} a peer takes per heartbeat",
                )
        for lease in beat.leases:
            problem = self._check_lease(lease)
            if problem is not None:
                return problem
        for proof in beat.proofs:
            if proof.reason is not LeaveReason.GRACEFUL:
                return Refusal.INVALID, f"leave proof for {proof.key} is not a graceful leave"
            problem = self._check_leave(dataclasses.replace(proof, ttl=0))
            if problem is not None:
                return problem
        return None

    def _on_heartbeat(self, beat: Heartbeat, now: int) -> Reaction:
        if beat.sender not in self.neighbors:
            return Reaction(
                False,
                f"heartbeat from {beat.sender}, not a neighbour of {self.peer_id}",
                code=Refusal.FORBIDDEN,
            )
        problem = self._check_beat(beat)
        if problem is not None:
            return Reaction(False, problem[1], code=problem[0])
        # the receiver's own clock: standalone peers' clocks are not synchronised
        self.last_heard[beat.sender] = now
        self.heard.add(beat.sender)
        self.neighbor_holding[beat.sender] = beat.holding
        self.link_epochs[beat.sender] = max(self.link_epochs.get(beat.sender, -1), beat.epoch)
        dropped = self._learn_epoch(beat.sender, beat.epoch)
        if self.key in beat.tombstones:
            # A neighbour declared this peer crashed (a false suspicion, e.g. a partition):
            # it tombstoned this epoch; the runtime re-keys it (a new epoch).
            self.declared_dead = True
        for proof in beat.proofs:
            if proof.peer != self.peer_id and proof.key not in self.tombstones:
                self.leave_proofs[proof.key] = proof
                dropped += self._tombstone(proof.key)
        for lease in beat.leases:
            if lease.owner == self.peer_id or self._age(lease, now) >= self.config.lease_rounds:
                continue
            dropped += self._learn_epoch(lease.owner, lease.epoch)  # owner-signed epoch
            if lease.key in self.held:
                dropped += self._renew(lease, now)
        for key in sorted(beat.tombstones):
            if key[0] != self.peer_id:
                dropped += self._hint(key, now)
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
        """A heartbeat for every neighbour: leases, holdings and news about its holdings.

        Each neighbour gets the own renewal and those of relayable held seeds, what this
        peer holds, and — for the seeds that neighbour said it holds — the owner-signed
        leave notices this peer has (acted on) and the removals it made without one
        (hints); a neighbour this peer tombstoned is told so, so it can re-key.
        """
        self.now = max(self.now, now)
        muted = self.config.debug_mute_relay
        relayed = [
            lease
            for key, held in sorted(self.held.items())
            if held.ttl > 0 and (lease := self._relay_lease(key)) is not None
        ]
        holding = frozenset((k[0], k[1], h.record.version) for k, h in self.held.items())
        removed = self.tombstones | set(self.expired)
        own = self.own_lease(now)
        out: list[Envelope] = []
        for dst in sorted(self.neighbors):
            theirs = {(o, e) for o, e, _ in self.neighbor_holding.get(dst, frozenset())}
            mine = (dst, self._link_epoch(dst))
            proofs = tuple(self.leave_proofs[k] for k in sorted(theirs) if k in self.leave_proofs)
            hints = {k for k in theirs if k in removed and k not in self.leave_proofs}
            if mine in self.tombstones:
                hints.add(mine)
            beat = Heartbeat(
                self.peer_id,
                self.epoch,
                now,
                frozenset() if muted else frozenset(hints),
                (own, *[lease for lease in relayed if lease.owner != dst]),
                holding,
                () if muted else proofs,
            )
            out.append(Envelope(dst, beat))
        return out

    def leave_notices(self) -> list[Envelope]:
        """The graceful goodbye: a signed-by-self leave notice to every neighbour."""
        ttl = max(self.config.relay_hops - 1, 0)
        notice = LeaveNotice(
            self.peer_id, self.epoch, LeaveReason.GRACEFUL, self.peer_id, ttl, origin=self.peer_id
        )
        notice = dataclasses.replace(
            notice, signature=self.credentials.sign(notice.signed_payload())
        )
        return [Envelope(dst, notice) for dst in sorted(self.neighbors)]

    def detect_crashes(self, now: int) -> tuple[list[DataOwner], list[Envelope], list[DataOwner]]:
        """Declare neighbours silent for ``heartbeat_timeout`` rounds crashed.

        What is declared crashed is the epoch the silent link spoke for (its handshake and
        heartbeats), never one learned only from a relayed seed (see :attr:`link_epochs`).

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
            # only the epoch this link spoke for is declared crashed: a newer epoch of the
            # same device (a re-join elsewhere, learned from a relayed seed) has not gone
            # silent here. Relayed seeds must not steer it: the retrain oracle withholds
            # them, and a decision that differs there makes the runs diverge (a false
            # suspicion re-keys its victim, and every later model of it differs)
            key = (other, self._link_epoch(other))
            self.remove_neighbor(other)
            if key[1] < 0 or key in self.tombstones:
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
                other, key[1], LeaveReason.CRASH, self.peer_id, max(ttl, 0), origin=self.peer_id
            )
            out += [Envelope(dst, notice) for dst in targets]
        return crashed, out, dropped
