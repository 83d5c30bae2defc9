"""Lost Ray actors: recognised at the next call, waited for while Ray restarts them.

A :class:`~hdus_sim.runtime.ray_runtime.HostActor` process can die from outside the run:
``kill -9``, the kernel's OOM killer, Ray's memory monitor, a node that goes away. Ray
notices, and while the actor's ``max_restarts`` allow it starts a new process for the same
actor handle, whose ``__init__`` reloads the actor's peers from their last checkpoint. The
driver learns of it only at its next call to that actor, in one of two ways (both seen
with Ray 2.60 on this machine):

* the call reaches the dead process: it fails with ``ActorUnavailableError`` (Ray is
  restarting the actor) or ``ActorDiedError`` (restarts used up: dead for good);
* Ray had already restarted the actor before the call: the new process answers, but it
  was never started by the driver (no gRPC server, no directory). It refuses every call
  but ``start`` with :class:`NotStarted`, which reaches the driver inside a
  ``RayTaskError``.

:func:`is_actor_loss` tells these apart from every other error; :func:`wait_for_restart`
waits (bounded) until the actor answers ``start`` again, or raises
:class:`~hdus_sim.errors.ActorLostError` with one clear line when it will not;
:func:`run_calls` and :class:`ActorCalls` are the driver's way of calling its actors with
all of that around every call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from hdus_sim.errors import ActorLostError, RunError

__all__ = [
    "ActorCalls",
    "Call",
    "LossListener",
    "NotStarted",
    "is_actor_loss",
    "one_line",
    "run_calls",
    "wait_for_restart",
]

#: How long to wait for Ray to restart a lost actor (its ``__init__`` reloads the data and
#: the peers' checkpoint: a few seconds here), in seconds.
RESTART_TIMEOUT_S = 120.0
#: A fresh call answered ``ActorDiedError`` this many times in a row: the actor is dead for
#: good (Ray answers so at once for an actor with no restarts left).
DEAD_ANSWERS = 3


class NotStarted(RuntimeError):
    """Raised inside a restarted actor process that the driver has not started yet.

    Ray restarts a dead actor on its own; a call that reaches the new process before the
    driver has noticed the death must not run against a half-set-up actor.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(f"this actor process (pid {pid}) was restarted by Ray and not started")
        self.pid = pid

    def __reduce__(self) -> tuple[Any, ...]:
        return (NotStarted, (self.pid,))


def one_line(text: str, limit: int = 400) -> str:
    """``text`` on one line (Ray's messages span several), cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def is_actor_loss(ray: Any, exc: BaseException) -> bool:
    """Whether ``exc``, raised by a call to an actor, means the actor's process was lost.

    Lost: any ``RayActorError`` but a failed ``__init__`` (a bug, not a loss: restarting
    would fail the same way), Ray's ``OutOfMemoryError`` and ``NodeDiedError``, and a
    :class:`NotStarted` raised by a process Ray restarted. Anything else is not ours to
    absorb and propagates as before.
    """
    errors = ray.exceptions
    if isinstance(exc, errors.RayActorError):
        return not getattr(exc, "actor_init_failed", False)
    if isinstance(exc, errors.OutOfMemoryError | errors.NodeDiedError):
        return True
    return isinstance(exc, errors.RayTaskError) and isinstance(
        getattr(exc, "cause", None), NotStarted
    )


def _lost_for_good(cause: dict[str, Any], why: str) -> ActorLostError:
    c = cause
    return ActorLostError(
        f"Ray actor {c['actor']} ({c['name']}, pid {c['pid']}, peers {c['peers']}) was lost "
        f"during {c['during']} ({c['error']}: {one_line(c['message'], 160)}) and {why}",
        cause,
    )


def wait_for_restart(
    ray: Any,
    actor: Any,
    *,
    old_pid: int,
    cause: dict[str, Any],
    max_restarts: int,
    require_new: bool,
    timeout_s: float = RESTART_TIMEOUT_S,
) -> dict[str, Any] | None:
    """Wait until ``actor`` answers ``start`` again; return what ``start`` returned.

    ``start`` is idempotent: a restarted process starts its gRPC server and answers with
    its pid and the peers it reloaded. If the old process answers instead (the error was a
    passing one), return ``None`` unless ``require_new`` (the driver killed the actor
    itself and waits for the new process).

    Raises
    ------
    ActorLostError
        When Ray will not restart the actor (``ActorDiedError`` on fresh calls: its
        ``max_restarts`` are used up) or it is not back within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    died = 0
    while True:
        try:
            info: dict[str, Any] = ray.get(
                actor.start.remote(), timeout=max(1.0, min(30.0, deadline - time.monotonic()))
            )
            died = 0
            if info["pid"] != old_pid:
                return info
            if not require_new:
                return None
        except ray.exceptions.ActorDiedError as exc:
            if getattr(exc, "actor_init_failed", False):
                raise _lost_for_good(
                    cause, f"its restarted process failed to start: {one_line(str(exc), 200)}"
                ) from None
            died += 1
            if died >= DEAD_ANSWERS:
                raise _lost_for_good(
                    cause,
                    f"Ray will not restart it: its restarts are used up (runtime.max_restarts: "
                    f"{max_restarts}); raise runtime.max_restarts to survive more actor deaths",
                ) from None
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            died = 0  # restarting: Ray queues the call until the new process is up
        if time.monotonic() > deadline:
            raise _lost_for_good(
                cause,
                f"Ray did not bring it back within {timeout_s:g} s; check the Ray node's "
                "memory and logs (a node that went away takes its actors with it)",
            )
        time.sleep(0.2)


