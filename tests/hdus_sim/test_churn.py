"""Churn processes: the distributions they claim, determinism, exact replays and invariants."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from hdus_sim.churn import (
    ChurnEvent,
    DistributionSpec,
    _rounds_mask,
    generate_churn,
    load_churn,
    load_trace,
    online_intervals,
    plan_churn,
    scipy_distribution,
    session_lengths,
)
from hdus_sim.errors import ScenarioError

TRACE = Path(__file__).parents[2] / "scenarios" / "traces" / "small_trace.csv"

SPECS = {
    "exponential": {"scale": 3.0},
    "weibull": {"shape": 0.6, "scale": 6.0},
    "lognormal": {"mu": 1.2, "sigma": 0.7},
    "pareto": {"shape": 1.8, "scale": 2.0},
}
# the same family with one parameter moved by ~15%: a test that can fail
WRONG = {
    "exponential": {"scale": 3.45},
    "weibull": {"shape": 0.7, "scale": 6.0},
    "lognormal": {"mu": 1.35, "sigma": 0.7},
    "pareto": {"shape": 2.1, "scale": 2.0},
}
SESSIONS = {
    "distribution": "exponential",
    "params": {"scale": 6.0},
    "offline": {"distribution": "exponential", "params": {"scale": 3.0}},
}


def _sample(name: str, params: dict[str, float], seed: int = 0, n: int = 20_000) -> np.ndarray:
    spec = DistributionSpec(distribution=name, params=params)
    return session_lengths(spec, n, np.random.default_rng(seed))


def _mask(intervals: list[tuple[int, int]], rounds: int) -> np.ndarray:
    out = np.zeros(rounds, dtype=bool)
    for s, e in intervals:
        out[s:e] = True
    return out


def _clip(trace: dict[int, list[tuple[int, int]]], rounds: int) -> dict[int, list]:
    return {p: [(s, min(e, rounds)) for s, e in spans if s < rounds] for p, spans in trace.items()}


# ---------------------------------------------------------------- distributions
@pytest.mark.parametrize("name", sorted(SPECS))
def test_session_lengths_follow_their_distribution(name: str) -> None:
    x = _sample(name, SPECS[name])
    truth = scipy_distribution(DistributionSpec(distribution=name, params=SPECS[name]))
    assert stats.kstest(x, truth.cdf).pvalue > 0.01


@pytest.mark.parametrize("name", sorted(SPECS))
def test_wrong_parameters_are_rejected(name: str) -> None:
    x = _sample(name, SPECS[name])
    wrong = scipy_distribution(DistributionSpec(distribution=name, params=WRONG[name]))
    assert stats.kstest(x, wrong.cdf).pvalue < 0.01


def test_wrong_family_with_the_same_mean_is_rejected() -> None:
    x = _sample("weibull", SPECS["weibull"])
    expon = stats.expon(scale=float(np.mean(x)))
    assert stats.kstest(x, expon.cdf).pvalue < 0.01


def test_rounding_rule_online_iff_online_at_the_round_start() -> None:
    # [0.5, 2.2) covers instants 1, 2; [3.0, 3.5) covers 3; [4.2, 4.9) covers no round start
    mask = _rounds_mask(np.array([0.5, 3.0, 4.2]), np.array([2.2, 3.5, 4.9]), 6)
    assert mask.tolist() == [False, True, True, True, False, False]


def test_long_run_fraction_online_matches_the_session_means() -> None:
    plan = plan_churn({"sessions": SESSIONS}, seed=5, rounds=400, initial=list(range(100)))
    spans = online_intervals(plan.events, range(100), 400)
    frac = sum(e - s for v in spans.values() for s, e in v) / (100 * 400)
    assert abs(frac - 6.0 / 9.0) < 0.02  # mean on / (mean on + mean off)


# ---------------------------------------------------------------- arrivals
def test_poisson_arrivals_per_round() -> None:
    rate, rounds = 0.7, 3001
    plan = plan_churn(
        {"arrivals": {"rate": rate, "first_id": 10}}, seed=2, rounds=rounds, initial=[0, 1]
    )
    at = np.array(sorted(plan.arrivals.values()))
    assert at.min() >= 1 and at.max() < rounds
    counts = np.bincount(at, minlength=rounds)[1:]
    assert abs(counts.mean() - rate) < 0.05 and abs(counts.var() - rate) < 0.08
    observed = np.array([(counts == k).sum() for k in range(3)] + [(counts >= 3).sum()])
    pmf = stats.poisson(rate).pmf(np.arange(3))
    expected = len(counts) * np.append(pmf, 1 - pmf.sum())
    assert stats.chisquare(observed, expected).pvalue > 0.01
    # ids in arrival order from first_id; every arrival joins at its round (no sessions)
    assert sorted(plan.arrivals) == list(range(10, 10 + len(at)))
    joins = {e.peer: e.at for e in plan.events if e.kind == "join"}
    assert joins == dict(plan.arrivals)
    assert {e.cause for e in plan.events} == {"arrival"}


def test_arrivals_get_devices_and_follow_sessions() -> None:
    spec = {"arrivals": {"rate": 0.3, "device_mix": {"sensor": 1}}, "sessions": SESSIONS}
    plan = plan_churn(spec, seed=4, rounds=80, initial=[0, 1, 2])
    assert plan.arrivals and min(plan.arrivals) == 3  # default: one past the highest id
    assert set(plan.devices.values()) == {"sensor"}
    for ev in plan.events:
        if ev.kind == "join" and ev.peer in plan.arrivals:
            assert ev.device == "sensor" and ev.at >= plan.arrivals[ev.peer]
        if ev.peer < 3 or ev.kind != "join":
            assert ev.device is None
    assert any(e.kind == "leave" and e.peer in plan.arrivals for e in plan.events)


# ---------------------------------------------------------------- determinism
def test_same_seed_same_events_other_seed_other_events() -> None:
    spec = {"sessions": SESSIONS, "crash_ratio": 0.5, "arrivals": {"rate": 0.2}}
    a = generate_churn(spec, seed=9, rounds=60, initial=list(range(8)))
    b = generate_churn(spec, seed=9, rounds=60, initial=list(range(8)))
    c = generate_churn(spec, seed=10, rounds=60, initial=list(range(8)))
    assert a == b and a != c


def test_adding_a_peer_does_not_change_the_others() -> None:
    spec = {"sessions": SESSIONS, "crash_ratio": 0.3}
    small = plan_churn(spec, seed=1, rounds=150, initial=list(range(10)))
    big = plan_churn(spec, seed=1, rounds=150, initial=list(range(11)))
    assert not small.warnings and not big.warnings
    assert [e for e in big.events if e.peer != 10] == list(small.events)
    assert any(e.peer == 10 for e in big.events)


def test_a_longer_run_extends_a_shorter_one() -> None:
    spec = {"sessions": SESSIONS, "crash_ratio": 0.3}
    short = generate_churn(spec, seed=3, rounds=50, initial=list(range(6)))
    long = generate_churn(spec, seed=3, rounds=120, initial=list(range(6)))
    assert [e for e in long if e.at < 50] == short


# ---------------------------------------------------------------- trace replay
def test_trace_replay_reproduces_the_trace(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(
        "peer,start,end\n1,2,5\n1,7,30\n0,0,4\n0,6,9\n3,4,8\n3,12,14\n4,0,25\n"
    )
    rounds = 13
    initial = [0, 1, 2]
    plan = plan_churn(
        {"trace": {"file": "t.csv"}}, seed=0, rounds=rounds, initial=initial, base_dir=tmp_path
    )
    spans = online_intervals(plan.events, initial, rounds)
    expected = _clip(load_trace(tmp_path / "t.csv"), rounds) | {2: [(0, rounds)]}
    assert spans == expected
    first = {p: next(e for e in plan.events if e.peer == p) for p in (1, 3, 4)}
    assert (first[1].at, first[1].kind, first[1].cause) == (0, "leave", "trace")  # offline at 0
    assert (first[3].at, first[3].kind, first[3].cause) == (4, "join", "trace")  # a new peer
    assert (first[4].at, first[4].kind) == (0, "join")
    assert all(e.cause == "trace" for e in plan.events)


def test_bundled_trace_replays_exactly() -> None:
    trace = load_trace(TRACE)
    assert sorted(trace) == list(range(8)) and trace[2] == [(0, 8), (11, 20), (24, 30)]
    plan = plan_churn(
        {"trace": {"file": str(TRACE)}},
        seed=0,
        rounds=30,
        initial=range(6),
        device_mix={"sensor": 1, "phone": 1},
    )
    assert online_intervals(plan.events, range(6), 30) == trace
    assert set(plan.devices) == {6, 7}
    assert all(
        e.device in ("sensor", "phone")
        for e in plan.events
        if e.peer in (6, 7) and e.kind == "join"
    )


def test_inline_trace_intervals() -> None:
    spec = {"trace": {"intervals": {0: [[0, 3], [3, 5], [7, 9]], 5: [[2, 4]]}}}
    spans = online_intervals(generate_churn(spec, seed=0, rounds=10, initial=[0, 1]), [0, 1], 10)
    assert spans == {0: [(0, 5), (7, 9)], 1: [(0, 10)], 5: [(2, 4)]}


# ---------------------------------------------------------------- outages, diurnal, battery
def test_outage_takes_exactly_the_cluster_down_and_back() -> None:
    clusters = {3: 0, 4: 0, 5: 1, 6: 1, 7: 0, 8: 2}
    events = generate_churn(
        {"outages": [{"gateway": 0, "at": 4, "duration": 3}]},
        seed=0,
        rounds=12,
        initial=list(range(9)),
        clusters=clusters,
    )
    cluster = [0, 3, 4, 7]
    assert [(e.at, e.kind, e.peer, e.cause) for e in events] == [
        (4, "leave", p, "outage") for p in cluster
    ] + [(7, "join", p, "outage") for p in cluster]


def test_outage_past_the_end_never_comes_back_and_crashes_when_asked() -> None:
    spec = {"outages": [{"peers": [2, 3], "at": 8, "duration": 10}], "crash_ratio": 1.0}
    events = generate_churn(spec, seed=0, rounds=10, initial=list(range(4)))
    assert [(e.at, e.kind, e.peer) for e in events] == [(8, "crash", 2), (8, "crash", 3)]


def test_diurnal_window_every_period() -> None:
    period, start, hours, rounds = 6, 4, 3, 40  # the window wraps: r % 6 in {4, 5, 0}
    spec = {
        "diurnal": {
            "period": period,
            "offline_start": start,
            "offline_hours": hours,
            "fraction": 0.3,
        }
    }
    plan = plan_churn(spec, seed=7, rounds=rounds, initial=list(range(20)))
    assert len(plan.diurnal) == 6
    spans = online_intervals(plan.events, range(20), rounds)
    r = np.arange(rounds)
    window = ((r - start) % period) < hours
    for pid, iv in spans.items():
        online = _mask(iv, rounds)
        if pid in plan.diurnal:
            assert (online == ~window).all(), pid
        else:
            assert online.all(), pid
    assert {e.cause for e in plan.events} == {"diurnal"}


def test_battery_depletes_after_ceil_capacity_over_drain() -> None:
    spec = {
        "battery": {
            "capacity": 20,
            "drain": {"sensor": 1.5, "phone": 1.0, "gateway": 0.0},
            "recharge": 4,
        }
    }
    devices = {0: "gateway", 1: "sensor", 2: "phone"}
    events = generate_churn(spec, seed=0, rounds=40, initial=[0, 1, 2], devices=devices)
    up = math.ceil(20 / 1.5)  # 14 online rounds
    sensor = [(e.at, e.kind) for e in events if e.peer == 1]
    assert sensor == [(up, "leave"), (up + 4, "join"), (2 * up + 4, "leave"), (2 * up + 8, "join")]
    phone = [(e.at, e.kind) for e in events if e.peer == 2]
    assert phone[:2] == [(20, "leave"), (24, "join")]
    assert not [e for e in events if e.peer == 0]
    assert {e.cause for e in events} == {"battery"}


def test_battery_drains_only_in_online_rounds() -> None:
    # the outage keeps peer 1 offline in rounds 2-5, so its third online round is 6, not 2
    spec = {
        "battery": {"capacity": 3, "drain": {"sensor": 1}, "recharge": 2},
        "outages": [{"peers": [1], "at": 2, "duration": 4}],
    }
    events = generate_churn(spec, seed=0, rounds=12, initial=[0, 1], devices={0: "x", 1: "sensor"})
    assert [(e.at, e.kind, e.cause) for e in events] == [
        (2, "leave", "outage"),
        (6, "join", "outage"),
        (7, "leave", "battery"),
        (9, "join", "battery"),
    ]


# ---------------------------------------------------------------- invariants
def _check_invariants(plan: Any, initial: list[int], rounds: int) -> dict[int, list]:
    events = list(plan.events)
    key = [(e.at, {"join": 0, "leave": 1, "crash": 2}[e.kind], e.peer) for e in events]
    assert key == sorted(key)
    assert all(0 <= e.at < rounds for e in events)
    online = set(initial)
    for e in events:  # alternation: never two joins, never a departure of an offline peer
        if e.kind == "join":
            assert e.peer not in online, e
            online.add(e.peer)
        else:
            assert e.peer in online, e
            online.discard(e.peer)
        assert e.device is None or (e.kind == "join" and e.peer not in initial)
    spans = online_intervals(events, initial, rounds)
    count = sum(_mask(iv, rounds).astype(int) for iv in spans.values())
    assert (count >= 1).all()
    return spans


@pytest.mark.parametrize("seed", range(6))
def test_invariants_on_a_random_combination(seed: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(seed)
    rounds, initial = 120, list(range(12))
    rows = ["peer,start,end"] + [
        f"{p},{s},{s + rng.integers(3, 30)}"
        for p, s in [(10, 0), (10, 50), (11, 5), (11, 60), (40, 20)]
    ]
    (tmp_path / "trace.csv").write_text("\n".join(rows) + "\n")
    clusters = {p: p % 3 for p in range(3, 10)}
    spec = {
        "sessions": {
            "distribution": "weibull",
            "params": {"shape": 0.6, "scale": 6.0},
            "offline": {"distribution": "lognormal", "params": {"mu": 1.0, "sigma": 1.0}},
        },
        "arrivals": {"rate": float(rng.uniform(0.05, 0.3))},
        "diurnal": {"period": 24, "offline_start": 18, "offline_hours": 6, "fraction": 0.5},
        "outages": [
            {"gateway": 1, "at": 30, "duration": 5},
            {"peers": [0, 2], "at": 70, "duration": 10},
        ],
        "battery": {"capacity": 20, "drain": {"sensor": 1.5, "phone": 1.0}, "recharge": 5},
        "trace": {"file": "trace.csv"},
        "crash_ratio": 0.3,
    }
    devices = {p: ("sensor", "phone", "gateway")[p % 3] for p in range(10)}
    plan = plan_churn(
        spec,
        seed=seed,
        rounds=rounds,
        initial=initial,
        clusters=clusters,
        devices=devices,
        device_mix={"sensor": 1, "phone": 1},
        base_dir=tmp_path,
    )
    spans = _check_invariants(plan, initial, rounds)
    assert {e.kind for e in plan.events} == {"join", "leave", "crash"}
    # a peer is online only where every process lets it (the anchor aside, when warned)
    exempt = {plan.anchor} if any("kept online" in w for w in plan.warnings) else set()
    trace = load_trace(tmp_path / "trace.csv")
    for pid, iv in trace.items():  # trace peers also have batteries: a subset of the trace
        assert not (_mask(spans.get(pid, []), rounds) & ~_mask(iv, rounds)).any()
    night = ((np.arange(rounds) - 18) % 24) < 6
    for pid in plan.diurnal - exempt:
        assert not (_mask(spans.get(pid, []), rounds) & night).any()
    for pid in {1, 4, 7} - exempt:  # gateway 1's cluster
        assert not _mask(spans[pid], rounds)[30:35].any()
    for pid in {0, 2} - exempt:
        assert not _mask(spans[pid], rounds)[70:80].any()
    for pid, arrived in plan.arrivals.items():
        assert all(s >= arrived for s, _ in spans.get(pid, []))


def test_churn_events_validate_as_scenario_events(tiny: dict) -> None:
    from hdus_sim.scenario import load_scenario

    spec = {"sessions": SESSIONS, "arrivals": {"rate": 0.5}, "crash_ratio": 0.3}
    plan = plan_churn(
        spec, seed=3, rounds=tiny["rounds"], initial=range(6), device_mix=tiny["peers"]["devices"]
    )
    tiny["events"] = [e.as_event() for e in plan.events]
    sc = load_scenario(tiny)
    assert len(sc.events) == len(plan.events)


def test_arrivals_without_device_mix_validate_and_use_the_scenario_mix(tiny: dict) -> None:
    """``device_mix`` is optional: arrivals then draw from ``peers.devices``."""
    from hdus_sim.scenario import load_scenario

    tiny["events"] = []
    tiny["churn"] = {"arrivals": {"rate": 0.5, "first_id": 6}}
    sc = load_scenario(tiny)  # raised TypeError: 'NoneType' object is not iterable
    plan = sc.churn_plan
    assert plan is not None and plan.arrivals
    assert {d for p, d in plan.devices.items() if p in plan.arrivals} <= set(
        tiny["peers"]["devices"]
    )


def test_the_network_never_empties() -> None:
    spec = {"outages": [{"peers": [0, 1, 2], "at": 3, "duration": 2}]}
    plan = plan_churn(spec, seed=0, rounds=8, initial=[0, 1, 2])
    assert plan.anchor == 0 and "round(s) 3-4" in plan.warnings[0]
    assert [(e.at, e.kind, e.peer) for e in plan.events] == [
        (3, "leave", 1),
        (3, "leave", 2),
        (5, "join", 1),
        (5, "join", 2),
    ]
    _check_invariants(plan, [0, 1, 2], 8)


def test_scripted_peers_are_left_to_the_script() -> None:
    spec = {"outages": [{"peers": [0, 1], "at": 3, "duration": 2}]}
    # peer 2 is scripted and online: the network is not empty, nobody is anchored
    plan = plan_churn(spec, seed=0, rounds=8, initial=[0, 1, 2], scripted=[(6, "leave", 2)])
    assert not plan.warnings and all(e.peer != 2 for e in plan.events)
    assert len(plan.events) == 4
    # once the script removes peer 2, the anchor stays
    plan = plan_churn(spec, seed=0, rounds=8, initial=[0, 1, 2], scripted=[(1, "leave", 2)])
    assert plan.warnings and all(e.peer == 1 for e in plan.events)
    with pytest.raises(ScenarioError, match=r"churn\.outages\[0\]\.peers.*scripted"):
        plan_churn(spec, seed=0, rounds=8, initial=[0, 1, 2], scripted=[(1, "leave", 0)])


# ---------------------------------------------------------------- clear errors
@pytest.mark.parametrize(
    ("section", "pattern"),
    [
        (
            {"sessions": {**SESSIONS, "distribution": "gamma"}},
            r"churn\.sessions\.distribution.*'gamma'.*weibull",
        ),
        (
            {"sessions": {**SESSIONS, "distribution": "weibull", "params": {"scale": 2}}},
            r"churn\.sessions.*needs shape, scale; missing shape",
        ),
        (
            {"sessions": {**SESSIONS, "params": {"scale": 2, "rate": 1}}},
            r"takes only scale, not rate",
        ),
        ({"sessions": {**SESSIONS, "params": {"scale": -1}}}, r"params\.scale must be > 0"),
        (
            {"sessions": {"distribution": "exponential", "params": {"scale": 2}}},
            r"missing field `churn\.sessions\.offline`",
        ),
        (
            {"diurnal": {"period": 24, "offline_start": 30}},
            r"offline_start \(30\) must be < period",
        ),
        ({"outages": [{"at": 3, "duration": 2}]}, r"churn\.outages\[0\].*exactly one of"),
        ({"crash_ratio": 1.5}, r"churn\.crash_ratio"),
        ({"sesions": {}}, r"unknown field `churn\.sesions`"),
        ({"trace": {"intervals": {1: [[0, 5], [3, 8]]}}}, r"intervals\[1\]\[1\].*overlaps"),
    ],
)
def test_schema_errors_name_the_field_and_the_fix(section: dict, pattern: str) -> None:
    with pytest.raises(ScenarioError, match=pattern):
        load_churn(section)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("node,from,to\n0,0,5\n", r"t\.csv:1: the header must be `peer,start,end`"),
        ("peer,start,end\n0,0,5\n1,x,5\n", r"t\.csv:3: start 'x' is not an integer"),
        ("peer,start,end\n0,5,5\n", r"t\.csv:2: end \(5\) must be after start \(5\)"),
        (
            "peer,start,end\n0,0,5\n0,4,8\n",
            r"t\.csv:3: peer 0's interval \[4, 8\) overlaps.*t\.csv:2",
        ),
        ("peer,start,end\n0,0\n", r"t\.csv:2: expected 3 columns"),
        ("peer,start,end\n-1,0,3\n", r"t\.csv:2: peer must be >= 0"),
        ("", r"is empty"),
    ],
)
def test_bad_trace_lines_are_named(tmp_path: Path, text: str, pattern: str) -> None:
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(ScenarioError, match=pattern):
        load_trace(tmp_path / "t.csv")


def test_missing_trace_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.csv does not exist.*scenario file's folder"):
        generate_churn(
            {"trace": {"file": "nope.csv"}}, seed=0, rounds=5, initial=[0, 1], base_dir=tmp_path
        )


@pytest.mark.parametrize(
    ("section", "kwargs", "pattern"),
    [
        (
            {"outages": [{"gateway": 0, "at": 1, "duration": 1}]},
            {},
            r"churn\.outages\[0\]\.gateway needs a cluster map",
        ),
        (
            {"outages": [{"gateway": 9, "at": 1, "duration": 1}]},
            {"clusters": {2: 0}},
            r"9 is no gateway.*gateways: \[0\]",
        ),
        (
            {"outages": [{"peers": [1], "at": 5, "duration": 1}]},
            {},
            r"churn\.outages\[0\]\.at \(5\) is past the last round \(4\)",
        ),
        (
            {"sessions": {**SESSIONS, "peers": [1, 42]}},
            {},
            r"churn\.sessions\.peers: peer 42 is unknown",
        ),
        (
            {"arrivals": {"rate": 1, "first_id": 1}},
            {},
            r"churn\.arrivals\.first_id \(1\) would reuse.*set it to 3",
        ),
        (
            {
                "sessions": {
                    **SESSIONS,
                    "params": {"scale": 1e-9},
                    "offline": {"distribution": "exponential", "params": {"scale": 1e-9}},
                }
            },
            {},
            r"raise the `scale`",
        ),
    ],
)
def test_plan_errors_name_the_field(section: dict, kwargs: dict, pattern: str) -> None:
    with pytest.raises(ScenarioError, match=pattern):
        plan_churn(section, seed=0, rounds=5, initial=[0, 1, 2], **kwargs)


def test_online_intervals_refuses_inconsistent_events() -> None:
    with pytest.raises(ScenarioError, match="already online"):
        online_intervals([ChurnEvent(1, "join", 0, None, "session")], [0], 5)
    with pytest.raises(ScenarioError, match="not online"):
        online_intervals([ChurnEvent(1, "crash", 3, None, "session")], [0], 5)


def test_crash_ratio_is_the_fraction_of_departures() -> None:
    events = generate_churn(
        {"sessions": SESSIONS, "crash_ratio": 0.3}, seed=8, rounds=300, initial=list(range(40))
    )
    kinds = Counter(e.kind for e in events if e.kind != "join")
    n = kinds["leave"] + kinds["crash"]
    assert n > 1000
    assert stats.binomtest(kinds["crash"], n, 0.3).pvalue > 0.01
