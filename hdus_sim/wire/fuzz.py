"""A seeded fuzzer for ``PeerService``: mutated protobuf messages sent to a live peer.

Why: a peer at the IoT edge takes messages from neighbours it does not control. This sends
random and structured mutations of *genuine* messages (taken from a running network) over
a real connection, as raw bytes, and sorts every answer:

* ``OK`` — accepted; then the same bytes must also decode with the reference decoder
  (:mod:`hdus_sim.wire.serde`), else it counts as *invalid accepted*;
* a refusal whose status names the problem (non-empty details) — fine;
* a **crash**: ``UNKNOWN``/``INTERNAL`` (an exception the server did not turn into a
  status), ``DEADLINE_EXCEEDED``/``UNAVAILABLE`` (no answer, or the stream reset), or a refusal
  without any details.

Mutations (all drawn from one ``random.Random(seed)``): bit flips, truncation, random
tails, splices and garbage on the encoded bytes; on the parsed message, a random field
(at any depth) set to an extreme — integer limits, huge or empty strings and bytes,
unknown enum values — or a repeated field cleared or blown up past the receiver's caps;
for the seed stream, chunks dropped, duplicated, swapped, mutated or cut short.
"""

from __future__ import annotations

import functools
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message as ProtoMessage

from hdus_sim.proto import peer_pb2 as pb
from hdus_sim.wire import serde
from hdus_sim.wire.errors import WireError
from hdus_sim.wire.serde import SERVICE_METHODS

__all__ = ["Corpus", "FuzzReport", "fuzz_peer"]

#: statuses that mean the server failed to handle an input (or to answer at all)
CRASH_CODES = frozenset({"UNKNOWN", "INTERNAL", "DEADLINE_EXCEEDED", "UNAVAILABLE"})
INTS = (0, 1, -1, 7, 2**31 - 1, -(2**31), 2**32, 2**62, 2**63 - 1, -(2**63))
TEXTS = ("", "x" * 70_000, "\x00", "\u00fc" * 33, "../../etc/passwd", "sensor")
MANY = (2, 17, 4097, 30_000)

#: one genuine message per unary RPC (raw request bytes) and one seed stream (chunk bytes)
Corpus = dict[str, Any]


@dataclass
class FuzzReport:
    """What a fuzz run sent and what came back."""

    tried: int = 0
    by_rpc: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    invalid_accepted: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """One paragraph: counts by outcome, crashes, invalid acceptances, time."""
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        return (
            f"{self.tried} messages in {self.seconds:.1f} s ({dict(sorted(self.by_rpc.items()))}); "
            f"outcomes: {outcomes}; crashes: {len(self.crashes)}; "
            f"invalid accepted: {len(self.invalid_accepted)}"
        )


# ---------------------------------------------------------------------- mutations
def _fields(msg: ProtoMessage) -> list[tuple[ProtoMessage, Any]]:
    """Every (message, field descriptor) pair reachable in ``msg``, set or not."""
    out: list[tuple[ProtoMessage, Any]] = []
    for fd in msg.DESCRIPTOR.fields:
        out.append((msg, fd))
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            if fd.is_repeated:
                for item in getattr(msg, fd.name):
                    out += _fields(item)
            elif msg.HasField(fd.name):
                out += _fields(getattr(msg, fd.name))
    return out


def _set_extreme(rng: random.Random, msg: ProtoMessage, fd: FieldDescriptor) -> None:
    name = fd.name
    if fd.is_repeated:
        items = getattr(msg, name)
        if rng.random() < 0.3 or not len(items):
            del items[:]
            if fd.type == FieldDescriptor.TYPE_MESSAGE:
                items.add()
            return
        template = items[rng.randrange(len(items))]
        for _ in range(rng.choice(MANY)):
            if fd.type == FieldDescriptor.TYPE_MESSAGE:
                items.add().CopyFrom(template)
            else:
                items.append(template)
        return
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        sub = getattr(msg, name)
        if rng.random() < 0.5:
            msg.ClearField(name)
        else:
            sub.SetInParent()
        return
    if fd.type == FieldDescriptor.TYPE_BOOL:
        setattr(msg, name, not getattr(msg, name))
    elif fd.type == FieldDescriptor.TYPE_ENUM:
        setattr(msg, name, rng.choice((0, 1, 2, 3, 99, -5)))
    elif fd.type == FieldDescriptor.TYPE_STRING:
        setattr(msg, name, rng.choice(TEXTS))
    elif fd.type == FieldDescriptor.TYPE_BYTES:
        setattr(msg, name, rng.choice((b"", rng.randbytes(64), rng.randbytes(70_000))))
    elif fd.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        setattr(msg, name, rng.choice((float("nan"), float("inf"), -1.0, 1e308)))
    else:
        for value in rng.sample(INTS, len(INTS)):
            try:
                setattr(msg, name, value)
                return
            except ValueError:  # out of this field's range: try another extreme
                continue


def mutate_structured(rng: random.Random, raw: bytes, cls: type[ProtoMessage]) -> bytes:
    """Parse ``raw`` as ``cls``, set 1-3 random fields to extremes, encode again."""
    msg = cls.FromString(raw)
    for _ in range(rng.randint(1, 3)):
        reachable = _fields(msg)
        if not reachable:  # a message without fields: mutate its bytes instead
            return mutate_bytes(rng, raw, raw)
        target, fd = rng.choice(reachable)
        _set_extreme(rng, target, fd)
    return msg.SerializeToString()


