"""Records ↔ protobuf: round trips for every record, chunked seeds, and malformed input."""

from __future__ import annotations

import copy
import pickle
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from clients.messages import (
    DeletionReceipt,
    DeletionRequest,
    Heartbeat,
    JoinNotice,
    LeaveNotice,
    LeaveReason,
    SeedMessage,
    SeedRecord,
    content_hash,
)
from clients.models import build_model
from hdus_sim.proto import peer_pb2 as pb
from hdus_sim.wire import serde
from hdus_sim.wire.errors import WIRE_CODES, WireError


# ---------------------------------------------------------------------------- builders
def make_seed(*, extra: bool = False) -> SeedMessage:
    """A real seed_mlp state dict (float32), plus odd tensors when ``extra``."""
    model = build_model("seed_mlp", (1, 8, 8), 10, seed=0)
    tensors = tuple((k, v.detach().cpu().numpy().copy()) for k, v in model.state_dict().items())
    if extra:
        tensors += (
            ("scalar_f64", np.array(3.25, dtype=np.float64)),
            ("empty_i64", np.zeros((3, 0), dtype=np.int64)),
            ("counts_i32", np.arange(-5, 7, dtype=np.int32).reshape(3, 4)),
            ("half", np.linspace(-1, 1, 9, dtype=np.float16)),
            ("big_endian", np.arange(6, dtype=">f4").reshape(2, 3)),
            ("strided", np.arange(20, dtype=np.float32).reshape(4, 5)[:, ::2]),
        )
    record = SeedRecord(
        owner=4,
        epoch=2,
        version=7,
        arch="seed_mlp",
        tensors=tensors,
        lineage=frozenset({(4, 2), (1, 0), (9, 3)}),
        deletions=("a" * 64, "b" * 64),
        digest=content_hash(tensors),
    )
    return SeedMessage(record=record, sender=3, ttl=2)


def assert_seed_equal(got: SeedMessage, want: SeedMessage) -> None:
    a, b = got.record, want.record
    assert (got.sender, got.ttl) == (want.sender, want.ttl)
    assert (a.owner, a.epoch, a.version, a.arch) == (b.owner, b.epoch, b.version, b.arch)
    assert (a.lineage, a.deletions, a.digest) == (b.lineage, b.deletions, b.digest)
    assert [n for n, _ in a.tensors] == [n for n, _ in b.tensors]
    for (name, x), (_, y) in zip(a.tensors, b.tensors, strict=True):
        y = np.asarray(y)
        assert x.dtype == y.dtype.newbyteorder("="), name
        assert x.dtype.isnative, name
        assert x.shape == y.shape, name
        assert x.flags.c_contiguous, name
        np.testing.assert_array_equal(x, y, err_msg=name)


SMALL_RECORDS = [
    LeaveNotice(peer=5, epoch=1, reason=LeaveReason.GRACEFUL, reporter=5, ttl=2, signature=b"s"),
    LeaveNotice(peer=0, epoch=0, reason=LeaveReason.CRASH, reporter=3, ttl=0),
    Heartbeat(sender=2, epoch=1, round=17, tombstones=frozenset({(5, 1), (0, 0), (5, 0)})),
    Heartbeat(sender=0, epoch=0, round=0),
    JoinNotice(peer=12, epoch=3, device="gateway", address="10.0.0.7:50051"),
    JoinNotice(peer=1, epoch=0, device="sensor"),
    DeletionRequest(
        request_id="req-42", peer=3, epoch=1, sample_ids=(5, 0, 99), requester=3, signature=b"\x00"
    ),
    DeletionRequest(request_id="", peer=0, epoch=0, sample_ids=(), requester=0),
    DeletionReceipt(
        request_id="req-42",
        peer=3,
        epoch=1,
        deleted=(5, 99),
        new_model_version=2,
        new_seed_version=4,
        certificate="certified(0.5,1e-05)",
        wall_s=0.125,
    ),
    DeletionReceipt("r", 0, 0, (), 0, 0, "refused: unknown peer"),
]


