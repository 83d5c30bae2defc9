"""A self-contained report of a run directory: Markdown and HTML with plots.

``write_report(DIR)`` reads what ``hdus-sim run`` (and, when present, ``hdus-sim verify``)
wrote to ``DIR`` and writes:

=================== ==========================================================
``report.md``       the report in Markdown; plots referenced as ``report/NAME.png``
``report.html``     the same report as one HTML file: every plot embedded as a
                    base64 data URI, inline CSS, no external resources, no JavaScript
``report/*.png``    the plots (``accuracy``, ``online``, ``graph``, ``latency``,
                    ``traffic``)
=================== ==========================================================

The run directory does not store the graph of every round, so the drawings are
reconstructed: the scenario's topology builder is re-run with the run's topology seed
and ``events.jsonl`` is replayed on it (a join adds its ``links``; a leave or crash removes
the node's edges and adds its ``repair_links``). See :func:`reconstruct_graph`.

Examples
--------
>>> from hdus_sim.report import write_report
>>> paths = write_report("runs/quickstart")  # doctest: +SKIP
>>> paths.html, sorted(paths.plots)  # doctest: +SKIP
(PosixPath('runs/quickstart/report.html'), ['accuracy', 'graph', 'latency', 'online', 'traffic'])
"""

from __future__ import annotations

import base64
import html
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import networkx as nx
import numpy as np
import yaml
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from hdus_sim.attacks import DELETION_STAGES
from hdus_sim.errors import RunError
from hdus_sim.rng import derive_seed
from hdus_sim.rundir import atomic_open, atomic_write

__all__ = [
    "PLOT_NAMES",
    "ReportPaths",
    "RunData",
    "graph_at",
    "load_run_data",
    "reconstruct_graph",
    "write_report",
]

#: The plots of a report, in the order they appear.
PLOT_NAMES: tuple[str, ...] = ("accuracy", "online", "graph", "latency", "traffic")

#: Files a report needs; ``verify.json`` is optional.
REQUIRED_FILES: tuple[str, ...] = (
    "scenario.yaml",
    "summary.json",
    "metrics.jsonl",
    "rounds.jsonl",
    "events.jsonl",
)

_PARTS = {
    "main": ("tab:blue", "main only"),
    "seeds": ("tab:orange", "seeds only"),
    "ensemble": ("tab:green", "ensemble"),
}
#: Event kind -> (colour, marker, label) for the event timeline.
_EVENT_STYLE: dict[str, tuple[str, str, str]] = {
    "join": ("tab:green", "^", "join"),
    "leave": ("tab:red", "v", "leave"),
    "crash": ("black", "X", "crash"),
    "crash_detected": ("tab:gray", "o", "crash detected"),
    "false_suspicion": ("tab:orange", "s", "false suspicion"),
    "refuted": ("tab:olive", "P", "suspicion refuted"),
    "removal_complete": ("tab:blue", "D", "removal complete"),
    "resurrected": ("red", "*", "RESURRECTED seed"),
    "delete": ("tab:purple", "d", "point deletion"),
    "delete_refused": ("tab:pink", "d", "deletion refused"),
    "delete_absent": ("tab:pink", "o", "deletion: points absent"),
    "kill_actor": ("tab:brown", "H", "actor killed"),
    "actor_lost": ("tab:brown", "h", "actor lost"),
    "rejoin": ("tab:cyan", ">", "rejoin (new epoch)"),
}
#: Membership changes drawn as vertical lines: kind -> (colour, line style).
_MEMBERSHIP_LINES = {
    "join": ("tab:green", ":"),
    "leave": ("tab:red", "--"),
    "crash": ("black", "--"),
}
_DEVICE_COLORS = {
    "sensor": "#8dd3c7",
    "phone": "#fdb462",
    "gateway": "#80b1d3",
    "linear": "#bebada",
}
_DEPARTED_COLOR = "#d9d9d9"
_SETTLE_COLOR = "0.93"
_DASH = "–"


@dataclass(frozen=True)
class ReportPaths:
    """Where :func:`write_report` wrote the report.

    Attributes
    ----------
    markdown : Path
        ``DIR/report.md``.
    html : Path
        ``DIR/report.html`` (self-contained: plots embedded as data URIs).
    plots : dict of str to Path
        Plot name (see :data:`PLOT_NAMES`) -> ``DIR/report/NAME.png``.
    """

    markdown: Path
    html: Path
    plots: dict[str, Path]


@dataclass(frozen=True)
class RunData:
    """The files of a run directory, parsed.

    Attributes
    ----------
    run_dir : Path
        The run directory.
    scenario : dict
        The resolved scenario (``scenario.yaml``).
    summary : dict
        ``summary.json``.
    metrics : list of dict
        ``metrics.jsonl``: one row per round and online peer.
    rounds : list of dict
        ``rounds.jsonl``: one row per round.
    events : list of dict
        ``events.jsonl``: applied and protocol events, in the order they happened.
    verify : dict or None
        ``verify.json`` if ``hdus-sim verify`` ran, else ``None``.
    """

    run_dir: Path
    scenario: dict[str, Any]
    summary: dict[str, Any]
    metrics: list[dict[str, Any]]
    rounds: list[dict[str, Any]]
    events: list[dict[str, Any]]
    verify: dict[str, Any] | None

    @property
    def round_numbers(self) -> list[int]:
        """Every round recorded in ``rounds.jsonl``, ascending."""
        return sorted(int(r["round"]) for r in self.rounds)


# ---------------------------------------------------------------------- reading


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise RunError(
                f"{path} line {lineno} is not valid JSON ({exc.msg}); "
                "re-run the scenario to rewrite the run directory"
            ) from None
    return rows


