"""A per-peer, hash-chained audit log of everything that touches data: checkable afterwards.

Every learn, distil, send, receive, drop and delete of a peer is appended to that peer's
chain; each record holds the SHA-256 of the previous record, so editing, removing or
reordering any record breaks the chain at that record. ``audit/heads.json`` keeps each
chain's length and last hash, so a truncated log is caught too. ``hdus-sim audit DIR``
checks every chain and answers: which peers ever held anything derived from peer p, and
do they still?

**Receipts with verdicts.** A peer's ``delete`` record is its receipt for a deletion
request (the points, the new main-model and seed versions, the certificate). Once
``hdus-sim verify`` has judged a request (or a leave or crash), :func:`write_receipts`
appends a ``verdict`` record to the owner's chain, hash-chained like every other record
(``heads.json`` is moved on, so the chain stays checkable and the verdict itself can no
longer be edited unnoticed), and writes ``receipts.json``: each request, the models and
seeds it replaced, and its verdict. Verifying again appends a new verdict only when it
differs from the last one; the latest verdict of a request is the one that counts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdus_sim.errors import VerificationError
from hdus_sim.rundir import atomic_open, atomic_write

__all__ = [
    "AuditProblem",
    "AuditTrail",
    "append_records",
    "check_audit",
    "holders_ever",
    "receipts",
    "write_receipts",
]

GENESIS = "0" * 64


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _chained(chain: list[dict[str, Any]], peer: int, now: int, kind: str, data: Any) -> dict:
    """The next record of ``chain``: numbered, linked to the last one, hashed."""
    rec: dict[str, Any] = {
        "seq": len(chain),
        "peer": peer,
        "round": now,
        "kind": kind,
        "data": data,
        "prev": chain[-1]["hash"] if chain else GENESIS,
    }
    rec["hash"] = _digest(rec)
    return rec


def _write_chain(path: Path, chain: list[dict[str, Any]]) -> None:
    with atomic_open(path, text=True) as fh:
        for rec in chain:
            fh.write(json.dumps(rec, sort_keys=True, default=str) + "\n")


@dataclass
class AuditTrail:
    """In-memory chains, one per peer, written to ``DIR/audit/`` at the end of a run."""

    chains: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def record(self, peer: int, now: int, kind: str, **data: Any) -> None:
        """Append one record to ``peer``'s chain."""
        chain = self.chains.setdefault(peer, [])
        chain.append(_chained(chain, peer, now, kind, data))

    def write(self, run_dir: str | Path) -> Path:
        """Write ``audit/peer<P>.jsonl`` per peer and ``audit/heads.json``."""
        out = Path(run_dir) / "audit"
        out.mkdir(parents=True, exist_ok=True)
        heads = {}
        for peer, chain in sorted(self.chains.items()):
            _write_chain(out / f"peer{peer}.jsonl", chain)
            heads[str(peer)] = {
                "length": len(chain),
                "head": chain[-1]["hash"] if chain else GENESIS,
            }
        atomic_write(out / "heads.json", json.dumps(heads, indent=1, sort_keys=True))
        return out


@dataclass(frozen=True)
class AuditProblem:
    """One broken place in an audit log."""

    file: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.problem}"


def _read_heads(folder: Path) -> dict[str, dict[str, Any]] | None:
    """Each chain's recorded length and last hash; ``None`` if no heads were written.

    A run writes them all to ``heads.json``; standalone peers sharing one audit folder
    each write their own ``heads/peer-<P>.json`` (so no two processes write one file).
    Both layouts are read, a per-peer file taking precedence.
    """
    path, per_peer = folder / "heads.json", sorted((folder / "heads").glob("peer-*.json"))
    if not path.is_file() and not per_peer:
        return None
    heads: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.is_file() else {}
    for entry in per_peer:
        heads[entry.stem.removeprefix("peer-")] = json.loads(entry.read_text())
    return heads