# ---------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("record", SMALL_RECORDS, ids=lambda r: type(r).__name__)
def test_small_records_roundtrip(record: object) -> None:
    assert serde.roundtrip(record, dst=6) == record
    kind = type(record).__name__
    dst, back = serde.decode_message(kind, serde.encode_message(record, 6))
    assert back == record
    assert dst == (None if kind == "DeletionReceipt" else 6)


def test_pairs_return_dst_and_record() -> None:
    leave, _, beat, _, join, _, request, _, receipt, _ = SMALL_RECORDS
    assert serde.leave_from_proto(serde.leave_to_proto(leave, 9)) == (9, leave)
    assert serde.heartbeat_from_proto(serde.heartbeat_to_proto(beat, 9)) == (9, beat)
    assert serde.join_from_proto(serde.join_to_proto(join, 9)) == (9, join)
    assert serde.deletion_request_from_proto(serde.deletion_request_to_proto(request, 9)) == (
        9,
        request,
    )
    assert serde.deletion_receipt_from_proto(serde.deletion_receipt_to_proto(receipt)) == receipt
    assert serde.ack_from_proto(serde.ack(False, "tombstoned")) == (False, "tombstoned")
    health = serde.HealthStatus("SERVING", (0, 3, 5), 12)
    assert serde.health_from_proto(serde.health_to_proto(health)) == health


def test_encoding_is_deterministic() -> None:
    beat = Heartbeat(1, 0, 3, frozenset({(i, i % 3) for i in range(50)}))
    same = Heartbeat(1, 0, 3, frozenset(reversed(sorted(beat.tombstones))))
    assert serde.encode_message(beat, 2) == serde.encode_message(same, 2)


def test_seed_roundtrip_real_model() -> None:
    msg = make_seed()
    chunks = serde.seed_to_chunks(msg, 11)
    assert len(chunks) == 1 + len(msg.record.tensors)  # small model: one chunk per tensor
    dst, back = serde.seed_from_chunks(chunks)
    assert dst == 11
    assert_seed_equal(back, msg)
    assert_seed_equal(serde.roundtrip(msg, dst=3), msg)
    assert back.record.verify_digest()


def test_seed_with_odd_tensors_roundtrips() -> None:
    msg = make_seed(extra=True)
    dst, back = serde.seed_from_chunks(iter(serde.seed_to_chunks(msg, 0, chunk_bytes=7)))
    assert dst == 0
    assert_seed_equal(back, msg)
    # The digest travels verbatim; the peer (not serde) checks it. Arrays arrive in native
    # byte order, so only a sender hashing non-native arrays would see a mismatch.
    assert back.record.digest == msg.record.digest


def test_large_seed_travels_in_many_chunks() -> None:
    msg = make_seed()
    chunks = serde.seed_to_chunks(msg, 2, chunk_bytes=1000)
    assert len(chunks) > msg.record.nbytes // 1000
    tensor_chunks = [c.tensor for c in chunks[1:]]
    assert max(len(t.data) for t in tensor_chunks) == 1000
    assert sum(len(t.data) for t in tensor_chunks) == msg.record.nbytes
    assert sum(t.last for t in tensor_chunks) == len(msg.record.tensors)
    assert chunks[0].header.total_bytes == msg.record.nbytes
    wire = [c.SerializeToString() for c in chunks]
    assert max(len(b) for b in wire) < 1100  # each message stays small
    _, back = serde.seed_from_chunks(serde.parse("SeedChunk", b) for b in wire)
    assert_seed_equal(back, msg)


def test_received_arrays_are_fresh_and_writable() -> None:
    msg = make_seed()
    _, back = serde.seed_from_chunks(serde.seed_to_chunks(msg, 0))
    (_, x), (_, original) = back.record.tensors[0], msg.record.tensors[0]
    assert x.flags.writeable
    x[...] = 0  # must not alias the sender's array
    assert np.any(original != 0)


