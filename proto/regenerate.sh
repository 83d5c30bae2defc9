#!/usr/bin/env bash
# Regenerate the protobuf/gRPC Python stubs in hdus_sim/proto/ from proto/hdus_sim/proto/*.proto.
#
# Usage: bash proto/regenerate.sh          (uses `python` on PATH)
#        PYTHON=/path/to/python bash proto/regenerate.sh
# Needs grpcio-tools (pinned in the `dev` extra). tests/wire/test_proto_generated.py fails
# when the committed stubs differ from what this script writes.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

"${PYTHON:-python}" -m grpc_tools.protoc \
    -I proto \
    --python_out=. \
    --pyi_out=. \
    proto/hdus_sim/proto/peer.proto

echo "regenerated hdus_sim/proto/peer_pb2.py and peer_pb2.pyi (the gRPC binding is hdus_sim/wire/service.py)"
