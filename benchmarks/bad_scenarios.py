"""Bad scenario inputs against ``hdus-sim validate``: the error, exit code, wall time, peak memory.

Each :class:`Case` writes one bad scenario (and any topology or trace file it names) into a
fresh folder; the script runs ``python -m hdus_sim validate FILE`` on it as a real
subprocess and measures the wall time (``time.perf_counter`` around the process, Python
start-up and imports included, about 1 s) and the peak resident memory of that process
(``ru_maxrss`` from ``os.wait4``), with its CPU time (user + system: unlike wall time, it
does not grow when other jobs load the machine). A case passes when the process exits 1
within the time cap (default 5 s) and memory cap (500 MB), prints no traceback, and prints
exactly one ``error:`` line that names the case's field.
``tests/hdus_sim/test_bad_scenarios.py`` runs the same catalogue in-process.

Usage::

    python benchmarks/bad_scenarios.py [--only NAME,...] [--markdown]

Prints the table (Markdown with ``--markdown``) and exits 1 if any case fails. About a
minute on 2 cores (one process start per case).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))  # benchkit, also when imported from elsewhere

__all__ = ["BASE", "CASES", "Case", "Outcome", "main", "measure"]

#: A small valid scenario every case starts from (6 peers on a ring, digits).
BASE: dict[str, Any] = {
    "name": "base",
    "seed": 3,
    "rounds": 5,
    "dataset": {"name": "digits"},
    "partition": {"scheme": "class_drop", "classes_dropped": 2, "reference": {"size": 0.2}},
    "topology": {"kind": "ring"},
    "peers": {"initial": 6, "devices": {"sensor": 1, "phone": 1}},
    "training": {"local_epochs": 2, "train_rounds": 1, "lr": 0.01},
    "seed_model": {"distill_steps": 20, "temperature": 3.0},
    "events": [
        {"at": 2, "kind": "leave", "peer": 1},
        {"at": 2, "kind": "join", "peer": 6, "device": "sensor"},
    ],
}


@dataclass(frozen=True)
class Case:
    """One class of bad input: how to write it, and the field its error must name."""

    name: str
    field: str
    make: Callable[[Path], Path]
    #: named in the issue (issue 13)
    named: bool = False


def _yaml(folder: Path, data: Any, name: str = "scenario.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _text(folder: Path, text: str | bytes, name: str = "scenario.yaml") -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _base_text() -> str:
    return yaml.safe_dump(BASE, sort_keys=False)


def _edit(fn: Callable[[dict[str, Any]], Any]) -> Callable[[Path], Path]:
    """A case that edits a copy of :data:`BASE` and writes it as YAML."""

    def make(folder: Path) -> Path:
        data = copy.deepcopy(BASE)
        fn(data)
        return _yaml(folder, data)

    return make


def _replace(old: str, new: str) -> Callable[[Path], Path]:
    """A case that edits the YAML text of :data:`BASE` (for what a dict cannot hold)."""

    def make(folder: Path) -> Path:
        text = _base_text()
        assert old in text, old
        return _text(folder, text.replace(old, new, 1))

    return make


def _topology_file(name: str, content: str | bytes, **extra: Any) -> Callable[[Path], Path]:
    """A case whose topology is the file ``name`` holding ``content``."""

    def make(folder: Path) -> Path:
        file = _text(folder, content, name)
        data = copy.deepcopy(BASE)
        data["topology"] = {"kind": "file", "params": {"path": str(file)}}
        data["events"] = []
        for key, value in extra.items():
            data[key] = value
        return _yaml(folder, data)

    return make


def _graphml(nodes: list[int], edges: list[tuple[int, int]], *, parallel: bool = False) -> str:
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">\n'
        '  <graph edgedefault="undirected">\n'
    )
    body = "".join(f'    <node id="{n}"/>\n' for n in nodes)
    body += "".join(f'    <edge source="{u}" target="{v}"/>\n' for u, v in edges)
    if parallel:
        u, v = edges[0]
        body += f'    <edge source="{u}" target="{v}"/>\n'
    return head + body + "  </graph>\n</graphml>\n"


def _alias_bomb(where: str) -> Callable[[Path], Path]:
    """Billion laughs: 9 levels of 9 aliases each (9**9, about 387 million values)."""

    def make(folder: Path) -> Path:
        lines = ["    a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for i in range(1, 10):
            lines.append(f"    a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
        text = _base_text()
        if where == "topology.params":
            text = text.replace("topology:\n  kind: ring\n", "topology:\n  kind: ring\n  params:\n")
            text = text.replace("  params:\n", "  params:\n" + "\n".join(lines) + "\n", 1)
        else:  # peers.unlearning_options.sisa
            block = "  unlearning_options:\n    sisa:\n" + "\n".join("  " + ln for ln in lines)
            text = text.replace("  devices:\n", block + "\n  devices:\n", 1)
        return _text(folder, text)

    return make


def _nested(levels: int) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        text = _base_text() + "description_extra: " + "{a: " * levels + "1" + "}" * levels + "\n"
        return _text(folder, text)

    return make


def _trace_file(content: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        trace = _text(folder, content, "trace.csv")
        data = copy.deepcopy(BASE)
        data["events"] = []
        data["churn"] = {"trace": {"file": str(trace)}}
        return _yaml(folder, data)

    return make


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        node = data
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    return edit


def _event(ev: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["events"].append(ev)


def _both(*edits: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        for fn in edits:
            fn(data)

    return edit


INF, NAN = float("inf"), float("nan")

#: Every class of bad input tried; ``named`` ones are those the issue lists.
CASES: list[Case] = [
    # --- not refused at all before
    Case("training.lr: .inf", "`training.lr`", _edit(_set("training.lr", INF)), named=True),
    Case(
        "seed_model.temperature: .inf",
        "`seed_model.temperature`",
        _edit(_set("seed_model.temperature", INF)),
        named=True,
    ),
    Case(
        "duplicated key in a mapping (training.lr twice)",
        "`training.lr`",
        _replace("  lr: 0.01\n", "  lr: 0.01\n  lr: 0.5\n"),
        named=True,
    ),
    Case(
        "GraphML topology whose graph is disconnected",
        "`topology.params.path`",
        _topology_file("net.graphml", _graphml(list(range(6)), [(0, 1), (1, 2), (3, 4), (4, 5)])),
        named=True,
    ),
    # --- refused only after the run started, or with a traceback / exit 2
    Case(
        "partition.reference.size: .inf",
        "`partition.reference.size`",
        _edit(_set("partition.reference.size", INF)),
        named=True,
    ),
    Case(
        "classes_dropped equal to the number of classes",
        "`partition.classes_dropped`",
        _edit(_set("partition.classes_dropped", 10)),
        named=True,
    ),
    Case(
        "unlearning_by_device naming an unknown device class",
        "`peers.unlearning_by_device.toaster`",
        _edit(_set("peers.unlearning_by_device", {"toaster": "sisa"})),
        named=True,
    ),
    # --- hung past 30 s
    Case(
        "peers.initial: 100000 with a complete graph",
        "`topology`",
        _edit(_both(_set("peers.initial", 100_000), _set("topology", {"kind": "complete"}))),
        named=True,
    ),
    Case(
        "alias bomb (billion laughs) in topology.params",
        "`topology.params",
        _alias_bomb("topology.params"),
        named=True,
    ),
    Case(
        "alias bomb (billion laughs) in unlearning_options",
        "`peers.unlearning_options.sisa",
        _alias_bomb("unlearning_options"),
        named=True,
    ),
    # --- slow, then an unclear error
    Case(
        "peers.initial: 1000000000",
        "`peers.initial`",
        _edit(_set("peers.initial", 1_000_000_000)),
        named=True,
    ),
    Case("a 100-level nested document", "nested deeper than 16", _nested(100), named=True),
    Case(
        "binary garbage",
        "binary",
        lambda f: _text(f, bytes(range(256)) * 40 + os.urandom(2000)),
        named=True,
    ),
    # --- deletion requests
    Case(
        "delete by count: to an unknown peer",
        "`events[2]`",
        _edit(_event({"at": 3, "kind": "delete", "peer": 42, "count": 2})),
        named=True,
    ),
    Case(
        "delete by fraction: to an unknown peer",
        "`events[2]`",
        _edit(_event({"at": 3, "kind": "delete", "peer": 42, "fraction": 0.1})),
    ),
    Case(
        "delete by ids: to an unknown peer",
        "`events[2]`",
        _edit(_event({"at": 3, "kind": "delete", "peer": 42, "ids": [1, 2]})),
    ),
    Case(
        "delete by count: to a peer that has not joined yet",
        "`events[2]`",
        _edit(_event({"at": 1, "kind": "delete", "peer": 6, "count": 1})),
    ),
    Case(
        "delete by ids: a sample id listed twice",
        "`events[2]`",
        _edit(_event({"at": 3, "kind": "delete", "peer": 0, "ids": [5, 5]})),
    ),
    Case(
        "delete with a fraction of 1 or more",
        "`events[2].fraction`",
        _edit(_event({"at": 3, "kind": "delete", "peer": 0, "fraction": 1.5})),
    ),
    # --- more non-finite numbers
    Case("training.lr: .nan", "`training.lr`", _edit(_set("training.lr", NAN))),
    Case("peers.rho: -.inf", "`peers.rho`", _edit(_set("peers.rho", -INF))),
    Case(
        "a device profile's cpu: .inf",
        "`peers.profiles.phone.cpu`",
        _edit(_set("peers.profiles", {"phone": {"cpu": INF}})),
    ),
    Case(
        "topology.params.p: .nan (an untyped builder parameter)",
        "`topology.params.p`",
        _edit(_set("topology", {"kind": "erdos_renyi", "params": {"p": NAN}})),
    ),
    Case(
        "churn.arrivals.rate: .inf",
        "`churn.arrivals.rate`",
        _edit(_set("churn", {"arrivals": {"rate": INF}})),
    ),
    Case(
        "a float written 1.0e+400 (reads as inf)",
        "`seed_model.lr`",
        _replace("seed_model:\n", "seed_model:\n  lr: 1.0e+400\n"),
    ),
    # --- cross-field checks
    Case(
        "peers.profiles naming an unknown device class",
        "`peers.profiles.toaster`",
        _edit(_set("peers.profiles", {"toaster": {"cpu": 0.1}})),
    ),
    Case(
        "peers.devices naming an unknown device class",
        "`peers.devices`",
        _edit(_set("peers.devices", {"toaster": 1})),
    ),
    Case(
        "peers.devices_by_role naming an unknown device class",
        "`peers.devices_by_role.gateway`",
        _edit(_set("peers.devices_by_role", {"gateway": "mainframe"})),
    ),
    Case(
        "unlearning_options for an unknown kind",
        "`peers.unlearning_options.magic`",
        _edit(_set("peers.unlearning_options", {"magic": {"x": 1}})),
    ),
    Case(
        "unlearning_options with an unknown option",
        "`peers.unlearning_options.sisa.shard`",
        _edit(_set("peers.unlearning_options", {"sisa": {"shard": 4}})),
    ),
    Case(
        "backdoor.target beyond the dataset's classes",
        "`backdoor.target`",
        _edit(_set("backdoor", {"peer": 0, "target": 12})),
    ),
    Case(
        "backdoor.peer naming a peer that never exists",
        "`backdoor.peer`",
        _edit(_set("backdoor", {"peer": 99})),
    ),
    Case(
        "a debug hook naming an unknown peer",
        "`debug.mute_relays`",
        _edit(_set("debug", {"mute_relays": [50]})),
    ),
    Case(
        "kill_actor of an actor that hosts no peer",
        "`events[2].actor`",
        _edit(
            _both(
                _set("runtime", {"peers_per_actor": 4}),
                _event({"at": 3, "kind": "kill_actor", "actor": 5}),
            )
        ),
    ),
    Case(
        "partition.reference.size: more samples than the dataset",
        "`partition.reference.size`",
        _edit(_set("partition.reference.size", 5000)),
    ),
    Case(
        "deletion_requests.end before start",
        "`deletion_requests.end`",
        _edit(_set("deletion_requests", {"rate": 0.1, "start": 3, "end": 1})),
    ),
    Case(
        "a leave of an unknown peer",
        "`events[2]`",
        _edit(_event({"at": 3, "kind": "leave", "peer": 77})),
    ),
    Case(
        "an event past the last round",
        "`events[2]`",
        _edit(_event({"at": 9, "kind": "crash", "peer": 0})),
    ),
    # --- size budget
    Case("rounds: 1000000000", "`rounds`", _edit(_set("rounds", 1_000_000_000))),
    Case(
        "exchange.heartbeat_timeout: 1000000000 (settle rounds)",
        "`exchange.heartbeat_timeout`",
        _edit(_set("exchange", {"heartbeat_timeout": 1_000_000_000})),
    ),
    Case(
        "churn sessions over 100,000 peers (planned peer by peer)",
        "`churn`",
        _edit(
            _both(
                _set("peers.initial", 100_000),
                _set(
                    "churn",
                    {
                        "sessions": {
                            "distribution": "exponential",
                            "params": {"scale": 5.0},
                            "offline": {"distribution": "exponential", "params": {"scale": 2.0}},
                        }
                    },
                ),
            )
        ),
    ),
    Case(
        "dataset.synthetic_samples: 10**12",
        "`dataset.synthetic_samples`",
        _edit(_set("dataset", {"name": "synthetic", "synthetic_samples": 10**12})),
    ),
    Case(
        "deletion_requests.rate: 10**9",
        "`deletion_requests.rate`",
        _edit(_set("deletion_requests", {"rate": 1e9})),
    ),
    Case(
        "erdos_renyi far too sparse to be connected (50,000 peers)",
        "`topology.params.p`",
        _edit(
            _both(
                _set("peers.initial", 50_000),
                _set("topology", {"kind": "erdos_renyi", "params": {"p": 1e-5}}),
                _set("partition.scheme", "iid"),
            )
        ),
    ),
    Case(
        "clustered_gateways: 50,000 gateways for 100,000 peers",
        "`topology.params.gateways`",
        _edit(
            _both(
                _set("peers.initial", 100_000),
                _set("topology", {"kind": "clustered_gateways", "params": {"gateways": 50_000}}),
            )
        ),
    ),
    Case(
        "limits raised past their hard ceiling",
        "`limits.max_edges`",
        _edit(_set("limits", {"max_edges": 10**12})),
    ),
    # --- the YAML itself
    Case(
        "a duplicated top-level key",
        "`seed`",
        _replace("seed: 3\n", "seed: 3\nseed: 4\n"),
    ),
    Case("a YAML syntax error", "line 3", lambda f: _text(f, "name: x\nseed: [1, 2\nrounds: 4\n")),
    Case(
        "latin-1 text (not UTF-8)",
        "not UTF-8",
        lambda f: _text(f, ("name: caf\xe9\n" + _base_text()).encode("latin-1")),
    ),
    Case("an empty file", "empty", lambda f: _text(f, "")),
    Case("a list instead of a mapping", "mapping", lambda f: _text(f, "- seed: 1\n- rounds: 2\n")),
    Case(
        "a file over the size cap (300 KiB)",
        "cap",
        lambda f: _text(f, _base_text() + ("# padding\n" * 30_000)),
    ),
    Case(
        "a recursive alias",
        "`topology.params.x",
        _replace(
            "topology:\n  kind: ring\n", "topology:\n  kind: ring\n  params:\n    x: &x [*x]\n"
        ),
    ),
    Case("a 5000-digit integer", "`seed`", _replace("seed: 3\n", "seed: " + "9" * 5000 + "\n")),
    Case(
        "a python object tag", "tag", _replace("seed: 3\n", "seed: !!python/object:os.system 3\n")
    ),
    Case(
        "a tag PyYAML fails on (!!timestamp 21, found by the fuzzer)",
        "cannot be read",
        _replace("seed: 3\n", "seed: !!timestamp 21\n"),
    ),
    Case("a folder instead of a file", "folder", lambda f: f),
    Case("two YAML documents", "single document", lambda f: _text(f, _base_text() + "---\na: 1\n")),
    Case("a negative seed", "`seed`", _edit(_set("seed", -1))),
    Case("a misspelt field", "`topolgy`", _edit(lambda d: d.update(topolgy=d.pop("topology")))),
    Case("a missing required field", "`peers`", _edit(lambda d: d.pop("peers"))),
    Case("a wrong type (rounds: many)", "`rounds`", _edit(_set("rounds", "many"))),
    # --- topology files
    Case(
        "an edge list with a repeated edge (u v, then v u)",
        "line 3",
        _topology_file("net.txt", "0 1\n1 2\n2 1\n2 3\n3 4\n4 5\n"),
    ),
    Case(
        "an edge list with a self-loop",
        "self-loop",
        _topology_file("net.txt", "0 1\n1 2\n2 2\n2 3\n3 4\n4 5\n"),
    ),
    Case(
        "GraphML with a parallel edge",
        "listed 2 times",
        _topology_file(
            "net.graphml",
            _graphml(list(range(6)), [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)], parallel=True),
        ),
    ),
    Case(
        "an edge list naming one node two ways (1 and 01)",
        "'01'",
        _topology_file("net.txt", "0 1\n01 2\n2 3\n3 4\n4 5\n"),
    ),
    Case(
        "a topology file with another peer count",
        "`peers.initial`",
        _topology_file("net.txt", "0 1\n1 2\n2 3\n"),
    ),
    Case(
        "GraphML with an XML entity bomb",
        "DOCTYPE",
        _topology_file(
            "net.graphml",
            '<?xml version="1.0"?>\n<!DOCTYPE g [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n<graphml>&b;</graphml>\n',
        ),
    ),
    Case(
        "a churn trace file that is not UTF-8",
        "trace file",
        _trace_file(b"peer,start,end\n0,0,5\n\xff\xfe,1,2\n"),
    ),
]


@dataclass
class Outcome:
    """What one ``hdus-sim validate`` process did."""

    case: Case
    code: int | None
    stderr: str
    wall_s: float
    peak_mb: float
    cpu_s: float = 0.0

    @property
    def lines(self) -> list[str]:
        """The non-empty stderr lines."""
        return [line for line in self.stderr.splitlines() if line.strip()]

    def problems(self, time_cap: float, memory_cap: float) -> list[str]:
        """Why this outcome fails the contract (empty: it passes)."""
        out = []
        if self.code != 1:
            out.append(f"exit code {self.code}")
        if "Traceback" in self.stderr:
            out.append("traceback")
        if len(self.lines) != 1 or not self.lines[0].startswith("error: "):
            out.append(f"{len(self.lines)} stderr lines")
        if self.case.field not in self.stderr:
            out.append(f"does not name {self.case.field!r}")
        if self.wall_s > time_cap:
            out.append(f"{self.wall_s:.1f} s")
        if self.peak_mb > memory_cap:
            out.append(f"{self.peak_mb:.0f} MB")
        return out


#: Runs ``argv[3:]`` with stderr to ``argv[1]`` and a timeout of ``argv[2]`` seconds, and
#: prints its exit code (``null``: timed out), wall and CPU seconds and peak memory as JSON.
#: A fresh, small process is the parent on purpose: Linux counts the image a child was
#: forked from in its peak memory (``ru_maxrss`` survives ``exec``), so measuring straight
#: from a large parent (pytest with torch loaded: 600+ MB) would report the parent's size.
_LAUNCHER = """
import json, os, subprocess, sys, time
err, timeout, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
with open(err, "wb") as fh, open(os.devnull, "wb") as null:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=null, stderr=fh)
    while True:
        pid, st, use = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(st)
            break
        if time.perf_counter() - t0 > timeout:
            proc.kill()
            _, _, use = os.wait4(proc.pid, 0)
            code = None
            break
        time.sleep(0.005)
    wall = time.perf_counter() - t0
