"""Peers in standalone OS processes talking real gRPC: the ``process`` runtime.

The hosts of a :class:`~hdus_sim.runtime.hosted.HostedRuntime` as plain child processes of
the run (``python -m hdus_sim.runtime.process_runtime``: a fresh interpreter, as a device
would start; it dials back to the driver over an authenticated loopback connection), no
Ray needed. Each process holds one
:class:`~hdus_sim.runtime.host.Host`: it builds its peers from the run plan it is handed,
serves them on its own gRPC server (mutual TLS and owner signatures as configured) and
answers the driver over a pipe. Peers on different processes exchange every message over
gRPC on loopback, so this is the ``peer serve`` deployment driven in lockstep: the same
scenario gives bit for bit the run it gives in memory.

A host process that dies is reported with one clear line (its exit code); unlike Ray
nothing restarts it, so ``kill_actor`` is simulated as in-process (the restart policy is
applied to the peers that host holds).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from hdus_sim.errors import RunError
from hdus_sim.plan import RunPlan
from hdus_sim.runtime.base import DropListener
from hdus_sim.runtime.host import Host, host_name
from hdus_sim.runtime.hosted import Call, HostedRuntime, hosted_peers

__all__ = ["ProcessRuntime"]

#: how long the driver waits for a host process to build its world and start (s)
START_TIMEOUT_S = 180.0


def _serve(conn: Connection) -> None:
    """A host process: build the host, then answer ``(method, args)`` until ``close``."""
    try:
        host = Host(*conn.recv())
    except BaseException as exc:  # the driver reports it; nothing to serve
        conn.send(("err", _portable(exc)))
        return
    conn.send(("ok", os.getpid()))
    while True:
        try:
            method, call_args = conn.recv()
        except EOFError:  # the driver went away
            host.close()
            return
        try:
            conn.send(("ok", host.call(method, *call_args)))
        except Exception as exc:
            conn.send(("err", _portable(exc)))
        if method == "close":
            return


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it pickles (it is re-raised in the driver as it was), else a RunError."""
    import pickle

    try:
        pickle.dumps(exc)
        return exc
    except Exception:
        return RunError(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")


class ProcessRuntime(HostedRuntime):
    """The driver of the ``process`` runtime; see the module docstring."""

    kind = "process"

    def __init__(self, plan: RunPlan, *, on_drop: DropListener | None = None) -> None:
        from hdus_sim.wire.security import make_test_pki

        super().__init__(plan, on_drop=on_drop)
        rt = self.scenario.runtime
        self.ppa = rt.packing(len(plan.peer_ids))
        hosted = hosted_peers(plan.peer_ids, self.ppa)
        self.n_hosts = len(hosted)
        pki = (
            make_test_pki({host_name(i): peers for i, peers in hosted.items()})
            if rt.wire.tls
            else None
        )
        self.conns: list[Connection] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        key = secrets.token_bytes(32)
        try:
            with Listener(("127.0.0.1", 0), authkey=key) as listener:
                host, port = listener.address
                for _ in range(self.n_hosts):
                    self.procs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", __name__, f"{host}:{port}"],
                            stdin=subprocess.PIPE,
                        )
                    )
                    assert self.procs[-1].stdin is not None
                    self.procs[-1].stdin.write(key)
                    self.procs[-1].stdin.close()
                    self.conns.append(listener.accept())
            for i, conn in enumerate(self.conns):
                conn.send((plan, i, self.n_hosts, self.ppa, pki, None))
            for i in range(self.n_hosts):
                self._reply(i, START_TIMEOUT_S)
            self.info: list[dict[str, Any]] = self._all("start")
            directory = {i["host"]: i["address"] for i in self.info}
            self._all("set_directory", directory)
        except BaseException:
            self._stop_hosts()
            raise

    def _reply(self, index: int, timeout_s: float | None = None) -> Any:
        """The next answer of host ``index``; a dead host is one clear error."""
        conn = self.conns[index]
        try:
            if timeout_s is not None and not conn.poll(timeout_s):
                raise RunError(f"host process {index} did not start within {timeout_s:g} s")
            status, value = conn.recv()
        except (EOFError, ConnectionError, OSError):
            proc = self.procs[index]
            code = proc.wait(timeout=5)
            raise RunError(
                f"host process {index} (pid {proc.pid}) died with exit code {code}; "
                "its peers are gone (check memory, and the host's stderr above)"
            ) from None
        if status == "err":
            raise value
        return value

    def _calls(self, calls: Sequence[Call]) -> list[Any]:
        """Send every call, then collect every answer (hosts work in parallel)."""
        if not self.conns:
            raise RunError(f"the host processes are stopped: cannot call {calls[0][1]}")
        for index, method, args in calls:
            self.conns[index].send((method, args))
        results: list[Any] = []
        first_error: BaseException | None = None
        for index, _, _ in calls:  # every answer is read, so the pipes stay in step
            try:
                results.append(self._reply(index))
            except RunError:
                raise
            except Exception as exc:
                first_error = first_error or exc
                results.append(None)
        if first_error is not None:
            raise first_error
        return results

    def describe(self) -> dict[str, Any]:
        """Which process hosts which peers."""
        hosted = hosted_peers(self.plan.peer_ids, self.ppa)
        return {
            "hosts": [
                {"host": i["host"], "pid": i["pid"], "address": i["address"], "peers": hosted[n]}
                for n, i in enumerate(self.info)
            ],
            "peers_per_host": self.ppa,
        }

    def _has_hosts(self) -> bool:
        return bool(self.conns)

    def _stop_hosts(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("close", ()))
                conn.poll(10) and conn.recv()
            except (EOFError, ConnectionError, OSError):
                pass
            finally:
                conn.close()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.conns, self.procs = [], []


def main(address: str) -> None:
    """Entry of a host process: dial the driver at ``address`` and serve it."""
    host, port = address.rsplit(":", 1)
    key = sys.stdin.buffer.read(32)
    with Client((host, int(port)), authkey=key) as conn:
        _serve(conn)


if __name__ == "__main__":
    main(sys.argv[1])
