"""The sections of a report, in order: what the run was, what happened, what was verified.

:func:`build_sections` turns a parsed run directory into the list of
:class:`~hdus_sim.report.model.Section` that both renderers write. The words of the
report (titles, captions, explanations) live here.
"""

from __future__ import annotations

from collections.abc import Sequence

from hdus_sim.report.data import RunData
from hdus_sim.report.evidence import evidence_sections
from hdus_sim.report.graph import replay_notes
from hdus_sim.report.model import Section
from hdus_sim.report.tables import (
    accuracy_table,
    deletions_table,
    departures_table,
    overview_table,
    verify_table,
)

__all__ = ["PLOT_CAPTIONS", "PLOT_TITLES", "build_sections", "verify_section"]

#: Plot name -> the caption under it (both formats).
PLOT_CAPTIONS: dict[str, str] = {
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
#: Plot name -> the title of its section.
PLOT_TITLES: dict[str, str] = {
    "accuracy": "Accuracy over time",
    "online": "Peers online and events",
    "graph": "Graph",
    "latency": "Removal latency",
    "traffic": "Messages and bytes",
}


def build_sections(data: RunData, chosen: Sequence[int]) -> list[Section]:
    """Every section of the report of ``data``, in order; ``chosen``: the graph's rounds.

    Run overview, final accuracy, accuracy and online plots, graph, departures, point
    deletions, traffic, verification, then the evidence sections when ``verify`` ran them.
    """
    out = [
        Section("Run", table=overview_table(data)),
        Section(
            "Final accuracy",
            ("Mean over the peers online in the last round.",),
            table=accuracy_table(data),
        ),
    ]
    for name in ("accuracy", "online"):
        out.append(Section(PLOT_TITLES[name], plot=name))
    out.append(
        Section(
            f"Graph at rounds {', '.join(str(r) for r in chosen)}",
            plot="graph",
            notes=tuple(replay_notes(data)),
        )
    )
    deps = data.summary.get("departures") or []
    out.append(
        Section(
            "Departures",
            (
                (
                    f"{len(deps)} departure(s). Removal latency runs from the departure to "
                    "the moment the last holder dropped the seed."
                )
                if deps
                else "No peer left or crashed in this run.",
            ),
            table=departures_table(data) if deps else None,
            plot="latency",
        )
    )
    deletions = deletions_table(data)
    out.append(
        Section(
            "Point deletions",
            (
                (f"{len(deletions.rows)} deletion request(s).",)
                if deletions.rows
                else ("No point deletion was requested in this run.",)
            ),
            table=deletions if deletions.rows else None,
        )
    )
    out.append(Section(PLOT_TITLES["traffic"], plot="traffic"))
    out.append(verify_section(data))
    if data.verify is not None:
        out += evidence_sections(data.verify)
    return out


def verify_section(data: RunData) -> Section:
    """The verdicts of ``verify.json`` (PASS/FAIL line, legend, table), or how to get them."""
    verify = data.verify
    if verify is None:
        return Section(
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
    return Section(
        "Verification",
        (head, legend),
        table=verify_table(verify) if events else None,
        css="pass" if passed else "failtext",
    )
