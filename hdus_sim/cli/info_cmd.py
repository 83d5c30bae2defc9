"""``hdus-sim validate`` and ``hdus-sim models``: look before running.

``validate`` checks a scenario file and prints its resolved form; ``models`` lists the model
zoo with parameter counts. Neither trains anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table

from hdus_sim.cli.common import console, print_notes

#: input shape (channels, height, width or features) and class count of each dataset
_SHAPES = {
    "digits": ((1, 8, 8), 10),
    "mnist": ((1, 28, 28), 10),
    "mnist_subset": ((1, 28, 28), 10),
    "fashion_mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
    "uci_har": ((561,), 6),
    "synthetic": ((32,), 10),
}


def validate(scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")]) -> None:
    """Validate SCENARIO and print its resolved form; exit 1 naming every invalid field.

    Nothing is built beyond the initial graph (within the scenario's ``limits``), so a
    scenario is checked in about a second, whatever its size.
    """
    from hdus_sim.scenario import load_scenario, scenario_to_dict
    from hdus_sim.scenario_checks import scenario_notes

    sc = load_scenario(scenario)
    console.print(yaml.safe_dump(scenario_to_dict(sc), sort_keys=False), markup=False)
    print_notes(scenario_notes(sc))
    console.print(
        f"[green]valid[/]: {len(sc.all_peer_ids)} peers, {sc.rounds} rounds, "
        f"{len(sc.events)} events"
    )


def models(
    dataset: Annotated[str, typer.Option(help="Dataset whose input shape to use.")] = "digits",
) -> None:
    """List the model zoo with parameter counts for a dataset's input shape."""
    from clients.models import describe_architectures

    if dataset not in _SHAPES:
        raise typer.BadParameter(f"unknown dataset {dataset!r}; choose one of {sorted(_SHAPES)}")
    shape, classes = _SHAPES[dataset]
    table = Table(title=f"model zoo for {dataset} inputs {shape}")
    for col in ("architecture", "role", "parameters"):
        table.add_column(col)
    for info in describe_architectures(shape, classes):
        table.add_row(info.name, info.role, f"{info.parameters:,}")
    console.print(table)
