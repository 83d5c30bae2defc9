"""Deletion receipts with their verdicts: ``receipts.json`` and ``verdict`` audit records.

A peer's ``delete`` record is its receipt for a deletion request (the points, the new
main-model and seed versions, the certificate). Once ``hdus-sim verify`` has judged a
request (or a leave or crash), :func:`write_receipts` appends a ``verdict`` record to the
owner's chain, hash-chained like every other record (``heads.json`` is moved on, so the
chain stays checkable and the verdict itself can no longer be edited unnoticed), and writes
``receipts.json``: each request, the models and seeds it replaced, and its verdict.
Verifying again appends a new verdict only when it differs from the last one; the latest
verdict of a request is the one that counts. :func:`receipts` reads them back from the
chains, for ``hdus-sim audit``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hdus_sim.audit import Record
from hdus_sim.rundir import atomic_write
from hdus_sim.verification.audit import append_records, load_chains

__all__ = ["receipts", "write_receipts"]


def _read_json(path: Path, default: Any) -> Any:
    return json.loads(path.read_text()) if path.is_file() else default


def _departure_request(kind: str, peer: int, epoch: int) -> str:
    """The request name of a departure in the receipts (``leave:3:0``)."""
    return f"{kind}:{peer}:{epoch}"


def _judgements(verify: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``verify.json``'s events by request name."""
    return {
        (
            ev["request_id"]
            if ev.get("request_id")
            else _departure_request(ev["kind"], int(ev["peer"]), int(ev["epoch"]))
        ): ev
        for ev in verify.get("events") or []
    }


def _judged(verdicts: dict[str, dict[str, Any]], request: str) -> dict[str, Any]:
    """A receipt's verdict, explanation and checks (``NOT VERIFIED`` when never judged)."""
    ev = verdicts.get(request)
    if ev is None:
        return {"verdict": "NOT VERIFIED", "why": "", "checks": None}
    return {
        "verdict": ev.get("verdict"),
        "why": ev.get("explanation") or "",
        "checks": {
            "lineage": ev.get("lineage_ok"),
            "still_held_by": ev.get("still_held_by") or [],
            "oracle": ev.get("oracle_ok"),
            "oracle_differs_for": ev.get("oracle_differs_for") or [],
            "certificate_ok": ev.get("certificate_ok"),
            "seed_lost_by": ev.get("seed_lost_by") or [],
        },
    }


def _deletion_receipt(rec: dict[str, Any], holdings: dict[str, Any]) -> dict[str, Any]:
    """The receipt of one carried-out point deletion (without its verdict)."""
    peer, epoch = int(rec["peer"]), int(rec["epoch"])
    tag = f"{peer}:{epoch}"
    model_v, seed_v = rec.get("new_model_version"), rec.get("new_seed_version")
    holders = sorted(
        int(pid)
        for pid, h in holdings.items()
        if tag in h.get("held", {}) and rec.get("receipt") in h["held"][tag].get("deletions", [])
    )
    return {
        "request": rec["request_id"],
        "kind": "delete",
        "peer": peer,
        "epoch": epoch,
        "round": rec.get("round"),
        "points": list(rec.get("deleted") or []),
        "receipt": rec.get("receipt"),
        "method": rec.get("method"),
        "retrained": rec.get("retrained"),
        "models_replaced": {
            "main": None if model_v is None else {"from": model_v - 1, "to": model_v}
        },
        "seeds_replaced": {
            "own": None if seed_v is None else {"from": seed_v - 1, "to": seed_v},
            "holders_with_new_version": holders,
        },
        "certificate": rec.get("certificate"),
        # certified removal: sigma, lam, budget, residual, eps spent, removals so far
        "certificate_terms": rec.get("certificate_terms"),
    }


def _departure_receipt(dep: dict[str, Any]) -> dict[str, Any]:
    """The receipt of one leave or crash (without its verdict)."""
    peer, epoch = int(dep["peer"]), int(dep["epoch"])
    return {
        "request": _departure_request(dep["kind"], peer, epoch),
        "kind": dep["kind"],
        "peer": peer,
        "epoch": epoch,
        "round": dep.get("round"),
        "seeds_replaced": {
            "dropped_by": list(dep.get("holders_at_start") or []),
            "pending": list(dep.get("pending") or []),
            "latency_rounds": dep.get("latency_rounds"),
        },
    }


def _unserved_receipts(events: Path) -> list[dict[str, Any]]:
    """Deletion requests refused (the peer had left) or for points never held."""
    out: list[dict[str, Any]] = []
    for line in events.read_text().splitlines() if events.is_file() else []:
        ev = json.loads(line) if line.strip() else {}
        if ev.get("kind") in ("delete_refused", "delete_absent"):
            refused = ev["kind"] == "delete_refused"
            out.append(
                {
                    "request": ev.get("request_id"),
                    "kind": "delete",
                    "peer": ev.get("peer"),
                    "round": ev.get("round"),
                    "points": list(ev.get("ids") or []),
                    "verdict": "REFUSED" if refused else "ABSENT",
                    "why": ev.get("reason", "") if refused else "the points were never held",
                    "checks": None,
                }
            )
    return out


def _build_receipts(run: Path, verify: dict[str, Any]) -> list[dict[str, Any]]:
    """Every deletion request and departure of a run, with what it replaced and its verdict."""
    summary = _read_json(run / "summary.json", {})
    holdings = _read_json(run / "holdings.json", {})
    verdicts = _judgements(verify)
    out: list[dict[str, Any]] = []
    for rec in summary.get("point_deletions") or []:
        row = _deletion_receipt(rec, holdings)
        out.append({**row, **_judged(verdicts, row["request"])})
    for dep in summary.get("departures") or []:
        row = _departure_receipt(dep)
        out.append({**row, **_judged(verdicts, row["request"])})
    return out + _unserved_receipts(run / "events.jsonl")


