"""The bench and the in-process baselines (DSGD, pooled, SISA, local-only) on a tiny scenario.

FedAvg runs Flower's simulation engine and is tested in ``test_flower_fedavg.py``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from clients.training import TrainConfig
from hdus_sim.baselines.common import Spread, Timeline
from hdus_sim.baselines.dsgd import DsgdState
from hdus_sim.bench import BenchConfig, comparisons, render, run_bench, write
from hdus_sim.cli import app
from hdus_sim.scenario import load_scenario
from hdus_sim.simulation import Simulation
from hdus_sim.world import World

FAST = ("hdus", "hdus_retrain", "local_only", "sisa", "dsgd", "centralized")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.conftest import TINY

    return run_bench(load_scenario(TINY), BenchConfig(methods=FAST))


def test_timeline_follows_the_hdus_run(report: Any) -> None:
    tl: Timeline = report.timeline
    assert tl.rounds == 5
    assert [(d.round, d.peer, d.kind) for d in tl.departures] == [(2, 1, "leave"), (3, 4, "crash")]
    assert {p for p, _ in tl.online[0]} == set(range(6))
    assert {p for p, _ in tl.online[2]} == {0, 2, 3, 4, 5, 6}  # 1 left, 6 joined
    assert 1 not in tl.survivors(tl.departures[0])
    assert 6 not in tl.survivors(tl.departures[0])  # not online before the leave
    for r in range(tl.rounds):
        members = {p for p, _ in tl.online[r]}
        assert all(a in members and b in members for a, b in tl.edges[r])


def test_every_method_reports_every_departure_with_a_verdict(report: Any) -> None:
    names = [r.method for r in report.results]
    assert names == [
        "HDUS",
        "HDUS, retrain from scratch",
        "local-only",
        "SISA per peer",
        "DSGD (gossip averaging)",
        "centralized (data pooled)",
    ]
    for res in report.results:
        assert len(res.events) == 2
        for ev in res.events:
            assert ev.verdict == "EXACT"
            assert 0.0 <= ev.local_after.mean <= 1.0
            assert ev.unlearn_wall_s >= 0
    hdus = report.by_method("HDUS")
    assert all(ev.unlearn_sample_epochs == 0 for ev in hdus.events)
    for name in ("HDUS, retrain from scratch", "DSGD (gossip averaging)"):
        assert all(ev.unlearn_sample_epochs > 0 for ev in report.by_method(name).events)


def test_hdus_after_equals_its_retrain_oracle(report: Any) -> None:
    hdus, oracle = report.by_method("HDUS"), report.by_method("HDUS, retrain from scratch")
    for a, b in zip(hdus.events, oracle.events, strict=True):
        assert a.local_after == b.local_after
        assert a.global_after == b.global_after


def test_local_only_does_not_change_on_a_leave(report: Any) -> None:
    leave = report.by_method("local-only").events[0]
    assert leave.local_before == leave.local_after


def test_dsgd_retrain_equals_training_without_the_peer_from_the_start(report: Any) -> None:
    """Retraining from scratch is exact: same result as a run where the peer never was."""
    from tests.conftest import TINY

    sc = load_scenario(TINY)
    world = World.build(sc)
    tl = report.timeline
    train = TrainConfig(epochs=1, batch_size=32, lr=0.01)
    gone = tl.departed_by(2)
    a = DsgdState(world, "sensor", train, seed=5)
    a.replay(tl, range(2), gone)
    b = DsgdState(world, "sensor", train, seed=5)
    for r in range(2):
        b.run_round(r, frozenset(p for p, _ in tl.online[r] if p != 1), tl.edges[r])
    assert set(a.models) == set(b.models) and 1 not in a.models
    for pid in a.models:
        for x, y in zip(a.models[pid].parameters(), b.models[pid].parameters(), strict=True):
            assert torch.equal(x, y)
    # and the departed peer's data did matter before: with it, its neighbours differ
    c = DsgdState(world, "sensor", train, seed=5)
    c.replay(tl, range(2), frozenset())
    assert any(
        not torch.equal(x, y)
        for x, y in zip(a.models[0].parameters(), c.models[0].parameters(), strict=True)
    )


def test_sisa_after_is_the_ensemble_without_the_departed_shard(report: Any) -> None:
    """Recompute SISA's after-accuracy by hand at the leave round."""
    from tests.conftest import TINY

    sim = Simulation(load_scenario(TINY)).build()
    while sim.engine.now < 2:
        sim.step()
    shards = [p for p in sim.runtime.online() if p != 1]
    survivors = report.timeline.survivors(report.timeline.departures[0])
    accs = []
    for q in survivors:
        data = sim.world.split.peers[q]
        x = torch.from_numpy(np.ascontiguousarray(data.test_x)).float()
        probs = torch.stack([torch.softmax(sim.peer(p).main_logits(x), 1) for p in shards])
        pred = probs.mean(0).argmax(1).numpy()
        accs.append(float((pred == data.test_y).mean()))
    sim.close()
    got = report.by_method("SISA per peer").events[0].local_after
    want = Spread.of(accs)
    assert got.n == want.n
    assert (got.mean, got.min, got.max) == pytest.approx((want.mean, want.min, want.max))


