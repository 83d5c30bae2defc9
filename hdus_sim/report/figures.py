"""The figures of a report: five matplotlib plots of a run, written as PNG files.

Drawn on :class:`matplotlib.figure.Figure` objects (no pyplot state) with the headless
Agg backend, at 100 dpi, so the same run directory always gives the same PNG bytes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import networkx as nx
import numpy as np
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from hdus_sim.report.data import RunData
from hdus_sim.report.format import byte_unit, num
from hdus_sim.report.graph import graph_at, layout
from hdus_sim.report.style import (
    DEPARTED_COLOR,
    DEVICE_COLORS,
    EVENT_STYLE,
    MEMBERSHIP_LINES,
    PARTS,
    SETTLE_COLOR,
)
from hdus_sim.rundir import atomic_open

__all__ = [
    "PLOT_NAMES",
    "plot_accuracy_bands",
    "plot_graphs",
    "plot_latency",
    "plot_online",
    "plot_traffic",
]

#: The plots of a report, in the order they appear.
PLOT_NAMES: tuple[str, ...] = ("accuracy", "online", "graph", "latency", "traffic")


def _save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` as PNG (100 dpi, white, tight), atomically; return ``path``."""
    with atomic_open(path) as fh:
        fig.savefig(fh, dpi=100, bbox_inches="tight", facecolor="white", format="png")
    return path


def _shade_settle(ax: Any, data: RunData) -> None:
    """Shade the settle rounds (no training) of the run behind everything on ``ax``."""
    settle = [int(r["round"]) for r in data.rounds if r.get("phase") == "settle"]
    if settle:
        ax.axvspan(min(settle) - 0.5, max(settle) + 0.5, color=SETTLE_COLOR, zorder=0, lw=0)


def _membership_lines(ax: Any, data: RunData) -> None:
    """A vertical line at the round of every join, leave and crash."""
    for ev in data.events:
        style = MEMBERSHIP_LINES.get(str(ev.get("kind")))
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
        for part, (color, label) in PARTS.items():
            key = f"{split}_{part}"
            grid = np.full((len(xs), width), np.nan)
            for i, x in enumerate(xs):
                for j, row in enumerate(by_round.get(x, [])):
                    grid[i, j] = num(row.get(key))
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
    """The peers (or actors) of ``events``, comma-joined, the first six then an ellipsis."""
    peers = []
    for ev in events:
        p = ev.get("peer", ev.get("actor"))
        if p is not None and str(p) not in peers:
            peers.append(str(p))
    text = ",".join(peers[:6]) + ("…" if len(peers) > 6 else "")
    return text


def _event_kinds(data: RunData) -> tuple[list[str], list[str]]:
    """The event kinds of the log in first-seen order, and in timeline order.

    Timeline order: the kinds of :data:`EVENT_STYLE` in its order, then unknown kinds.
    """
    kinds: list[str] = []
    for ev in data.events:
        kind = str(ev.get("kind"))
        if kind not in kinds:
            kinds.append(kind)
    order = [k for k in EVENT_STYLE if k in kinds] + [k for k in kinds if k not in EVENT_STYLE]
    return kinds, order


def _draw_online(ax: Any, data: RunData, kinds: list[str]) -> None:
    """Peers online per round as a step line, with membership lines and their legend."""
    xs = data.round_numbers
    online = [num(r.get("online")) for r in data.rounds]
    _shade_settle(ax, data)
    _membership_lines(ax, data)
    ax.plot(xs, online, drawstyle="steps-mid", color="tab:blue", lw=1.8)
    ax.plot(xs, online, "o", ms=4, color="tab:blue")
    finite = [v for v in online if not math.isnan(v)]
    ax.set_ylim(0, (max(finite) if finite else 1) * 1.25 + 1)
    ax.set_ylabel("peers online")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.set_title("peers online per round (events applied at the start of their round)")
    line_handles: list[Artist] = [
        Line2D([0], [0], color=c, ls=ls, lw=1, label=k)
        for k, (c, ls) in MEMBERSHIP_LINES.items()
        if k in kinds
    ]
    if any(r.get("phase") == "settle" for r in data.rounds):
        line_handles.append(Patch(color=SETTLE_COLOR, label="settle rounds (no training)"))
    if line_handles:
        ax.legend(handles=line_handles, loc="upper right", fontsize=8, ncol=len(line_handles))


