"""Does every device class learn at the HDUS authors' learning rate? A table over 3 seeds.

Every main-model architecture of the zoo (the MLP/CNN device classes and the authors'
ResNet / MobileNet families) is trained on one client's data, with Adam at lr 0.01 (the
authors' rate, and the platform's ``training.lr`` default) and at 0.005 (the quickstart's),
then scored on that client's local test split (9 classes: chance is about 0.11):

* ``digits``: client 0 of a 5-client ``class_drop`` split (one class dropped each);
* ``mnist_subset``: client 0 of the ``hdus`` split of ``scenarios/hdus_paper.yaml``
  (504 training images, 126 test).

Each cell: mean, min and max local-test accuracy over seeds 0, 1, 2 (model initialisation
and batch order), after ``EPOCHS`` epochs at batch 32. Run: ``python
benchmarks/model_stability.py [--quick]`` (``--quick``: digits only, 1 seed).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from benchkit import fmt, md_table

from clients.datasets import load_dataset
from clients.models import MAIN_ARCHITECTURES, build_model
from clients.partition import split_federated
from clients.partition.records import PeerData
from clients.training import TrainConfig, logits_of, train_supervised

EPOCHS = 8
LRS = (0.01, 0.005)
CHANCE = 1 / 9


def client_data(dataset: str) -> PeerData:
    """Client 0's data, split as the benchmark's docstring says."""
    data = load_dataset(dataset)
    if dataset == "mnist_subset":
        split = split_federated(data, range(5), scheme="hdus", seed=0, global_test_size=500)
    else:
        split = split_federated(data, range(5), scheme="class_drop", classes_dropped=1, seed=0)
    return split.peers[0]


def accuracy(arch: str, peer: PeerData, lr: float, seed: int) -> float:
    """Local-test accuracy of ``arch`` trained on ``peer`` at ``lr`` from ``seed``."""
    x = torch.from_numpy(peer.train_x)
    model = build_model(arch, tuple(x.shape[1:]), 10, seed=seed)
    cfg = TrainConfig(epochs=EPOCHS, batch_size=32, lr=lr)
    train_supervised(model, x, torch.from_numpy(peer.train_y), cfg, generator=_gen(seed))
    pred = logits_of(model, torch.from_numpy(peer.test_x)).argmax(1).numpy()
    return float((pred == peer.test_y).mean())


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(1_000 + seed)


def main(quick: bool = False) -> None:
    """Print the table (Markdown) and the slowest cell's time."""
    torch.set_num_threads(1)
    datasets = ("digits",) if quick else ("digits", "mnist_subset")
    seeds = (0,) if quick else (0, 1, 2)
    rows: list[list[str]] = []
    worst = 1.0
    t0 = time.perf_counter()
    for dataset in datasets:
        peer = client_data(dataset)
        for arch in MAIN_ARCHITECTURES:
            cells = [dataset, arch]
            for lr in LRS:
                accs = np.array([accuracy(arch, peer, lr, s) for s in seeds])
                worst = min(worst, float(accs.min()))
                cells.append(f"{fmt(accs.mean())} ({fmt(accs.min())}-{fmt(accs.max())})")
            rows.append(cells)
            print(" | ".join(cells), flush=True)
    header = ["dataset", "device class", *(f"lr {lr:g}: mean (min-max)" for lr in LRS)]
    print()
    print(md_table(header, rows))
    verdict = "every cell above chance" if worst > 2 * CHANCE else "SOME CELL NEAR CHANCE"
    print(
        f"\nworst single run {worst:.3f} (chance {CHANCE:.3f}): {verdict}; "
        f"{len(seeds)} seed(s), {EPOCHS} epochs, {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