def load_run_data(run_dir: str | Path) -> RunData:
    """Read a run directory for a report.

    Parameters
    ----------
    run_dir : str or Path
        A directory written by ``hdus-sim run SCENARIO --out DIR``.

    Returns
    -------
    RunData
        The parsed files; ``verify`` is ``None`` when ``verify.json`` is absent.

    Raises
    ------
    RunError
        If the directory or one of :data:`REQUIRED_FILES` is missing or unreadable; the
        message names the file and the command that writes it.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise RunError(
            f"run directory {path} does not exist; pass the --out of `hdus-sim run SCENARIO`"
        )
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise RunError(
            f"run directory {path} lacks {', '.join(missing)}; "
            f"re-run `hdus-sim run SCENARIO --out {path}`"
        )
    try:
        scenario = yaml.safe_load((path / "scenario.yaml").read_text()) or {}
        summary = json.loads((path / "summary.json").read_text())
        verify_path = path / "verify.json"
        verify = json.loads(verify_path.read_text()) if verify_path.is_file() else None
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise RunError(
            f"run directory {path} holds an unreadable file ({exc}); "
            f"re-run `hdus-sim run SCENARIO --out {path}` (and `hdus-sim verify {path}`)"
        ) from None
    rounds = _read_jsonl(path / "rounds.jsonl")
    if not rounds:
        raise RunError(f"{path / 'rounds.jsonl'} is empty: the run recorded no round; re-run it")
    return RunData(
        run_dir=path,
        scenario=scenario,
        summary=summary,
        metrics=_read_jsonl(path / "metrics.jsonl"),
        rounds=sorted(rounds, key=lambda r: int(r["round"])),
        events=_read_jsonl(path / "events.jsonl"),
        verify=verify,
    )


# ---------------------------------------------------------------------- graph replay


def _initial_graph(scenario: Mapping[str, Any]) -> tuple[nx.Graph, list[str]]:
    """The scenario's topology at round 0, rebuilt with the run's topology seed."""
    from topologies import build
    from topologies.errors import TopologyError

    topo = scenario.get("topology") or {}
    kind = str(topo.get("kind", "ring"))
    n = int((scenario.get("peers") or {}).get("initial", 0))
    params = dict(topo.get("params") or {})
    try:
        graph = build(kind, n, seed=derive_seed(int(scenario.get("seed", 0)), "topology"), **params)
    except (TopologyError, OSError, ValueError, TypeError) as exc:
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        return graph, [
            f"the initial {kind} topology could not be rebuilt ({exc}); only the links "
            "added by joins and repairs are drawn"
        ]
    return nx.Graph(graph), []


def reconstruct_graph(
    scenario: Mapping[str, Any], events: Sequence[Mapping[str, Any]], round_: int
) -> nx.Graph:
    """The peer graph at round ``round_``, rebuilt from the scenario and the event log.

    The initial topology is rebuilt with the scenario's builder and topology seed
    (``derive_seed(seed, "topology")``), then every event of ``events`` logged at a round
    ``<= round_`` is replayed in log order: a ``join`` adds the peer and its ``links``; a
    ``leave`` or ``crash`` removes the peer's edges and adds its ``repair_links``. Events
    are applied at the start of their round, so this is the graph the round ran on.

    Parameters
    ----------
    scenario : mapping
        The resolved scenario (``scenario.yaml`` of the run directory).
    events : sequence of mapping
        The rows of ``events.jsonl``, in log order.
    round_ : int
        The round to reconstruct.

    Returns
    -------
    networkx.Graph
        Every peer seen up to ``round_``. Node attributes: ``active`` (online at
        ``round_``), ``departed`` (``None``, ``"leave"`` or ``"crash"``),
        ``departed_round`` and ``pos`` when the builder set one. Edges join active peers
        only. ``graph.graph["warnings"]`` lists where the replay disagreed with the log
        (e.g. a removed peer's neighbours differ from its logged ``former_neighbors``).
    """
    live, notes = _initial_graph(scenario)
    status: dict[int, dict[str, Any]] = {
        int(v): {"active": True, "departed": None, "departed_round": None} for v in live.nodes
    }
    positions = {int(v): p for v, p in live.nodes(data="pos") if p is not None}
    for ev in events:
        if int(ev.get("round", 0)) > round_:
            break
        kind = ev.get("kind")
        peer = ev.get("peer")
        if kind == "join" and peer is not None:
            pid = int(peer)
            live.add_node(pid)
            live.add_edges_from((int(a), int(b)) for a, b in ev.get("links", []))
            status[pid] = {"active": True, "departed": None, "departed_round": None}
        elif kind in ("leave", "crash") and peer is not None:
            pid = int(peer)
            if pid not in live:
                notes.append(f"round {ev['round']}: {kind} of peer {pid}, not in the graph")
            else:
                former = sorted(int(v) for v in live.neighbors(pid))
                logged = sorted(int(v) for v in ev.get("former_neighbors", former))
                if former != logged:
                    notes.append(
                        f"round {ev['round']}: peer {pid} had neighbours {former} in the "
                        f"replay but {logged} in the log"
                    )
                live.remove_node(pid)
            live.add_edges_from((int(a), int(b)) for a, b in ev.get("repair_links", []))
            status[pid] = {"active": False, "departed": kind, "departed_round": int(ev["round"])}
    out = nx.Graph(warnings=notes, round=round_)
    for pid in sorted(status):
        attrs = dict(status[pid])
        if pid in positions:
            attrs["pos"] = positions[pid]
        out.add_node(pid, **attrs)
    out.add_edges_from(
        (a, b) for a, b in live.edges if status[int(a)]["active"] and status[int(b)]["active"]
    )
    return out


def graph_at(run_dir: str | Path | RunData, round_: int) -> nx.Graph:
    """:func:`reconstruct_graph` of a run directory at round ``round_``.

    Parameters
    ----------
    run_dir : str, Path or RunData
        A run directory or its parsed files.
    round_ : int
        The round to reconstruct.

    Returns
    -------
    networkx.Graph
        See :func:`reconstruct_graph`.
    """
    data = run_dir if isinstance(run_dir, RunData) else load_run_data(run_dir)
    return reconstruct_graph(data.scenario, data.events, round_)


def _layout(data: RunData) -> dict[int, tuple[float, float]]:
    """One deterministic position per peer ever seen, shared by every graph panel.

    Node ``pos`` attributes (random geometric, clustered gateways, files) are used when
    every initial node has one; a joined node without a position is put next to the
    peers it linked to. Otherwise a seeded spring layout of the union of every graph the
    run went through.
    """
    last = data.round_numbers[-1]
    union, _ = _initial_graph(data.scenario)
    union = nx.Graph(union)
    for ev in data.events:
        if ev.get("kind") == "join" and ev.get("peer") is not None:
            union.add_node(int(ev["peer"]))
            union.add_edges_from((int(a), int(b)) for a, b in ev.get("links", []))
        for a, b in ev.get("repair_links", []) or []:
            union.add_edge(int(a), int(b))
    for v in graph_at(data, last).nodes:
        union.add_node(int(v))
    given = {int(v): p for v, p in union.nodes(data="pos") if p is not None}
    initial = int((data.scenario.get("peers") or {}).get("initial", 0))
    if initial and all(v in given for v in range(initial)):
        pos = {v: (float(p[0]), float(p[1])) for v, p in given.items()}
        for v in sorted(union.nodes):
            if v in pos:
                continue
            anchors = [pos[u] for u in union.neighbors(v) if u in pos]
            rng = np.random.default_rng(derive_seed(0, "report_layout", v))
            jitter = rng.normal(scale=0.03, size=2)
            cx, cy = np.mean(anchors, axis=0) if anchors else rng.random(2)
            pos[v] = (float(cx + jitter[0]), float(cy + jitter[1]))
        return pos
    # start from a circle in id order (a ring stays recognisable), then relax with springs
    start = nx.circular_layout(sorted(union.nodes))
    k = 1.6 / math.sqrt(max(union.number_of_nodes(), 1))
    raw = nx.spring_layout(union, pos=start, seed=0, k=k, iterations=60)
    return {int(v): (float(p[0]), float(p[1])) for v, p in raw.items()}


# ---------------------------------------------------------------------- plots


def _num(value: Any) -> float:
    """A JSON number as float; ``None`` and non-numbers as NaN."""
    if value is None or isinstance(value, bool):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _save(fig: Figure, path: Path) -> Path:
    with atomic_open(path) as fh:
        fig.savefig(fh, dpi=100, bbox_inches="tight", facecolor="white", format="png")
    return path


def _shade_settle(ax: Any, data: RunData) -> None:
    settle = [int(r["round"]) for r in data.rounds if r.get("phase") == "settle"]
    if settle:
        ax.axvspan(min(settle) - 0.5, max(settle) + 0.5, color=_SETTLE_COLOR, zorder=0, lw=0)


def _membership_lines(ax: Any, data: RunData) -> None:
    for ev in data.events:
        style = _MEMBERSHIP_LINES.get(str(ev.get("kind")))
        if style is not None:
            ax.axvline(int(ev["round"]), color=style[0], ls=style[1], lw=0.8, alpha=0.7)


def _percentiles(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, 10th and 90th percentile over peers (axis 1), NaN-aware, NaN for none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=1)
        lo = np.nanpercentile(values, 10, axis=1)
        hi = np.nanpercentile(values, 90, axis=1)
    return mean, lo, hi


def plot_accuracy_bands(data: RunData, path: Path) -> Path:
    """Accuracy over rounds: mean over online peers with a 10th-90th percentile band.

    Two panels (local test: each peer's own classes; global test: all classes), three
    predictors each (main only, seeds only, ensemble). Membership changes are vertical
    lines; settle rounds (no training) are shaded.
    """
    xs = data.round_numbers
    by_round: dict[int, list[dict[str, Any]]] = {x: [] for x in xs}
    for row in data.metrics:
        by_round.setdefault(int(row["round"]), []).append(row)
    width = max((len(v) for v in by_round.values()), default=1) or 1
    fig = Figure(figsize=(12, 4.4))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, split in zip(axes, ("local", "global"), strict=True):
        _shade_settle(ax, data)
        _membership_lines(ax, data)
        for part, (color, label) in _PARTS.items():
            key = f"{split}_{part}"
            grid = np.full((len(xs), width), np.nan)
            for i, x in enumerate(xs):
                for j, row in enumerate(by_round.get(x, [])):
                    grid[i, j] = _num(row.get(key))
            mean, lo, hi = _percentiles(grid)
            ax.fill_between(xs, lo, hi, color=color, alpha=0.15, lw=0)
            ax.plot(xs, mean, marker="o", ms=3, color=color, label=label)
        ax.set_title(f"{split} test accuracy")
        ax.set_xlabel("round")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (mean over online peers)")
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(Patch(color="0.6", alpha=0.3, lw=0))
    labels.append("10th-90th percentile over peers")
    axes[0].legend(handles, labels, loc="lower right", fontsize=8)
    return _save(fig, path)


def _event_label(events: list[dict[str, Any]]) -> str:
    peers = []
    for ev in events:
        p = ev.get("peer", ev.get("actor"))
        if p is not None and str(p) not in peers:
            peers.append(str(p))
    text = ",".join(peers[:6]) + ("…" if len(peers) > 6 else "")
    return text


def plot_online(data: RunData, path: Path) -> Path:
    """Peers online per round (top) and a timeline of every logged event (bottom).

    Joins, leaves and crashes are also vertical lines across the top panel. Each marker of
    the timeline is labelled with the peers (or the actor) it concerns.
    """
    xs = data.round_numbers
    online = [_num(r.get("online")) for r in data.rounds]
    kinds: list[str] = []
    for ev in data.events:
        kind = str(ev.get("kind"))
        if kind not in kinds:
            kinds.append(kind)
    order = [k for k in _EVENT_STYLE if k in kinds] + [k for k in kinds if k not in _EVENT_STYLE]
    fig = Figure(figsize=(12, 3.6 + 0.32 * max(len(order), 1)))
    top, bottom = fig.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 0.5 + 0.3 * max(len(order), 1)]}
    )
    _shade_settle(top, data)
    _membership_lines(top, data)
    top.plot(xs, online, drawstyle="steps-mid", color="tab:blue", lw=1.8)
    top.plot(xs, online, "o", ms=4, color="tab:blue")
    finite = [v for v in online if not math.isnan(v)]
    top.set_ylim(0, (max(finite) if finite else 1) * 1.25 + 1)
    top.set_ylabel("peers online")
    top.yaxis.get_major_locator().set_params(integer=True)
    top.grid(alpha=0.3)
    top.set_title("peers online per round (events applied at the start of their round)")
    line_handles = [
        Line2D([0], [0], color=c, ls=ls, lw=1, label=k)
        for k, (c, ls) in _MEMBERSHIP_LINES.items()
        if k in kinds
    ]
    if any(r.get("phase") == "settle" for r in data.rounds):
        line_handles.append(Patch(color=_SETTLE_COLOR, label="settle rounds (no training)"))
    if line_handles:
        top.legend(handles=line_handles, loc="upper right", fontsize=8, ncol=len(line_handles))
    _shade_settle(bottom, data)
    for y, kind in enumerate(reversed(order)):
        color, marker, _ = _EVENT_STYLE.get(kind, ("tab:gray", ".", kind))
        groups: dict[int, list[dict[str, Any]]] = {}
        for ev in data.events:
            if ev.get("kind") == kind:
                groups.setdefault(int(ev["round"]), []).append(ev)
        rs = sorted(groups)
        bottom.scatter(rs, [y] * len(rs), marker=marker, color=color, s=55, zorder=3)
        for r in rs:
            bottom.annotate(
                _event_label(groups[r]),
                (r, y),
                xytext=(5, 4),
                textcoords="offset points",
                fontsize=7,
            )
    bottom.set_yticks(range(len(order)))
    bottom.set_yticklabels([_EVENT_STYLE.get(k, ("", "", k))[2] for k in reversed(order)])
    bottom.set_ylim(-0.7, max(len(order), 1) - 0.3)
    if not order:
        bottom.text(0.5, 0.5, "no events", transform=bottom.transAxes, ha="center", va="center")
        bottom.set_yticks([])
    bottom.set_xlabel("round")
    bottom.grid(axis="x", alpha=0.3)
    if xs:
        bottom.set_xlim(xs[0] - 0.6, xs[-1] + 1.2)
        bottom.set_xticks(xs if len(xs) <= 40 else xs[:: math.ceil(len(xs) / 40)])
    return _save(fig, path)


def plot_graphs(data: RunData, graph_rounds: Sequence[int], path: Path) -> Path:
    """The peer graph at each of ``graph_rounds``, departed peers grey and unlinked.

    One panel per round, the same node positions in every panel; active peers are
    coloured by device class.
    """
    pos = _layout(data)
    devices = {int(k): str(v) for k, v in (data.summary.get("devices") or {}).items()}
    n = len(graph_rounds)
    fig = Figure(figsize=(4.6 * n, 4.9))
    axes = np.atleast_1d(fig.subplots(1, n))
    for ax, r in zip(axes, graph_rounds, strict=True):
        g = graph_at(data, r)
        active = [v for v in g.nodes if g.nodes[v]["active"]]
        gone = [v for v in g.nodes if not g.nodes[v]["active"]]
        nx.draw_networkx_edges(g, pos, ax=ax, edge_color="#555555", width=1.3)
        nx.draw_networkx_nodes(
            g,
            pos,
            nodelist=gone,
            ax=ax,
            node_color=_DEPARTED_COLOR,
            edgecolors="#aaaaaa",
            node_size=330,
        )
        nx.draw_networkx_nodes(
            g,
            pos,
            nodelist=active,
            ax=ax,
            node_color=[_DEVICE_COLORS.get(devices.get(v, ""), "#cccccc") for v in active],
            edgecolors="#333333",
            node_size=360,
        )
        nx.draw_networkx_labels(g, pos, labels={v: str(v) for v in active}, ax=ax, font_size=9)
        nx.draw_networkx_labels(
            g, pos, labels={v: str(v) for v in gone}, ax=ax, font_size=9, font_color="#999999"
        )
        ax.set_title(
            f"round {r}: {len(active)} online, {g.number_of_edges()} links"
            + (f", {len(gone)} departed" if gone else ""),
            fontsize=10,
        )
        ax.set_axis_off()
        ax.margins(0.12)
    present = sorted({devices.get(v, "") for v in pos} - {""})
    handles = [
        Patch(facecolor=_DEVICE_COLORS.get(d, "#cccccc"), edgecolor="#333333", label=d)
        for d in present
    ]
    handles.append(Patch(facecolor=_DEPARTED_COLOR, edgecolor="#aaaaaa", label="departed"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9, frameon=False)
    fig.subplots_adjust(bottom=0.1, wspace=0.05)
    return _save(fig, path)


def plot_latency(data: RunData, path: Path) -> Path:
    """Histograms of leave-removal latency: in rounds (left) and in wall milliseconds (right).

    Latency runs from the leave or crash to the moment the last holder dropped the seed;
    for a crash it includes the rounds the crash took to be detected. Departures still
    pending at the end of the run are counted in the titles, not in the bars.
    """
    deps = list(data.summary.get("departures") or [])
    done = [d for d in deps if d.get("latency_rounds") is not None]
    pending = len(deps) - len(done)
    kinds = sorted({str(d.get("kind")) for d in done})
    palette = {"leave": "tab:red", "crash": "0.25", "suspected": "tab:orange"}
    fig = Figure(figsize=(12, 3.9))
    left, right = fig.subplots(1, 2)
    note = f" ({pending} still pending)" if pending else ""
    left.set_title(f"removal latency, rounds{note}")
    right.set_title(f"removal latency, wall ms{note}")
    if not done:
        for ax in (left, right):
            ax.text(
                0.5,
                0.5,
                "no departures in this run" if not deps else "no removal completed",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
            ax.set_xticks([])
            ax.set_yticks([])
        return _save(fig, path)
    colors = [palette.get(k, "tab:purple") for k in kinds]
    by_kind_rounds = [[int(d["latency_rounds"]) for d in done if d["kind"] == k] for k in kinds]
    top = max(int(d["latency_rounds"]) for d in done)
    bins = np.arange(-0.5, top + 1.5, 1.0)
    left.hist(by_kind_rounds, bins=bins, stacked=True, color=colors, label=kinds, rwidth=0.6)
    left.set_xticks(range(top + 1))
    left.set_xlabel("rounds from departure to last holder dropping the seed")
    left.set_ylabel("departures")
    left.legend(fontsize=8, loc="upper right")
    ms = [
        [max(_num(d.get("latency_s")) * 1000.0, 1e-3) for d in done if d["kind"] == k]
        for k in kinds
    ]
    flat = [v for vs in ms for v in vs if not math.isnan(v)]
    lo, hi = min(flat), max(flat)
    if hi / lo > 50:
        edges = np.logspace(math.log10(lo) - 0.05, math.log10(hi) + 0.05, 16)
        right.set_xscale("log")
    else:
        edges = np.linspace(lo * 0.95, hi * 1.05 + 1e-6, 12)
    right.hist(ms, bins=edges, stacked=True, color=colors, label=kinds, ec="white", lw=0.8)
    right.set_xlabel("wall milliseconds (log scale)" if hi / lo > 50 else "wall milliseconds")
    right.set_ylabel("departures")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.3)  # room for the legend above the bars
    return _save(fig, path)


def _byte_unit(values: Sequence[float]) -> tuple[float, str]:
    top = max((v for v in values if not math.isnan(v)), default=0.0)
    for scale, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if top >= scale:
            return scale, unit
    return 1.0, "bytes"


def plot_traffic(data: RunData, path: Path) -> Path:
    """Messages (left) and bytes (right) sent per round by all peers; lost/refused as lines."""
    xs = data.round_numbers
    messages = [_num(r.get("messages")) for r in data.rounds]
    volume = [_num(r.get("bytes")) for r in data.rounds]
    scale, unit = _byte_unit(volume)
    fig = Figure(figsize=(12, 3.9))
    left, right = fig.subplots(1, 2)
    for ax in (left, right):
        _shade_settle(ax, data)
        _membership_lines(ax, data)
    left.bar(xs, messages, color="tab:blue", label="sent")
    for key, color in (("lost", "tab:red"), ("refused", "tab:orange")):
        ys = [_num(r.get(key)) for r in data.rounds]
        if any(v > 0 for v in ys if not math.isnan(v)):
            left.plot(xs, ys, marker="o", ms=3, color=color, label=key)
    left.set_title("messages per round")
    left.set_ylabel("messages")
    left.legend(fontsize=8)
    right.bar(xs, [v / scale for v in volume], color="tab:purple")
    right.set_title("bytes per round")
    right.set_ylabel(unit)
    for ax in (left, right):
        ax.set_xlabel("round")
        ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


# ---------------------------------------------------------------------- tables


def _fmt(value: Any, digits: int = 3) -> str:
    """A table cell: numbers rounded, ``None``/NaN as a dash, lists comma-joined."""
    if value is None:
        return _DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _DASH if math.isnan(value) else f"{value:.{digits}f}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else _DASH
    return str(value)


@dataclass(frozen=True)
class _Table:
    """A table rendered to both Markdown and HTML; ``classes`` styles cells in HTML."""

    header: list[str]
    rows: list[list[str]]
    cell_classes: dict[tuple[int, int], str] | None = None

    def markdown(self) -> str:
        def esc(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [
            "| " + " | ".join(esc(h) for h in self.header) + " |",
            "| " + " | ".join("---" for _ in self.header) + " |",
        ]
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def html(self) -> str:
        classes = self.cell_classes or {}
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = []
        for i, row in enumerate(self.rows):
            cells = []
            for j, cell in enumerate(row):
                cls = classes.get((i, j))
                attr = f' class="{cls}"' if cls else ""
                cells.append(f"<td{attr}>{html.escape(cell)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (
            f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
            + "\n".join(body)
            + ("\n</tbody>\n</table>")
        )


def _overview_table(data: RunData) -> _Table:
    sc, su = data.scenario, data.summary
    peers = sc.get("peers") or {}
    seen = {int(r["peer"]) for r in data.metrics}
    seen |= {int(e["peer"]) for e in data.events if e.get("kind") == "join" and "peer" in e}
    online_end = su.get("online_at_end") or []
    topo = sc.get("topology") or {}
    params = topo.get("params") or {}
    topo_text = str(topo.get("kind", _DASH)) + (
        " (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else ""
    )
    exchange = sc.get("exchange") or {}
    graph = su.get("graph") or {}
    rows = [
        ["scenario", str(sc.get("name", su.get("scenario", _DASH)))],
        ["seed", _fmt(sc.get("seed", su.get("seed")))],
        [
            "peers",
            f"{peers.get('initial', _DASH)} initially, {len(seen)} in all, "
            f"{len(online_end)} online at the end",
        ],
        [
            "rounds",
            f"{su.get('rounds_run', len(data.rounds))} run "
            f"({sc.get('rounds', _DASH)} scripted, the rest settle rounds)",
        ],
        ["wall time", f"{_fmt(_num(su.get('wall_s')), 1)} s"],
        ["topology", topo_text],
        [
            "graph at the end",
            f"{graph.get('n_nodes', _DASH)} peers, {graph.get('n_edges', _DASH)} links, "
            f"connected: {_fmt(graph.get('is_connected'))}, "
            f"diameter {graph.get('diameter', _DASH)}",
        ],
        [
            "exchange",
            f"relay_hops {exchange.get('relay_hops', _DASH)}, heartbeat_timeout "
            f"{exchange.get('heartbeat_timeout', _DASH)}",
        ],
        [
            "ensemble",
            f"rho {peers.get('rho', _DASH)}, combine {peers.get('combine', _DASH)}, "
            f"unlearning {peers.get('unlearning', _DASH)}",
        ],
        ["runtime", str(su.get("runtime") or (sc.get("runtime") or {}).get("kind", _DASH))],
        [
            "traffic",
            f"{su.get('messages', _DASH)} messages, {_fmt_bytes(_num(su.get('bytes')))}",
        ],
    ]
    if su.get("false_suspicions"):
        rows.append(["false suspicions", str(su["false_suspicions"])])
    rows.append(["resurrected seeds", str(su.get("resurrected", 0))])
    if su.get("wire"):
        rows.append(["wire", json.dumps(su["wire"], sort_keys=True)])
    return _Table(["field", "value"], rows)


def _fmt_bytes(value: float) -> str:
    if math.isnan(value):
        return _DASH
    scale, unit = _byte_unit([value])
    return f"{value / scale:.1f} {unit}" if unit != "bytes" else f"{int(value)} bytes"


def _accuracy_table(data: RunData) -> _Table:
    final = data.summary.get("final_accuracy") or {}
    rows = [
        [f"{split} test"] + [_fmt(_num(final.get(f"{split}_{part}"))) for part in _PARTS]
        for split in ("local", "global")
    ]
    return _Table(["test set"] + [label for _, label in _PARTS.values()], rows)


def _departures_table(data: RunData) -> _Table:
    rows = []
    for d in data.summary.get("departures") or []:
        lat_s = _num(d.get("latency_s"))
        rows.append(
            [
                _fmt(d.get("peer")),
                _fmt(d.get("epoch")),
                _fmt(d.get("kind")),
                _fmt(d.get("round")),
                str(len(d.get("holders_at_start") or [])),
                _fmt(d.get("detection_rounds")),
                _fmt(d.get("latency_rounds")),
                _fmt(d.get("bound_rounds")),
                str(len(d.get("lease_drops") or [])),
                _DASH if math.isnan(lat_s) else f"{lat_s * 1000:.3f}",
                _fmt(d.get("pending") or None),
            ]
        )
    return _Table(
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


def _deletions_table(data: RunData) -> _Table:
    rows = []
    for d in data.summary.get("point_deletions") or []:
        wall = _num(d.get("wall_s"))
        rows.append(
            [
                _fmt(d.get("request_id")),
                _fmt(d.get("peer")),
                _fmt(d.get("round")),
                str(len(d.get("deleted") or [])),
                _fmt(d.get("method")),
                _fmt(d.get("new_seed_version")),
                _fmt(d.get("certificate")),
                _DASH if math.isnan(wall) else f"{wall * 1000:.1f}",
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
                    _fmt(ev.get("request_id")),
                    _fmt(ev.get("peer")),
                    _fmt(ev.get("round")),
                    str(len(ev.get("ids") or [])),
                    _DASH,
                    _DASH,
                    _DASH,
                    _DASH,
                    outcome,
                ]
            )
    rows.sort(key=lambda row: (_sort_key(row[2]), _sort_key(row[0].removeprefix("del-"))))
    return _Table(
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


def _verdict_class(verdict: str) -> str:
    if verdict == "EXACT":
        return "ok"
    if verdict.startswith("CERTIFIED"):
        return "cert"
    if verdict == "FAIL":
        return "fail"
    return "warn"


def _verify_table(verify: Mapping[str, Any]) -> _Table:
    rows: list[list[str]] = []
    classes: dict[tuple[int, int], str] = {}
    for i, ev in enumerate(verify.get("events") or []):
        oracle = ev.get("oracle_ok")
        verdict = str(ev.get("verdict", _DASH))
        rows.append(
            [
                _fmt(ev.get("peer")),
                _fmt(ev.get("epoch")),
                _fmt(ev.get("kind")),
                _fmt(ev.get("round")),
                _fmt(ev.get("request_id")),
                "clean" if ev.get("lineage_ok") else "HELD",
                _DASH if oracle is None else ("identical" if oracle else "DIFFERS"),
                verdict,
                str(ev.get("explanation") or ""),
            ]
        )
        classes[(i, 7)] = _verdict_class(verdict)
    return _Table(
        ["peer", "epoch", "kind", "round", "request", "lineage", "oracle", "verdict", "why"],
        rows,
        classes,
    )


# ---------------------------------------------------------------------- assembly

_CAPTIONS = {
    "accuracy": (
        "Accuracy over time: mean over online peers (line) and 10th-90th percentile over "
        "peers (band), for main-only, seeds-only and ensemble prediction; local test (each "
        "peer's own classes) and global test (all classes). Vertical lines: joins (green "
        "dotted), leaves (red dashed), crashes (black dashed); grey: settle rounds."
    ),
    "online": (
        "Peers online per round, and every logged event on a timeline (labels: the peers "
        "concerned). Events are applied at the start of their round."
    ),
    "graph": (
        "The peer graph at the chosen rounds, reconstructed from the scenario's topology "
        "and the event log; departed peers grey and unlinked; colours: device class."
    ),
    "latency": (
        "Time-to-forget: from the departure to the moment the last holder dropped "
        "the departed seed, in rounds and in wall milliseconds (a crash includes its "
        "detection time); no holder may keep it longer than the lease bound, which "
        "holds even when nobody detects a crash or a notice is lost."
    ),
    "traffic": "Messages and bytes sent per round by all peers.",
}
_TITLES = {
    "accuracy": "Accuracy over time",
    "online": "Peers online and events",
    "graph": "Graph",
    "latency": "Removal latency",
    "traffic": "Messages and bytes",
}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1180px; padding: 1.5em 2em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #4a7ab5; padding-bottom: .3em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
p.desc { color: #555; font-style: italic; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .3em .7em; text-align: left; vertical-align: top; }
th { background: #eef2f7; }
tbody tr:nth-child(even) { background: #fafafa; }
td.ok { background: #dff3df; color: #1b5e20; font-weight: 600; }
td.cert { background: #e1ecfa; color: #0d47a1; font-weight: 600; }
td.fail { background: #fbe0e0; color: #b71c1c; font-weight: 700; }
td.warn { background: #fff4d6; color: #7a5a00; font-weight: 600; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; margin-top: .3em; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .5em 1em; }
.pass { color: #1b5e20; font-weight: 700; }
.failtext { color: #b71c1c; font-weight: 700; }
code { background: #f3f3f3; padding: 0 .25em; }
"""


def _default_graph_rounds(rounds: Sequence[int]) -> list[int]:
    picks = [rounds[0], rounds[len(rounds) // 2], rounds[-1]]
    return sorted(set(picks))


def _check_graph_rounds(graph_rounds: Sequence[int], rounds: Sequence[int]) -> list[int]:
    out = []
    for r in graph_rounds:
        if isinstance(r, bool) or not isinstance(r, int | np.integer):
            raise RunError(
                f"graph_rounds: {r!r} is not a round number; pass integers "
                f"between {rounds[0]} and {rounds[-1]}"
            )
        if not rounds[0] <= int(r) <= rounds[-1]:
            raise RunError(
                f"graph_rounds: round {r} is outside the run's rounds "
                f"{rounds[0]}..{rounds[-1]}; pass rounds in that range"
            )
        if int(r) not in out:
            out.append(int(r))
    if not out:
        raise RunError("graph_rounds is empty; pass at least one round, or None for defaults")
    return out


def _graph_notes(data: RunData, graph_rounds: Sequence[int]) -> list[str]:
    """Checks of the reconstruction against what the run recorded at its end."""
    notes: list[str] = []
    last = data.round_numbers[-1]
    g = graph_at(data, last)
    notes += list(g.graph.get("warnings", []))
    active = sorted(v for v in g.nodes if g.nodes[v]["active"])
    online = sorted(int(v) for v in data.summary.get("online_at_end") or [])
    if data.summary.get("online_at_end") is not None and active != online:
        notes.append(
            f"the reconstruction has peers {active} online at round {last}, "
            f"summary.json says {online}"
        )
    edges = (data.summary.get("graph") or {}).get("n_edges")
    if edges is not None and edges != g.number_of_edges():
        notes.append(
            f"the reconstruction has {g.number_of_edges()} links at round {last}, "
            f"summary.json says {edges}"
        )
    return notes


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def write_report(run_dir: str | Path, *, graph_rounds: Sequence[int] | None = None) -> ReportPaths:
    """Write ``DIR/report.md``, ``DIR/report.html`` and the plots under ``DIR/report/``.

    Parameters
    ----------
    run_dir : str or Path
        A directory written by ``hdus-sim run SCENARIO --out DIR``; if ``hdus-sim verify
        DIR`` ran, its verdicts are included, otherwise the report says it did not.
    graph_rounds : sequence of int, optional
        Rounds at which to draw the graph. Default: the first, the middle and the last
        recorded round.

    Returns
    -------
    ReportPaths
        The Markdown and HTML files and every plot (keys: :data:`PLOT_NAMES`).

    Raises
    ------
    RunError
        If a file the report needs is missing or unreadable, or a round of
        ``graph_rounds`` is outside the run.
    """
    data = load_run_data(run_dir)
    rounds = data.round_numbers
    chosen = (
        _default_graph_rounds(rounds)
        if graph_rounds is None
        else _check_graph_rounds(graph_rounds, rounds)
    )
    out_dir = data.run_dir / "report"
    out_dir.mkdir(exist_ok=True)
    plots = {
        "accuracy": plot_accuracy_bands(data, out_dir / "accuracy.png"),
        "online": plot_online(data, out_dir / "online.png"),
        "graph": plot_graphs(data, chosen, out_dir / "graph.png"),
        "latency": plot_latency(data, out_dir / "latency.png"),
        "traffic": plot_traffic(data, out_dir / "traffic.png"),
    }
    sections = _sections(data, chosen)
    md_path = data.run_dir / "report.md"
    html_path = data.run_dir / "report.html"
    atomic_write(md_path, _render_markdown(data, sections, plots))
    atomic_write(html_path, _render_html(data, sections, plots))
    return ReportPaths(markdown=md_path, html=html_path, plots=plots)


@dataclass(frozen=True)
class _Section:
    """A report section: a title, paragraphs, optional table and plot, in that order.

    ``css`` is the HTML class of the first paragraph (e.g. a PASS/FAIL line).
    """

    title: str
    paragraphs: tuple[str, ...] = ()
    table: _Table | None = None
    plot: str | None = None
    notes: tuple[str, ...] = ()
    css: str = ""


def _sections(data: RunData, chosen: Sequence[int]) -> list[_Section]:
    out = [
        _Section("Run", table=_overview_table(data)),
        _Section(
            "Final accuracy",
            ("Mean over the peers online in the last round.",),
            table=_accuracy_table(data),
        ),
    ]
    for name in ("accuracy", "online"):
        out.append(_Section(_TITLES[name], plot=name))
    out.append(
        _Section(
            f"Graph at rounds {', '.join(str(r) for r in chosen)}",
            plot="graph",
            notes=tuple(_graph_notes(data, chosen)),
        )
    )
    deps = data.summary.get("departures") or []
    out.append(
        _Section(
            "Departures",
            (
                (
                    f"{len(deps)} departure(s). Removal latency runs from the departure to "
                    "the moment the last holder dropped the seed."
                )
                if deps
                else "No peer left or crashed in this run.",
            ),
            table=_departures_table(data) if deps else None,
            plot="latency",
        )
    )
    deletions = _deletions_table(data)
    out.append(
        _Section(
            "Point deletions",
            (
                (f"{len(deletions.rows)} deletion request(s).",)
                if deletions.rows
                else ("No point deletion was requested in this run.",)
            ),
            table=deletions if deletions.rows else None,
        )
    )
    out.append(_Section(_TITLES["traffic"], plot="traffic"))
    out.append(_verify_section(data))
    if data.verify is not None:
        out += _evidence_sections(data.verify)
    return out


def _verify_section(data: RunData) -> _Section:
    verify = data.verify
    if verify is None:
        return _Section(
            "Verification",
            (f"not verified yet: run hdus-sim verify {data.run_dir}",),
            css="note",
        )
    events = verify.get("events") or []
    passed = bool(verify.get("passed"))
    failed = sum(str(ev.get("verdict")) == "FAIL" for ev in events)
    head = f"{'PASS' if passed else 'FAIL'}: {len(events)} event(s) verified" + (
        f", {failed} failed." if failed else "."
    )
    legend = (
        "Each leave, crash and deletion request is checked by lineage and, unless skipped, "
        "the retrain oracle. EXACT: lineage clean and predictions bit-identical to the "
        "oracle run; CERTIFIED(...): within the removal certificate's budget; "
        "LINEAGE-ONLY: lineage clean, no oracle run; FAIL: see why."
    )
    return _Section(
        "Verification",
        (head, legend),
        table=_verify_table(verify) if events else None,
        css="pass" if passed else "failtext",
    )


_MIA_STAGE_LABELS = {
    "departed_main_before": "departed peer's main model, before the leave",
    "departed_ensemble_before": "departed peer's ensemble, before the leave",
    "before_holders": "holders of its seed, before the leave",
    "before": "every other peer, before the leave",
    "after": "survivors, after the leave",
    "oracle": "survivors in the retrain oracle",
    "never_seen": "survivors after: never-seen vs never-seen",
    "owner_main_before": "owner's main model, before the deletion",
    "owner_ensemble_before": "owner's ensemble, before the deletion",
    "owner_main_after": "owner's main model, after the deletion",
    "owner_ensemble_after": "owner's ensemble, after the deletion",
    "oracle_main": "owner's main model in the point-deletion oracle",
    "oracle_ensemble": "owner's ensemble in the point-deletion oracle",
}
_ATTACK_LABELS = {"loss": "loss threshold", "lira": "LiRA"}


def _spread(stage: Mapping[str, Any], key: str) -> str:
    lo, hi = stage.get(f"{key}_min"), stage.get(f"{key}_max")
    if lo is None or hi is None:
        return _DASH
    return f"{_fmt(_num(lo))}..{_fmt(_num(hi))}"


def _mia_table(rows: Sequence[Mapping[str, Any]]) -> _Table:
    """One row per departure, attack and stage: AUC and TPR with their spread over peers."""
    out: list[list[str]] = []
    for m in rows:
        for attack in ("loss", "lira"):
            stages = m.get(attack) or {}
            for name, label in _MIA_STAGE_LABELS.items():
                st = stages.get(name)
                if not st:
                    continue
                out.append(
                    [
                        f"{m.get('peer')} ({m.get('kind')}, round {m.get('round')})",
                        _ATTACK_LABELS[attack],
                        label,
                        _fmt(st.get("peers")),
                        _fmt(_num(st.get("auc_mean"))),
                        _spread(st, "auc"),
                        _fmt(_num(st.get("auc_std"))),
                        _fmt(_num(st.get("tpr_mean"))),
                        _spread(st, "tpr"),
                    ]
                )
    return _Table(
        [
            "departed peer",
            "attack",
            "models attacked",
            "peers",
            "AUC",
            "AUC min..max",
            "AUC std",
            "TPR @ 1% FPR",
            "TPR min..max",
        ],
        out,
    )


def _mia_section(rows: Sequence[Mapping[str, Any]]) -> _Section:
    first = rows[0]
    sizes = "; ".join(
        f"peer {m.get('peer')}: {m.get('members', _DASH)} members vs "
        f"{m.get('nonmembers', _DASH)} non-members"
        for m in rows
    )
    deltas = "; ".join(
        f"peer {m.get('peer')}: "
        + ", ".join(
            f"{_ATTACK_LABELS[a]} {_fmt(_num(v))}"
            for a, v in (m.get("after_minus_oracle_auc") or {}).items()
            if v is not None
        )
        for m in rows
    )
    null = _num(first.get("null_auc_sd"))
    back = [str(m.get("peer")) for m in rows if m.get("owner_rejoined")]
    back_note = (
        f" Peer(s) {', '.join(back)} came back later under a new epoch with the same data: "
        "the survivors legitimately hold its new seed after the leave, and so does the "
        "oracle (which withholds only the departed epoch)."
        if back
        else ""
    )
    return _Section(
        "Membership inference on departed peers' data",
        (
            "Empirical evidence, not a proof. Members: the departed peer's training "
            "samples; non-members: as many samples nobody trained on, class by class (its "
            "own local test samples first, then other peers' local test samples and the "
            "global test set). Loss threshold: the confidence in the true label. LiRA: "
            f"per-example Gaussians of the logit-scaled confidence from {first.get('shadows')} "
            "shadows, each the attacked ensemble with the departed peer's seed replaced by "
            "one distilled from its main model trained on a random half of the candidates "
            f"({first.get('variance')} variance).",
            f"Sizes: {sizes}. With no signal an AUC spreads by about {_fmt(null)} (one "
            "standard deviation) around 0.5 at these sizes, and every peer is attacked on "
            "the same members, so their AUCs move together: the reference for the "
            "survivors after the leave is the retrain oracle, not 0.5 (never-seen vs "
            "never-seen is averaged over 16 halvings of the non-members). TPR at 1% FPR "
            "cannot be resolved below one non-member. The departed peer's own models "
            "show what a model that trained on the data looks like. After minus oracle "
            f"(AUC): {deltas}." + back_note,
        ),
        table=_mia_table(rows),
    )


def _point_mia_section(res: Mapping[str, Any]) -> _Section:
    out: list[list[str]] = []
    for attack in ("loss", "lira"):
        for name in DELETION_STAGES:
            st = (res.get(attack) or {}).get(name)
            if not st:
                continue
            out.append(
                [
                    _ATTACK_LABELS[attack],
                    _MIA_STAGE_LABELS.get(name, name),
                    _fmt(st.get("peers")),
                    _fmt(_num(st.get("auc_pooled"))),
                    _fmt(_num(st.get("tpr_pooled"))),
                    _fmt(_num(st.get("auc_mean"))),
                    _spread(st, "auc"),
                ]
            )
    owners = res.get("owners") or {}
    skipped = res.get("skipped") or []
    who = ", ".join(f"peer {o}: {v.get('points')} by {v.get('method')}" for o, v in owners.items())
    return _Section(
        "Membership inference on deleted points",
        (
            f"{res.get('points')} points deleted inside {len(owners)} peer(s) ({who}), "
            f"each attacked on its owner's models against {res.get('nonmembers')} "
            "never-seen samples; owners hold few points, so AUC and TPR are pooled over "
            f"owners (no-signal spread about {_fmt(_num(res.get('null_auc_sd')))}). "
            "Empirical evidence, not a proof."
            + (
                " Not attacked (offline at the end): "
                + ", ".join(str(s.get("peer")) for s in skipped)
                + "."
                if skipped
                else ""
            ),
        ),
        table=_Table(
            [
                "attack",
                "models attacked",
                "owners",
                "AUC (pooled)",
                "TPR @ 1% FPR (pooled)",
                "AUC (mean over owners)",
                "AUC min..max",
            ],
            out,
        ),
    )


def _backdoor_section(rows: Sequence[Mapping[str, Any]]) -> _Section:
    out: list[list[str]] = []
    for b in rows:
        who = f"{b.get('peer')} ({b.get('kind')}, round {b.get('round')})"
        out.append(
            [who, "planter's main model, before", _fmt(_num(b.get("planter_main_before"))), _DASH]
        )
        out.append(
            [
                who,
                "planter's ensemble, before",
                _fmt(_num(b.get("planter_own_ensemble_before"))),
                _DASH,
            ]
        )
        spread = b.get("spread") or {}
        for key, label in (
            ("before_holders", "holders of its seed, before"),
            ("before", "every other peer, before"),
            ("after", "survivors, after"),
            ("oracle", "survivors in the retrain oracle"),
        ):
            st = spread.get(key) or {}
            lo, hi = st.get("min"), st.get("max")
            out.append(
                [
                    who,
                    label,
                    _fmt(_num(st.get("mean"))),
                    _DASH if lo is None else f"{_fmt(_num(lo))}..{_fmt(_num(hi))}",
                ]
            )
    first = rows[0]
    clean = first.get("clean_accuracy") or {}
    return _Section(
        "Backdoor of a departed peer",
        (
            f"Attack success: the fraction of triggered global-test inputs of other classes "
            f"classified as the target class {first.get('target')}. After the leave it must "
            "match the retrain oracle's; after minus oracle: "
            + "; ".join(
                f"peer {b.get('peer')}: {_fmt(_num(b.get('after_minus_oracle')))}" for b in rows
            )
            + ". Clean global accuracy of the survivors after the leave "
            f"{_fmt(_num((clean.get('after') or {}).get('mean')))}, in the oracle "
            f"{_fmt(_num((clean.get('oracle') or {}).get('mean')))}. Empirical evidence.",
        ),
        table=_Table(["departed peer", "models", "attack success", "min..max over peers"], out),
    )


def _evidence_sections(verify: Mapping[str, Any]) -> list[_Section]:
    """Membership inference and backdoor sections, when ``verify --mia/--backdoor`` ran."""
    out: list[_Section] = []
    mia = [m for m in verify.get("membership_inference") or [] if m.get("loss")]
    if mia:
        out.append(_mia_section(mia))
    points = verify.get("point_deletion_inference")
    if points and points.get("owners"):
        out.append(_point_mia_section(points))
    backdoor = verify.get("backdoor") or []
    if backdoor:
        out.append(_backdoor_section(backdoor))
    return out


def _render_markdown(data: RunData, sections: list[_Section], plots: dict[str, Path]) -> str:
    name = data.scenario.get("name") or data.summary.get("scenario") or data.run_dir.name
    lines = [f"# hdus-sim report: {name}", ""]
    if data.scenario.get("description"):
        lines += [f"> {data.scenario['description']}", ""]
    for sec in sections:
        lines += [f"## {sec.title}", ""]
        for para in sec.paragraphs:
            lines += [para, ""]
        if sec.table is not None:
            lines += [sec.table.markdown(), ""]
        if sec.plot is not None:
            rel = plots[sec.plot].relative_to(data.run_dir).as_posix()
            lines += [f"![{sec.plot}]({rel})", "", f"*{_CAPTIONS[sec.plot]}*", ""]
        for note in sec.notes:
            lines += [f"> **Note:** {note}", ""]
    return "\n".join(lines).rstrip() + "\n"


def _render_html(data: RunData, sections: list[_Section], plots: dict[str, Path]) -> str:
    name = str(data.scenario.get("name") or data.summary.get("scenario") or data.run_dir.name)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>hdus-sim report: {html.escape(name)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>hdus-sim report: {html.escape(name)}</h1>",
    ]
    if data.scenario.get("description"):
        parts.append(f'<p class="desc">{html.escape(str(data.scenario["description"]))}</p>')
    for sec in sections:
        parts.append(f"<h2>{html.escape(sec.title)}</h2>")
        for i, para in enumerate(sec.paragraphs):
            cls = f' class="{sec.css}"' if sec.css and i == 0 else ""
            parts.append(f"<p{cls}>{html.escape(para)}</p>")
        if sec.table is not None:
            parts.append(sec.table.html())
        if sec.plot is not None:
            parts.append(
                "<figure>"
                f'<img alt="{sec.plot}" src="{_data_uri(plots[sec.plot])}">'
                f"<figcaption>{html.escape(_CAPTIONS[sec.plot])}</figcaption>"
                "</figure>"
            )
        for note in sec.notes:
            parts.append(f'<p class="note">Note: {html.escape(note)}</p>')
    parts += [
        f"<p><small>Written by hdus-sim from {html.escape(str(data.run_dir))}.</small></p>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"
