"""The checks of one event in a written run: lineage, lease bound, point-deletion oracle.

``run`` is the written run as :func:`hdus_sim.outputs.read_run` returns it (``summary``,
``holdings``, ``predictions``, ``scenario``); an event record is a departure or a
point-deletion receipt of its ``summary.json``. A departure's oracle is decided for many
events at once (:mod:`hdus_sim.verification.run`); a point deletion checked alone gets its
own oracle here.
"""

from __future__ import annotations

from typing import Any

from hdus_sim.verification.oracle import OracleRunner, compare
from hdus_sim.verification.verdicts import EventVerdict

__all__ = ["departure_verdict", "is_certified", "point_deletion_verdict"]


def _certificate(rec: dict[str, Any]) -> str:
    """A deletion's certificate: ``exact`` or ``certified(eps=..., delta=...)``."""
    return str(rec.get("certificate", "exact"))


def is_certified(rec: dict[str, Any]) -> bool:
    """Whether a point deletion was certified (checked by its budget, not by an oracle)."""
    return _certificate(rec).startswith("certified")


def point_deletion_verdict(
    rec: dict[str, Any], run: dict[str, Any], runner: OracleRunner | None
) -> EventVerdict:
    """Check one point deletion.

    Every holder of the peer's seed must hold a version that applied it; then, for an
    exact method and with a ``runner``, the oracle without the points from the start must
    agree bit for bit.
    """
    peer, epoch = int(rec["peer"]), int(rec["epoch"])
    tag = f"{peer}:{epoch}"
    stale = sorted(
        pid
        for pid, h in run["holdings"].items()
        if tag in h["held"] and rec["receipt"] not in h["held"][tag].get("deletions", [])
    )
    certificate = _certificate(rec)
    verdict = EventVerdict(
        peer=peer,
        epoch=epoch,
        kind="delete",
        round=int(rec["round"]),
        lineage_ok=not stale,
        still_held_by=stale,
        oracle_ok=None,
        request_id=rec["request_id"],
        certificate=certificate,
    )
    if is_certified(rec):
        left = rec.get("budget_left")
        verdict.certificate_ok = left is None or float(left) >= 0
        return verdict
    if runner is not None:
        ref = runner.run(
            f"without points {rec['deleted']} of peer {peer}",
            points={peer: list(rec["deleted"])},
        )
        held = ref.held
        # a holder that dropped the revoked version and could not be reached by the new one
        # (the relay path broke since) holds fewer seeds than the oracle: that costs
        # accuracy, not privacy; it is reported, and compared where held sets agree
        lost = sorted(
            pid
            for pid, h in run["holdings"].items()
            if tag not in h["held"]
            and tag in held.get(pid, set())
            and set(h["held"]) == held.get(pid, set()) - {tag}
        )
        survivors = [p for p in sorted(run["holdings"]) if p not in lost]
        verdict.oracle_ok, verdict.oracle_differs_for, verdict.oracle_max_abs_diff = compare(
            run["predictions"],
            {k: v for k, v in ref.predictions.items() if k not in lost},
            survivors,
        )
        verdict.seed_lost_by = lost
    return verdict


def _past_bound(dep: dict[str, Any], last_round: int) -> bool:
    """Whether a departure's seed was held longer than its lease bound allows."""
    bound = dep.get("bound_rounds")
    if bound is None:
        return False
    took = dep.get("latency_rounds")
    if took is None:
        return last_round - int(dep["round"]) > int(bound)
    return int(took) > int(bound)


def departure_verdict(dep: dict[str, Any], run: dict[str, Any]) -> EventVerdict:
    """The lineage and lease-bound checks of one departure (no oracle yet)."""
    key = (int(dep["peer"]), int(dep["epoch"]))
    tag = f"{key[0]}:{key[1]}"
    held_by = sorted(
        pid
        for pid, h in run["holdings"].items()
        if tag in h["held"] or any(tuple(o) == key for o in h["lineage"])
    )
    verdict = EventVerdict(
        peer=key[0],
        epoch=key[1],
        kind=dep["kind"],
        round=dep["round"],
        lineage_ok=not held_by,
        still_held_by=held_by,
        oracle_ok=None,
        removal_latency_rounds=dep.get("latency_rounds"),
        forget_bound_rounds=dep.get("bound_rounds"),
    )
    verdict.held_past_bound = _past_bound(dep, run["summary"].get("rounds_run", 0) - 1)
    return verdict
