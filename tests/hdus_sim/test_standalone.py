"""Three standalone peers as separate OS processes on loopback: gossip, lose one, remove it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from hdus_sim.wire.security import KeyRing, make_test_pki

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_status(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_three_processes_gossip_and_drop_a_killed_peer(tiny: dict, tmp_path: Path) -> None:
    tiny["events"] = []
    tiny["peers"]["initial"] = 3
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(tiny))
    make_test_pki({f"peer{i}": [i] for i in range(3)}).save(tmp_path / "certs")
    KeyRing.generate(range(3), seed=1).save(tmp_path / "certs")
    ports = {i: free_port() for i in range(3)}
    procs: dict[int, subprocess.Popen[bytes]] = {}
    status = {i: tmp_path / f"peer{i}.status.json" for i in range(3)}

    def epoch(pid: int) -> int:  # a peer suspected while starting up re-keys (new epoch)
        return int(read_status(status[pid]).get("epoch", 0))

    try:
        for i in range(3):
            cfg = {
                "peer_id": i,
                "scenario": "scenario.yaml",
                "device": "sensor",
                "listen": f"127.0.0.1:{ports[i]}",
                "neighbors": {j: f"127.0.0.1:{ports[j]}" for j in range(3) if j != i},
                "pki_dir": "certs",
                "sign": True,
                "tick_s": 0.3,
                "heartbeat_timeout": 4,
                "status_file": str(status[i]),
            }
            path = tmp_path / f"peer{i}.yaml"
            path.write_text(yaml.safe_dump(cfg))
            procs[i] = subprocess.Popen(
                [sys.executable, "-m", "hdus_sim", "peer", "serve", "--config", str(path)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=open(tmp_path / f"peer{i}.err", "w"),  # noqa: SIM115 - lives with the process
            )
        # every peer ends up holding the other two seeds, over mTLS gRPC
        wait_for(
            lambda: all(
                set(read_status(status[i]).get("held", []))
                == {f"{j}:{epoch(j)}" for j in range(3) if j != i}
                for i in range(3)
            ),
            120,
            "all peers to hold each other's seeds",
        )
        gone = f"2:{epoch(2)}"
        os.kill(procs[2].pid, signal.SIGKILL)  # peer 2 dies without a word
        procs[2].wait(timeout=10)
        wait_for(
            lambda: all(
                gone not in read_status(status[i]).get("held", [gone])
                and gone in read_status(status[i]).get("tombstones", [])
                for i in (0, 1)
            ),
            60,
            "peers 0 and 1 to detect the crash and drop peer 2's seed",
        )
        for i in (0, 1):
            st = read_status(status[i])
            assert st["held"] == [f"{1 - i}:{epoch(1 - i)}"]  # the survivor's seed is kept
            assert procs[i].poll() is None  # still serving
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    errors = (tmp_path / "peer0.err").read_text()
    assert "Traceback" not in errors, errors[-2000:]
