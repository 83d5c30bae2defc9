"""Generated protobuf/gRPC code; do not edit; regenerate with proto/regenerate.sh."""