def run_calls(
    ray: Any,
    calls: Sequence[tuple[int, str, tuple[Any, ...]]],
    submit: Callable[[int, str, tuple[Any, ...]], Any],
    recover: Callable[[int, BaseException, str], None],
    attempts: int = 4,
) -> list[Any]:
    """Run ``calls`` (``(actor, method, args)``) at once; return their results in order.

    Every call is submitted before any result is awaited, so the actors work in parallel.
    A call whose actor turns out lost is handed to ``recover(actor, error, method)``
    (which waits for the restart and restores the peers, or raises) and then re-sent to
    that actor alone: the calls that reached live actors are not repeated. Any other error
    propagates as it came. After ``attempts`` recoveries in one batch the actor is given up.
    """
    refs = [submit(*c) for c in calls]
    results: list[Any] = [None] * len(calls)
    pending = list(range(len(calls)))
    for attempt in range(attempts + 1):
        lost: dict[int, tuple[str, BaseException]] = {}  # actor -> (method, error)
        for k in pending:
            try:
                results[k] = ray.get(refs[k])
            except Exception as exc:
                if not is_actor_loss(ray, exc):
                    raise
                lost.setdefault(calls[k][0], (calls[k][1], exc))
        if not lost:
            return results
        for index, (method, error) in lost.items():
            if attempt == attempts:
                why = f"{type(error).__name__}: {one_line(str(error), 200)}"
                raise ActorLostError(
                    f"Ray actor {index} was lost {attempts + 1} times during one {method} "
                    f"call ({why}); giving up on it",
                    {"actor": index, "error": type(error).__name__, "message": why},
                )
            recover(index, error, method)
        pending = [k for k in pending if calls[k][0] in lost]
        for k in pending:
            refs[k] = submit(*calls[k])
    raise AssertionError("unreachable")  # the loop returns or raises


#: A driver call to one actor: ``(actor index, method name, arguments)``.
Call = tuple[int, str, tuple[Any, ...]]
#: Told of a lost actor that came back: ``listener(actor index, outcome)``, where the
#: outcome holds ``restored``, ``old_pid``, ``new_pid`` and the ``cause`` of the loss.
LossListener = Callable[[int, dict[str, Any]], None]


