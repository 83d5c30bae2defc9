"""Checking a written audit log: is every chain intact, and who ever held a peer's seed.

A run's ``audit/`` folder holds one hash-chained log per peer and ``heads.json`` (each
chain's length and last hash), in the format of :mod:`hdus_sim.audit`. :func:`check_audit`
names every record that was altered, removed, reordered or torn, every chain that was
truncated or extended, and every signed head whose signature or prefix does not check out
with the device's public key; :func:`holders_ever` answers, from the chains, which peers
ever accepted a seed of a given peer and whether they still hold one;
:func:`append_records` adds records to a written log (``verify``'s verdicts) so that it
still checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdus_sim.audit import (
    GENESIS,
    Record,
    chain_head,
    chained,
    digest,
    head_payload,
    write_chain,
    write_heads,
)
from hdus_sim.errors import VerificationError

if TYPE_CHECKING:
    from hdus_sim.wire.security import KeyRing

__all__ = [
    "AuditProblem",
    "append_records",
    "check_audit",
    "holders_ever",
    "load_chains",
    "run_public_keys",
]


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


def load_chains(
    run_dir: Path, keys: KeyRing | None = None
) -> tuple[dict[int, list[Record]], list[AuditProblem]]:
    """Every peer's chain (its intact records) and every problem found in the log.

    ``keys`` (the devices' public keys) check the signed heads; without them the
    keys of a signing simulated run are rebuilt from its ``scenario.yaml``
    (:func:`run_public_keys`). Raises :class:`~hdus_sim.errors.VerificationError` when the
    run has no ``audit/``.
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
    problems += _check_heads(folder, chains, problems)
    if keys is None:
        keys = run_public_keys(run_dir, chains)
    return chains, problems + _check_signatures(folder, chains, keys)


def run_public_keys(run_dir: Path, peers: Mapping[int, Any]) -> KeyRing | None:
    """Public keys of a simulated run that signs (``runtime.signs``), from its ``scenario.yaml``.

    ``None`` when the folder holds no run scenario or the run does not sign (a standalone
    device's folder: pass its keys with ``hdus-sim audit --keys``).
    """
    path = run_dir / "scenario.yaml"
    if not path.is_file():
        return None
    from hdus_sim.scenario import load_scenario
    from hdus_sim.wire.security import KeyRing

    scenario = load_scenario(path)
    if not scenario.runtime.signs:
        return None
    signing = KeyRing.for_simulation(sorted(peers), scenario.seed)
    ring = KeyRing()
    for peer in sorted(peers):  # the public half only: checking needs nothing else
        ring.add_public(peer, signing.public_bytes(peer))
    return ring


def _check_signatures(
    folder: Path, chains: dict[int, list[Record]], keys: KeyRing | None
) -> list[AuditProblem]:
    """Problems of the signed heads: a bad signature, a prefix that differs, a foreign tail.

    With ``keys`` every head must be signed. What may follow the signed prefix is only what
    ``verify`` appends (``verdict`` records); anything else was not written by the device.
    """
    heads = read_heads(folder) or {}
    found = []
    for peer_text, head in sorted(heads.items(), key=lambda kv: int(kv[0])):
        peer, where = int(peer_text), f"audit/peer{peer_text}.jsonl"
        signed = head.get("signed")
        if signed is None:
            if keys is not None:
                found.append(AuditProblem(where, 0, "head is not signed, but the run signs"))
            continue
        if keys is None or peer not in keys.peer_ids:
            found.append(
                AuditProblem(
                    where,
                    0,
                    f"signed head, but no public key of peer {peer} to check it: pass the "
                    "devices' key ring with --keys DIR (the folder hdus-sim certs wrote)",
                )
            )
            continue
        length, last = int(signed["length"]), str(signed["head"])
        try:
            signature = bytes.fromhex(str(signed["signature"]))
        except ValueError:
            signature = b""
        if not keys.verify(peer, head_payload(peer, length, last), signature):
            found.append(
                AuditProblem(where, 0, f"head signature does not verify with peer {peer}'s key")
            )
            continue
        chain = chains.get(peer, [])
        at = chain[length - 1]["hash"] if 0 < length <= len(chain) else GENESIS
        if length > len(chain) or at != last:
            found.append(
                AuditProblem(
                    where,
                    min(length, len(chain) + 1),
                    f"differs from what peer {peer} signed ({length} records ending {last[:12]})",
                )
            )
            continue
        foreign = [rec for rec in chain[length:] if rec.get("kind") != "verdict"]
        if foreign:
            found.append(
                AuditProblem(
                    where,
                    int(foreign[0]["seq"]) + 1,
                    f"a {foreign[0]['kind']!r} record after the head peer {peer} signed: only "
                    "verify's verdicts may follow it",
                )
            )
    return found


def check_audit(run_dir: str | Path, keys: KeyRing | None = None) -> list[AuditProblem]:
    """Every broken place in a run's audit logs (empty: all chains intact)."""
    return load_chains(Path(run_dir), keys)[1]


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
    for peer in sorted(new):  # a device's signed head stays as it signed it
        signed = heads.get(str(peer), {}).get("signed")
        heads[str(peer)] = chain_head(chains[peer]) | ({"signed": signed} if signed else {})
    write_heads(folder, heads)
    return out
