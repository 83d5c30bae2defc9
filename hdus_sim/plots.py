"""Plots of a run (matplotlib, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["plot_accuracy"]

_STYLE = {
    "main": ("tab:blue", "main only"),
    "seeds": ("tab:orange", "seeds only"),
    "ensemble": ("tab:green", "ensemble"),
}
_EVENT_COLORS = {"join": "tab:green", "leave": "tab:red", "crash": "black"}


def plot_accuracy(
    rounds: list[dict[str, Any]],
    events: list[dict[str, Any]],
    path: Path | IO[bytes],
    *,
    title: str = "",
) -> Path | IO[bytes]:
    """Mean accuracy over online peers per round, local and global test, events as lines.

    ``path``: a file name, or a binary file open for writing (the PNG is written to it).
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    xs = [r["round"] for r in rounds]
    for ax, split in zip(axes, ("local", "global"), strict=True):
        for part, (color, label) in _STYLE.items():
            ys = [r.get(f"{split}_{part}") for r in rounds]
            ax.plot(
                xs,
                [float("nan") if y is None else y for y in ys],
                marker="o",
                ms=3,
                color=color,
                label=label,
            )
        for ev in events:
            if ev["kind"] in _EVENT_COLORS:
                ax.axvline(ev["round"] - 0.5, color=_EVENT_COLORS[ev["kind"]], ls="--", lw=0.8)
                ax.annotate(
                    f"{ev['kind']} {ev['peer']}",
                    (ev["round"] - 0.5, 0.02),
                    rotation=90,
                    fontsize=7,
                    xycoords=("data", "axes fraction"),
                )
        ax.set_title(f"{split} test accuracy (mean over peers)")
        ax.set_xlabel("round")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
    return path
