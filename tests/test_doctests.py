"""Every docstring example of ``hdus_sim``, ``clients`` and ``topologies`` runs and holds.

One test per module with examples, so the README's test command collects them all (and a
module whose examples drift from its code fails by name).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("hdus_sim", "clients", "topologies")
#: modules that run something when imported (the command-line entry points)
SKIP = {"hdus_sim.__main__", "hdus_sim.cli.__main__"}


def _modules() -> list[str]:
    names: list[str] = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if info.name not in SKIP and "_pb2" not in info.name:
                names.append(info.name)
    return sorted(names)


def _with_examples() -> list[str]:
    finder = doctest.DocTestFinder()
    return [
        name
        for name in _modules()
        if any(t.examples for t in finder.find(importlib.import_module(name)))
    ]


def test_every_package_module_imports_and_some_have_examples() -> None:
    assert len(_with_examples()) >= 20


@pytest.mark.parametrize("name", _with_examples())
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