def test_tensor_message_roundtrip() -> None:
    array = np.arange(12, dtype=">i8").reshape(3, 4)
    name, back = serde.tensor_from_proto(serde.tensor_to_proto("w", array))
    assert name == "w" and back.dtype == np.int64 and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    bad = serde.tensor_to_proto("w", array)
    bad.data = bad.data[:-1]
    with pytest.raises(WireError, match="size mismatch"):
        serde.tensor_from_proto(bad)


# ---------------------------------------------------------------------------- malformed seeds
def _good_chunks() -> list[pb.SeedChunk]:
    """A small two-tensor seed in 40-byte chunks (several chunks per tensor)."""
    tensors = (
        ("w", np.arange(30, dtype=np.float32).reshape(5, 6)),
        ("b", np.arange(6, dtype=np.float32)),
    )
    lineage = frozenset({(1, 0)})
    record = SeedRecord(1, 0, 1, "seed_mlp", tensors, lineage, (), content_hash(tensors))
    return serde.seed_to_chunks(SeedMessage(record, 1, 0), 2, chunk_bytes=40)


def _tensor_positions(chunks: list[pb.SeedChunk], index: int) -> list[int]:
    return [i for i, c in enumerate(chunks) if c.HasField("tensor") and c.tensor.index == index]


def _missing_header(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    return []


def _empty_chunk_first(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    return [pb.SeedChunk(), *c[1:]]


def _two_headers(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    return [c[0], *c[1:3], c[0], *c[3:]]


def _tensor_before_header(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    return [c[1], c[0], *c[2:]]


def _out_of_order_index(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    first_b = _tensor_positions(c, 1)
    first_w = _tensor_positions(c, 0)
    return [c[0], *(c[i] for i in first_b), *(c[i] for i in first_w)]


def _index_changes_mid_tensor(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    out = copy.deepcopy(c)
    out[2].tensor.index = 1
    return out


def _gap_in_offsets(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    return [c[0], c[1], *c[3:]]  # drops the second chunk of tensor 0


def _overlap_in_offsets(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    out = copy.deepcopy(c)
    out[2].tensor.offset -= 4
    return out


def _truncated_mid_tensor(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    return c[:3]


def _truncated_missing_tensor(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    return c[: _tensor_positions(c, 1)[0]]


def _size_mismatch_short(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    out = copy.deepcopy(c)
    last_w = _tensor_positions(out, 0)[-1]
    out[last_w].tensor.data = out[last_w].tensor.data[:-2]
    return out


def _size_mismatch_long(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    out = copy.deepcopy(c)
    last_w = _tensor_positions(out, 0)[-1]
    out[last_w].tensor.data += b"\x00" * 4
    return out


def _shape_changes(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    out = copy.deepcopy(c)
    out[2].tensor.shape[:] = [6, 5]
    return out


def _unknown_dtype(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    out = copy.deepcopy(c)
    for i in _tensor_positions(out, 0):
        out[i].tensor.dtype = "complex64"
    return out


def _object_dtype(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    out = copy.deepcopy(c)
    for i in _tensor_positions(out, 0):
        out[i].tensor.dtype = "object"
    return out


def _negative_dim(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    out = copy.deepcopy(c)
    out[1].tensor.shape[:] = [-5, -6]
    return out


def _header_field(field: str, value: int) -> Callable[[list[pb.SeedChunk]], list[pb.SeedChunk]]:
    def edit(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
        out = copy.deepcopy(c)
        setattr(out[0].header, field, value)
        return out

    edit.__name__ = f"header_{field}_{value}"
    return edit


def _negative_lineage(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    out = copy.deepcopy(c)
    out[0].header.lineage.add(peer=-1, epoch=0)
    return out


def _extra_tensor(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    extra = pb.SeedChunk(
        tensor=pb.TensorChunk(index=2, name="x", dtype="float32", shape=[0], last=True)
    )
    return [*c, extra]


def _repeated_name(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    out = copy.deepcopy(c)
    for i in _tensor_positions(out, 1):
        out[i].tensor.name = "w"
    return out


def _empty_not_last(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    filler = pb.SeedChunk(
        tensor=pb.TensorChunk(index=0, name="w", dtype="float32", shape=[5, 6], offset=40)
    )
    return [*c[:2], filler, *c[2:]]


def _lying_total(c: list[pb.SeedChunk]) -> list[pb.SeedChunk]:
    out = copy.deepcopy(c)
    out[0].header.total_bytes += 8
    return out


MALFORMED = [
    (_missing_header, "DATA_LOSS", "before its SeedHeader"),
    (_empty_chunk_first, "INVALID_ARGUMENT", "missing SeedHeader"),
    (_two_headers, "INVALID_ARGUMENT", "second SeedHeader"),
    (_tensor_before_header, "INVALID_ARGUMENT", "must start with a SeedHeader"),
    (_out_of_order_index, "INVALID_ARGUMENT", "out of order"),
    (_index_changes_mid_tensor, "INVALID_ARGUMENT", "out of order"),
    (_gap_in_offsets, "INVALID_ARGUMENT", "not contiguous"),
    (_overlap_in_offsets, "INVALID_ARGUMENT", "not contiguous"),
    (_truncated_mid_tensor, "DATA_LOSS", "no last chunk"),
    (_truncated_missing_tensor, "DATA_LOSS", "1 of n_tensors=2"),
    (_size_mismatch_short, "INVALID_ARGUMENT", "size mismatch"),
    (_size_mismatch_long, "INVALID_ARGUMENT", "size mismatch"),
    (_shape_changes, "INVALID_ARGUMENT", "changed name, dtype or shape"),
    (_unknown_dtype, "INVALID_ARGUMENT", "'complex64' is not allowed"),
    (_object_dtype, "INVALID_ARGUMENT", "'object' is not allowed"),
    (_negative_dim, "INVALID_ARGUMENT", r"shape\[0\] must be >= 0"),
    (_header_field("owner", -1), "INVALID_ARGUMENT", r"SeedHeader\.owner must be >= 0"),
    (_header_field("epoch", -2), "INVALID_ARGUMENT", r"SeedHeader\.epoch"),
    (_header_field("version", -1), "INVALID_ARGUMENT", r"SeedHeader\.version"),
    (_header_field("sender", -1), "INVALID_ARGUMENT", r"SeedHeader\.sender"),
    (_header_field("ttl", -1), "INVALID_ARGUMENT", r"SeedHeader\.ttl"),
    (_header_field("dst", -3), "INVALID_ARGUMENT", r"SeedHeader\.dst"),
    (_header_field("n_tensors", 3), "DATA_LOSS", "2 of n_tensors=3"),
    (_header_field("n_tensors", 1), "INVALID_ARGUMENT", "more tensors than"),
    (_header_field("total_bytes", 1 << 40), "RESOURCE_EXHAUSTED", "exceeds"),
    (_header_field("n_tensors", 1 << 30), "RESOURCE_EXHAUSTED", "tensors exceeds"),
    (_negative_lineage, "INVALID_ARGUMENT", r"lineage\[1\]\.peer must be >= 0"),
    (_extra_tensor, "INVALID_ARGUMENT", "more tensors than"),
    (_repeated_name, "INVALID_ARGUMENT", "repeated"),
    (_empty_not_last, "INVALID_ARGUMENT", "empty and not last"),
    (_lying_total, "INVALID_ARGUMENT", "total_bytes"),
]


@pytest.mark.parametrize(
    ("edit", "code", "match"), MALFORMED, ids=[e.__name__.strip("_") for e, _, _ in MALFORMED]
)
def test_malformed_seed_streams(
    edit: Callable[[list[pb.SeedChunk]], list[pb.SeedChunk]], code: str, match: str
) -> None:
    chunks = edit(_good_chunks())
    with pytest.raises(WireError, match=match) as info:
        serde.seed_from_chunks(iter(chunks))
    assert info.value.code == code


def test_good_chunks_decode() -> None:
    # The malformed cases above are edits of a stream that is itself valid.
    dst, msg = serde.seed_from_chunks(_good_chunks())
    assert dst == 2 and msg.record.verify_digest()


def test_oversize_seed_is_refused_before_reading_tensors() -> None:
    chunks = serde.seed_to_chunks(make_seed(), 0, chunk_bytes=1000)
    read: list[int] = []

    def stream():  # records how far the decoder read
        for i, c in enumerate(chunks):
            read.append(i)
            yield c

    with pytest.raises(WireError, match="exceeds") as info:
        serde.seed_from_chunks(stream(), max_bytes=1000)
    assert info.value.code == "RESOURCE_EXHAUSTED"
    assert read == [0]


def test_tensor_larger_than_its_header_claims_is_resource_exhausted() -> None:
    chunks = _good_chunks()
    chunks[1].tensor.shape[:] = [1 << 20, 1 << 20]  # 4 TiB declared, nothing allocated
    with pytest.raises(WireError) as info:
        serde.seed_from_chunks(chunks)
    assert info.value.code == "RESOURCE_EXHAUSTED"


def test_decoder_stops_at_first_error() -> None:
    chunks = _two_headers(_good_chunks())
    stream = iter(chunks)
    with pytest.raises(WireError):
        serde.seed_from_chunks(stream)
    assert len(list(stream)) == len(chunks) - 4  # header, two tensor chunks, bad header read


# ---------------------------------------------------------------------------- bad records out
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: serde.leave_to_proto(LeaveNotice(-1, 0, LeaveReason.CRASH, 2, 0), 0), "peer"),
        (lambda: serde.leave_to_proto(LeaveNotice(1, 0, LeaveReason.CRASH, 2, -1), 0), "ttl"),
        (lambda: serde.leave_to_proto(LeaveNotice(1, 0, LeaveReason.CRASH, 2, 0), -1), "dst"),
        (lambda: serde.join_to_proto(JoinNotice(1, -1, "sensor"), 0), r"JoinNotice\.epoch"),
        (lambda: serde.heartbeat_to_proto(Heartbeat(1, 0, -1), 0), r"Heartbeat\.round"),
        (
            lambda: serde.heartbeat_to_proto(Heartbeat(1, 0, 0, frozenset({(2, -1)})), 0),
            r"tombstones\[0\]\.epoch",
        ),
        (
            lambda: serde.deletion_request_to_proto(DeletionRequest("r", 1, 0, (3, -4), 1), 0),
            r"sample_ids\[1\]",
        ),
        (
            lambda: serde.deletion_receipt_to_proto(DeletionReceipt("r", 1, 0, (), -1, 0, "x")),
            "new_model_version",
        ),
        (
            lambda: serde.deletion_receipt_to_proto(
                DeletionReceipt("r", 1, 0, (), 0, 0, "x", float("nan"))
            ),
            "wall_s",
        ),
        (lambda: serde.join_to_proto(JoinNotice(1, 0, "\udcff"), 0), "cannot encode JoinNotice"),
        (lambda: serde.join_to_proto(JoinNotice(1 << 63, 0, "s"), 0), "int64"),
        (
            lambda: serde.seed_to_chunks(SeedMessage(make_seed().record, -1, 0), 0),
            r"SeedMessage\.sender",
        ),
        (
            lambda: serde.seed_to_chunks(
                SeedMessage(
                    SeedRecord(1, 0, 0, "a", (("m", np.zeros(2, bool)),), frozenset()), 1, 0
                ),
                0,
            ),
            "'bool' is not allowed",
        ),
        (
            lambda: serde.seed_to_chunks(
                SeedMessage(
                    SeedRecord(1, 0, 0, "a", (("m", np.zeros(2)), ("m", np.ones(2))), frozenset()),
                    1,
                    0,
                ),
                0,
            ),
            "repeated",
        ),
    ],
)
def test_invalid_records_are_refused_when_encoding(make: Callable[[], object], match: str) -> None:
    with pytest.raises(WireError, match=match) as info:
        make()
    assert info.value.code == "INVALID_ARGUMENT"


# ---------------------------------------------------------------------------- bad records in
def test_negative_peer_id_is_refused() -> None:
    p = serde.leave_to_proto(LeaveNotice(1, 0, LeaveReason.GRACEFUL, 1, 0), 0)
    p.peer = -7
    with pytest.raises(WireError, match=r"LeaveNotice\.peer must be >= 0, got -7") as info:
        serde.leave_from_proto(p)
    assert info.value.code == "INVALID_ARGUMENT"
    for builder, kind in [
        (pb.JoinNotice(peer=-1), "JoinNotice"),
        (pb.Heartbeat(sender=-1), "Heartbeat"),
        (pb.DeletionRequest(requester=-1), "DeletionRequest"),
        (pb.DeletionReceipt(deleted=[1, -2]), "DeletionReceipt"),
        (pb.LeaveNotice(reason=pb.CRASH, dst=-1), "LeaveNotice"),
    ]:
        with pytest.raises(WireError, match=kind) as info:
            serde.decode_message(kind, builder.SerializeToString())
        assert info.value.code == "INVALID_ARGUMENT"


def test_unspecified_or_unknown_leave_reason_is_refused() -> None:
    p = pb.LeaveNotice(peer=1, epoch=0, reporter=1)
    with pytest.raises(WireError, match="LEAVE_REASON_UNSPECIFIED") as info:
        serde.leave_from_proto(p)
    assert info.value.code == "INVALID_ARGUMENT"
    p.reason = 9  # proto3 enums are open: an unknown number parses
    with pytest.raises(WireError, match="unknown value 9"):
        serde.leave_from_proto(pb.LeaveNotice.FromString(p.SerializeToString()))


def test_undecodable_bytes_raise_wire_error() -> None:
    with pytest.raises(WireError, match="cannot decode LeaveNotice") as info:
        serde.parse("LeaveNotice", b"\x08\xff\xff")  # truncated varint
    assert info.value.code == "DATA_LOSS"
    with pytest.raises(WireError) as info:
        serde.decode_message("JoinNotice", b"\x1a\x02\xff\xfe")  # device: invalid UTF-8
    assert info.value.code == "DATA_LOSS"


@pytest.mark.parametrize("kind", ["LeaveNotice", "JoinNotice", "Heartbeat", "DeletionRequest"])
def test_random_bytes_raise_only_wire_error(kind: str) -> None:
    rng = random.Random(1234)
    refused = 0
    for _ in range(300):
        data = rng.randbytes(rng.randrange(1, 64))
        try:
            serde.decode_message(kind, data)
        except WireError as err:
            assert err.code in WIRE_CODES
            refused += 1
    assert refused > 150  # most random bytes are refused; the rest decoded into valid records


def test_random_bytes_in_a_seed_stream_raise_only_wire_error() -> None:
    rng = random.Random(99)
    good = [c.SerializeToString() for c in _good_chunks()]
    for _ in range(200):
        wire = list(good)
        i = rng.randrange(len(wire))
        wire[i] = bytes(b ^ rng.randrange(256) if rng.random() < 0.2 else b for b in wire[i])
        try:
            serde.seed_from_chunks(serde.parse("SeedChunk", b) for b in wire)
        except WireError as err:
            assert err.code in WIRE_CODES


# ---------------------------------------------------------------------------- misc
def test_wire_error_carries_code_and_pickles() -> None:
    err = WireError("too big", "RESOURCE_EXHAUSTED")
    assert isinstance(err, ValueError)
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.code) == ("too big", "RESOURCE_EXHAUSTED")
    with pytest.raises(ValueError, match="unknown wire error code"):
        WireError("x", "TEAPOT")


def test_seeds_are_not_encoded_as_single_messages() -> None:
    with pytest.raises(TypeError, match="seed_to_chunks"):
        serde.encode_message(make_seed())
    with pytest.raises(ValueError, match="chunk_bytes"):
        serde.seed_to_chunks(make_seed(), 0, chunk_bytes=0)


def test_serde_does_not_import_grpc() -> None:
    source = Path(serde.__file__).read_text(encoding="utf-8")
    assert "import grpc" not in source and "from grpc" not in source