def _load(run_dir: Path) -> tuple[dict[int, list[dict[str, Any]]], list[AuditProblem]]:
    folder = run_dir / "audit"
    if not folder.is_dir():
        raise VerificationError(f"{run_dir} has no audit/ folder; re-run it with hdus-sim run")
    problems: list[AuditProblem] = []
    chains: dict[int, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("peer*.jsonl")):
        peer = int(path.stem.removeprefix("peer"))
        chain: list[dict[str, Any]] = []
        prev = GENESIS
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            where = f"audit/{path.name}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                problems.append(AuditProblem(where, n, "not valid JSON (edited or torn)"))
                break
            if rec.get("prev") != prev:
                problems.append(AuditProblem(where, n, "does not chain to the record before it"))
                break
            if rec.get("hash") != _digest(rec):
                problems.append(
                    AuditProblem(
                        where,
                        n,
                        f"record {rec.get('seq')} was altered "
                        "(its hash does not match its content)",
                    )
                )
                break
            prev = rec["hash"]
            chain.append(rec)
        chains[peer] = chain
    heads: dict[Any, Any] | None = _read_heads(folder)  # keys: peer ids as text
    if heads is None:
        problems.append(AuditProblem("audit/heads.json", 0, "missing: cannot rule out truncation"))
        return chains, problems
    for unheaded in sorted(set(chains) - {int(p) for p in heads}):
        problems.append(
            AuditProblem(
                f"audit/peer{unheaded}.jsonl", 0, "no heads entry: cannot rule out truncation"
            )
        )
    for peer, head in sorted(heads.items(), key=lambda kv: int(kv[0])):
        chain = chains.get(int(peer))
        where = f"audit/peer{peer}.jsonl"
        if chain is None:
            problems.append(AuditProblem(where, 0, "missing"))
        elif not any(p.file == where for p in problems) and (
            len(chain) != head["length"] or (chain and chain[-1]["hash"] != head["head"])
        ):
            problems.append(
                AuditProblem(
                    where,
                    len(chain) + 1,
                    f"truncated or extended: "
                    f"{len(chain)} records, heads.json says {head['length']}",
                )
            )
    return chains, problems


def check_audit(run_dir: str | Path) -> list[AuditProblem]:
    """Every broken place in a run's audit logs (empty: all chains intact)."""
    return _load(Path(run_dir))[1]


def holders_ever(run_dir: str | Path, owner: int) -> dict[int, dict[str, Any]]:
    """Peers that ever accepted a seed of ``owner`` (any epoch), and whether they still hold one.

    Returns ``{peer: {"first_round", "versions", "dropped_round", "still_holds"}}``, from the
    audit chains and the run's final ``holdings.json``.
    """
    run = Path(run_dir)
    chains, _ = _load(run)
    final = (
        json.loads((run / "holdings.json").read_text()) if (run / "holdings.json").is_file() else {}
    )
    out: dict[int, dict[str, Any]] = {}
    for peer, chain in sorted(chains.items()):
        for rec in chain:
            data = rec["data"]
            if (
                rec["kind"] == "receive"
                and data.get("accepted")
                and data.get("owner") == owner
                and data.get("message", "seed") == "seed"  # not a leave notice about it
            ):
                entry = out.setdefault(
                    peer, {"first_round": rec["round"], "versions": [], "dropped_round": None}
                )
                if data.get("version") not in entry["versions"]:
                    entry["versions"].append(data.get("version"))
            if rec["kind"] == "drop" and data.get("owner") == owner and peer in out:
                out[peer]["dropped_round"] = rec["round"]
    for peer, entry in out.items():
        held = final.get(str(peer), {}).get("held", {})
        entry["still_holds"] = sorted(k for k in held if k.split(":")[0] == str(owner))
    return out


