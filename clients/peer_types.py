"""The records a :class:`~clients.peer.Peer` is configured with and answers in.

Configuration (:class:`PeerConfig`, :class:`PeerSeeds`), what one inbound message did
(:class:`Reaction`, :class:`Refusal`), what to send (:class:`Envelope`), and what a holder
keeps per held seed (:class:`HeldSeed`, :class:`LeaseState`). Plain dataclasses: no
behaviour beyond derived defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from torch import nn

from clients.ensemble import CombineMode
from clients.messages import DataOwner, Heartbeat, Lease, LeaveNotice, SeedMessage, SeedRecord
from clients.training import DistillConfig, TrainConfig

__all__ = [
    "Envelope",
    "HeldSeed",
    "LeaseState",
    "Message",
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
    #: extra ``rho`` values scored on the local test set each round, in both combine
    #: modes (the HDUS authors' rho curve; evaluation only, the ensemble uses ``rho``)
    rho_grid: tuple[float, ...] = ()
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
