"""What owner signatures cost per message, next to what a message costs anyway.

Measured side by side in one run, per message (median of repeats, microseconds):
the content digest a receiver already computes (SHA-256 over the tensors), the protobuf
encoding of the seed, the owner's Ed25519 signature of a seed record, one holder's check
of it, and a heartbeat's checks (one renewal per lease it carries). Ratios say what
signing adds to receiving a seed.

Run: ``python benchmarks/signing_cost.py``
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import md_table
from wire_throughput import make_seed

from clients.messages import Lease
from hdus_sim.wire import serde
from hdus_sim.wire.security import KeyRing


def _median_us(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main() -> None:
    """Print the table of per-message costs."""
    ring = KeyRing.generate([1, 2], seed=7)
    me = ring.credentials(1)
    rows = []
    for nbytes in (10_000, 1_000_000):
        msg = make_seed(nbytes, owner=1)
        rec = msg.record
        signature = me.sign(rec.signed_payload())
        repeats = 200 if nbytes < 100_000 else 20
        digest = _median_us(rec.verify_digest, repeats)
        encode = _median_us(lambda m=msg: serde.seed_to_chunks(m, 2), repeats)
        sign = _median_us(lambda r=rec: me.sign(r.signed_payload()), repeats)
        check = _median_us(
            lambda r=rec, sig=signature: me.verify(1, r.signed_payload(), sig), repeats
        )
        rows.append(
            [
                f"seed {nbytes:,} B",
                f"{digest:.1f}",
                f"{encode:.1f}",
                f"{sign:.1f}",
                f"{check:.1f}",
                f"{(sign + check) / (digest + encode):.2f}",
            ]
        )
    lease = Lease(1, 0, seq=5, floor=0)
    lease_sig = me.sign(lease.signed_payload())
    for n in (1, 20):
        check = _median_us(
            lambda n=n: [me.verify(1, lease.signed_payload(), lease_sig) for _ in range(n)], 100
        )
        rows.append([f"heartbeat, {n} lease(s)", "-", "-", "-", f"{check:.1f}", "-"])
    print(
        md_table(
            [
                "message",
                "digest check (µs)",
                "protobuf encode (µs)",
                "owner signs (µs)",
                "holder checks (µs)",
                "(sign + check) / (digest + encode)",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
