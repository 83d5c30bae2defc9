"""Measure how the ensemble should combine main and seeds: logits vs probabilities, by rho.

Runs a scenario once, then re-scores every surviving peer's final models with each
combine mode and rho (the models do not depend on either), and prints mean accuracy over
peers on local and global test. Usage::

    python benchmarks/combine_modes.py [scenarios/quickstart.yaml]
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from clients.ensemble import combine
from clients.training import logits_of
from hdus_sim.simulation import Simulation

RHOS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)


def main(path: str = "scenarios/quickstart.yaml") -> None:
    """Print a table of mean accuracy by (combine mode, rho, test set)."""
    sim = Simulation.from_file(path).run()
    gx, gy = sim.runtime.global_x, sim.runtime.global_y
    results: dict[tuple[str, float, str], list[float]] = {}
    for pid in sim.runtime.online():
        peer = sim.peer(pid)
        lx = torch.from_numpy(peer.data.test_x).float()
        ly = torch.from_numpy(peer.data.test_y).long()
        for split, x, y in (("local", lx, ly), ("global", gx, gy)):
            main_logits = peer.main_logits(x)
            seeds = {k: logits_of(m, x) for k, m in peer.seed_modules().items()}
            for mode in ("logits", "probs"):
                for rho in RHOS:
                    out = combine(main_logits, seeds, rho=rho, mode=mode)
                    acc = float((out.argmax(1) == y).float().mean())
                    results.setdefault((mode, rho, split), []).append(acc)
    print(f"scenario {path}: {len(sim.runtime.online())} surviving peers, mean accuracy")
    print(f"{'mode':8} {'rho':>5} {'local':>7} {'global':>7}")
    for mode in ("logits", "probs"):
        for rho in RHOS:
            loc = np.mean(results[(mode, rho, "local")])
            glo = np.mean(results[(mode, rho, "global")])
            print(f"{mode:8} {rho:5.1f} {loc:7.3f} {glo:7.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
