"""A fleet of standalone peers (``hdus-sim peer serve``) as OS processes on loopback.

Each device gets its own certificate folder (as ``hdus-sim certs`` writes them), a
``peer.yaml`` and a status file; the fleet starts them, reads their status, freezes
(SIGSTOP) and resumes (SIGCONT) them, asks one to leave (SIGTERM), checks their shared
audit folder with ``hdus-sim audit``, and stops them all on exit.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hdus_sim.wire.security import KeyRing, make_test_pki, write_device_folders

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Fleet:
    """``n`` standalone peers, all linked to each other, with mTLS and signatures."""

    def __init__(self, tmp: Path, scenario: dict[str, Any], n: int = 3, **peer_fields: Any) -> None:
        self.tmp, self.n = tmp, n
        scenario = dict(scenario, events=[], peers={**scenario["peers"], "initial": n})
        (tmp / "scenario.yaml").write_text(yaml.safe_dump(scenario))
        self.pki = make_test_pki({f"peer{i}": [i] for i in range(n)})
        self.keys = KeyRing.generate(range(n), seed=1)
        write_device_folders(tmp / "certs", self.pki, self.keys)
        self.ports = {i: free_port() for i in range(n)}
        self.fields = {"tick_s": 0.3, "heartbeat_timeout": 4, **peer_fields}
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def address(self, i: int) -> str:
        return f"127.0.0.1:{self.ports[i]}"

    def start(self) -> Fleet:
        for i in range(self.n):
            cfg = {
                "peer_id": i,
                "scenario": "scenario.yaml",
                "device": "sensor",
                "listen": self.address(i),
                "neighbors": {j: self.address(j) for j in range(self.n) if j != i},
                "pki_dir": f"certs/peer{i}",
                "sign": True,
                "status_file": str(self.tmp / f"peer{i}.status.json"),
                **self.fields,
            }
            path = self.tmp / f"peer{i}.yaml"
            path.write_text(yaml.safe_dump(cfg))
            self.procs[i] = subprocess.Popen(
                [sys.executable, "-m", "hdus_sim", "peer", "serve", "--config", str(path)],
                cwd=self.tmp,
                stdout=subprocess.DEVNULL,
                stderr=open(self.tmp / f"peer{i}.err", "w"),  # noqa: SIM115 - lives with it
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        return self

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()

    # ------------------------------------------------------------ watching
    def status(self, i: int) -> dict[str, Any]:
        try:
            return dict(json.loads((self.tmp / f"peer{i}.status.json").read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def epoch(self, i: int) -> int:
        return int(self.status(i).get("epoch", 0))

    def key(self, i: int) -> str:
        """``"peer:epoch"`` of device ``i`` as it is now."""
        return f"{i}:{self.epoch(i)}"

    def holds_all_others(self, i: int) -> bool:
        others = {self.key(j) for j in range(self.n) if j != i}
        return set(self.status(i).get("held", [])) == others

    def wait_all_linked(self, timeout: float) -> None:
        wait_for(
            lambda: all(self.holds_all_others(i) for i in range(self.n)),
            timeout,
            "every device to hold every other device's seed",
        )

    def tick_rate(self, i: int, seconds: float) -> float:
        """Ticks per second device ``i`` makes over the next ``seconds`` (by its status)."""
        a = self.status(i)
        time.sleep(seconds)
        b = self.status(i)
        return (b["tick"] - a["tick"]) / max(b["time"] - a["time"], 1e-9)

    def rss_mb(self, i: int) -> float:
        """Resident memory of device ``i``'s process (MB)."""
        for line in Path(f"/proc/{self.procs[i].pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def errors(self, i: int) -> str:
        return (self.tmp / f"peer{i}.err").read_text()

    # ------------------------------------------------------------ faults
    def freeze(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGSTOP)

    def resume(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGCONT)

    def leave(self, i: int, timeout: float) -> int:
        """SIGTERM device ``i`` (a graceful leave) and return its exit code."""
        self.procs[i].send_signal(signal.SIGTERM)
        return self.procs[i].wait(timeout=timeout)

    # ------------------------------------------------------------ audit
    def audit(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``hdus-sim audit`` on the folder every device writes its chain to (this one)."""
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "hdus_sim",
                "audit",
                str(self.tmp),
                "--keys",  # the devices sign their heads: check them with their public keys
                str(self.tmp / "certs" / "peer0"),
                *args,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def chain(self, i: int) -> list[dict[str, Any]]:
        """Device ``i``'s audit records as written."""
        path = self.tmp / "audit" / f"peer{i}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]
