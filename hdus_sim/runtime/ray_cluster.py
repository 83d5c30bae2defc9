"""Joining or starting Ray for the ``ray`` runtime (and ``sweep --parallel ray``).

Without ``runtime.address`` Ray is always started fresh and private to this process; with
one, the cluster there is checked to answer before ``ray.init`` (which would otherwise
retry for minutes). What was done is kept in :data:`RAY_CLUSTER` for the run's summary.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
from pathlib import Path
from typing import Any

from hdus_sim.errors import RunError

__all__ = ["RAY_CLUSTER", "cpu_requests", "ensure_ray", "node_cpus"]


#: How this process got its Ray instance (set by :func:`ensure_ray`; in the run's summary).
RAY_CLUSTER: dict[str, Any] = {}


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast (a clear :class:`RunError`) if nothing listens at a ``host:port`` address.

    ``ray.init`` itself retries an unreachable GCS for minutes, logging "Failed to connect
    to GCS" again and again.
    """
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        if address == "auto":
            return
        raise RunError(
            f"runtime.address {address!r}: write it as HOST:PORT of the Ray head (the port "
            "`ray start --head` printed, 6379 by default), or leave it out for a private "
            "local Ray instance"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise RunError(
            f"runtime.address {address}: no Ray cluster answers there ({why} within "
            f"{timeout_s:g} s); start one with `ray start --head --port={port}` on {host}, "
            "or leave runtime.address out to run on a private local Ray instance"
        ) from None


def ensure_ray(address: str | None, num_cpus: int | None = None) -> Any:
    """Ray for this process: join the cluster at ``address``, or start a private local one.

    Without ``address`` Ray is always started fresh (``address="local"``): never a cluster
    found through ``RAY_ADDRESS`` or the ``ray_current_cluster`` file an earlier
    ``ray start`` left in Ray's temp folder (a dead one made ``ray.init()`` hang on
    "Failed to connect to GCS"). What was done is kept in :data:`RAY_CLUSTER`.
    """
    if address == "local":
        address = None
    if not address:
        # embedded local Ray binds 127.0.0.1 only with this set before ray is imported
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    from hdus_sim.extras import require

    ray = require("ray", "ray", "runtime.kind: ray (and sweep --parallel ray)")

    if ray.is_initialized():
        if not RAY_CLUSTER:
            RAY_CLUSTER.update(mode="reused", note="reused the Ray instance of this process")
        return ray
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address:
        _check_reachable(address)
        host = address.rsplit(":", 1)[0]
        if host.startswith("127."):
            # a local multi-node test cluster: join from the head's loopback address
            # (Ray would otherwise resolve loopback to the machine's interface)
            kwargs["_node_ip_address"] = host
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
            raise RunError(
                f"runtime.address {address}: cannot join that Ray cluster: {exc}"
            ) from exc
        note = f"joined the Ray cluster at {address} (runtime.address)"
        RAY_CLUSTER.clear()
        RAY_CLUSTER.update(mode="joined", address=address, note=note)
        return ray
    ignored = []
    stale_env = os.environ.pop("RAY_ADDRESS", None)  # workers inherit it: drop it here
    if stale_env:
        ignored.append(f"RAY_ADDRESS={stale_env}")
    with contextlib.suppress(Exception):  # private Ray API: only for the note
        from ray._common.utils import get_ray_address_file

        found = Path(get_ray_address_file(None))
        if found.is_file():
            ignored.append(f"the cluster {found.read_text().strip()} named in {found}")
    ray.init(address="local", num_cpus=num_cpus, **kwargs)
    note = "started a private local Ray instance (runtime.address not set)"
    if ignored:
        note += "; ignored " + " and ".join(ignored) + " (set runtime.address to join a cluster)"
    RAY_CLUSTER.clear()
    RAY_CLUSTER.update(mode="private", address=ray.get_runtime_context().gcs_address, note=note)
    return ray


def node_cpus(ray: Any) -> list[float]:
    """CPUs of every live node of the cluster ``ray`` is connected to."""
    return [
        float(node.get("Resources", {}).get("CPU", 0.0))
        for node in ray.nodes()
        if node.get("Alive") and node.get("Resources", {}).get("CPU", 0.0) > 0
    ] or [1.0]


def _ray_quantity(cpus: float) -> float:
    """A CPU request Ray accepts, rounded down: 4 decimals below 1, whole numbers above."""
    return float(math.floor(cpus)) if cpus >= 1.0 else max(0.0001, math.floor(cpus * 1e4) / 1e4)


def _packs(requests: list[float], nodes: list[float]) -> bool:
    """Whether first-fit-decreasing places every request on a node without overfilling it."""
    free = sorted(nodes, reverse=True)
    for want in sorted(requests, reverse=True):
        for i, room in enumerate(free):
            if want <= room + 1e-9:
                free[i] = room - want
                break
        else:
            return False
    return True


def cpu_requests(wanted: list[float], nodes: list[float], *, headroom: float = 0.9) -> list[float]:
    """Per-actor CPU requests scaled down together until every actor fits on some node.

    Scaling to the cluster's *total* is not enough: 3 actors of 0.65 CPU fit 2 CPUs in
    sum, but never two 1-CPU nodes (the third stays pending, and the run waits forever).
    The largest common scale (at most 1) for which first-fit-decreasing packs the requests
    into ``headroom`` of every node's CPUs is found by bisection; requests keep their
    proportions (a gateway's actor still asks for more than a sensor's).

    Examples
    --------
    >>> cpu_requests([0.65, 0.65, 0.65], [1.0, 1.0])
    [0.45, 0.45, 0.45]
    >>> cpu_requests([0.2, 0.1], [8.0])
    [0.2, 0.1]
    """
    nodes = [headroom * n for n in nodes]

    def scaled(s: float) -> list[float]:
        return [_ray_quantity(w * s) for w in wanted]

    if _packs(scaled(1.0), nodes):
        return scaled(1.0)
    low, high = 0.0, 1.0
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if _packs(scaled(mid), nodes) else (low, mid)
    return scaled(low)
