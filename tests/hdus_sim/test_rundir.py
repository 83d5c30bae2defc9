"""Run folders are owned: one writer at a time, no silent reuse, atomic files, full disks.

The full-disk tests mount a real size-limited tmpfs (they need root, and are skipped
without it) and fill it with a ballast file, so the run meets a real ``ENOSPC``.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from hdus_sim.errors import DiskFullError, RunDirBusyError
from hdus_sim.journal import Journal
from hdus_sim.rundir import LOCK_FILE, RunLock, atomic_open, clear_run

ROOT = Path(__file__).parents[2]
VOLATILE = ("wall_s", "train_s", "latency_s")


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hdus_sim", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def same_results(a: Path, b: Path) -> None:
    assert stable(jsonl(a / "metrics.jsonl")) == stable(jsonl(b / "metrics.jsonl"))
    assert stable(jsonl(a / "rounds.jsonl")) == stable(jsonl(b / "rounds.jsonl"))
    assert stable(jsonl(a / "events.jsonl")) == stable(jsonl(b / "events.jsonl"))
    with np.load(a / "predictions.npz") as x, np.load(b / "predictions.npz") as y:
        assert sorted(x.files) == sorted(y.files)
        assert all(np.array_equal(x[k], y[k]) for k in x.files)


# ------------------------------------------------------------------ small file systems
@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("needs root on Linux to mount a size-limited tmpfs")
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(fs: Path, leave: int) -> Path:
    """Leave about ``leave`` bytes free on ``fs`` (a ballast file takes the rest)."""
    ballast = fs / "ballast"
    with ballast.open("ab") as fh:
        free = shutil.disk_usage(fs).free
        if free > leave:
            os.posix_fallocate(fh.fileno(), os.fstat(fh.fileno()).st_size, free - leave)
    return ballast


# ------------------------------------------------------------------ unit level
def test_atomic_writes_use_a_temporary_file_unique_per_writer(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint.pkl"
    target.write_bytes(b"old")
    with atomic_open(target) as a, atomic_open(target) as b:  # two writers at once
        tmps = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
        assert len(tmps) == 2 and all(f".{os.getpid()}." in n for n in tmps)
        a.write(b"from a")
        b.write(b"from b")
        assert target.read_bytes() == b"old"  # readers see the old file until the end
    assert target.read_bytes() in (b"from a", b"from b")
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pkl"]
    with pytest.raises(ZeroDivisionError), atomic_open(target) as fh:
        fh.write(b"half")
        1 / 0  # noqa: B018
    assert target.read_bytes() in (b"from a", b"from b")  # a failed write changes nothing
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pkl"]


def test_lock_refuses_a_live_owner_and_takes_over_a_dead_ones(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunLock(run):
        owner = json.loads((run / LOCK_FILE).read_text())
        assert owner["pid"] == os.getpid()
        with pytest.raises(RunDirBusyError, match=rf"in use by another.*pid {os.getpid()}"):
            RunLock(run).acquire()
    assert not (run / LOCK_FILE).exists()  # released: the lock file is gone
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run / LOCK_FILE).write_text(json.dumps({"pid": dead.pid}))  # left by a killed run
    (run / f".summary.json.{dead.pid}.0123abcd.tmp").write_text("{")  # and its temporary
    lock = RunLock(run).acquire()
    try:
        assert lock.took_over == dead.pid
        assert "no longer running" in (lock.describe_takeover() or "")
        assert not list(run.glob("*.tmp"))  # a dead writer's temporaries are swept
    finally:
        lock.release()


def test_lock_is_exclusive_across_threads_racing_for_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    won, lost = [], []
    start = threading.Barrier(8)

    def race() -> None:
        start.wait()
        try:
            lock = RunLock(run).acquire()
        except RunDirBusyError:
            lost.append(1)
            return
        won.append(lock)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 7
    won[0].release()


def test_clear_run_deletes_only_what_hdus_sim_writes(tmp_path: Path) -> None:
    for name in ("summary.json", "verify.json", "journal.jsonl", "notes.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "oracles").mkdir()
    (tmp_path / "oracles" / "o.npz").write_text("x")
    assert sorted(clear_run(tmp_path)) == [
        "journal.jsonl",
        "oracles",
        "summary.json",
        "verify.json",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_journal_on_a_full_disk_stays_whole(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "small", "1m") as fs:
        journal = Journal(fs / "run")
        journal.append({"type": "round", "round": 0})
        before = journal.path.read_bytes()
        fill(fs, 0)
        with pytest.raises(DiskFullError, match=r"disk full: could not write .*journal\.jsonl"):
            journal.append({"type": "round", "round": 1, "pad": "x" * 20000})
        assert journal.path.read_bytes() == before  # no torn record left behind
        with pytest.raises(
            DiskFullError, match=r"checkpoint\.pkl \(it needs more than the 0 B free"
        ):
            journal.checkpoint({"big": b"x" * 20000}, 1)
        assert [p.name for p in journal.dir.iterdir()] == ["journal.jsonl"]  # no temporary
        (fs / "ballast").unlink()
        journal.append({"type": "round", "round": 1})
        assert [r["round"] for r in journal.records()] == [0, 1]


def test_a_torn_journal_tail_is_cut_when_opened(tmp_path: Path) -> None:
    (tmp_path / "journal.jsonl").write_text('{"type": "round", "round": 0}\n{"type": "ro')
    journal = Journal(tmp_path)
    journal.append({"type": "resume", "round": 1})
    assert [r["type"] for r in journal.records()] == ["round", "resume"]


# ------------------------------------------------------------------ the command line
def test_a_reused_folder_is_refused_without_overwrite(tiny: dict, tmp_path: Path) -> None:
    tiny["rounds"] = 4
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(tiny))
    out = tmp_path / "run"
    out.mkdir()
    for name in ("summary.json", "predictions.npz", "verify.json"):
        (out / name).write_text("from an earlier run")
    (out / "notes.txt").write_text("mine")
    res = cli("run", str(scenario), "--out", str(out), "--quiet")
    line = one_line(res.stderr)
    assert res.returncode == 2
    assert f"{out} holds a finished run" in line and "--overwrite" in line
    assert (out / "verify.json").read_text() == "from an earlier run"  # untouched
    res = cli("run", str(scenario), "--out", str(out), "--quiet", "--overwrite")
    assert res.returncode == 0, res.stderr
    assert not (out / "verify.json").exists()  # the earlier run's verdicts are gone
    assert (out / "notes.txt").read_text() == "mine"  # files hdus-sim never writes stay
    assert json.loads((out / "summary.json").read_text())["final_accuracy"]
    assert not (out / LOCK_FILE).exists()
    # resuming a finished run used to rewrite it silently
    mtime = (out / "predictions.npz").stat().st_mtime_ns
    res = cli("run", "--resume", str(out), "--quiet")
    assert res.returncode == 2
    assert "has finished and its results are written: nothing to resume" in one_line(res.stderr)
    assert (out / "predictions.npz").stat().st_mtime_ns == mtime


def test_concurrent_runs_into_one_folder_the_second_is_refused(tiny: dict, tmp_path: Path) -> None:
    tiny["rounds"] = 10
    tiny["training"]["train_rounds"] = 6
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(tiny))
    out = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "hdus_sim", "run", str(scenario), "--out", str(out), "--quiet"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        while not (out / "journal.jsonl").is_file():  # it owns the folder and is running
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        second = cli("run", str(scenario), "--out", str(out), "--quiet", "--overwrite")
        assert first.poll() is None, "the first run ended before the second tried"
        assert second.returncode == 1
        line = one_line(second.stderr)
        assert f"{out} is in use by another hdus-sim command (pid {first.pid}" in line
        os.kill(first.pid, signal.SIGKILL)  # the owner dies: its lock file stays behind
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert json.loads((out / LOCK_FILE).read_text())["pid"] == first.pid
    resumed = cli("run", "--resume", str(out), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert f"took over the lock of {out} left by pid {first.pid}" in resumed.stderr
    assert "finished" in [r["type"] for r in jsonl(out / "journal.jsonl")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """An uninterrupted run on an ordinary disk, and its scenario."""
    from tests.conftest import TINY

    sc = json.loads(json.dumps(TINY))
    sc["rounds"] = 6
    sc["training"]["train_rounds"] = 3  # training goes on past the first checkpoints
    base = tmp_path_factory.mktemp("reference")
    (base / "s.yaml").write_text(yaml.safe_dump(sc))
    res = cli("run", str(base / "s.yaml"), "--out", str(base / "run"), "--quiet")
    assert res.returncode == 0, res.stderr
    return sc, base / "run"


@pytest.mark.parametrize("where", ["checkpoint", "results"])
def test_a_full_disk_is_one_line_and_resume_gives_identical_results(
    reference: tuple[dict, Path], tmp_path: Path, where: str
) -> None:
    sc, whole = reference
    checkpoint = (whole / "checkpoint.pkl").stat().st_size
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(sc))
    with _tmpfs(tmp_path / "small", "64m") as fs:
        out = fs / "run"
        if where == "checkpoint":  # room for one checkpoint, not for its replacement too
            ballast, extra = fill(fs, int(checkpoint * 1.5)), []
        else:  # room for the one (last) checkpoint, not for the results after it
            ballast, extra = fill(fs, checkpoint + 64 * 1024), ["--checkpoint-every", "1000"]
        res = cli("run", str(scenario), "--out", str(out), "--quiet", *extra)
        assert res.returncode == 1, res.stderr
        line = one_line(res.stderr)
        assert f"error: disk full: could not write {out}/" in line
        assert f" free on {fs}); free some space, then continue with: " in line
        assert line.endswith(f"hdus-sim run --resume {out}")
        assert ("checkpoint.pkl" in line) == (where == "checkpoint"), line
        # the journal holds whole records only, and the checkpoint it names is on disk
        records = jsonl(out / "journal.jsonl")
        assert "finished" not in [r["type"] for r in records]
        with (out / "checkpoint.pkl").open("rb") as fh:
            state = pickle.load(fh)
        assert [r["round"] for r in records if r["type"] == "checkpoint"][-1] == (
            state.engine.now - 1
        )
        assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
        assert not (out / LOCK_FILE).exists()
        ballast.unlink()  # space is freed
        res = cli("run", "--resume", str(out), "--quiet")
        assert res.returncode == 0, res.stderr
        same_results(out, whole)
        assert [r["type"] for r in jsonl(out / "journal.jsonl")][-1] == "finished"
