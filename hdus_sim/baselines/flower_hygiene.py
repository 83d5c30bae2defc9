"""Process hygiene around one Flower simulation: Ray's state, Flower's log and environment.

Flower starts its own embedded Ray and shuts it down at the end, posts telemetry, logs
each round at INFO and overwrites ``PYTHONPATH`` for its workers. :func:`check_ray_state`
refuses to start where that would harm the caller (a Ray already up in this process, or
one that would listen beyond loopback); :func:`flower_process_guard` keeps the platform
offline and quiet and undoes the ``PYTHONPATH`` change.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

#: environment variable that keeps embedded Ray on 127.0.0.1 (read once, at ray's import)
RAY_LOOPBACK = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextlib.contextmanager
def flower_process_guard() -> Iterator[None]:
    """Quiet Flower's log, keep it offline, and undo its ``PYTHONPATH`` change afterwards."""
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    from flwr.supercore import telemetry

    # flwr reads the variable once, at import, which may have come before the line above;
    # not restored afterwards: Flower posts its events from threads that may run later
    telemetry.FLWR_TELEMETRY_ENABLED = os.environ["FLWR_TELEMETRY_ENABLED"]
    logger = logging.getLogger("flwr")
    saved_level = logger.level
    saved_pythonpath = os.environ.get("PYTHONPATH")
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(saved_level)
        if saved_pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved_pythonpath


def check_ray_state() -> None:
    """Refuse to start when Ray is up already or would listen beyond loopback."""
    import ray
    from ray._private import ray_constants

    if ray.is_initialized():
        raise RuntimeError(
            "Ray is already initialized in this process; Flower's simulation engine would "
            "reuse it and call ray.shutdown() at the end, killing its actors. Call "
            "ray.shutdown() first, or run the Flower baseline in a separate process."
        )
    if os.environ.get(RAY_LOOPBACK) == "0" and ray_constants.ENABLE_RAY_CLUSTER:
        raise RuntimeError(
            f"ray was imported before {RAY_LOOPBACK}=0 was set, so the Ray instance Flower "
            "starts would listen on every network interface; set it in the environment "
            "before anything imports ray"
        )