def _verdict_data(row: dict[str, Any]) -> dict[str, Any]:
    """The payload of a receipt's ``verdict`` audit record."""
    return {
        "request": row["request"],
        "kind": row["kind"],
        "epoch": row.get("epoch"),
        "event_round": row.get("round"),
        "receipt": row.get("receipt"),
        "verdict": row["verdict"],
        "why": row["why"],
        "checks": row["checks"],
    }


def _audit_verdicts(run: Path, rows: list[dict[str, Any]]) -> str | None:
    """Append each new verdict of ``rows`` to its owner's chain; note why not, if not.

    A row whose verdict equals the owner's last ``verdict`` record gets that record's
    place (``row["audit"]``) and no new one. Returns a note when nothing could be appended.
    """
    chains, problems = load_chains(run)
    last: dict[str, Record] = {}
    for chain in chains.values():
        for rec in chain:
            if rec["kind"] == "verdict":
                last[rec["data"].get("request")] = rec
    now = int(_read_json(run / "summary.json", {}).get("rounds_run", 0))
    todo: list[tuple[int, int, str, dict[str, Any]]] = []
    wanted: list[dict[str, Any]] = []
    for row in rows:
        if row["checks"] is None:
            continue
        data = _verdict_data(row)
        prev = last.get(row["request"])
        if prev is not None and prev["data"] == json.loads(json.dumps(data, default=str)):
            row["audit"] = {"peer": prev["peer"], "seq": prev["seq"], "hash": prev["hash"]}
            continue
        todo.append((int(row["peer"]), now, "verdict", data))
        wanted.append(row)
    if problems:
        return f"audit log broken ({problems[0]}): verdicts not appended"
    if todo:
        for row, rec in zip(wanted, append_records(run, todo), strict=True):
            row["audit"] = {"peer": rec["peer"], "seq": rec["seq"], "hash": rec["hash"]}
    return None


def write_receipts(run_dir: str | Path, verify: dict[str, Any]) -> list[dict[str, Any]]:
    """Write ``receipts.json`` and append each new verdict to its owner's audit chain.

    ``verify`` is what ``hdus-sim verify`` wrote to ``verify.json``. Requests that were
    refused (the peer had left) or not verified get no audit record. A run without an
    audit log (a Ray run) gets ``receipts.json`` only; a broken log is not appended to
    (``receipts.json`` then says so). Returns the receipts.
    """
    run = Path(run_dir)
    rows = _build_receipts(run, verify)
    if (run / "audit").is_dir():
        note = _audit_verdicts(run, rows)
    else:
        note = "this run has no audit log (Ray runtime): verdicts are in this file only"
    payload = {"passed": verify.get("passed"), "note": note, "receipts": rows}
    atomic_write(run / "receipts.json", json.dumps(payload, indent=2, default=str) + "\n")
    return rows


def _chain_rows(chains: dict[int, list[Record]]) -> dict[str, dict[str, Any]]:
    """Receipt rows from the owners' ``delete`` and ``verdict`` records, by request."""
    rows: dict[str, dict[str, Any]] = {}
    for peer, chain in sorted(chains.items()):
        for rec in chain:
            data = rec["data"]
            if rec["kind"] == "delete":
                rows.setdefault(data.get("request"), {"verdict": "NOT VERIFIED", "why": ""})
                rows[data.get("request")].update(
                    request=data.get("request"),
                    kind="delete",
                    peer=peer,
                    round=rec["round"],
                    points=len(data.get("deleted") or []),
                    model_version=data.get("model_version"),
                    seed_version=data.get("seed_version"),
                    certificate=data.get("certificate"),
                )
            elif rec["kind"] == "verdict":
                row = rows.setdefault(data.get("request"), {"request": data.get("request")})
                row.setdefault("kind", data.get("kind"))
                row.setdefault("peer", peer)
                row.setdefault("round", data.get("event_round"))
                row.update(verdict=data.get("verdict"), why=data.get("why"), seq=rec["seq"])
    return rows


def receipts(run_dir: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Each deletion receipt and departure with its latest verdict, read from the chains.

    Rows come from the owners' ``delete`` and ``verdict`` records (tamper-evident);
    refused requests, which have no record, come from ``receipts.json``. The second
    value lists disagreements between ``receipts.json`` and the chains.
    """
    run = Path(run_dir)
    chains, _ = load_chains(run)
    rows = _chain_rows(chains)
    issues: list[str] = []
    stored = _read_json(run / "receipts.json", {}).get("receipts", [])
    for item in stored:
        row = rows.get(item.get("request"))
        if row is None:
            if item.get("checks") is None:  # refused or absent: no chain record by design
                rows[item["request"]] = {
                    "request": item["request"],
                    "kind": item.get("kind"),
                    "peer": item.get("peer"),
                    "round": item.get("round"),
                    "points": len(item.get("points") or []),
                    "verdict": item.get("verdict"),
                    "why": item.get("why"),
                }
            else:
                issues.append(f"receipts.json has {item['request']}, the audit log does not")
        elif item.get("verdict") != row.get("verdict") and item.get("checks") is not None:
            issues.append(
                f"{item['request']}: receipts.json says {item.get('verdict')}, "
                f"the audit log says {row.get('verdict')}"
            )
    ordered = sorted(rows.values(), key=lambda r: (r.get("round") is None, r.get("round") or 0))
    return ordered, issues
