"""Fuzz every ``PeerService`` RPC of a live mTLS peer: accepted and valid, or refused clearly.

The tiny ring of ``tests/conftest.py`` runs one peer per gRPC host, signed and over mutual
TLS; the attacker holds peer 1's certificate and signing key (a neighbour of peer 0 that
sends garbage) and sends ``--n`` mutations per seed of genuine messages, over ``--seeds``
seeds (see :mod:`hdus_sim.wire.fuzz` for the mutations). After each seed, what peer 0
knows about everyone but the attacker must be unchanged.

Usage::

    python benchmarks/fuzz_wire.py [--seeds 10] [--n 2000]

Prints messages tried per RPC, answers by status, crashes and invalid acceptances (exit 1
if any, or if peer 0's knowledge changed).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the package first (tests/hdus_sim would shadow it), then the test helpers
sys.path[:0] = [str(ROOT)]
sys.path += [str(ROOT / "tests"), str(ROOT / "tests" / "wire")]

from conftest import TINY  # noqa: E402
from test_wire_fuzz import _knowledge, genuine_corpus  # noqa: E402
from wire_helpers import channel_to  # noqa: E402

from hdus_sim import Simulation  # noqa: E402
from hdus_sim.wire.fuzz import fuzz_peer  # noqa: E402


def main() -> int:
    """Run the campaign; exit status 1 on any crash, invalid acceptance or change."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--n", type=int, default=2000, help="messages per seed")
    args = ap.parse_args()
    tried, by_rpc, outcomes = 0, Counter[str](), Counter[str]()
    crashes: list[str] = []
    invalid: list[str] = []
    changed = 0
    start = time.perf_counter()
    for seed in range(args.seeds):
        sc = copy.deepcopy(TINY)
        sc.update(events=[], rounds=8)
        sc["runtime"] = {"kind": "grpc", "wire": {"hosts": 6, "tls": True, "sign": True}}
        sim = Simulation.from_dict(sc)
        try:
            sim.step()
            sim.step()
            before = _knowledge(sim)
            with channel_to(sim, "host0", "host1") as channel:
                report = fuzz_peer(channel, genuine_corpus(sim), n=args.n, seed=seed)
            changed += _knowledge(sim) != before
        finally:
            sim.close()
        tried += report.tried
        by_rpc.update(report.by_rpc)
        outcomes.update(report.outcomes)
        crashes += report.crashes
        invalid += report.invalid_accepted
    took = time.perf_counter() - start
    print(f"messages tried: {tried} over {args.seeds} seeds in {took:.0f} s")
    print("by RPC: " + ", ".join(f"{k} {v}" for k, v in sorted(by_rpc.items())))
    print("| answer | count |\n|---|---:|")
    for code, count in sorted(outcomes.items(), key=lambda kv: -kv[1]):
        print(f"| {code} | {count} |")
    print(
        f"crashes: {len(crashes)}; invalid accepted: {len(invalid)}; "
        f"runs where peer 0's knowledge of others changed: {changed}"
    )
    for line in (crashes + invalid)[:10]:
        print("  " + line)
    return 1 if crashes or invalid or changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