proc.returncode = -9 if code is None else code
print(json.dumps([code, wall, use.ru_utime + use.ru_stime, use.ru_maxrss / 1024]))
"""


def measure(case: Case, folder: Path, *, timeout: float = 30.0) -> Outcome:
    """Write ``case`` into ``folder`` and run ``hdus-sim validate`` on it in a subprocess.

    Wall time, CPU time and peak memory (MB) are those of the ``hdus-sim`` process alone,
    measured by a small launcher process (see :data:`_LAUNCHER`).
    """
    path = case.make(folder)
    err = folder / "stderr.txt"
    cmd = [sys.executable, "-m", "hdus_sim", "validate", str(path)]
    res = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, str(err), str(timeout), *cmd],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=timeout + 30,
        check=True,
    )
    code, wall, cpu, peak = json.loads(res.stdout.strip().splitlines()[-1])
    return Outcome(case, code, err.read_text(errors="replace"), wall, peak, cpu)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main(argv: list[str] | None = None) -> int:
    """Run the catalogue and print the table; exit 1 if any case breaks the contract."""
    from benchkit import load_average, md_table

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="", help="comma-separated substrings of case names")
    p.add_argument("--time-cap", type=float, default=5.0, help="seconds per case")
    p.add_argument("--memory-cap", type=float, default=500.0, help="MB per case")
    p.add_argument("--markdown", action="store_true", help="a Markdown table (default: text)")
    args = p.parse_args(argv)
    chosen = [c for c in CASES if not args.only or any(s in c.name for s in args.only.split(","))]
    rows, failed = [], 0
    print(f"load average before: {load_average()}", file=sys.stderr)
    for i, case in enumerate(chosen, 1):
        with tempfile.TemporaryDirectory() as tmp:
            out = measure(case, Path(tmp))
        bad = out.problems(args.time_cap, args.memory_cap)
        failed += bool(bad)
        printed = out.lines[0].removeprefix("error: ") if out.lines else "(nothing)"
        printed = printed.replace(tmp + os.sep, "")  # the temporary folder is noise
        rows.append(
            [
                str(i),
                ("**" if case.named else "") + case.name + ("**" if case.named else ""),
                _cell(printed),
                str(out.code),
                f"{out.wall_s:.2f}",
                f"{out.cpu_s:.2f}",
                f"{out.peak_mb:.0f}",
                "ok" if not bad else "FAIL: " + ", ".join(bad),
            ]
        )
        print(f"[{i}/{len(chosen)}] {case.name}: {bad or 'ok'}", file=sys.stderr)
    header = ["#", "bad input (bold: named in the issue)", "error printed", "exit", "wall s"]
    header += ["CPU s", "peak MB", "verdict"]
    if args.markdown:
        print(md_table(header, rows, left=True))
    else:
        for row in rows:
            print(" | ".join(row))
    walls = [float(r[4]) for r in rows]
    cpus = [float(r[5]) for r in rows]
    peaks = [float(r[6]) for r in rows]
    print(
        f"\n{len(rows)} cases, {len(rows) - failed} refused as required, {failed} failing; "
        f"wall max {max(walls):.2f} s, CPU max {max(cpus):.2f} s, peak memory max "
        f"{max(peaks):.0f} MB; "
        f"load average after: {load_average()}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
