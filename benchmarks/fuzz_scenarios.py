"""Fuzz scenario files against ``hdus-sim validate``: every input is accepted and valid, or refused.

Seeded and bounded: ``--n`` inputs from ``--seed``, each a random mutation of a bundled
scenario (``scenarios/*.yaml``) or of the small base of ``bad_scenarios.py``:

*structured* (on the parsed document, written back as YAML): a leaf set to an awkward
value (``inf``, ``nan``, ``-1``, ``2**64``, ``10**9``, ``""``, ``None``, a list, a mapping,
a known name in the wrong place), a numeric leaf scaled (x10, x1000, negated), a key
deleted, an unknown key added, a subtree copied elsewhere, ``peers.initial`` or the
topology or its parameters redrawn, events added (join, leave, crash, kill_actor, delete by
count / fraction / ids; peers known or not, rounds in or past the run), a churn section
added;

*textual* (on the YAML text): bytes flipped, inserted or cut, a line duplicated (duplicate
keys) or deleted, the text truncated, anchors, aliases and alias bombs, deep nesting, tags
(``!!python/object``, ``!!binary``), NUL bytes, invalid UTF-8, a byte-order mark, huge
numbers.

The property: ``hdus-sim validate FILE`` (in-process through :func:`hdus_sim.cli.run_cli`)
exits 0 and the scenario round-trips (its resolved form validates again, unchanged), or
exits 1 printing only ``error:`` lines and no traceback. A refusal must come within
``--time-cap`` seconds (default 5); an acceptance within ``--accept-cap`` (default 30: a
valid 100,000-peer scenario with churn plans its events during validation, a few seconds
on a loaded machine). Anything else is a crash, saved under ``--keep`` for replay.
``--processes K`` also runs every K-th input through a real ``hdus-sim validate``
subprocess and checks it agrees.

Usage::

    python benchmarks/fuzz_scenarios.py [--n 2000] [--seed 0] [--processes 50] [--keep DIR]

Prints the counts: inputs tried, accepted, refused by kind, crashes (exit 1 if any).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import math
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

__all__ = ["FuzzReport", "classify", "fuzz", "main", "mutate"]

_BASE: dict[str, Any] = {
    "name": "base",
    "seed": 3,
    "rounds": 5,
    "dataset": {"name": "digits"},
    "partition": {"scheme": "class_drop", "classes_dropped": 2, "reference": {"size": 0.2}},
    "topology": {"kind": "ring"},
    "peers": {"initial": 6, "devices": {"sensor": 1, "phone": 1}},
    "training": {"local_epochs": 2, "train_rounds": 1, "lr": 0.01},
    "seed_model": {"distill_steps": 20},
    "events": [
        {"at": 2, "kind": "leave", "peer": 1},
        {"at": 2, "kind": "join", "peer": 6, "device": "sensor"},
        {"at": 3, "kind": "delete", "peer": 0, "count": 2},
    ],
}

_AWKWARD: list[Any] = [
    math.inf,
    -math.inf,
    math.nan,
    0,
    -1,
    1,
    2,
    0.5,
    1e-300,
    1e308,
    2**63,
    2**64,
    -(2**63) - 1,
    10**9,
    10**30,
    100_000,
    "",
    "x" * 500,
    "sensor",
    "ring",
    "complete",
    "all",
    "é\u202e",
    None,
    True,
    False,
    [],
    {},
    [1, 2, 3],
    {"a": 1},
    [[0, 5]],
]
_NAMES = ["sensor", "phone", "gateway", "linear", "toaster", "sisa", "sq", "certified"]
_TOPOLOGIES: list[tuple[str, Callable[[random.Random], dict[str, Any]]]] = [
    ("ring", lambda r: {}),
    ("complete", lambda r: {}),
    ("grid", lambda r: r.choice([{}, {"rows": r.choice([1, 2, 3, 7, 0])}])),
    ("k_regular", lambda r: {"k": r.choice([1, 2, 3, 4, 5, 99, 0])}),
    ("small_world", lambda r: {"k": r.choice([2, 3, 4, 7]), "p": r.choice([0.0, 0.2, 1.0, 1.5])}),
    ("scale_free", lambda r: {"m": r.choice([1, 2, 3, 50])}),
    ("erdos_renyi", lambda r: {"p": r.choice([0.0, 1e-6, 0.05, 0.5, 1.0, 2.0])}),
    ("random_geometric", lambda r: {"radius": r.choice([0.0, 0.01, 0.3, 1.5, -1])}),
    (
        "clustered_gateways",
        lambda r: {"gateways": r.choice([0, 1, 3, 500]), "backbone": r.choice(["ring", "x"])},
    ),
    ("hypercube", lambda r: {}),
]


def _seeds() -> list[tuple[str, str]]:
    """(name, YAML text) of every starting point."""
    out = [("base", yaml.safe_dump(_BASE, sort_keys=False))]
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        out.append((path.stem, path.read_text(encoding="utf-8")))
    return out


# ---------------------------------------------------------------------------- structured
def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``node`` (mappings and lists), the root excluded."""
    out: list[tuple[Any, ...]] = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        out.append((*prefix, key))
        out += _paths(value, (*prefix, key))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _put(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(doc, path[:-1])[path[-1]] = value


def _random_event(r: random.Random, doc: dict[str, Any]) -> dict[str, Any]:
    rounds = doc.get("rounds") if isinstance(doc.get("rounds"), int) else 5
    kind = r.choice(["join", "leave", "crash", "kill_actor", "delete", "delete", "delete"])
    ev: dict[str, Any] = {"at": r.choice([0, 1, max(rounds - 1, 0), rounds, rounds + 3])}
    ev["kind"] = kind
    peer = r.choice([0, 1, 2, 5, 6, 7, 42, 10**6, -1])
    if kind == "kill_actor":
        ev["actor"] = r.choice([0, 1, 99])
    else:
        ev["peer"] = peer
    if kind == "join" and r.random() < 0.5:
        ev["device"] = r.choice(_NAMES)
    if kind == "delete":
        how = r.choice(["count", "fraction", "ids", "two", "none"])
        if how in ("count", "two"):
            ev["count"] = r.choice([1, 3, 0, 10**7])
        if how in ("fraction", "two"):
            ev["fraction"] = r.choice([0.1, 0.9, 1.0, 0.0, math.nan])
        if how == "ids":
            ev["ids"] = r.choice([[1, 2], [5, 5], [], [-1], [10**12]])
    return ev


def _structured(r: random.Random, doc: Any) -> Any:
    if not isinstance(doc, dict):
        return doc
    paths = _paths(doc)
    op = r.randrange(11)
    if op == 0 and paths:  # a leaf set to an awkward value
        _put(doc, r.choice(paths), copy.deepcopy(r.choice(_AWKWARD)))
    elif op == 1 and paths:  # scale a number
        numeric = [p for p in paths if isinstance(_get(doc, p), int | float)]
        numeric = [p for p in numeric if not isinstance(_get(doc, p), bool)]
        if numeric:
            p = r.choice(numeric)
            _put(doc, p, _get(doc, p) * r.choice([10, 1000, -1, 0, 10**6, 0.5]))
    elif op == 2 and paths:  # delete a key or list item
        p = r.choice(paths)
        del _get(doc, p[:-1])[p[-1]]
    elif op == 3:  # an unknown key somewhere
        maps = [()] + [p for p in paths if isinstance(_get(doc, p), dict)]
        _get(doc, r.choice(maps))[r.choice(["extra", "topolgy", "lr", "k", "peer"])] = 1
    elif op == 4 and len(paths) > 1:  # copy a subtree into another place
        src, dst = r.choice(paths), r.choice(paths)
        if dst[: len(src)] != src:
            _put(doc, dst, copy.deepcopy(_get(doc, src)))
    elif op == 5:
        doc.setdefault("peers", {})
        if isinstance(doc["peers"], dict):
            doc["peers"]["initial"] = r.choice([0, 1, 2, 3, 10, 500, 100_000, 10**6, 10**9])
    elif op == 6:
        kind, params = r.choice(_TOPOLOGIES)
        doc["topology"] = {"kind": kind, "params": params(r)}
    elif op == 7:
        events = doc.setdefault("events", [])
        if isinstance(events, list):
            for _ in range(r.randint(1, 3)):
                events.append(_random_event(r, doc))
    elif op == 8:
        doc["churn"] = r.choice(
            [
                {"arrivals": {"rate": r.choice([0.5, 1e6, 0.0, -1])}},
                {"arrivals": {"rate": 0.3, "device_mix": r.choice([{"sensor": 1}, {}, {"x": 1}])}},
                {
                    "sessions": {
                        "distribution": "exponential",
                        "params": {"scale": r.choice([3.0, 1e-9, math.inf])},
                        "offline": {"distribution": "exponential", "params": {"scale": 2.0}},
                    }
                },
                {"outages": [{"peers": [r.choice([0, 1, 99])], "at": 1, "duration": 2}]},
                {"battery": {"capacity": 5, "drain": {"sensor": 1, "toaster": 1}, "recharge": 2}},
                {"diurnal": {"period": 24, "offline_start": r.choice([1, 30]), "fraction": 0.3}},
                {"trace": {"intervals": {0: [[0, 2]], 9: [[1, 4], [3, 5]]}}},
            ]
        )
    elif op == 9:
        doc.setdefault("peers", {})
        if isinstance(doc["peers"], dict):
            key = r.choice(["unlearning_by_device", "profiles", "devices_by_role", "devices"])
            name = r.choice(_NAMES)
            value = {
                "unlearning_by_device": r.choice(["sisa", "sq", "none", "magic"]),
                "profiles": {"cpu": r.choice([0.1, math.inf, -1])},
                "devices_by_role": r.choice(_NAMES),
                "devices": r.choice([1, 0, -1]),
            }[key]
            doc["peers"][key] = {name: value}
    else:
        doc.setdefault("partition", {})
        if isinstance(doc["partition"], dict):
            doc["partition"][r.choice(["classes_dropped", "alpha"])] = r.choice([0, 5, 9, 10, 11])
    return doc


# ---------------------------------------------------------------------------- textual
def _bomb(r: random.Random) -> str:
    width, depth = r.randint(2, 12), r.randint(2, 10)
    lines = ["x0: &x0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * width) + "]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


def _textual(r: random.Random, text: str) -> bytes:
    data = text.encode("utf-8")
    lines = text.splitlines(keepends=True)
    op = r.randrange(14)
    if op == 0 and data:  # flip bytes
        buf = bytearray(data)
        for _ in range(r.randint(1, 8)):
            buf[r.randrange(len(buf))] = r.randrange(256)
        return bytes(buf)
    if op == 1:  # insert bytes
        at = r.randrange(len(data) + 1)
        return data[:at] + bytes(r.randrange(256) for _ in range(r.randint(1, 20))) + data[at:]
    if op == 2 and data:  # truncate
        return data[: r.randrange(len(data))]
    if op == 3 and lines:  # duplicate a line (duplicate keys)
        i = r.randrange(len(lines))
        return "".join(lines[: i + 1] + lines[i:]).encode()
    if op == 4 and lines:  # delete a line
        i = r.randrange(len(lines))
        return "".join(lines[:i] + lines[i + 1 :]).encode()
    if op == 5:  # an alias bomb under a random top-level key
        key = r.choice(["bomb", "description", "topology", "debug"])
        body = "".join("  " + ln for ln in _bomb(r).splitlines(keepends=True))
        return (text + f"\n{key}:\n{body}").encode()
    if op == 6:  # deep nesting
        depth = r.choice([10, 17, 50, 1000, 100_000])
        style = r.choice(["flow", "list"])
        deep = (
            ("[" * depth + "]" * depth) if style == "flow" else ("{a: " * depth + "1" + "}" * depth)
        )
        return (text + f"\nextra: {deep}\n").encode()
    if op == 7:  # tags
        tag = r.choice(["!!python/object:os.system", "!!binary", "!foo", "!!set", "!!timestamp"])
        return re.sub(r"seed: ", f"seed: {tag} ", text, count=1).encode()
    if op == 8:  # NUL, bad UTF-8, BOM
        extra = r.choice([b"\x00", b"\xff\xfe", b"\xc3\x28", b"\xef\xbb\xbf"])
        at = r.randrange(len(data) + 1) if extra != b"\xef\xbb\xbf" else 0
        return data[:at] + extra + data[at:]
    if op == 9:  # huge numbers in place of a number
        nums = list(re.finditer(r"(?<=: )-?\d+(\.\d+)?", text))
        if nums:
            m = r.choice(nums)
            big = r.choice(
                ["9" * 50, "9" * 5000, "1.0e+400", ".inf", "-.nan", "0x7fffffffffffffffff"]
            )
            return (text[: m.start()] + big + text[m.end() :]).encode()
    if op == 10:  # a recursive alias
        return (text + "\nloop: &loop [1, *loop]\n").encode()
    if op == 11:  # anchors and aliases that are fine
        return ("shared: &s {lr: 0.02}\n" + text).encode()
    if op == 12:  # tabs for indentation
        return text.replace("  ", "\t", r.randint(1, 3)).encode()
    return (text + "\n" + "# pad\n" * r.choice([10, 40_000])).encode()


def mutate(r: random.Random, text: str) -> bytes:
    """One fuzz input from scenario ``text``: 1-3 structured or textual mutations."""
    if r.random() < 0.55:
        doc = yaml.safe_load(text)
        for _ in range(r.randint(1, 3)):
            doc = _structured(r, doc)
        try:
            return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode()
        except yaml.YAMLError:
            return text.encode()
    return _textual(r, text)


# ---------------------------------------------------------------------------- the property
_KINDS: list[tuple[str, str]] = [
    ("file: size cap", r"byte cap"),
    ("file: not UTF-8 / binary", r"not UTF-8|NUL byte|binary"),
    ("yaml: syntax or tag", r"not valid YAML|not plain YAML|cannot be read"),
    ("yaml: duplicate key", r"duplicate key"),
    ("yaml: nesting depth", r"nested deeper"),
    ("yaml: aliases", r"aliases|contains itself|more than [\d,]+ values"),
    ("not a mapping", r"must be a mapping"),
    ("number: not finite / out of range", r"finite number|out of range|integers must lie"),
    ("budget (limits)", r"budget|cap for|distance table|never connected"),
    ("field: missing", r"missing field"),
    ("field: unknown", r"unknown field"),
    ("events and deletions", r"`events\[|`churn` \(|no peer online"),
    ("topology", r"`topology"),
    ("churn", r"churn"),
    ("device classes and options", r"device class|unlearning|option"),
    ("field: type or range", r"Input should|must be|must lie"),
]


def classify(message: str) -> str:
    """The kind of a refusal, from its first error line."""
    first = message.splitlines()[0] if message else ""
    for kind, pattern in _KINDS:
        if re.search(pattern, first):
            return kind
    return "other cross-field check"


@dataclass
class FuzzReport:
    """Counts of one fuzz run."""

    tried: int = 0
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    crashes: list[tuple[int, str]] = field(default_factory=list)
    slowest_s: float = 0.0
    slowest_refusal_s: float = 0.0
    processes: int = 0
    process_mismatches: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        """The counts as a few lines of text."""
        lines = [
            f"inputs tried: {self.tried}; accepted (and valid): {self.accepted}; refused: "
            f"{sum(self.refused.values())}; crashes: {len(self.crashes)}; slowest refusal "
            f"{self.slowest_refusal_s:.2f} s, slowest input {self.slowest_s:.2f} s; checked in "
            f"a real process: {self.processes} ({len(self.process_mismatches)} disagreeing)",
            "refused by kind:",
        ]
        lines += [f"  {n:6d}  {kind}" for kind, n in self.refused.most_common()]
        lines += [f"  CRASH input {i}: {why}" for i, why in self.crashes[:20]]
        return "\n".join(lines)


def _check_one(path: Path, time_cap: float, accept_cap: float) -> tuple[str, str, float]:
    """Validate ``path`` in-process: ("accepted" | "refused" | "crash", detail, seconds)."""
    from hdus_sim.cli import run_cli
    from hdus_sim.errors import ScenarioError
    from hdus_sim.scenario import load_scenario, scenario_to_dict

    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run_cli(["validate", str(path)])
    except BaseException as exc:  # the property is that nothing escapes
        return "crash", f"{type(exc).__name__} escaped run_cli: {exc}"[:300], 0.0
    wall = time.perf_counter() - t0
    text = err.getvalue()
    lines = [line for line in text.splitlines() if line.strip()]
    if wall > (accept_cap if code == 0 else time_cap):
        return "crash", f"exit {code} after {wall:.1f} s (over its cap)", wall
    if "Traceback" in text:
        return "crash", "traceback printed", wall
    if code == 1:
        if not lines or any(not line.startswith("error: ") for line in lines):
            return "crash", f"refusal printed non-error lines: {text[:200]!r}", wall
        try:  # load_scenario refuses it too, with the same ScenarioError
            load_scenario(path)
        except ScenarioError:
            return "refused", lines[0].removeprefix("error: "), wall
        except Exception as exc:
            return "crash", f"load_scenario raised {type(exc).__name__}: {exc}"[:300], wall
        return "crash", "validate refused it but load_scenario accepted it", wall
    if code != 0:
        return "crash", f"exit code {code}: {text[:200]!r}", wall
    if any(not line.startswith("note: ") for line in lines):
        return "crash", f"accepted but printed {text[:200]!r}", wall
    try:  # accepted means valid: the resolved form validates again, unchanged
        sc = load_scenario(path)
        again = load_scenario(scenario_to_dict(sc))
        if scenario_to_dict(again) != scenario_to_dict(sc):
            return "crash", "resolved form changes when validated again", wall
    except ScenarioError as exc:
        return "crash", f"accepted, but its resolved form is refused: {exc}"[:300], wall
    return "accepted", "", wall


def _check_process(path: Path) -> str:
    """``hdus-sim validate`` as a real subprocess: "accepted", "refused" or what went wrong."""
    res = subprocess.run(
        [sys.executable, "-m", "hdus_sim", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=path.parent,
        errors="replace",
    )
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    if "Traceback" in res.stderr:
        return "traceback"
    if res.returncode == 0:
        return "accepted"
    if res.returncode == 1 and lines and all(line.startswith("error: ") for line in lines):
        return "refused"
    return f"exit {res.returncode}: {res.stderr[:200]!r}"


def fuzz(
    n: int,
    seed: int = 0,
    *,
    time_cap: float = 5.0,
    accept_cap: float = 30.0,
    processes_every: int = 0,
    keep: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> FuzzReport:
    """Try ``n`` mutated scenarios from ``seed``; see the module docstring for the property."""
    r = random.Random(seed)
    seeds = _seeds()
    report = FuzzReport()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "traces").mkdir()
        shutil.copy(ROOT / "scenarios" / "traces" / "small_trace.csv", folder / "traces")
        for i in range(n):
            _, text = seeds[r.randrange(len(seeds))]
            data = mutate(r, text)
            path = folder / f"input{i}.yaml"
            path.write_bytes(data)
            verdict, detail, wall = _check_one(path, time_cap, accept_cap)
            report.tried += 1
            report.slowest_s = max(report.slowest_s, wall)
            if verdict == "accepted":
                report.accepted += 1
            elif verdict == "refused":
                report.refused[classify(detail)] += 1
                report.slowest_refusal_s = max(report.slowest_refusal_s, wall)
            else:
                report.crashes.append((i, detail))
                if keep is not None:
                    keep.mkdir(parents=True, exist_ok=True)
                    shutil.copy(path, keep / path.name)
            if processes_every and i % processes_every == 0 and verdict != "crash":
                report.processes += 1
                got = _check_process(path)
                if got != verdict:
                    report.process_mismatches.append((i, f"in-process {verdict}, process {got}"))
            if log is not None and (i + 1) % 100 == 0:
                log(f"{i + 1}/{n}: {report.accepted} accepted, {len(report.crashes)} crashes")
            path.unlink()
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the fuzzer and print its counts; exit 1 on any crash or disagreement."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="inputs to try")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-cap", type=float, default=5.0, help="seconds per refusal")
    p.add_argument("--accept-cap", type=float, default=30.0, help="seconds per acceptance")
    p.add_argument("--processes", type=int, default=50, help="every K-th input also as a process")
    p.add_argument("--keep", type=Path, default=None, help="folder to save crashing inputs in")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    report = fuzz(
        args.n,
        args.seed,
        time_cap=args.time_cap,
        accept_cap=args.accept_cap,
        processes_every=args.processes,
        keep=args.keep,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    print(report.summary())
    print(f"seed {args.seed}, {time.perf_counter() - t0:.0f} s in all")
    return 1 if report.crashes or report.process_mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
