"""A neighbour floods a standalone device with heartbeats carrying as many tombstones as fit.

Device 0 misbehaves (the attacker holds its certificate and key and opens its own
connections); device 1 is the victim; device 2 is an honest bystander. The victim's memory
and tick rate must stay within stated bounds, it must adopt none of the fabricated
removals, and no honest neighbour may come to declare it crashed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import grpc
import pytest
from fleet import Fleet

from hdus_sim.proto import peer_pb2 as pb
from hdus_sim.wire.security import channel_credentials
from hdus_sim.wire.service import PeerServiceClient

pytestmark = pytest.mark.standalone

ATTACKER, VICTIM, BYSTANDER = 0, 1, 2
#: stated bounds for the attacked device
MAX_RSS_GROWTH_MB = 150.0
MIN_TICK_RATE_RATIO = 0.6


def flood_beat(fleet: Fleet, limit: int, n: int | None = None) -> pb.Heartbeat:
    """A heartbeat from the attacker to the victim with as many tombstones as fit."""
    n = n or (limit - 64) // 6  # a DataOwner(peer < 2**21, epoch 0) takes 6 bytes
    owners = [pb.DataOwner(peer=100_000 + j) for j in range(n)]
    beat = pb.Heartbeat(
        sender=ATTACKER, epoch=fleet.epoch(ATTACKER), round=1, dst=VICTIM, tombstones=owners
    )
    assert beat.ByteSize() <= limit, beat.ByteSize()
    return beat


@pytest.mark.slow
def test_a_tombstone_flood_leaves_the_victim_ticking_and_nobody_declares_it_crashed(
    tiny: dict, tmp_path: Path
) -> None:
    with Fleet(tmp_path, tiny, n=3, tick_s=0.3, heartbeat_timeout=4) as fleet:
        fleet.wait_all_linked(120)
        victim_key = fleet.key(VICTIM)
        rate_before = fleet.tick_rate(VICTIM, 3.0)
        rss_before = fleet.rss_mb(VICTIM)
        # as many as fit in gRPC's 4 MiB, in the receiver's 1 MiB per message, and in
        # one heartbeat the receiver takes (wire.max_items = 4096)
        beats = [
            flood_beat(fleet, 4 << 20),
            flood_beat(fleet, 1 << 20),
            flood_beat(fleet, 1 << 20, n=4096),
        ]
        stop = threading.Event()
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()

        def flood() -> None:
            creds = channel_credentials(fleet.pki, f"peer{ATTACKER}")
            options = [("grpc.max_send_message_length", 8 << 20)]
            with grpc.secure_channel(fleet.address(VICTIM), creds, options=options) as ch:
                stub = PeerServiceClient(ch)
                sent = 0
                while not stop.is_set():
                    beat = beats[sent % len(beats)]
                    sent += 1
                    try:
                        stub.SendHeartbeat(beat, timeout=5)
                        code = "OK"
                    except grpc.RpcError as err:
                        code = err.code().name
                    with lock:
                        outcomes[f"{len(beat.tombstones)}: {code}"] += 1

        threads = [threading.Thread(target=flood) for _ in range(4)]
        for t in threads:
            t.start()
        peak = rss_before
        at_start = fleet.status(VICTIM)
        t_end = time.monotonic() + 8.0
        while time.monotonic() < t_end:
            peak = max(peak, fleet.rss_mb(VICTIM))
            time.sleep(0.2)
        at_end = fleet.status(VICTIM)
        stop.set()
        for t in threads:
            t.join(10)
        rate_during = (at_end["tick"] - at_start["tick"]) / (at_end["time"] - at_start["time"])
        growth = peak - rss_before
        print(
            f"flood: {sum(outcomes.values())} heartbeats "
            f"({', '.join(f'{b.ByteSize() / 2**20:.2f} MiB' for b in beats)}), by tombstones "
            f"and answer: {dict(outcomes)}; victim memory "
            f"{rss_before:.0f} -> peak {peak:.0f} MB (+{growth:.0f}); tick rate "
            f"{rate_before:.2f}/s -> {rate_during:.2f}/s ({rate_during / rate_before:.2f}x)"
        )
        assert sum(outcomes.values()) >= 30, outcomes
        big, cap = (str(len(b.tombstones)) for b in beats[:2])
        assert {k for k in outcomes if k.startswith(f"{big}:")} == {f"{big}: RESOURCE_EXHAUSTED"}
        assert {k for k in outcomes if k.startswith(f"{cap}:")} <= {
            f"{cap}: RESOURCE_EXHAUSTED",  # over 1 MiB, or waiting for a parse slot
            f"{cap}: INVALID_ARGUMENT",  # parsed, refused for its 174,752 entries
        }
        assert outcomes["4096: OK"] > 0  # taken in: hints about seeds it does not hold
        assert growth <= MAX_RSS_GROWTH_MB
        assert rate_during >= MIN_TICK_RATE_RATIO * rate_before
        victim = fleet.status(VICTIM)
        assert victim["tombstones"] == [] and fleet.key(VICTIM) == victim_key
        time.sleep(2.0)  # past the heartbeat timeout: the honest neighbours still hear it
        for i in (ATTACKER, BYSTANDER):
            st = fleet.status(i)
            assert victim_key not in st["tombstones"] and victim_key in st["held"]
            assert VICTIM in st["neighbors"]
    for i in range(3):
        assert "Traceback" not in fleet.errors(i), fleet.errors(i)[-2000:]
