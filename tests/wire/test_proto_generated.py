"""The committed stubs in hdus_sim/proto/ are exactly what proto/regenerate.sh writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("grpc_tools", reason="grpcio-tools (dev extra) regenerates the stubs")

ROOT = Path(__file__).resolve().parents[2]
PROTO = "proto/hdus_sim/proto/peer.proto"
GENERATED = ("peer_pb2.py", "peer_pb2.pyi")


def test_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    # The same protoc line as proto/regenerate.sh, writing into tmp_path instead of the repo.
    out = str(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            "proto",
            f"--python_out={out}",
            f"--pyi_out={out}",
            PROTO,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"protoc failed on {PROTO}:\n{result.stderr}"
    stale = [
        name
        for name in GENERATED
        if (tmp_path / "hdus_sim" / "proto" / name).read_bytes()
        != (ROOT / "hdus_sim" / "proto" / name).read_bytes()
    ]
    assert not stale, (
        f"hdus_sim/proto/{', '.join(stale)} out of date with {PROTO}: "
        "run `bash proto/regenerate.sh` and commit the result (never edit the stubs by hand)"
    )


def test_stubs_import_with_installed_runtime() -> None:
    # The generated code checks the protobuf and grpcio versions at import time.
    from hdus_sim.proto import peer_pb2
    from hdus_sim.wire.serde import SERVICE_METHODS

    assert peer_pb2.DESCRIPTOR.package == "hdus_sim.proto"
    service = peer_pb2.DESCRIPTOR.services_by_name["PeerService"]
    assert [m.name for m in service.methods] == [
        "PushSeed",
        "NotifyJoin",
        "NotifyLeave",
        "RequestDeletion",
        "SendHeartbeat",
        "Health",
    ]
    # the hand-written binding (hdus_sim/wire/service.py) follows the descriptor
    assert [m.name for m in SERVICE_METHODS] == [m.name for m in service.methods]
    assert [m.client_streaming for m in SERVICE_METHODS] == [True] + [False] * 5
