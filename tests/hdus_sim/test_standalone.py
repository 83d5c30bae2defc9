"""Three standalone peers as separate OS processes on loopback: gossip, lose one, remove it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fleet import ROOT, free_port, wait_for

from hdus_sim.wire.security import KeyRing, make_test_pki, write_device_folders

pytestmark = pytest.mark.standalone


def read_status(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def test_three_processes_gossip_and_drop_a_killed_peer(tiny: dict, tmp_path: Path) -> None:
    tiny["events"] = []
    tiny["peers"]["initial"] = 3
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(tiny))
    # what `hdus-sim certs certs --peers 3` writes: one folder per device
    pki = make_test_pki({f"peer{i}": [i] for i in range(3)})
    write_device_folders(tmp_path / "certs", pki, KeyRing.generate(range(3), seed=1))
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
                "pki_dir": f"certs/peer{i}",
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
            reasons = [d["reason"] for d in st["drops"] if d["seed"] == gone]
            assert reasons and "leave" not in reasons, st["drops"]  # a crash, not a leave
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


def serve_cli(config: Path, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hdus_sim", "peer", "serve", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


def peer_config(tmp_path: Path, tiny: dict, name: str, **fields: object) -> Path:
    tiny["events"] = []
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(tiny))
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"peer_id": 0, "scenario": "scenario.yaml", **fields}))
    return path


def test_sign_without_keys_is_refused_at_start_up(tiny: dict, tmp_path: Path) -> None:
    config = peer_config(tmp_path, tiny, "p", sign=True, ticks=1)
    proc = serve_cli(config)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "serving" not in out  # it never served plaintext with unsigned notices
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "sign: true needs pki_dir" in lines[0], err


def test_a_device_folder_with_other_peers_keys_is_refused(tiny: dict, tmp_path: Path) -> None:
    make_test_pki({f"peer{i}": [i] for i in range(2)}).save(tmp_path / "shared")
    KeyRing.generate(range(2), seed=1).save(tmp_path / "shared")  # the old one-folder layout
    config = peer_config(tmp_path, tiny, "p", sign=True, pki_dir="shared", ticks=1)
    proc = serve_cli(config)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "serving" not in out, out + err
    assert "holds the TLS keys of ['peer1'] and the CA key" in " ".join(err.split())


def test_two_peers_on_one_listen_address_do_not_both_serve(tiny: dict, tmp_path: Path) -> None:
    listen = f"127.0.0.1:{free_port()}"
    status = tmp_path / "first.status.json"
    first = serve_cli(
        peer_config(tmp_path, tiny, "first", listen=listen, status_file=str(status), tick_s=0.3)
    )
    try:
        wait_for(lambda: read_status(status).get("address") == listen, 120, "the first peer")
        second = serve_cli(peer_config(tmp_path, tiny, "second", peer_id=1, listen=listen, ticks=3))
        out, err = second.communicate(timeout=120)
        assert second.returncode == 2, out + err
        assert "serving" not in out
        assert f"cannot listen on {listen}: the address is in use" in " ".join(err.split())
        assert "Traceback" not in err
        assert first.poll() is None  # the first one still serves
    finally:
        first.send_signal(signal.SIGTERM)
        try:
            out, _ = first.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            first.kill()
            out, _ = first.communicate()
    assert f"peer 0 serving on {listen}" in out
