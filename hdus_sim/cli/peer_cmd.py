"""``hdus-sim certs`` and ``hdus-sim peer serve``: the real-deployment commands.

``certs`` makes a test PKI with one folder per device; ``peer serve`` runs one peer as its
own process from a ``peer.yaml`` (:mod:`hdus_sim.standalone`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hdus_sim.cli.common import console


def certs(
    out: Annotated[Path, typer.Argument(help="Directory to write the CA, host certs and keys.")],
    host: Annotated[
        list[str], typer.Option("--host", help="NAME=PEER,PEER,... (repeat per host).")
    ] = [],  # noqa: B006
    peers: Annotated[int, typer.Option(help="Or: this many peers, one host each.")] = 0,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible signing keys.")] = None,
) -> None:
    """Make a test CA and one folder per device: its certificate, TLS and signing keys.

    OUT/<host>/ holds what that device needs and no other device's secret (copy it there
    and set pki_dir to it); OUT/ keeps the CA key and the public key ring.
    """
    from hdus_sim.wire.security import KeyRing, make_test_pki, write_device_folders

    hosts: dict[str, list[int]] = {}
    for item in host:
        name, _, listed = item.partition("=")
        if not name or not listed:
            raise typer.BadParameter(f"--host {item!r}: write it as NAME=0,1,2")
        try:
            hosts[name] = [int(i) for i in listed.split(",") if i.strip()]
        except ValueError:
            raise typer.BadParameter(f"--host {item!r}: peer ids must be integers") from None
    hosts.update({f"peer{i}": [i] for i in range(peers)})
    if not hosts:
        raise typer.BadParameter("give --host NAME=IDS (repeatable) or --peers N")
    pki = make_test_pki(hosts)
    ids = sorted({i for v in hosts.values() for i in v})
    devices = write_device_folders(out, pki, KeyRing.generate(ids, seed=seed))
    console.print(
        f"wrote a test CA and {len(devices)} device folder(s) for peers {ids} to "
        f"[bold]{out}[/]: copy {out}/<host>/ to each device and set its pki_dir to it "
        f"(its certificate, TLS key and own signing keys, every peer's public key); "
        f"{out}/ca.key stays with you",
        soft_wrap=True,
    )


def peer_serve(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="peer.yaml (see hdus_sim.standalone).")
    ],
) -> None:
    """Serve one peer: train, gossip its seed, heartbeat, drop departed peers' seeds."""
    from hdus_sim.standalone import load_peer_config, serve

    cfg = load_peer_config(config)
    serve(
        cfg,
        base_dir=config.parent,
        on_serving=lambda address: console.print(
            f"peer {cfg.peer_id} serving on {address}; neighbours {cfg.neighbors}", soft_wrap=True
        ),
    )
