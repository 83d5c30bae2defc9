"""The tables of a report's run sections: overview, accuracy, departures, deletions, verdicts.

Each builder reads the parsed run directory (or ``verify.json``) and returns a
:class:`~hdus_sim.report.model.Table` of formatted cells; none of them draws or renders.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from hdus_sim.report.data import RunData
from hdus_sim.report.format import DASH, fmt, fmt_bytes, num
from hdus_sim.report.model import Table
from hdus_sim.report.style import PARTS

__all__ = [
    "accuracy_table",
    "deletions_table",
    "departures_table",
    "overview_table",
    "verdict_class",
    "verify_table",
]


def overview_table(data: RunData) -> Table:
    """The run at a glance: scenario, seed, peers, rounds, wall time (s), graph, traffic."""
    sc, su = data.scenario, data.summary
    peers = sc.get("peers") or {}
    seen = {int(r["peer"]) for r in data.metrics}
    seen |= {int(e["peer"]) for e in data.events if e.get("kind") == "join" and "peer" in e}
    online_end = su.get("online_at_end") or []
    topo = sc.get("topology") or {}
    params = topo.get("params") or {}
    topo_text = str(topo.get("kind", DASH)) + (
        " (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else ""
    )
    exchange = sc.get("exchange") or {}
    graph = su.get("graph") or {}
    rows = [
        ["scenario", str(sc.get("name", su.get("scenario", DASH)))],
        ["seed", fmt(sc.get("seed", su.get("seed")))],
        [
            "peers",
            f"{peers.get('initial', DASH)} initially, {len(seen)} in all, "
            f"{len(online_end)} online at the end",
        ],
        [
            "rounds",
            f"{su.get('rounds_run', len(data.rounds))} run "
            f"({sc.get('rounds', DASH)} scripted, the rest settle rounds)",
        ],
        ["wall time", f"{fmt(num(su.get('wall_s')), 1)} s"],
        ["topology", topo_text],
        [
            "graph at the end",
            f"{graph.get('n_nodes', DASH)} peers, {graph.get('n_edges', DASH)} links, "
            f"connected: {fmt(graph.get('is_connected'))}, "
            f"diameter {graph.get('diameter', DASH)}",
        ],
        [
            "exchange",
            f"relay_hops {exchange.get('relay_hops', DASH)}, heartbeat_timeout "
            f"{exchange.get('heartbeat_timeout', DASH)}",
        ],
        [
            "ensemble",
            f"rho {peers.get('rho', DASH)}, combine {peers.get('combine', DASH)}, "
            f"unlearning {peers.get('unlearning', DASH)}",
        ],
        ["runtime", str(su.get("runtime") or (sc.get("runtime") or {}).get("kind", DASH))],
        [
            "traffic",
            f"{su.get('messages', DASH)} messages, {fmt_bytes(num(su.get('bytes')))}",
        ],
    ]
    if su.get("false_suspicions"):
        rows.append(["false suspicions", str(su["false_suspicions"])])
    rows.append(["resurrected seeds", str(su.get("resurrected", 0))])
    if su.get("wire"):
        rows.append(["wire", json.dumps(su["wire"], sort_keys=True)])
    return Table(["field", "value"], rows)


def accuracy_table(data: RunData) -> Table:
    """Final accuracy (fraction correct) of main only, seeds only and the ensemble."""
    final = data.summary.get("final_accuracy") or {}
    rows = [
        [f"{split} test"] + [fmt(num(final.get(f"{split}_{part}"))) for part in PARTS]
        for split in ("local", "global")
    ]
    return Table(["test set"] + [label for _, label in PARTS.values()], rows)


def departures_table(data: RunData) -> Table:
    """One row per leave or crash: holders, detection and removal latency (rounds, ms)."""
    rows = []
    for d in data.summary.get("departures") or []:
        lat_s = num(d.get("latency_s"))
        rows.append(
            [
                fmt(d.get("peer")),
                fmt(d.get("epoch")),
                fmt(d.get("kind")),
                fmt(d.get("round")),
                str(len(d.get("holders_at_start") or [])),
                fmt(d.get("detection_rounds")),
                fmt(d.get("latency_rounds")),
                fmt(d.get("bound_rounds")),
                str(len(d.get("lease_drops") or [])),
                DASH if math.isnan(lat_s) else f"{lat_s * 1000:.3f}",
                fmt(d.get("pending") or None),
            ]
        )
    return Table(
        [
            "peer",
            "epoch",
            "kind",
            "round",
            "holders",
            "detected after (rounds)",
            "removed after (rounds)",
            "lease bound (rounds)",
            "holders that let it expire",
            "wall (ms)",
            "still held by",
        ],
        rows,
    )


def deletions_table(data: RunData) -> Table:
    """One row per point-deletion request, done, refused or absent, by round then id."""
    rows = []
    for d in data.summary.get("point_deletions") or []:
        wall = num(d.get("wall_s"))
        rows.append(
            [
                fmt(d.get("request_id")),
                fmt(d.get("peer")),
                fmt(d.get("round")),
                str(len(d.get("deleted") or [])),
                fmt(d.get("method")),
                fmt(d.get("new_seed_version")),
                fmt(d.get("certificate")),
                DASH if math.isnan(wall) else f"{wall * 1000:.1f}",
                "done",
            ]
        )
    for ev in data.events:
        if ev.get("kind") in ("delete_refused", "delete_absent"):
            outcome = (
                f"refused: {ev.get('reason', '')}"
                if ev["kind"] == "delete_refused"
                else "points already absent"
            )
            rows.append(
                [
                    fmt(ev.get("request_id")),
                    fmt(ev.get("peer")),
                    fmt(ev.get("round")),
                    str(len(ev.get("ids") or [])),
                    DASH,
                    DASH,
                    DASH,
                    DASH,
                    outcome,
                ]
            )
    rows.sort(key=lambda row: (_sort_key(row[2]), _sort_key(row[0].removeprefix("del-"))))
    return Table(
        [
            "request",
            "peer",
            "round",
            "points",
            "method",
            "new seed version",
            "certificate",
            "wall (ms)",
            "outcome",
        ],
        rows,
    )


def _sort_key(cell: str) -> tuple[int, float, str]:
    """Sort numbers numerically before text (a dash sorts last)."""
    try:
        return (0, float(cell), "")
    except ValueError:
        return (1, 0.0, cell)


def verdict_class(verdict: str) -> str:
    """The HTML class of a verdict cell: ``ok``, ``cert``, ``fail`` or ``warn``."""
    if verdict == "EXACT":
        return "ok"
    if verdict.startswith("CERTIFIED"):
        return "cert"
    if verdict == "FAIL":
        return "fail"
    return "warn"


def verify_table(verify: Mapping[str, Any]) -> Table:
    """One row per verified event of ``verify.json`` with its lineage, oracle and verdict."""
    rows: list[list[str]] = []
    classes: dict[tuple[int, int], str] = {}
    for i, ev in enumerate(verify.get("events") or []):
        oracle = ev.get("oracle_ok")
        verdict = str(ev.get("verdict", DASH))
        rows.append(
            [
                fmt(ev.get("peer")),
                fmt(ev.get("epoch")),
                fmt(ev.get("kind")),
                fmt(ev.get("round")),
                fmt(ev.get("request_id")),
                "clean" if ev.get("lineage_ok") else "HELD",
                DASH if oracle is None else ("identical" if oracle else "DIFFERS"),
                verdict,
                str(ev.get("explanation") or ""),
            ]
        )
        classes[(i, 7)] = verdict_class(verdict)
    return Table(
        ["peer", "epoch", "kind", "round", "request", "lineage", "oracle", "verdict", "why"],
        rows,
        classes,
    )
