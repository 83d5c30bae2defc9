"""A per-peer, hash-chained audit log of everything that touches data: checkable afterwards.

Every learn, distil, send, receive, drop and delete of a peer is appended to that peer's
chain; each record holds the SHA-256 of the previous record, so editing, removing or
reordering any record breaks the chain at that record. ``audit/heads.json`` keeps each
chain's length and last hash, so a truncated log is caught too. ``hdus-sim audit DIR``
checks every chain and answers: which peers ever held anything derived from peer p, and
do they still?
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdus_sim.errors import VerificationError

__all__ = ["AuditProblem", "AuditTrail", "check_audit", "holders_ever"]

GENESIS = "0" * 64


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class AuditTrail:
    """In-memory chains, one per peer, written to ``DIR/audit/`` at the end of a run."""

    chains: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def record(self, peer: int, now: int, kind: str, **data: Any) -> None:
        """Append one record to ``peer``'s chain."""
        chain = self.chains.setdefault(peer, [])
        rec: dict[str, Any] = {
            "seq": len(chain),
            "peer": peer,
            "round": now,
            "kind": kind,
            "data": data,
            "prev": chain[-1]["hash"] if chain else GENESIS,
        }
        rec["hash"] = _digest(rec)
        chain.append(rec)

    def write(self, run_dir: str | Path) -> Path:
        """Write ``audit/peer<P>.jsonl`` per peer and ``audit/heads.json``."""
        out = Path(run_dir) / "audit"
        out.mkdir(parents=True, exist_ok=True)
        heads = {}
        for peer, chain in sorted(self.chains.items()):
            with (out / f"peer{peer}.jsonl").open("w") as fh:
                for rec in chain:
                    fh.write(json.dumps(rec, sort_keys=True, default=str) + "\n")
            heads[str(peer)] = {
                "length": len(chain),
                "head": chain[-1]["hash"] if chain else GENESIS,
            }
        (out / "heads.json").write_text(json.dumps(heads, indent=1, sort_keys=True))
        return out


@dataclass(frozen=True)
class AuditProblem:
    """One broken place in an audit log."""

    file: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.problem}"


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
    heads_path = folder / "heads.json"
    if not heads_path.is_file():
        problems.append(AuditProblem("audit/heads.json", 0, "missing: cannot rule out truncation"))
        return chains, problems
    heads = json.loads(heads_path.read_text())
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
            if rec["kind"] == "receive" and data.get("accepted") and data.get("owner") == owner:
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
