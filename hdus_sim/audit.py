"""The recorder of a run's per-peer, hash-chained audit log, and the chain format itself.

Every learn, distil, send, receive, drop and delete of a peer is appended to that peer's
chain; each record holds the SHA-256 of the previous record, so editing, removing or
reordering any record breaks the chain at that record. ``audit/heads.json`` keeps each
chain's length and last hash, so a truncated log is caught too. Where the run has device
keys (``wire.sign``, or a standalone device's key ring), each head also carries ``signed``:
the length and hash the device reached, signed with its Ed25519 key over
:func:`head_payload`, so recomputing every hash after removing a record no longer passes:
the forger would need the device's private key. ``verify`` appends its verdicts after the
signed prefix and leaves ``signed`` as the device wrote it.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdus_sim.rundir import atomic_open, atomic_write

__all__ = [
    "GENESIS",
    "AuditTrail",
    "HeadSigner",
    "chain_head",
    "chained",
    "digest",
    "head_payload",
    "write_chain",
    "write_heads",
]

#: ``signer(peer, payload) -> signature``: signs as ``peer`` (a key ring's ``sign``)
HeadSigner = Callable[[int, bytes], bytes]

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


def head_payload(peer: int, length: int, head: str) -> bytes:
    """The bytes a device signs for its chain's head (purpose, peer, length, last hash).

    Examples
    --------
    >>> head_payload(3, 2, "ab")
    b'hdus-sim audit head v1|peer=3|length=2|head=ab'
    """
    return f"hdus-sim audit head v1|peer={peer}|length={length}|head={head}".encode()


def chain_head(
    chain: list[Record], peer: int | None = None, signer: HeadSigner | None = None
) -> dict[str, Any]:
    """A chain's entry in ``heads.json``: its length and last hash (signed, with a signer)."""
    entry: dict[str, Any] = {"length": len(chain), "head": chain[-1]["hash"] if chain else GENESIS}
    if signer is not None and peer is not None:
        payload = head_payload(peer, entry["length"], entry["head"])
        entry["signed"] = {**entry, "signature": signer(peer, payload).hex()}
    return entry


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

    def write(self, run_dir: str | Path, signer: HeadSigner | None = None) -> Path:
        """Write ``audit/peer<P>.jsonl`` per peer and ``audit/heads.json``.

        With a ``signer`` (the run has device keys) every head is signed as its peer.
        """
        out = Path(run_dir) / "audit"
        out.mkdir(parents=True, exist_ok=True)
        heads = {}
        for peer, chain in sorted(self.chains.items()):
            write_chain(out / f"peer{peer}.jsonl", chain)
            heads[str(peer)] = chain_head(chain, peer, signer)
        write_heads(out, heads)
        return out