class ActorCalls:
    """How :class:`~hdus_sim.runtime.ray_runtime.RayRuntime` calls its actors, losses included.

    Every call goes through :meth:`_calls`: an actor found lost is waited for, started
    and checked (:meth:`_restart`, the one path shared with the scripted ``kill_actor``),
    ``on_actor_lost`` is told, and the call is re-sent. An actor that cannot come back is
    kept in ``lost``; calls to it raise :class:`~hdus_sim.errors.ActorLostError`, calls to
    every actor go to the survivors.
    """

    ray: Any
    scenario: Any
    actors: list[Any]
    info: list[dict[str, Any]]
    n_actors: int
    ppa: int
    lost: dict[int, dict[str, Any]]
    on_actor_lost: LossListener | None
    _online: set[int]
    _now: int

    def _submit(self, index: int, method: str, args: tuple[Any, ...]) -> Any:
        if index in self.lost:
            raise ActorLostError(
                f"Ray actor {index} was lost for good ({self.lost[index]['error']}): "
                f"cannot call {method}",
                self.lost[index],
            )
        return self.actors[index].call.remote(method, *args)

    def _calls(self, calls: Sequence[Call]) -> list[Any]:
        """Run ``(actor, method, args)`` calls at once, surviving actor losses."""
        if not self.actors:
            raise RunError(f"the Ray actors are stopped: cannot call {calls[0][1]}")
        return run_calls(self.ray, calls, self._submit, self._recover)

    def _call(self, index: int, method: str, *args: Any) -> Any:
        """One call to actor ``index``, surviving its loss."""
        return self._calls([(index, method, args)])[0]

    def _all(self, method: str, *args: Any) -> list[Any]:
        """The same call to every actor (every surviving one once an actor is lost)."""
        live = [i for i in range(self.n_actors) if i not in self.lost]
        return self._calls([(i, method, args) for i in live])

    def _hosted_online(self, index: int) -> list[int]:
        from hdus_sim.world import placement_of

        return sorted(p for p in self._online if placement_of(p, self.ppa) == index)

    def _broadcast_directory(self) -> None:
        directory = {i["host"]: i["address"] for i in self.info}
        self._all("set_directory", directory)

    def _cause(self, index: int, error: str, message: str, during: str) -> dict[str, Any]:
        return {
            "actor": index,
            "name": self.info[index]["host"],
            "pid": self.info[index]["pid"],
            "peers": self._hosted_online(index),
            "error": error,
            "message": message,
            "during": during,
        }

    def _recover(self, index: int, exc: BaseException, method: str) -> None:
        """Actor ``index`` was found lost by a ``method`` call: wait for it, restore its peers."""
        cause = self._cause(index, type(exc).__name__, one_line(str(exc)), method)
        restarted = getattr(exc, "cause", None)
        if isinstance(restarted, NotStarted):
            cause["error"] = "Restarted"
            cause["message"] = (
                f"process {cause['pid']} was gone; Ray had restarted the actor as pid "
                f"{restarted.pid} before this call"
            )
        outcome = self._restart(index, cause, require_new=False)
        if outcome is not None and self.on_actor_lost is not None:
            self.on_actor_lost(index, {**outcome, "cause": cause})

    def _kill_and_restart(self, index: int) -> dict[str, Any]:
        """The scripted ``kill_actor``: kill actor ``index`` and bring it back (as a loss)."""
        cause = self._cause(
            index, "kill_actor", "killed by the scenario's kill_actor event", "kill_actor"
        )
        self.ray.kill(self.actors[index], no_restart=False)
        outcome = self._restart(index, cause, require_new=True)
        assert outcome is not None  # require_new: a new process or an error
        return outcome

    def _restart(
        self, index: int, cause: dict[str, Any], *, require_new: bool
    ) -> dict[str, Any] | None:
        """Wait for actor ``index``'s new process, start it and check it reloaded its peers.

        ``None`` when the old process answered (the error passed: nothing was lost). An
        actor that will not come back is remembered in ``lost`` and raises.
        """
        old_pid = self.info[index]["pid"]
        expected = self._hosted_online(index)
        try:
            info = wait_for_restart(
                self.ray,
                self.actors[index],
                old_pid=old_pid,
                cause=cause,
                max_restarts=self.scenario.runtime.max_restarts,
                require_new=require_new,
            )
        except ActorLostError as exc:
            self.lost[index] = exc.cause
            raise
        if info is None:
            return None
        self.info[index] = info
        self._broadcast_directory()
        if self._now >= 0:  # the round the other actors are in
            self._call(index, "set_now", self._now)
        if info["restored"] != expected:
            raise RunError(f"actor {index} restored peers {info['restored']} but hosted {expected}")
        return {"restored": expected, "old_pid": old_pid, "new_pid": info["pid"]}