def _draw_timeline(ax: Any, data: RunData, order: list[str]) -> None:
    """One row of markers per event kind (``order`` top down), labelled with the peers."""
    xs = data.round_numbers
    _shade_settle(ax, data)
    for y, kind in enumerate(reversed(order)):
        color, marker, _ = EVENT_STYLE.get(kind, ("tab:gray", ".", kind))
        groups: dict[int, list[dict[str, Any]]] = {}
        for ev in data.events:
            if ev.get("kind") == kind:
                groups.setdefault(int(ev["round"]), []).append(ev)
        rs = sorted(groups)
        ax.scatter(rs, [y] * len(rs), marker=marker, color=color, s=55, zorder=3)
        for r in rs:
            ax.annotate(
                _event_label(groups[r]),
                (r, y),
                xytext=(5, 4),
                textcoords="offset points",
                fontsize=7,
            )
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([EVENT_STYLE.get(k, ("", "", k))[2] for k in reversed(order)])
    ax.set_ylim(-0.7, max(len(order), 1) - 0.3)
    if not order:
        ax.text(0.5, 0.5, "no events", transform=ax.transAxes, ha="center", va="center")
        ax.set_yticks([])
    ax.set_xlabel("round")
    ax.grid(axis="x", alpha=0.3)
    if xs:
        ax.set_xlim(xs[0] - 0.6, xs[-1] + 1.2)
        ax.set_xticks(xs if len(xs) <= 40 else xs[:: math.ceil(len(xs) / 40)])


def plot_online(data: RunData, path: Path) -> Path:
    """Peers online per round (top) and a timeline of every logged event (bottom).

    Joins, leaves and crashes are also vertical lines across the top panel. Each marker of
    the timeline is labelled with the peers (or the actor) it concerns.
    """
    kinds, order = _event_kinds(data)
    fig = Figure(figsize=(12, 3.6 + 0.32 * max(len(order), 1)))
    top, bottom = fig.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 0.5 + 0.3 * max(len(order), 1)]}
    )
    _draw_online(top, data, kinds)
    _draw_timeline(bottom, data, order)
    return _save(fig, path)


def plot_graphs(data: RunData, graph_rounds: Sequence[int], path: Path) -> Path:
    """The peer graph at each of ``graph_rounds``, departed peers grey and unlinked.

    One panel per round, the same node positions in every panel; active peers are
    coloured by device class.
    """
    pos = layout(data)
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
            node_color=DEPARTED_COLOR,
            edgecolors="#aaaaaa",
            node_size=330,
        )
        nx.draw_networkx_nodes(
            g,
            pos,
            nodelist=active,
            ax=ax,
            node_color=[DEVICE_COLORS.get(devices.get(v, ""), "#cccccc") for v in active],
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
        Patch(facecolor=DEVICE_COLORS.get(d, "#cccccc"), edgecolor="#333333", label=d)
        for d in present
    ]
    handles.append(Patch(facecolor=DEPARTED_COLOR, edgecolor="#aaaaaa", label="departed"))
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
        [max(num(d.get("latency_s")) * 1000.0, 1e-3) for d in done if d["kind"] == k] for k in kinds
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


def plot_traffic(data: RunData, path: Path) -> Path:
    """Messages (left) and bytes (right) sent per round by all peers; lost/refused as lines."""
    xs = data.round_numbers
    messages = [num(r.get("messages")) for r in data.rounds]
    volume = [num(r.get("bytes")) for r in data.rounds]
    scale, unit = byte_unit(volume)
    fig = Figure(figsize=(12, 3.9))
    left, right = fig.subplots(1, 2)
    for ax in (left, right):
        _shade_settle(ax, data)
        _membership_lines(ax, data)
    left.bar(xs, messages, color="tab:blue", label="sent")
    for key, color in (("lost", "tab:red"), ("refused", "tab:orange")):
        ys = [num(r.get(key)) for r in data.rounds]
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
