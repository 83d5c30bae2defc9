"""The recorder of a run's per-peer, hash-chained audit log, and the chain format itself.

Every learn, distil, send, receive, drop and delete of a peer is appended to that peer's
chain; each record holds the SHA-256 of the previous record, so editing, removing or
reordering any record breaks the chain at that record. ``audit/heads.json`` keeps each
chain's length and last hash, so a truncated log is caught too.

This module is what a runtime records with (:class:`AuditTrail`) and the one definition of
the format: how a record is hashed (:func:`digest`), chained (:func:`chained`) and written
(:func:`write_chain`, :func:`write_heads`). Checking a written log, asking who ever held a
peer's seed, and appending ``verify``'s verdicts are verification's job
(:mod:`hdus_sim.verification.audit`, :mod:`hdus_sim.verification.receipts`), which use
the same functions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdus_sim.rundir import atomic_open, atomic_write

__all__ = ["GENESIS", "AuditTrail", "chain_head", "chained", "digest", "write_chain", "write_heads"]

#: the ``prev`` of a chain's first record (and the head of an empty chain)
GENESIS = "0" * 64

#: one record of a chain: ``seq``, ``peer``, ``round``, ``kind``, ``data``, ``prev``, ``hash``
Record = dict[str, Any]


def digest(record: Record) -> str:
    """SHA-256 (hex) of a record's content: every field but ``hash``, as sorted JSON."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def chained(chain: list[Record], peer: int, now: int, kind: str, data: Any) -> Record:
    """The next record of ``chain``: numbered, linked to the last one, hashed.

    ``now`` is the round; ``data`` the record's payload. ``chain`` is not modified.
    """
    rec: Record = {
        "seq": len(chain),
        "peer": peer,
        "round": now,
        "kind": kind,
        "data": data,
        "prev": chain[-1]["hash"] if chain else GENESIS,
    }
    rec["hash"] = digest(rec)
    return rec


def chain_head(chain: list[Record]) -> dict[str, Any]:
    """A chain's entry in ``heads.json``: its length and last hash."""
    return {"length": len(chain), "head": chain[-1]["hash"] if chain else GENESIS}


def write_chain(path: Path, chain: list[Record]) -> None:
    """Write a whole chain atomically, one JSON record per line (never half a record)."""
    with atomic_open(path, text=True) as fh:
        for rec in chain:
            fh.write(json.dumps(rec, sort_keys=True, default=str) + "\n")


def write_heads(folder: Path, heads: dict[str, dict[str, Any]]) -> None:
    """Write ``heads.json`` (peer id as text -> :func:`chain_head`) atomically."""
    atomic_write(folder / "heads.json", json.dumps(heads, indent=1, sort_keys=True))


@dataclass
class AuditTrail:
    """In-memory chains, one per peer, written to ``DIR/audit/`` at the end of a run."""

    chains: dict[int, list[Record]] = field(default_factory=dict)

    def record(self, peer: int, now: int, kind: str, **data: Any) -> None:
        """Append one record to ``peer``'s chain."""
        chain = self.chains.setdefault(peer, [])
        chain.append(chained(chain, peer, now, kind, data))

    def observe(self, peer: int, now: int, kind: str, data: dict[str, Any]) -> None:
        """A runtime's peer event, recorded (the :data:`PeerObserver` signature)."""
        self.record(peer, now, kind, **data)

    def merge(self, other: AuditTrail) -> None:
        """Take ``other``'s chains (peers recorded in another process; one host per peer)."""
        for peer, chain in other.chains.items():
            if peer in self.chains and self.chains[peer] != chain:
                raise ValueError(f"audit chain of peer {peer} was recorded in two places")
            self.chains[peer] = chain

    def write(self, run_dir: str | Path) -> Path:
        """Write ``audit/peer<P>.jsonl`` per peer and ``audit/heads.json``."""
        out = Path(run_dir) / "audit"
        out.mkdir(parents=True, exist_ok=True)
        heads = {}
        for peer, chain in sorted(self.chains.items()):
            write_chain(out / f"peer{peer}.jsonl", chain)
            heads[str(peer)] = chain_head(chain)
        write_heads(out, heads)
        return out
