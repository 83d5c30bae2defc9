"""A peer's seed, re-distilled from its saved main model in a fresh process, is bit-identical.

The oracle, ``--resume`` and Ray actors rebuild peers in other processes and rely on
getting the very bits that were sent. A CNN (gateway) main model broke this: oneDNN picks
its convolution kernel from the input's strides, and for one-channel images those strides
only say how the array was made (``images[:, None]`` in the platform's own split, plain
contiguous after a pickle or a file), so a fresh process whose reference set arrived that
way computed slightly different teacher logits and a seed off by ~1e-6.
:func:`clients.models.canonical_layout` now fixes the layout. The MLP peer is the control.

The fresh process gets the split as a pickle (as a checkpoint carries it; this also spares
it sklearn's import) and runs at the sender's torch thread count, as every platform
process does (``runtime.torch_threads``): across thread counts the CNN's
``Linear(1024, 128)`` GEMM splits its reduction differently, so bits differ there, as
training's do.

Run as a script (``python this_file.py DIR THREADS``) this module is that fresh process: it
rebuilds the peers, loads the saved main states and re-distils their seeds.
"""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import clients
from clients.cohort_round import train_together
from clients.models import build_model
from clients.partition import FederatedSplit, split_federated
from clients.peer import Peer, PeerConfig, PeerSeeds
from clients.training import DistillConfig, TrainConfig, logits_of

#: (peer id, device, seed architecture): the convolutional gateway, the HDUS authors'
#: ResNet8 with BatchNorm distilling a ResNet8 seed, and an MLP control.
PEERS = ((0, "gateway", "seed_mlp"), (1, "sensor", "seed_mlp"), (2, "resnet8", "resnet8"))


@functools.cache
def _split() -> FederatedSplit:
    """The digits split of both peers (made once; the fresh process gets it pickled)."""
    from clients.datasets import load_digits  # sklearn: only where the split is made

    return split_federated(
        load_digits(), [0, 1, 2], scheme="iid", seed=5, reference_size=0.2, global_test_size=0.15
    )


def _peers(split: FederatedSplit) -> list[Peer]:
    """The two untrained peers, built the same way in the test and in the fresh process."""
    ref = torch.from_numpy(split.reference_x).float()
    peers = []
    for pid, device, seed_arch in PEERS:
        cfg = PeerConfig(
            device=device,
            seed_arch=seed_arch,
            train=TrainConfig(batch_size=32, lr=0.01, steps=6),
            distill=DistillConfig(steps=40, batch_size=64),
            train_rounds=1,
        )
        seeds = PeerSeeds(main_init=10 + pid, train=20 + pid, seed_init=30 + pid, distil=40 + pid)
        data = split.peers[pid]
        peers.append(Peer(pid, 0, data, ref, split.num_classes, split.input_shape, cfg, seeds))
    return peers


def _redistil(folder: Path, threads: int) -> None:
    """The fresh process: re-distil every saved peer's seed from its main state."""
    torch.set_num_threads(threads)
    with (folder / "split.pkl").open("rb") as fh:
        split = pickle.load(fh)
    saved = torch.load(folder / "sent.pt")
    out = {}
    for peer in _peers(split):
        peer._plain_main().load_state_dict(saved[peer.peer_id]["main"])
        peer.trained(saved[peer.peer_id]["rounds"])
        seed = peer.distil_seed().tensors
        out[peer.peer_id] = {k: torch.from_numpy(v.copy()) for k, v in seed}
    torch.save(out, folder / "redistilled.pt")


@pytest.mark.parametrize("threads", [1, 2])
def test_seed_redistilled_in_fresh_process_is_bit_identical(tmp_path: Path, threads: int) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        peers = _peers(_split())
        made, _ = train_together(peers)  # the platform's path (cohorts on)
    finally:
        torch.set_num_threads(before)
    assert all(made)
    assert [type(p.main).__name__ for p in peers] == ["SmallCNN", "MLP", "ResNet"]
    torch.save(
        {
            p.peer_id: {"main": p._plain_main().state_dict(), "rounds": p.trained_rounds}
            for p in peers
        },
        tmp_path / "sent.pt",
    )
    with (tmp_path / "split.pkl").open("wb") as fh:
        pickle.dump(_split(), fh)
    root = str(Path(clients.__file__).resolve().parents[1])  # this checkout's clients
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    subprocess.run(
        [sys.executable, __file__, str(tmp_path), str(threads)], check=True, env=env, timeout=120
    )
    again = torch.load(tmp_path / "redistilled.pt")
    for peer in peers:
        assert peer.own_seed is not None
        sent = dict(peer.own_seed.tensors)
        assert sent.keys() == again[peer.peer_id].keys()
        for name, array in sent.items():
            assert torch.equal(torch.from_numpy(array.copy()), again[peer.peer_id][name]), (
                f"peer {peer.peer_id} ({peer.config.device}): seed tensor {name} differs"
            )


def test_cnn_logits_do_not_depend_on_input_strides() -> None:
    """The same one-channel images under every stride of the size-1 channel axis."""
    model = build_model("gateway", (1, 8, 8), 10, seed=3)
    x = torch.rand(50, 8, 8, generator=torch.Generator().manual_seed(0))
    made = x.numpy()[:, None]  # numpy's new axis: stride 0, as the loaders make them
    cut = made[torch.arange(50).numpy()]  # cut by the split: channel stride of one element
    views = [torch.from_numpy(made), torch.from_numpy(cut), x[:, None].contiguous()]
    assert len({v.stride() for v in views}) == 3
    first = logits_of(model, views[0])
    assert all(torch.equal(first, logits_of(model, v)) for v in views[1:])


if __name__ == "__main__":
    _redistil(Path(sys.argv[1]), int(sys.argv[2]))
