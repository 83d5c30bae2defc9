"""One round of a run: train, exchange, heartbeat, detect, then measure.

:func:`play_round` is what the engine's round clock calls (through
:meth:`~hdus_sim.simulation.Simulation.run_round`): every protocol step goes to the runtime
(whichever it is), what the peers detected is logged and fed to the removal tracker, peers
that learned they were declared crashed move to a new epoch, dropped links are re-made,
and the round's accuracy rows and summary are recorded (and journaled for ``--resume``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from hdus_sim.handlers import restore_links
from hdus_sim.metrics import mean_of

if TYPE_CHECKING:
    from hdus_sim.simulation import Simulation

__all__ = ["ACCURACY_KEYS", "play_round", "rho_curves"]

ACCURACY_KEYS = (
    "local_main",
    "local_seeds",
    "local_ensemble",
    "global_main",
    "global_seeds",
    "global_ensemble",
)


def rho_curves(rounds: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Each round's mean local accuracy by combine mode and rho (``peers.rho_grid``).

    Examples
    --------
    >>> rho_curves([{"round": 3, "local_probs_rho_0.5": 0.9, "local_logits_rho_0.5": 0.8}])
    {'3': {'probs': {'0.5': 0.9}, 'logits': {'0.5': 0.8}}}
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in rounds:
        curve: dict[str, dict[str, float]] = {}
        for key, value in row.items():
            if key.startswith("local_") and "_rho_" in key:
                mode, rho = key.removeprefix("local_").split("_rho_")
                curve.setdefault(mode, {})[rho] = value
        if curve:
            out[str(row["round"])] = curve
    return out


def play_round(sim: Simulation, now: int, *, train: bool) -> None:
    """Train (if ``train``), exchange, heartbeat, detect crashes, then record metrics."""
    sim.runtime.begin_round()
    t0 = time.perf_counter()
    changed = sim.runtime.train_round(now) if train else []
    t_train = time.perf_counter() - t0
    note_late_holders(sim, now)
    log_detections(sim, now)
    log_completions(sim, now)
    note_late_holders(sim, now)
    refute_suspicions(sim, now)
    restore_links(sim, now)
    resurrected = check_resurrections(sim, now)
    sim.runtime.end_round(now)
    rows, sim_times, totals = measure(sim, now)
    summary = {
        "round": now,
        "phase": "train" if train else "settle",
        "online": len(rows),
        "new_seeds": len(changed),
        "train_s": round(t_train, 4),
        "resurrected": resurrected,
        "sim_round_s": round(max(sim_times, default=0.0), 4),
        **totals,
        **{k: mean_of(rows, k) for k in ACCURACY_KEYS},
        **{k: mean_of(rows, k) for k in (rows[0] if rows else ()) if "_rho_" in k},
    }
    sim.rounds.append(summary)
    if sim.journal is not None:
        sim.journal.append({"type": "round", **summary})
        due = (now + 1) % sim.journal.checkpoint_every == 0
        if due or now + 1 == sim.engine.total_rounds:
            sim.engine.now = now + 1  # the state after this round: resume starts at the next
            sim.journal.checkpoint(sim, now)
    if sim.progress is not None:
        sim.progress(now + 1, sim.engine.total_rounds)


def log_detections(sim: Simulation, now: int) -> None:
    """Heartbeats, crash detection and lease expiry; log and track what was found."""
    for detector, key, cause in sim.runtime.heartbeat_round(now):
        real = key in sim.tracker.departures
        if cause == "lease":
            sim.tracker.expired(detector, key)
            sim.log(now, "lease_expired", peer=key[0], epoch=key[1], holder=detector, departed=real)
            continue
        sim.tracker.detected(key, detector, now)
        sim.log(
            now,
            "crash_detected" if real else "false_suspicion",
            peer=key[0],
            epoch=key[1],
            detector=detector,
        )


def log_completions(sim: Simulation, now: int) -> None:
    """Log every removal that completed this round (once), with its latency."""
    for key, dep in sim.tracker.departures.items():
        if dep.done_round == now and not any(
            e["kind"] == "removal_complete" and e["peer"] == key[0] and e["epoch"] == key[1]
            for e in sim.events
        ):
            sim.log(
                now,
                "removal_complete",
                peer=key[0],
                epoch=key[1],
                latency_rounds=now - dep.round,
                latency_s=dep.latency_s,
            )


def measure(sim: Simulation, now: int) -> tuple[list[dict[str, Any]], list[float], dict[str, int]]:
    """The round's accuracy rows, each peer's simulated round time (s), message totals.

    Rows get the peer's messages, bytes and simulated seconds (work / speed + transfer).
    """
    rows = sim.runtime.evaluate(now)
    stats = sim.runtime.round_stats()
    sim_times = []
    for row in rows:
        row["messages"] = stats.sent.get(row["peer"], 0)
        row["bytes"] = stats.bytes_sent.get(row["peer"], 0)
        key = (row["peer"], row["epoch"])
        work = row["work_samples"] - sim.work_seen.get(key, 0)
        sim.work_seen[key] = row["work_samples"]
        prof = sim.scenario.peers.profile(row["device"])
        row["sim_s"] = (
            work / prof.speed
            + row["bytes"] * 8 / (prof.bandwidth_mbps * 1e6)
            + (prof.latency_ms / 1000 if row["messages"] else 0.0)
        )
        sim_times.append(row["sim_s"])
    sim.metrics += rows
    return rows, sim_times, stats.total()


def refute_suspicions(sim: Simulation, now: int) -> None:
    """Move every live peer that others declared crashed to a new epoch.

    Its old ``(peer, epoch)`` is tracked as a departure like any other (kind
    ``suspected``), so ``verify`` checks that nothing of that epoch survives anywhere.
    """
    for pid in sim.runtime.declared_dead():
        old = (pid, sim.epochs[pid])
        if old not in sim.tracker.departures:
            sim.tracker.start(
                pid,
                old[1],
                "suspected",
                now,
                sim.runtime.holders_of(old),
                sim.scenario.exchange.lease_rounds,
            )
        sim.epochs[pid] = old[1] + 1
        sim.runtime.rekey(pid, old[1] + 1, sim.seeds_for(pid, old[1] + 1))
        sim.log(now, "refuted", peer=pid, old_epoch=old[1], epoch=old[1] + 1)


def note_late_holders(sim: Simulation, now: int) -> None:
    """Count peers that took in a departed seed while its removal was under way.

    A relay that had not heard of the departure yet may pass the seed on (with the
    lease it has, which bounds it like any other holder); such holders are pending too.
    """
    for key in sim.tracker.incomplete():
        for holder in sorted(sim.runtime.holders_of(key)):
            sim.tracker.acquired(holder, key, now)


def check_resurrections(sim: Simulation, now: int) -> int:
    """Count holders of a departed seed whose removal had already completed (must be 0)."""
    count = 0
    for key, dep in sim.tracker.departures.items():
        if dep.done_round is None:
            continue
        for holder in sorted(sim.runtime.holders_of(key)):
            count += 1
            sim.log(now, "resurrected", peer=key[0], epoch=key[1], holder=holder)
    return count
