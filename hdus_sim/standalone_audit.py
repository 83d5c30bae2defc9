"""A standalone peer's own audit chain, written durably to an audit folder it shares.

The records are those of every runtime (:class:`~hdus_sim.audit.AuditTrail`, told by
:class:`~hdus_sim.runtime.inprocess.InProcessRuntime`'s observers): learn, distil,
receive, drop and delete as they happen at this peer, and a ``send`` for every seed or
leave notice it puts on the wire (written by the sender, which does not know whether it
arrived; the receiver writes its own ``receive``).

Layout, under ``DIR/audit/`` (``hdus-sim audit DIR`` checks it)::

    peer<P>.jsonl          this peer's chain, one record a line (as a run writes it)
    heads/peer-<P>.json    {"length": ..., "head": ..., "signed": ...}: this peer's heads
                           entry, signed with the device's key when it signs

Several peers may share ``DIR``: each writes only its two files. Both are replaced
atomically (written to a temporary file, fsynced, renamed), the chain first, so a reader
never sees half a record. Only a crash between the two renames leaves them disagreeing
(the checker then reports the chain as extended by the records of that last flush).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdus_sim.audit import AuditTrail, HeadSigner, chain_head
from hdus_sim.rundir import atomic_open, atomic_write

__all__ = ["DeviceAudit"]


@dataclass
class DeviceAudit(AuditTrail):
    """The audit trail of one device: keeps ``peer_id``'s chain only and writes it to ``run_dir``.

    ``run_dir`` is the folder ``hdus-sim audit`` is given; the files go to its ``audit/``.
    """

    peer_id: int = 0
    run_dir: Path = field(default_factory=Path.cwd)
    #: records already on disk (the chain is rewritten only when it grew)
    flushed: int = -1
    #: signs the heads entry with the device's own key (``None``: signatures off)
    signer: HeadSigner | None = None

    def record(self, peer: int, now: int, kind: str, **data: Any) -> None:
        """Append one record to this device's chain; records about other chains are not kept."""
        if peer == self.peer_id:
            super().record(peer, now, kind, **data)

    @property
    def chain(self) -> list[dict[str, Any]]:
        """The device's own records so far (oldest first)."""
        return self.chains.setdefault(self.peer_id, [])

    def flush(self, records: list[dict[str, Any]]) -> bool:
        """Write ``records`` (a snapshot of :attr:`chain`) and its heads entry, if it grew.

        The caller snapshots the chain under the runtime's lock and writes outside it,
        so message handling never waits on the disk. Returns whether anything was written.
        """
        if len(records) == self.flushed:
            return False
        folder = Path(self.run_dir) / "audit"
        (folder / "heads").mkdir(parents=True, exist_ok=True)
        with atomic_open(folder / f"peer{self.peer_id}.jsonl", text=True) as fh:
            for rec in records:
                fh.write(json.dumps(rec, sort_keys=True, default=str) + "\n")
        head = chain_head(records, self.peer_id, self.signer)
        atomic_write(folder / "heads" / f"peer-{self.peer_id}.json", json.dumps(head))
        self.flushed = len(records)
        return True
