"""Peers as Ray actors over gRPC: embedded Ray, an actor killed mid-run, a 2-node cluster.

Real Ray, real gRPC on loopback. Embedded Ray starts once per test session (about 8 s);
the multi-node test starts its own cluster with ``ray start`` and runs last in this file.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from hdus_sim import Simulation, verify_run

pytestmark = pytest.mark.ray

ROOT = Path(__file__).parents[2]


def ray_scenario(tiny: dict, **runtime: object) -> dict:
    sc = copy.deepcopy(tiny)
    sc["runtime"] = {"kind": "ray", "peers_per_actor": 3, "wire": {"tls": True}, **runtime}
    return sc


def test_ray_run_equals_inprocess_and_verifies(tiny: dict, tmp_path: Path) -> None:
    sim = Simulation.from_dict(ray_scenario(tiny)).run()
    ray_info = sim.summary()["wire"]["ray"]
    assert len(ray_info["actors"]) == 3  # 7 peers packed 3 per actor
    assert len({a["pid"] for a in ray_info["actors"]}) == 3  # three real processes
    assert sim.summary()["wire"]["rpcs"] > 0
    memory = Simulation.from_dict(tiny).run().predictions()
    over_ray = sim.predictions()
    assert memory.keys() == over_ray.keys()
    assert all(np.array_equal(memory[k], over_ray[k]) for k in memory)
    sim.write(tmp_path)
    report = verify_run(tmp_path, oracle_runtime="inprocess")
    assert report.passed and [e.verdict for e in report.events] == ["EXACT", "EXACT"]


@pytest.mark.parametrize("policy", ["restore", pytest.param("rejoin", marks=pytest.mark.slow)])
def test_actor_killed_mid_run_comes_back_and_verifies(
    tiny: dict, tmp_path: Path, policy: str
) -> None:
    sc = ray_scenario(tiny, on_actor_restart=policy)
    sc["events"].append({"at": 3, "kind": "kill_actor", "actor": 1})  # hosts peers 3, 4, 5
    sim = Simulation.from_dict(sc).run()
    kill = next(e for e in sim.events if e["kind"] == "kill_actor")
    assert kill["restored"] == [3, 4, 5]  # the restarted process reloaded its peers
    assert kill["new_pid"] != kill["old_pid"]  # a new process serves actor 1
    assert sim.summary()["wire"]["ray"]["actors"][1]["pid"] == kill["new_pid"]
    departures = {(d["peer"], d["kind"]) for d in sim.summary()["departures"]}
    if policy == "rejoin":
        assert {(3, "actor_crash"), (5, "actor_crash")} <= departures
    # nothing of the other peers is lost: the same run in memory agrees bit for bit
    sc_mem = copy.deepcopy(sc)
    sc_mem["runtime"] = {"kind": "inprocess", "peers_per_actor": 3, "on_actor_restart": policy}
    memory = Simulation.from_dict(sc_mem).run().predictions()
    assert all(np.array_equal(memory[k], v) for k, v in sim.predictions().items())
    sim.write(tmp_path)
    report = verify_run(tmp_path, oracle_runtime="inprocess")
    assert report.passed, [e.explain() for e in report.events]


def _start_node(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """One Ray node as a child process (``--block``), so the test stops exactly its own nodes."""
    ray_bin = str(Path(sys.executable).parent / "ray")
    return subprocess.Popen(
        [ray_bin, "start", "--block", "--num-cpus=1", "--disable-usage-stats", *args],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop_node(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the node's process group (raylet, GCS, workers), SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_nodes(address: str, n: int, env: dict[str, str], timeout: float = 90) -> None:
    probe = (
        "import ray, sys; ray.init(address=sys.argv[1], _node_ip_address='127.0.0.2', "
        "log_to_driver=False); print(sum(1 for x in ray.nodes() if x['Alive']))"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = subprocess.run(
            [sys.executable, "-c", probe, address],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        if res.returncode == 0 and res.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(1)
    raise AssertionError(f"the {n}-node Ray cluster at {address} did not come up")


@pytest.mark.slow
@pytest.mark.parametrize(
    "packing",
    [
        {"peers_per_actor": 2, "placement": "spread"},
        # the README's recipe as written: the default packing, the default placement
        {"peers_per_actor": None},
    ],
    ids=["2-per-actor-spread", "readme-defaults"],
)
def test_two_node_local_cluster_spreads_peers_and_verifies(
    tiny: dict, tmp_path: Path, packing: dict
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    env["RAY_AUTH_MODE"] = "token"  # both nodes must agree, or the second is refused
    temp = tempfile.mkdtemp(prefix="hr", dir="/tmp")  # short: Ray's socket paths are long
    port = "6397"
    address = f"127.0.0.2:{port}"
    # Ray maps 127.0.0.1 to the machine's interface; other loopback addresses stay put
    head = _start_node(
        "--head",
        "--node-ip-address=127.0.0.2",
        f"--port={port}",
        f"--temp-dir={temp}",
        "--include-dashboard=false",
        env=env,
        log=tmp_path / "head.log",
    )
    nodes = [head]
    try:
        _wait_nodes(address, 1, env)
        nodes.append(
            _start_node(
                f"--address={address}",
                "--node-ip-address=127.0.0.3",
                env=env,
                log=tmp_path / "worker.log",
            )
        )
        _wait_nodes(address, 2, env)
        sc = ray_scenario(tiny, address=address, **packing)
        if sc["runtime"]["peers_per_actor"] is None:
            del sc["runtime"]["peers_per_actor"]
        path = tmp_path / "cluster.yaml"
        path.write_text(yaml.safe_dump(sc))
        out = tmp_path / "run"
        res = subprocess.run(
            [sys.executable, "-m", "hdus_sim", "run", str(path), "--out", str(out), "--quiet"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=600,
        )
        assert res.returncode == 0, res.stderr[-3000:]
    finally:
        for proc in reversed(nodes):
            _stop_node(proc)
    info = json.loads((out / "summary.json").read_text())["wire"]["ray"]
    nodes_with_peers = {a["node_id"] for a in info["actors"] if a["peers"]}
    if packing.get("placement") == "spread":
        assert len(nodes_with_peers) == 2, info  # peers ran on both nodes
    report = verify_run(out, oracle_runtime="inprocess")
    assert report.passed and all(e.verdict == "EXACT" for e in report.events)
