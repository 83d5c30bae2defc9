"""The wire's packages keep their boundaries after the split into modules."""

from __future__ import annotations

from pathlib import Path

from hdus_sim.wire import grpc_transport, security, serde


def test_no_serde_module_imports_grpc() -> None:
    modules = sorted(Path(serde.__file__).parent.glob("*.py"))
    assert len(modules) > 1
    for path in modules:
        source = path.read_text(encoding="utf-8")
        assert "import grpc" not in source and "from grpc" not in source, path.name


def test_security_imports_grpc_only_inside_functions() -> None:
    for path in sorted(Path(security.__file__).parent.glob("*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(("import grpc", "from grpc")):
                raise AssertionError(f"{path.name} imports gRPC at module level: {line}")


def test_facades_export_their_names() -> None:
    for package in (serde, security, grpc_transport):
        missing = [name for name in package.__all__ if not hasattr(package, name)]
        assert not missing, (package.__name__, missing)