def test_comparison_and_files(report: Any, tmp_path: Any) -> None:
    comp = comparisons(report)
    versus = {c["versus"] for c in comp}
    assert versus == {
        "HDUS, retrain from scratch",
        "DSGD (gossip averaging)",
        "centralized (data pooled)",
    }
    own = [c for c in comp if c["versus"] == "HDUS, retrain from scratch"]
    assert all(c["local_gap_points"] == 0 and c["global_gap_points"] == 0 for c in own)
    text = render(report)
    assert "| HDUS | leave 1 @r2 |" in text and "| DSGD (gossip averaging) | crash 4 @r3 |" in text
    write(report, tmp_path)
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["departures"] == ["leave 1 @r2", "crash 4 @r3"]
    assert len(data["methods"]) == 6
    assert (tmp_path / "bench.md").read_text() == text


def test_bad_bench_options_are_named_before_anything_runs() -> None:
    with pytest.raises(ValueError, match=r"unknown bench method.*'gossip'"):
        BenchConfig(methods=("hdus", "gossip"))
    with pytest.raises(ValueError, match="unknown baseline architecture 'resnet'"):
        BenchConfig(baseline_arch="resnet")
    result = CliRunner().invoke(
        app, ["bench", "scenarios/quickstart.yaml", "--methods", "hdus,nope"]
    )
    assert result.exit_code == 2
    assert "nope" in result.output


@pytest.mark.slow
def test_fedavg_rows_on_flower() -> None:
    """FedAvg retrain (exact) and KD repair (approximate) over a one-leave timeline."""
    from tests.conftest import TINY

    data = dict(TINY, rounds=3, events=[{"at": 2, "kind": "leave", "peer": 1}])
    report = run_bench(load_scenario(data), BenchConfig(methods=("hdus", "fedavg", "fedavg_kd")))
    exact = report.by_method("FedAvg (Flower), retrain")
    approx = report.by_method("FedAvg (Flower) + KD repair")
    assert exact is not None and approx is not None
    (ev,) = exact.events
    assert ev.verdict == "EXACT" and ev.unlearn_sample_epochs > 0
    assert ev.local_after.n == 5  # survivors: peers 0, 2, 3, 4, 5
    (kd,) = approx.events
    assert kd.verdict == "EMPIRICAL" and "subtracted" in kd.notes
    # before the leave both are the same FedAvg model
    assert kd.local_before == ev.local_before
    assert exact.bytes_sent > approx.bytes_sent  # the retrain sent models again


def test_max_events_cuts_the_timeline_after_whole_rounds() -> None:
    from tests.conftest import TINY

    data = dict(
        TINY,
        events=[
            {"at": 2, "kind": "leave", "peer": 1},
            {"at": 2, "kind": "leave", "peer": 3},
            {"at": 3, "kind": "crash", "peer": 4},
        ],
    )
    logs: list[str] = []
    report = run_bench(
        load_scenario(data), BenchConfig(methods=("hdus", "dsgd"), max_events=1), log=logs.append
    )
    assert [d.label for d in report.timeline.departures] == ["leave 1 @r2", "leave 3 @r2"]
    assert report.timeline.rounds == 3
    assert any("first 2 of 3 departures" in m for m in logs)
    assert [len(r.events) for r in report.results] == [2, 2]
