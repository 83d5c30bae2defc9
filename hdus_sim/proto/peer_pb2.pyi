from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LeaveReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEAVE_REASON_UNSPECIFIED: _ClassVar[LeaveReason]
    GRACEFUL: _ClassVar[LeaveReason]
    CRASH: _ClassVar[LeaveReason]
LEAVE_REASON_UNSPECIFIED: LeaveReason
GRACEFUL: LeaveReason
CRASH: LeaveReason

class Tensor(_message.Message):
    __slots__ = ("name", "dtype", "shape", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    def __init__(self, name: _Optional[str] = ..., dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ...) -> None: ...

class DataOwner(_message.Message):
    __slots__ = ("peer", "epoch")
    PEER_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    peer: int
    epoch: int
    def __init__(self, peer: _Optional[int] = ..., epoch: _Optional[int] = ...) -> None: ...

class SeedHeader(_message.Message):
    __slots__ = ("owner", "epoch", "version", "arch", "lineage", "deletions", "digest", "sender", "ttl", "total_bytes", "n_tensors", "dst", "signature", "lease")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    DELETIONS_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    N_TENSORS_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    owner: int
    epoch: int
    version: int
    arch: str
    lineage: _containers.RepeatedCompositeFieldContainer[DataOwner]
    deletions: _containers.RepeatedScalarFieldContainer[str]
    digest: str
    sender: int
    ttl: int
    total_bytes: int
    n_tensors: int
    dst: int
    signature: bytes
    lease: Lease
    def __init__(self, owner: _Optional[int] = ..., epoch: _Optional[int] = ..., version: _Optional[int] = ..., arch: _Optional[str] = ..., lineage: _Optional[_Iterable[_Union[DataOwner, _Mapping]]] = ..., deletions: _Optional[_Iterable[str]] = ..., digest: _Optional[str] = ..., sender: _Optional[int] = ..., ttl: _Optional[int] = ..., total_bytes: _Optional[int] = ..., n_tensors: _Optional[int] = ..., dst: _Optional[int] = ..., signature: _Optional[bytes] = ..., lease: _Optional[_Union[Lease, _Mapping]] = ...) -> None: ...

class Lease(_message.Message):
    __slots__ = ("owner", "epoch", "seq", "floor", "signature", "age")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    FLOOR_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    AGE_FIELD_NUMBER: _ClassVar[int]
    owner: int
    epoch: int
    seq: int
    floor: int
    signature: bytes
    age: int
    def __init__(self, owner: _Optional[int] = ..., epoch: _Optional[int] = ..., seq: _Optional[int] = ..., floor: _Optional[int] = ..., signature: _Optional[bytes] = ..., age: _Optional[int] = ...) -> None: ...

class SeedVersion(_message.Message):
    __slots__ = ("peer", "epoch", "version")
    PEER_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    peer: int
    epoch: int
    version: int
    def __init__(self, peer: _Optional[int] = ..., epoch: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class TensorChunk(_message.Message):
    __slots__ = ("index", "name", "dtype", "shape", "offset", "data", "last")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    index: int
    name: str
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    offset: int
    data: bytes
    last: bool
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ..., dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ..., last: _Optional[bool] = ...) -> None: ...

class SeedChunk(_message.Message):
    __slots__ = ("header", "tensor")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    header: SeedHeader
    tensor: TensorChunk
    def __init__(self, header: _Optional[_Union[SeedHeader, _Mapping]] = ..., tensor: _Optional[_Union[TensorChunk, _Mapping]] = ...) -> None: ...

class LeaveNotice(_message.Message):
    __slots__ = ("peer", "epoch", "reason", "reporter", "ttl", "signature", "dst", "origin")
    PEER_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REPORTER_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    peer: int
    epoch: int
    reason: LeaveReason
    reporter: int
    ttl: int
    signature: bytes
    dst: int
    origin: int
    def __init__(self, peer: _Optional[int] = ..., epoch: _Optional[int] = ..., reason: _Optional[_Union[LeaveReason, str]] = ..., reporter: _Optional[int] = ..., ttl: _Optional[int] = ..., signature: _Optional[bytes] = ..., dst: _Optional[int] = ..., origin: _Optional[int] = ...) -> None: ...

class JoinNotice(_message.Message):
    __slots__ = ("peer", "epoch", "device", "address", "dst")
    PEER_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    peer: int
    epoch: int
    device: str
    address: str
    dst: int
    def __init__(self, peer: _Optional[int] = ..., epoch: _Optional[int] = ..., device: _Optional[str] = ..., address: _Optional[str] = ..., dst: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("sender", "epoch", "round", "tombstones", "dst", "leases", "holding", "proofs")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    TOMBSTONES_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    LEASES_FIELD_NUMBER: _ClassVar[int]
    HOLDING_FIELD_NUMBER: _ClassVar[int]
    PROOFS_FIELD_NUMBER: _ClassVar[int]
    sender: int
    epoch: int
    round: int
    tombstones: _containers.RepeatedCompositeFieldContainer[DataOwner]
    dst: int
    leases: _containers.RepeatedCompositeFieldContainer[Lease]
    holding: _containers.RepeatedCompositeFieldContainer[SeedVersion]
    proofs: _containers.RepeatedCompositeFieldContainer[LeaveNotice]
    def __init__(self, sender: _Optional[int] = ..., epoch: _Optional[int] = ..., round: _Optional[int] = ..., tombstones: _Optional[_Iterable[_Union[DataOwner, _Mapping]]] = ..., dst: _Optional[int] = ..., leases: _Optional[_Iterable[_Union[Lease, _Mapping]]] = ..., holding: _Optional[_Iterable[_Union[SeedVersion, _Mapping]]] = ..., proofs: _Optional[_Iterable[_Union[LeaveNotice, _Mapping]]] = ...) -> None: ...

class DeletionRequest(_message.Message):
    __slots__ = ("request_id", "peer", "epoch", "sample_ids", "requester", "signature", "dst")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_IDS_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    peer: int
    epoch: int
    sample_ids: _containers.RepeatedScalarFieldContainer[int]
    requester: int
    signature: bytes
    dst: int
    def __init__(self, request_id: _Optional[str] = ..., peer: _Optional[int] = ..., epoch: _Optional[int] = ..., sample_ids: _Optional[_Iterable[int]] = ..., requester: _Optional[int] = ..., signature: _Optional[bytes] = ..., dst: _Optional[int] = ...) -> None: ...

class DeletionReceipt(_message.Message):
    __slots__ = ("request_id", "peer", "epoch", "deleted", "new_model_version", "new_seed_version", "certificate", "wall_s")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    NEW_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    NEW_SEED_VERSION_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    WALL_S_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    peer: int
    epoch: int
    deleted: _containers.RepeatedScalarFieldContainer[int]
    new_model_version: int
    new_seed_version: int
    certificate: str
    wall_s: float
    def __init__(self, request_id: _Optional[str] = ..., peer: _Optional[int] = ..., epoch: _Optional[int] = ..., deleted: _Optional[_Iterable[int]] = ..., new_model_version: _Optional[int] = ..., new_seed_version: _Optional[int] = ..., certificate: _Optional[str] = ..., wall_s: _Optional[float] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("accepted", "reason")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    reason: str
    def __init__(self, accepted: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("status", "peers", "round")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    status: str
    peers: _containers.RepeatedScalarFieldContainer[int]
    round: int
    def __init__(self, status: _Optional[str] = ..., peers: _Optional[_Iterable[int]] = ..., round: _Optional[int] = ...) -> None: ...