def append_records(
    run_dir: str | Path, records: list[tuple[int, int, str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Append ``(peer, round, kind, data)`` records to a written run's chains.

    The chains are checked first: nothing is appended to a log that is already broken
    (a :class:`~hdus_sim.errors.VerificationError` names the first problem). Each record
    chains to the peer's last one and ``heads.json`` is moved on, so :func:`check_audit`
    still passes. Returns the appended records.
    """
    run = Path(run_dir)
    chains, problems = _load(run)
    if problems:
        raise VerificationError(
            f"the audit log of {run} is broken ({problems[0]}); not appending to it"
        )
    out: list[dict[str, Any]] = []
    new: dict[int, list[dict[str, Any]]] = {}
    for peer, now, kind, data in records:
        chain = chains.setdefault(peer, [])
        rec = _chained(chain, peer, now, kind, json.loads(json.dumps(data, default=str)))
        chain.append(rec)
        out.append(rec)
        new.setdefault(peer, []).append(rec)
    folder = run / "audit"
    for peer in sorted(new):  # the whole chain, atomically: never half a record
        _write_chain(folder / f"peer{peer}.jsonl", chains[peer])
    heads = json.loads((folder / "heads.json").read_text())
    for peer in new:
        heads[str(peer)] = {"length": len(chains[peer]), "head": chains[peer][-1]["hash"]}
    atomic_write(folder / "heads.json", json.dumps(heads, indent=1, sort_keys=True))
    return out


def _read_json(path: Path, default: Any) -> Any:
    return json.loads(path.read_text()) if path.is_file() else default


def _departure_request(kind: str, peer: int, epoch: int) -> str:
    return f"{kind}:{peer}:{epoch}"


def _build_receipts(run: Path, verify: dict[str, Any]) -> list[dict[str, Any]]:
    """Every deletion request and departure of a run, with what it replaced and its verdict."""
    summary = _read_json(run / "summary.json", {})
    holdings = _read_json(run / "holdings.json", {})
    verdicts = {
        (
            ev["request_id"]
            if ev.get("request_id")
            else _departure_request(ev["kind"], int(ev["peer"]), int(ev["epoch"]))
        ): ev
        for ev in verify.get("events") or []
    }

    def judged(request: str) -> dict[str, Any]:
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

    out: list[dict[str, Any]] = []
    for rec in summary.get("point_deletions") or []:
        peer, epoch = int(rec["peer"]), int(rec["epoch"])
        tag = f"{peer}:{epoch}"
        model_v, seed_v = rec.get("new_model_version"), rec.get("new_seed_version")
        holders = sorted(
            int(pid)
            for pid, h in holdings.items()
            if tag in h.get("held", {})
            and rec.get("receipt") in h["held"][tag].get("deletions", [])
        )
        out.append(
            {
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
                **judged(rec["request_id"]),
            }
        )
    for dep in summary.get("departures") or []:
        peer, epoch = int(dep["peer"]), int(dep["epoch"])
        request = _departure_request(dep["kind"], peer, epoch)
        out.append(
            {
                "request": request,
                "kind": dep["kind"],
                "peer": peer,
                "epoch": epoch,
                "round": dep.get("round"),
                "seeds_replaced": {
                    "dropped_by": list(dep.get("holders_at_start") or []),
                    "pending": list(dep.get("pending") or []),
                    "latency_rounds": dep.get("latency_rounds"),
                },
                **judged(request),
            }
        )
    events = run / "events.jsonl"
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


def write_receipts(run_dir: str | Path, verify: dict[str, Any]) -> list[dict[str, Any]]:
    """Write ``receipts.json`` and append each new verdict to its owner's audit chain.

    ``verify`` is what ``hdus-sim verify`` wrote to ``verify.json``. Requests that were
    refused (the peer had left) or not verified get no audit record. A run without an
    audit log (a Ray run) gets ``receipts.json`` only; a broken log is not appended to
    (``receipts.json`` then says so). Returns the receipts.
    """
    run = Path(run_dir)
    rows = _build_receipts(run, verify)
    note = None
    if (run / "audit").is_dir():
        chains, problems = _load(run)
        last: dict[str, dict[str, Any]] = {}
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
            data = {
                "request": row["request"],
                "kind": row["kind"],
                "epoch": row.get("epoch"),
                "event_round": row.get("round"),
                "receipt": row.get("receipt"),
                "verdict": row["verdict"],
                "why": row["why"],
                "checks": row["checks"],
            }
            prev = last.get(row["request"])
            if prev is not None and prev["data"] == json.loads(json.dumps(data, default=str)):
                row["audit"] = {"peer": prev["peer"], "seq": prev["seq"], "hash": prev["hash"]}
                continue
            todo.append((int(row["peer"]), now, "verdict", data))
            wanted.append(row)
        if problems:
            note = f"audit log broken ({problems[0]}): verdicts not appended"
        elif todo:
            for row, rec in zip(wanted, append_records(run, todo), strict=True):
                row["audit"] = {"peer": rec["peer"], "seq": rec["seq"], "hash": rec["hash"]}
    else:
        note = "this run has no audit log (Ray runtime): verdicts are in this file only"
    payload = {"passed": verify.get("passed"), "note": note, "receipts": rows}
    atomic_write(run / "receipts.json", json.dumps(payload, indent=2, default=str) + "\n")
    return rows


def receipts(run_dir: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Each deletion receipt and departure with its latest verdict, read from the chains.

    Rows come from the owners' ``delete`` and ``verdict`` records (tamper-evident);
    refused requests, which have no record, come from ``receipts.json``. The second
    value lists disagreements between ``receipts.json`` and the chains.
    """
    run = Path(run_dir)
    chains, _ = _load(run)
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