def mutate_bytes(rng: random.Random, raw: bytes, other: bytes) -> bytes:
    """A random byte-level mutation of ``raw`` (``other``: a second message to splice)."""
    op = rng.randrange(7)
    data = bytearray(raw)
    if op == 0 and data:  # flip bits
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif op == 1:  # truncate
        del data[rng.randrange(len(data) + 1) :]
    elif op == 2:  # random tail
        data += rng.randbytes(rng.randint(1, 64))
    elif op == 3:  # splice with another message
        data = data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]
    elif op == 4:  # garbage
        data = bytearray(rng.randbytes(rng.randint(0, 256)))
    elif op == 5 and data:  # duplicate a slice
        i = rng.randrange(len(data))
        data[i:i] = data[i : i + rng.randint(1, 32)]
    else:  # overwrite a byte with a boundary value
        if data:
            data[rng.randrange(len(data))] = rng.choice((0x00, 0x7F, 0x80, 0xFF))
    return bytes(data)


def mutate_stream(rng: random.Random, chunks: list[bytes]) -> list[bytes]:
    """A mutated seed stream: chunks dropped, repeated, swapped, altered or cut short."""
    out = list(chunks)
    op = rng.randrange(6)
    if op == 0 and out:
        del out[rng.randrange(len(out))]
    elif op == 1 and out:
        i = rng.randrange(len(out))
        out.insert(i, out[i])
    elif op == 2 and len(out) > 1:
        i, j = rng.sample(range(len(out)), 2)
        out[i], out[j] = out[j], out[i]
    elif op == 3:
        del out[rng.randrange(len(out) + 1) :]
    elif op == 4 and out:
        i = rng.randrange(len(out))
        out[i] = mutate_structured(rng, out[i], pb.SeedChunk)
    elif out:
        i = rng.randrange(len(out))
        out[i] = mutate_bytes(rng, out[i], out[rng.randrange(len(out))])
    return out


# ---------------------------------------------------------------------- checks
def _reference_decode(rpc: str, request: Any) -> None:
    """Decode an accepted request with the reference decoder; raises WireError if invalid."""
    if rpc == "PushSeed":
        chunks = [serde.parse("SeedChunk", c) for c in request]
        serde.seed_from_chunks(iter(chunks))  # type: ignore[arg-type]
    elif rpc == "Health":
        serde.parse("HealthRequest", request)
    else:
        kind = next(m.request_type for m in SERVICE_METHODS if m.name == rpc)
        serde.decode_message(kind, request)


def fuzz_peer(
    channel: grpc.Channel,
    corpus: Corpus,
    *,
    n: int,
    seed: int,
    budget_s: float = 60.0,
    deadline_s: float = 10.0,
    on_accepted: Callable[[str, Any], None] | None = None,
) -> FuzzReport:
    """Send ``n`` mutated messages (or as many as fit in ``budget_s``) over ``channel``.

    ``corpus`` maps each unary RPC name to genuine request bytes and ``"PushSeed"`` to a
    genuine list of chunk bytes. ``on_accepted(rpc, request)`` is called for every input
    the peer took in (e.g. to check the receiver's state afterwards).
    """
    rng = random.Random(seed)
    methods = {m.name: m for m in SERVICE_METHODS}
    calls: dict[str, Callable[..., Any]] = {}
    for name, m in methods.items():
        if name in corpus:
            if m.client_streaming:
                calls[name] = channel.stream_unary(m.path)
            else:
                calls[name] = channel.unary_unary(m.path)
    names = sorted(calls)
    report = FuzzReport()
    start = time.monotonic()
    while report.tried < n and time.monotonic() - start < budget_s:
        rpc = rng.choice(names)
        genuine = corpus[rpc]
        if methods[rpc].client_streaming:
            request: Any = mutate_stream(rng, genuine)
            sent: Callable[[], Any] = functools.partial(
                calls[rpc], iter(request), timeout=deadline_s
            )
        else:
            cls = getattr(pb, methods[rpc].request_type)
            other = corpus[rng.choice([k for k in names if k != "PushSeed"])]
            if rng.random() < 0.5:
                request = mutate_structured(rng, genuine, cls)
            else:
                request = mutate_bytes(rng, genuine, other)
            sent = functools.partial(calls[rpc], request, timeout=deadline_s)
        report.tried += 1
        report.by_rpc[rpc] += 1
        _send(report, rpc, request, sent, on_accepted)
    report.seconds = time.monotonic() - start
    return report


def _send(
    report: FuzzReport,
    rpc: str,
    request: Any,
    sent: Callable[[], Any],
    on_accepted: Callable[[str, Any], None] | None,
) -> None:
    try:
        sent()
    except grpc.RpcError as err:
        code = err.code().name
        report.outcomes[code] += 1
        if code in CRASH_CODES or not (err.details() or "").strip():
            report.crashes.append(f"{rpc}: {code} {err.details()!r}")
        return
    report.outcomes["OK"] += 1
    try:
        _reference_decode(rpc, request)
    except WireError as exc:
        report.invalid_accepted.append(f"{rpc}: accepted, but {exc}")
        return
    if on_accepted is not None:
        on_accepted(rpc, request)


def stream_of(message: Any, dst: int) -> Iterator[bytes]:
    """The chunk bytes of a genuine seed message to ``dst`` (for a corpus)."""
    return (c.SerializeToString() for c in serde.iter_seed_chunks(message, dst))
