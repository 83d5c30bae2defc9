"""The rich tables and one-line summaries ``hdus-sim run`` and ``verify`` print.

Pure presentation: every function takes results already computed (a run's summary, a
verification report) and returns a :class:`rich.table.Table` or a markup string; nothing
here runs, reads or writes anything. Accuracies and AUCs are fractions in [0, 1]; wall
times are shown in milliseconds where the column says so.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from hdus_sim.cli.common import fmt

# --------------------------------------------------------------------------- run


def accuracy_table(name: str, summary: dict[str, Any]) -> Table:
    """Final mean accuracy of the surviving peers: local/global test × main/seeds/ensemble."""
    table = Table(
        title=f"{name}: mean accuracy over {len(summary['online_at_end'])} surviving peers"
    )
    table.add_column("test set")
    for col in ("main only", "seeds only", "ensemble"):
        table.add_column(col, justify="right")
    acc = summary["final_accuracy"]
    for split in ("local", "global"):
        table.add_row(split, *(fmt(acc[f"{split}_{p}"]) for p in ("main", "seeds", "ensemble")))
    return table


def departures_table(summary: dict[str, Any]) -> Table:
    """One row per leave or crash: its holders, removal latency (rounds) and wall (ms)."""
    dep = Table(title="departures and seed removal")
    for col in (
        "peer",
        "epoch",
        "kind",
        "round",
        "holders",
        "removed after (rounds)",
        "lease bound",
        "by lease",
        "wall (ms)",
    ):
        dep.add_column(col, justify="right")
    for d in summary["departures"]:
        ms = None if d["latency_s"] is None else d["latency_s"] * 1000
        dep.add_row(
            *(
                fmt(v)
                for v in (
                    d["peer"],
                    d["epoch"],
                    d["kind"],
                    d["round"],
                    len(d["holders_at_start"]),
                    d["latency_rounds"],
                    d.get("bound_rounds"),
                    len(d.get("lease_drops") or []),
                    ms,
                )
            )
        )
    return dep


def forgetting_line(summary: dict[str, Any]) -> str:
    """Time-to-forget over the run next to the lease bound, in one line."""
    f = summary.get("forgetting") or {}
    past = f.get("past_bound") or []
    verdict = "[green]every departure within it[/]" if not past else f"[red]{len(past)} past it[/]"
    return (
        f"time-to-forget: median {fmt(f.get('median_rounds'))}, worst "
        f"{fmt(f.get('worst_rounds'))} rounds; lease bound {fmt(f.get('lease_rounds'))} "
        f"rounds, {verdict}; {f.get('by_lease', 0)} departure(s) forgotten by lease expiry "
        f"somewhere; signatures: {str(summary.get('signatures', '?')).split(':')[0]}"
    )


# --------------------------------------------------------------------------- verify

_MIA_COLUMNS = (
    ("departed_main_before", "its main"),
    ("departed_ensemble_before", "its ens."),
    ("before_holders", "holders"),
    ("before", "all"),
    ("after", "after"),
    ("oracle", "oracle"),
    ("never_seen", "never seen"),
)


def mia_table(rows: list[dict[str, Any]]) -> Table:
    """One row per departure and attack: mean AUC over peers at every stage."""
    table = Table(
        title="membership inference on each departed peer's data: attack AUC (mean over "
        "peers); before the leave: the peer's own main model and ensemble, the holders of "
        "its seed, all others (back: the peer re-joined with the same data, so survivors hold "
        "its new seed, in the oracle too). EMPIRICAL evidence, not a proof; TPR and spread "
        "in verify.json",
        title_justify="left",
    )
    for col in ("peer", "attack", *(c for _, c in _MIA_COLUMNS), "after-oracle"):
        table.add_column(col, justify="right")
    for m in rows:
        for attack in ("loss", "lira"):
            res = m.get(attack)
            if not res:
                continue
            table.add_row(
                f"{m['peer']} ({m['kind']}{', back' if m.get('owner_rejoined') else ''})",
                "LiRA" if attack == "lira" else "loss",
                *(fmt((res.get(stage) or {}).get("auc_mean")) for stage, _ in _MIA_COLUMNS),
                fmt((m.get("after_minus_oracle_auc") or {}).get(attack)),
            )
    return table


def point_mia_table(res: dict[str, Any]) -> Table:
    """Point deletions: pooled AUC / TPR over owners at every stage, per attack."""
    stages = (
        ("owner_main_before", "main before"),
        ("owner_ensemble_before", "ens. before"),
        ("owner_main_after", "main after"),
        ("owner_ensemble_after", "ens. after"),
        ("oracle_main", "oracle main"),
        ("oracle_ensemble", "oracle ens."),
        ("never_seen", "never seen"),
    )
    table = Table(
        title=f"membership inference on {res['points']} points deleted inside "
        f"{len(res['owners'])} owners, against the owner's models: AUC pooled over owners; "
        "EMPIRICAL evidence",
        title_justify="left",
    )
    table.add_column("attack")
    for _, col in stages:
        table.add_column(col, justify="right")
    for attack in ("loss", "lira"):
        if res.get(attack):
            table.add_row(
                "LiRA" if attack == "lira" else "loss",
                *(fmt((res[attack].get(s) or {}).get("auc_pooled")) for s, _ in stages),
            )
    return table


def backdoor_line(b: dict[str, Any]) -> str:
    """A departed planter's backdoor: attack success before, after and on the oracle."""
    return (
        f"backdoor of peer {b['peer']} (target {b['target']}): attack success on the "
        f"survivors before the leave {fmt(b['before_mean'])} (holders of its seed "
        f"{fmt(b['before_holders_mean'])}), after {fmt(b['after_mean'])}, "
        f"oracle {fmt(b['oracle_mean'])}; the planter's own main model before: "
        f"{fmt(b['planter_main_before'])}, its ensemble: "
        f"{fmt(b['planter_own_ensemble_before'])}; EMPIRICAL evidence"
    )


def verdicts_table(run_dir: Any, report: Any) -> Table:
    """One row per verified event: lineage, oracle and the verdict with its reason."""
    table = Table(title=f"verification of {run_dir}")
    for col in ("#", "peer", "epoch", "kind", "round", "lineage", "oracle", "verdict", "why"):
        table.add_column(col)
    for e in report.events:
        oracle_cell = (
            "skipped" if e.oracle_ok is None else ("identical" if e.oracle_ok else "DIFFERS")
        )
        style = "red" if e.verdict == "FAIL" else "green"
        table.add_row(
            str(e.number),
            str(e.peer),
            str(e.epoch),
            e.kind,
            str(e.round),
            "clean" if e.lineage_ok else "HELD",
            oracle_cell,
            f"[{style}]{e.verdict}[/]",
            e.explain(),
        )
    return table


def oracle_line(report: Any) -> str:
    """How many oracle re-runs the verdicts took, and how the groups went."""
    groups = report.oracle_groups
    split = sum(not g["passed"] for g in groups)
    how = f"; {len(groups)} group oracle(s), {split} differed and were split" if groups else ""
    return (
        f"oracle: {report.oracle_reruns} re-run(s), {report.oracle_cached} from the cache, "
        f"{report.oracle_seconds:.1f} s for {len(report.events)} event(s){how}"
    )
