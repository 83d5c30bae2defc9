"""A forgetting soak: heavy churn, crashes nobody can see, lossy links and a healed partition.

:func:`forgetting_soak` builds a scenario that tries the forgetting guarantee where it is
hardest: devices on the gRPC wire (mTLS, signatures) join, leave, crash and come back
under churn; some crash only after every direct neighbour is gone (so nobody detects
them and no notice is sent: only the lease can forget them); the wire drops, duplicates,
reorders and delays messages; a block of devices is cut off and reconnected.
:func:`forgetting_figures` reads off what a user asks afterwards: stale seeds, seeds taken
in after their removal completed, time-to-forget against the lease bound.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["forgetting_figures", "forgetting_soak"]


def _base(n: int, rounds: int, seed: int, hosts: int) -> dict[str, Any]:
    return {
        "name": f"forgetting_soak_{n}",
        "description": "churn, unseen crashes, wire faults and a healed partition over mTLS gRPC",
        "seed": seed,
        "rounds": rounds,
        "dataset": {"name": "synthetic", "synthetic_samples": 40 * n + 800, "synthetic_dim": 16},
        "partition": {
            "scheme": "class_drop",
            "classes_dropped": 3,
            "reference": {"source": "public", "size": 200},
            "global_test_size": 200,
        },
        "topology": {"kind": "small_world", "params": {"k": 4, "p": 0.1}},
        "peers": {"initial": n, "devices": {"sensor": 1}, "rho": 0.5},
        "training": {"local_epochs": 1, "train_rounds": 1, "batch_size": 32, "lr": 0.01},
        "seed_model": {"arch": "seed_tiny", "distill_steps": 10, "batch_size": 32},
        "exchange": {"relay_hops": 2, "heartbeat_timeout": 3},
        "dynamics": {"attach": "random", "attach_k": 3, "repair": "none", "guard": "report"},
        "runtime": {"kind": "grpc", "wire": {"hosts": hosts, "tls": True, "sign": True}},
        "faults": {
            "drop": 0.05,
            "duplicate": 0.05,
            "reorder": 0.05,
            "delay_ms": [0.0, 2.0],
            "reorder_ms": 3.0,
            "partitions": [{"peers": list(range(n // 10)), "start": 3, "end": 6}],
        },
    }


def forgetting_soak(
    n: int = 120, rounds: int = 14, seed: int = 11, *, unseen: int = 3, hosts: int = 3
) -> dict[str, Any]:
    """A soak scenario of ``n`` devices (see the module docstring) as a plain dict.

    ``unseen`` devices crash two rounds after all their direct neighbours crashed (with
    ``dynamics.repair: none`` nobody re-links to them), so no one ever detects them; every
    other device churns (Weibull sessions, 35 % of departures crashes, returning devices
    re-join under a new epoch) and new devices arrive.
    """
    from hdus_sim.rng import derive_seed
    from topologies import build

    sc = _base(n, rounds, seed, hosts)
    # the run's own initial graph: built exactly as the simulation builds it
    graph = build("small_world", n, seed=derive_seed(seed, "topology"), **sc["topology"]["params"])
    events: list[dict[str, Any]] = []
    taken: set[int] = set()
    for x in sorted(graph.nodes, key=lambda v: (graph.degree(v), v)):
        if len(events) >= 4 * unseen:
            break
        around = set(graph.neighbors(x))
        if x < n // 10 or (around | {x}) & taken or any(v < n // 10 for v in around):
            continue
        taken |= around | {x} | {w for v in around for w in graph.neighbors(v)}
        events += [{"at": 2, "kind": "crash", "peer": v} for v in sorted(around)]
        events.append({"at": 4, "kind": "crash", "peer": x})
    scripted = {e["peer"] for e in events}
    sc["events"] = events
    sc["churn"] = {
        "sessions": {
            "distribution": "weibull",
            "params": {"shape": 0.7, "scale": 9.0},
            "offline": {"distribution": "exponential", "params": {"scale": 3.0}},
            "peers": [p for p in range(n) if p not in scripted],
        },
        "arrivals": {"rate": max(n / 60, 0.5), "device_mix": {"sensor": 1.0}},
        "crash_ratio": 0.35,
        "on_return": "retrain",
    }
    return copy.deepcopy(sc)


def forgetting_figures(sim: Any, report: Any | None = None) -> dict[str, Any]:
    """The figures of a finished soak run: churn, faults and whether forgetting held."""
    summary = sim.summary()
    deps = summary["departures"]
    holdings = sim.runtime.holdings()
    departed = {(d["peer"], d["epoch"]) for d in deps}
    stale = sorted(
        (pid, key)
        for pid, h in holdings.items()
        for key in (tuple(int(x) for x in k.split(":")) for k in h["held"])
        if key in departed
    )
    n0 = sim.scenario.peers.initial
    devices = {d["peer"] for d in deps}
    unseen = [d for d in deps if d["kind"] == "crash" and not d["detectors"]]
    forgetting = summary["forgetting"]
    wire = summary["wire"]
    return {
        "devices_initial": n0,
        "departures": len(deps),
        "devices_departed": len(devices),
        "departed_fraction": round(len(devices) / n0, 3),
        "crashes": sum(d["kind"] == "crash" for d in deps),
        "crashes_never_detected": len(unseen),
        "joins": sum(e["kind"] == "join" for e in sim.events),
        "rejoins": sum(e["kind"] == "join" and e.get("epoch", 0) > 0 for e in sim.events),
        "false_suspicions": summary["false_suspicions"],
        "lease_expiries": sum(e["kind"] == "lease_expired" for e in sim.events),
        "stale_seeds": len(stale),
        "accepted_after_removal": summary["resurrected"],
        "lease_rounds": forgetting["lease_rounds"],
        "forget_median_rounds": forgetting["median_rounds"],
        "forget_worst_rounds": forgetting["worst_rounds"],
        "forgotten_by_lease": forgetting["by_lease"],
        "past_bound": len(forgetting["past_bound"]),
        "faults": wire.get("faults", {}),
        "verify": None if report is None else ("passed" if report.passed else "FAILED"),
        "verdicts": None
        if report is None
        else {
            v: sum(e.verdict == v for e in report.events)
            for v in {e.verdict for e in report.events}
        },
    }
