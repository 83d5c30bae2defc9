"""Owning a run folder and writing into it safely.

* **One owner at a time.** :class:`RunLock` holds ``DIR/.hdus-run.lock`` for as long as a
  command writes into ``DIR``: an exclusive ``flock`` on that file, which the kernel
  releases when the owner exits or dies, plus the owner's pid, host and command line
  written inside for the message a second writer gets. A lock file left by a process
  that died (its pid no longer holds the ``flock``) is taken over.
* **Used folders are not reused by accident.** :func:`used_files` names the files of an
  earlier run in a folder; :func:`clear_run` deletes exactly those (files hdus-sim
  writes), leaving anything else in the folder alone.
* **Every file is written atomically.** :func:`atomic_open` writes to a temporary file
  unique to this writer (``.NAME.<pid>.<random>.tmp`` in the same folder), fsyncs it,
  renames it over ``NAME`` and fsyncs the folder: a reader sees the old file or the whole
  new one, and two writers never share a temporary file.
* **A full disk is one clear line.** A write that fails with ``ENOSPC`` or ``EDQUOT``
  raises :class:`~hdus_sim.errors.DiskFullError` naming the file and the space left.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from hdus_sim.errors import DiskFullError, RunDirBusyError, RunError

__all__ = [
    "LOCK_FILE",
    "RUN_ARTIFACTS",
    "RunLock",
    "atomic_open",
    "atomic_write",
    "clear_run",
    "disk_full",
    "used_files",
]

#: The lock file inside a run folder.
LOCK_FILE = ".hdus-run.lock"
#: Everything ``hdus-sim run``, ``verify`` and ``report`` write into a run folder.
RUN_ARTIFACTS = (
    "scenario.yaml",
    "journal.jsonl",
    "checkpoint.pkl",
    "metrics.jsonl",
    "rounds.jsonl",
    "events.jsonl",
    "summary.json",
    "holdings.json",
    "predictions.npz",
    "accuracy.png",
    "audit",
    "verify.json",
    "receipts.json",
    "oracles",
    "report.md",
    "report.html",
    "report",
)
_TMP = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.tmp$")
_LEGACY_TMP = ("checkpoint.pkl.tmp",)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _mount_point(path: Path) -> Path:
    p = path.resolve()
    while not p.exists():
        p = p.parent
    while not os.path.ismount(p):
        p = p.parent
    return p


def disk_full(path: str | Path, exc: OSError | None = None) -> DiskFullError:
    """The one-line error for a write to ``path`` that ran out of space."""
    target = Path(path)
    where = target.parent if target.parent.exists() else Path.cwd()
    try:
        free = _human(shutil.disk_usage(where).free)
        mount = _mount_point(where)
        room = f"it needs more than the {free} free on {mount}"
    except OSError:
        room = "free space unknown"
    what = "out of quota" if exc is not None and exc.errno == errno.EDQUOT else "disk full"
    err = DiskFullError(f"{what}: could not write {target} ({room})")
    err.path = target
    return err


def _is_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path, *, text: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` (fsynced) when the block ends cleanly.

    On any error the temporary file is removed and ``path`` is left as it was; ``ENOSPC``
    and ``EDQUOT`` become :class:`~hdus_sim.errors.DiskFullError`.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fh: IO[Any]
        with open(tmp, "x", encoding="utf-8") if text else open(tmp, "xb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if _is_full(exc):
            raise disk_full(target, exc) from exc  # type: ignore[arg-type]
        raise


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, text=isinstance(data, str)) as fh:
        fh.write(data)


def used_files(run_dir: str | Path) -> list[str]:
    """Names of an earlier run's files in ``run_dir`` (empty: the folder is unused)."""
    path = Path(run_dir)
    if not path.is_dir():
        return []
    return [name for name in RUN_ARTIFACTS if (path / name).exists()]


def clear_run(run_dir: str | Path) -> list[str]:
    """Delete an earlier run's files (and writers' leftover temporaries); returns their names.

    Files that hdus-sim does not write are left where they are.
    """
    path = Path(run_dir)
    gone = []
    for name in used_files(path):
        target = path / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
        gone.append(name)
    _remove_temporaries(path)
    return gone


def _remove_temporaries(path: Path) -> None:
    for child in path.iterdir() if path.is_dir() else ():
        if _TMP.match(child.name) or child.name in _LEGACY_TMP:
            with contextlib.suppress(OSError):
                child.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """Exclusive ownership of one run folder (see the module docstring).

    Use as a context manager, or :meth:`acquire` and :meth:`release`. ``took_over`` is
    the pid of a dead owner whose lock file was taken over, if any.

    Raises
    ------
    RunDirBusyError
        From :meth:`acquire`, if another live process owns the folder.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        self.path = self.dir / LOCK_FILE
        self.took_over: int | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Create the folder if needed and take the lock; refuse if another process holds it."""
        if self._fd is not None:
            return self
        if self.dir.exists() and not self.dir.is_dir():
            raise RunError(
                f"output path {self.dir} exists and is not a directory; choose another --out"
            )
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if _is_full(exc):
                raise disk_full(self.dir, exc) from exc
            raise RunError(f"cannot create the run folder {self.dir}: {exc.strerror}") from exc
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = self._read(fd)
                os.close(fd)
                raise RunDirBusyError(self._busy_message(owner)) from None
            # the owner may have released (and unlinked) the file between our open and flock
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = self._read(fd)
        pid = previous.get("pid")
        if isinstance(pid, int) and pid != os.getpid():
            self.took_over = pid
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": " ".join(["hdus-sim", *sys.argv[1:]]),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
            os.fsync(fd)
        except OSError as exc:
            self._drop(fd)
            if _is_full(exc):
                raise disk_full(self.path, exc) from exc
            raise
        self._fd = fd
        _remove_temporaries(self.dir)  # the folder is ours: no other writer's temporaries
        return self

    def _drop(self, fd: int) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(fd)

    def release(self) -> None:
        """Give the folder up (removes the lock file)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                self.path.unlink()
        except OSError:
            pass
        os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    @staticmethod
    def _read(fd: int) -> dict[str, Any]:
        try:
            raw = os.pread(fd, 4096, 0).decode(errors="replace")
            data = json.loads(raw) if raw.strip() else {}
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _busy_message(self, owner: dict[str, Any]) -> str:
        pid = owner.get("pid")
        who = f"pid {pid}" if pid is not None else "another process"
        if owner.get("host") and owner.get("host") != socket.gethostname():
            who += f" on {owner['host']}"
        since = f", since {owner['started']}" if owner.get("started") else ""
        cmd = f": {owner['command']}" if owner.get("command") else ""
        return (
            f"{self.dir} is in use by another hdus-sim command ({who}{since}{cmd}); wait "
            "for it to finish or stop it, or choose another --out"
        )

    def describe_takeover(self) -> str | None:
        """A line for the log when a dead owner's lock was taken over."""
        if self.took_over is None:
            return None
        state = "no longer running" if not _pid_alive(self.took_over) else "no longer holding it"
        return f"took over the lock of {self.dir} left by pid {self.took_over} ({state})"
