"""Seeded fuzzing of scenario files (benchmarks/fuzz_scenarios.py): no input crashes validate.

The property, for every mutated scenario: ``hdus-sim validate`` accepts it and it is valid
(its resolved form validates again, unchanged), or refuses it with ``error:`` lines only,
exit 1, no traceback, within 5 s. A few inputs also run as real subprocesses.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def _fuzzer():
    spec = importlib.util.spec_from_file_location(
        "fuzz_scenarios", ROOT / "benchmarks" / "fuzz_scenarios.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_scenarios", module)
    spec.loader.exec_module(module)
    return module


FUZZ = _fuzzer()


def test_mutations_are_seeded() -> None:
    text = (ROOT / "scenarios" / "quickstart.yaml").read_text()
    a = [FUZZ.mutate(random.Random(5), text) for _ in range(3)]
    b = [FUZZ.mutate(random.Random(5), text) for _ in range(3)]
    assert a == b


def test_fuzzed_scenarios_are_accepted_or_refused_cleanly() -> None:
    report = FUZZ.fuzz(150, seed=0, processes_every=60)
    assert report.crashes == [], report.summary()
    assert report.process_mismatches == [], report.summary()
    assert report.tried == 150 and report.accepted > 5
    assert len(report.refused) >= 8, report.summary()  # many kinds of refusal reached
    assert report.processes == 3


@pytest.mark.slow
def test_fuzz_long_run() -> None:
    report = FUZZ.fuzz(2000, seed=1, processes_every=200)
    assert report.crashes == [] and report.process_mismatches == [], report.summary()
