"""Embedded Ray never attaches to a stale cluster by accident; a dead address fails fast.

Both tests run ``hdus-sim run`` as a subprocess (its own Ray, its own Ray temp folder), so
the Ray instance of this test session is not involved.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.ray

ROOT = Path(__file__).parents[2]


def dead_address() -> str:
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def ray_tiny(tiny: dict, tmp_path: Path, **runtime: object) -> Path:
    sc = copy.deepcopy(tiny)
    sc["runtime"] = {"kind": "ray", "peers_per_actor": 7, **runtime}
    path = tmp_path / "ray.yaml"
    path.write_text(yaml.safe_dump(sc))
    return path


def test_a_stale_cluster_file_and_ray_address_do_not_make_an_embedded_run_hang(
    tiny: dict, tmp_path: Path
) -> None:
    stale = dead_address()
    temp = Path(tempfile.mkdtemp(prefix="hr", dir="/tmp"))  # short: Ray's socket paths
    try:
        (temp / "ray").mkdir()
        # what an earlier `ray start --head` leaves behind once its cluster is gone
        (temp / "ray" / "ray_current_cluster").write_text(stale + "\n")
        env = {**os.environ, "RAY_TMPDIR": str(temp), "RAY_ADDRESS": stale}
        env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
        out = tmp_path / "run"
        scenario = ray_tiny(tiny, tmp_path)
        res = subprocess.run(
            [sys.executable, "-m", "hdus_sim", "run", str(scenario), "--out", str(out), "-q"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=400,  # the old code retried "Failed to connect to GCS" for ever
        )
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    assert res.returncode == 0, res.stderr[-3000:]
    log = " ".join(res.stderr.split())
    assert "ray: started a private local Ray instance (runtime.address not set)" in log
    assert f"ignored RAY_ADDRESS={stale}" in log
    assert f"the cluster {stale} named in {temp}/ray/ray_current_cluster" in log
    cluster = json.loads((out / "summary.json").read_text())["wire"]["ray"]["cluster"]
    assert cluster["mode"] == "private" and cluster["address"] != stale


def test_an_unreachable_runtime_address_fails_fast_and_clearly(tiny: dict, tmp_path: Path) -> None:
    address = dead_address()
    scenario, out = ray_tiny(tiny, tmp_path, address=address), tmp_path / "run"
    started = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "hdus_sim", "run", str(scenario), "--out", str(out), "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    took = time.monotonic() - started
    assert res.returncode == 2, res.stderr[-3000:]
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert f"runtime.address {address}: no Ray cluster answers there" in lines[0]
    assert "ray start --head" in lines[0]
    assert took < 120, f"took {took:.0f} s"  # start-up and data; no minutes of GCS retries
