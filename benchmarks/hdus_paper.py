"""The HDUS authors' unlearning experiment, reproduced: rho curves next to their notebook's.

Runs ``scenarios/hdus_paper.yaml`` (5 clients, complete graph, ResNet8/18/50 mains and
ResNet8 seeds, the authors' split of ``mnist_subset``; client 4 leaves, then client 3) and
prints, for each removal case and both combine modes, the mean local-test accuracy of the
main models alone (rho = 0), the best rho, and the seeds alone (rho = 1), beside the
authors' figures from ``ours_unlearning.ipynb`` (MNIST, MobileNet family, T = 9, their
full budgets: 7,200 training images per client and 501-1,000 epochs; see the README's
"Fidelity to the HDUS paper" for every difference). The run is then verified.

Usage: ``python benchmarks/hdus_paper.py [--quick] [--run DIR]`` (``--run``: format an
existing run folder instead of running; ``--quick``: 2 epochs and 20 distillation steps).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from benchkit import md_table

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "hdus_paper.yaml"

#: The authors' ours_unlearning.ipynb (logits): rho 0, best (rho), rho 1, per case.
AUTHORS = {
    "SMLLL (all 5)": (0.9850, 0.9873, 0.3, 0.9508),
    "SMLL (client 4 removed)": (0.9840, 0.9845, 0.3, 0.8920),
    "SML (clients 3, 4 removed)": (0.9823, 0.9823, 0.0, 0.8148),
}
#: the round whose metrics show each case (events at rounds 1 and 2)
ROUNDS = {"SMLLL (all 5)": "0", "SMLL (client 4 removed)": "1", "SML (clients 3, 4 removed)": "2"}


def run(out: Path, quick: bool) -> float:
    """Run and verify the scenario into ``out``; return the run's wall seconds."""
    from hdus_sim import Simulation, verify_run
    from hdus_sim.scenario import load_scenario, with_overrides

    sc = load_scenario(SCENARIO)
    if quick:
        sc = with_overrides(sc, {"training.local_epochs": 2, "seed_model.distill_steps": 20})
    t0 = time.perf_counter()
    Simulation(sc).run().write(out)
    wall = time.perf_counter() - t0
    result = verify_run(out)
    print(f"verify: {'PASS' if result.passed else 'FAIL'} ({len(result.events)} events)")
    return wall


def table(out: Path) -> str:
    """The rho-curve table of the run in ``out``, beside the authors' figures."""
    curves = json.loads((out / "summary.json").read_text())["rho_curves"]
    rows = []
    for case, rnd in ROUNDS.items():
        for mode in ("logits", "probs"):
            curve = {float(r): a for r, a in curves[rnd][mode].items()}
            best = max(curve, key=lambda r: (curve[r], -r))
            a0, abest, arho, a1 = AUTHORS[case]
            theirs = f"{a0:.3f} / {abest:.3f} ({arho:g}) / {a1:.3f}" if mode == "logits" else ""
            rows.append(
                [
                    case,
                    mode,
                    f"{curve[0.0]:.3f}",
                    f"{curve[best]:.3f} ({best:g})",
                    f"{curve[1.0]:.3f}",
                    theirs,
                ]
            )
    header = [
        "clients",
        "combine",
        "main only",
        "best (rho)",
        "seeds only",
        "authors: main / best (rho) / seeds",
    ]
    return md_table(header, rows, left=True)


def main() -> None:
    """Run (or read) the scenario and print the table."""
    args = sys.argv[1:]
    quick = "--quick" in args
    if "--run" in args:
        print(table(Path(args[args.index("--run") + 1])))
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        wall = run(out, quick)
        print(f"run: {wall:.0f} s ({'quick' if quick else 'full'} budget)\n")
        print(table(out))
        curves = json.loads((out / "summary.json").read_text())["rho_curves"]
        print("\nfull curves (rho 0.0 ... 1.0), mean local-test accuracy:")
        for case, rnd in ROUNDS.items():
            for mode in ("logits", "probs"):
                points = " ".join(f"{a:.3f}" for a in curves[rnd][mode].values())
                print(f"  {case:28s} {mode:6s} {points}")


if __name__ == "__main__":
    main()
