"""Checking a written audit log: is every chain intact, and who ever held a peer's seed.

A run's ``audit/`` folder holds one hash-chained log per peer and ``heads.json`` (each
chain's length and last hash), in the format of :mod:`hdus_sim.audit`. :func:`check_audit`
names every record that was altered, removed, reordered or torn, and every chain that was
truncated or extended; :func:`holders_ever` answers, from the chains, which peers ever
accepted a seed of a given peer and whether they still hold one; :func:`append_records`
adds records to a written log (``verify``'s verdicts) so that it still checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdus_sim.audit import GENESIS, Record, chain_head, chained, digest, write_chain, write_heads
from hdus_sim.errors import VerificationError

__all__ = ["AuditProblem", "append_records", "check_audit", "holders_ever", "load_chains"]


@dataclass(frozen=True)
class AuditProblem:
    """One broken place in an audit log: file (relative to the run), 1-based line, what."""

    file: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.problem}"


def _read_chain(path: Path) -> tuple[list[Record], AuditProblem | None]:
    """The intact records of one chain file, up to the first broken one (and what broke)."""
    where = f"audit/{path.name}"
    chain: list[Record] = []
    prev = GENESIS
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            return chain, AuditProblem(where, n, "not valid JSON (edited or torn)")
        if rec.get("prev") != prev:
            return chain, AuditProblem(where, n, "does not chain to the record before it")
        if rec.get("hash") != digest(rec):
            return chain, AuditProblem(
                where,
                n,
                f"record {rec.get('seq')} was altered (its hash does not match its content)",
            )
        prev = rec["hash"]
        chain.append(rec)
    return chain, None


def read_heads(folder: Path) -> dict[str, dict[str, Any]] | None:
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


def _check_heads(
    folder: Path, chains: dict[int, list[Record]], problems: list[AuditProblem]
) -> list[AuditProblem]:
    """Problems the heads reveal: a missing chain, one truncated or extended, one unheaded."""
    heads = read_heads(folder)
    if heads is None:
        return [AuditProblem("audit/heads.json", 0, "missing: cannot rule out truncation")]
    found = [
        AuditProblem(f"audit/peer{p}.jsonl", 0, "no heads entry: cannot rule out truncation")
        for p in sorted(set(chains) - {int(k) for k in heads})
    ]
    for peer, head in sorted(heads.items(), key=lambda kv: int(kv[0])):
        chain = chains.get(int(peer))
        where = f"audit/peer{peer}.jsonl"
        if chain is None:
            found.append(AuditProblem(where, 0, "missing"))
        elif not any(p.file == where for p in problems) and (
            len(chain) != head["length"] or (chain and chain[-1]["hash"] != head["head"])
        ):
            found.append(
                AuditProblem(
                    where,
                    len(chain) + 1,
                    f"truncated or extended: "
                    f"{len(chain)} records, heads.json says {head['length']}",
                )
            )
    return found


def load_chains(run_dir: Path) -> tuple[dict[int, list[Record]], list[AuditProblem]]:
    """Every peer's chain (its intact records) and every problem found in the log.

    Raises :class:`~hdus_sim.errors.VerificationError` when the run has no ``audit/``.
    """
    folder = run_dir / "audit"
    if not folder.is_dir():
        raise VerificationError(f"{run_dir} has no audit/ folder; re-run it with hdus-sim run")
    problems: list[AuditProblem] = []
    chains: dict[int, list[Record]] = {}
    for path in sorted(folder.glob("peer*.jsonl")):
        chain, problem = _read_chain(path)
        if problem is not None:
            problems.append(problem)
        chains[int(path.stem.removeprefix("peer"))] = chain
    return chains, problems + _check_heads(folder, chains, problems)


def check_audit(run_dir: str | Path) -> list[AuditProblem]:
    """Every broken place in a run's audit logs (empty: all chains intact)."""
    return load_chains(Path(run_dir))[1]


def holders_ever(run_dir: str | Path, owner: int) -> dict[int, dict[str, Any]]:
    """Peers that ever accepted a seed of ``owner`` (any epoch), and whether they still hold one.

    Returns ``{peer: {"first_round", "versions", "dropped_round", "still_holds"}}``, from the
    audit chains and the run's final ``holdings.json``.
    """
    run = Path(run_dir)
    chains, _ = load_chains(run)
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
) -> list[Record]:
    """Append ``(peer, round, kind, data)`` records to a written run's chains.

    The chains are checked first: nothing is appended to a log that is already broken
    (a :class:`~hdus_sim.errors.VerificationError` names the first problem). Each record
    chains to the peer's last one and ``heads.json`` is moved on, so :func:`check_audit`
    still passes. Returns the appended records.
    """
    run = Path(run_dir)
    chains, problems = load_chains(run)
    if problems:
        raise VerificationError(
            f"the audit log of {run} is broken ({problems[0]}); not appending to it"
        )
    out: list[Record] = []
    new: set[int] = set()
    for peer, now, kind, data in records:
        chain = chains.setdefault(peer, [])
        rec = chained(chain, peer, now, kind, json.loads(json.dumps(data, default=str)))
        chain.append(rec)
        out.append(rec)
        new.add(peer)
    folder = run / "audit"
    for peer in sorted(new):  # the whole chain, atomically: never half a record
        write_chain(folder / f"peer{peer}.jsonl", chains[peer])
    heads = json.loads((folder / "heads.json").read_text())
    for peer in sorted(new):
        heads[str(peer)] = chain_head(chains[peer])
    write_heads(folder, heads)
    return out
