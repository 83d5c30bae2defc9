"""Signed audit heads: a forger who recomputes every hash still fails ``audit``.

A chain is hash-linked, so editing a record and recomputing the hashes and ``heads.json``
is undetectable by hashes alone (the negative control below shows it on an unsigned run).
With device keys every head is signed by its device: the forged chain no longer ends at
the head the device signed, and a re-signed head needs the device's private key.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hdus_sim import Simulation, verify_run
from hdus_sim.audit import chained
from hdus_sim.verification.audit import check_audit
from hdus_sim.wire.security import KeyRing

ROOT = Path(__file__).parents[2]


def _run(tiny: dict[str, Any], path: Path, kind: str) -> Path:
    sc = {**tiny, "runtime": {"kind": kind}}
    Simulation.from_dict(sc).run().write(path)
    return path


@pytest.fixture(scope="module")
def signed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import TINY

    run = _run(TINY, tmp_path_factory.mktemp("signed") / "run", "grpc")
    assert verify_run(run).passed  # appends verdicts after the signed prefixes
    return run


@pytest.fixture
def signed_run(signed_template: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(signed_template, tmp_path / "run"))


def _forge_without_first_drop(run: Path, *, resign_with: KeyRing | None = None) -> int:
    """Delete a peer's first ``drop`` record, re-chain the rest, move its head on."""
    folder = run / "audit"
    for path in sorted(folder.glob("peer*.jsonl")):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        if any(r["kind"] == "drop" for r in records):
            break
    peer = int(path.stem.removeprefix("peer"))
    first = next(i for i, r in enumerate(records) if r["kind"] == "drop")
    chain: list[dict[str, Any]] = []
    for rec in records[:first] + records[first + 1 :]:
        chain.append(chained(chain, peer, rec["round"], rec["kind"], rec["data"]))
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in chain))
    heads = json.loads((folder / "heads.json").read_text())
    entry = heads[str(peer)]
    entry.update(length=len(chain), head=chain[-1]["hash"])
    if resign_with is not None and "signed" in entry:
        from hdus_sim.audit import head_payload

        n = entry["signed"]["length"] - 1
        last = chain[n - 1]["hash"]
        sig = resign_with.sign(peer, head_payload(peer, n, last)).hex()
        entry["signed"] = {"length": n, "head": last, "signature": sig}
    (folder / "heads.json").write_text(json.dumps(heads))
    return peer


def test_every_head_is_signed_and_checks_after_verify(signed_run: Path) -> None:
    heads = json.loads((signed_run / "audit" / "heads.json").read_text())
    assert heads and all("signed" in h for h in heads.values())
    assert any(h["signed"]["length"] < h["length"] for h in heads.values())  # verdicts follow
    assert check_audit(signed_run) == []
    res = subprocess.run(
        [sys.executable, "-m", "hdus_sim", "audit", str(signed_run)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr


def test_a_recomputed_chain_passes_hashes_but_not_the_signature(
    tiny: dict[str, Any], signed_run: Path, tmp_path: Path
) -> None:
    unsigned = _run(tiny, tmp_path / "unsigned", "inprocess")
    _forge_without_first_drop(unsigned)
    assert check_audit(unsigned) == []  # negative control: hashes alone cannot tell

    peer = _forge_without_first_drop(signed_run)
    problems = check_audit(signed_run)
    assert [p.file for p in problems] == [f"audit/peer{peer}.jsonl"]
    assert f"differs from what peer {peer} signed" in problems[0].problem


def test_a_head_re_signed_with_another_key_is_refused(signed_run: Path) -> None:
    forger = KeyRing.generate(range(10), seed=12345)  # not the devices' keys
    peer = _forge_without_first_drop(signed_run, resign_with=forger)
    problems = check_audit(signed_run)
    assert [p.problem for p in problems] == [
        f"head signature does not verify with peer {peer}'s key"
    ]


def test_records_after_the_signed_head_must_be_verdicts(signed_run: Path) -> None:
    folder = signed_run / "audit"
    path = folder / "peer0.jsonl"
    chain = [json.loads(line) for line in path.read_text().splitlines()]
    chain.append(chained(chain, 0, 9, "drop", {"owner": 3}))
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in chain))
    heads = json.loads((folder / "heads.json").read_text())
    heads["0"].update(length=len(chain), head=chain[-1]["hash"])
    (folder / "heads.json").write_text(json.dumps(heads))
    problems = check_audit(signed_run)
    assert len(problems) == 1 and "only verify's verdicts may follow" in problems[0].problem


def test_audit_of_a_device_folder_needs_its_keys(signed_run: Path, tmp_path: Path) -> None:
    (signed_run / "scenario.yaml").unlink()  # as a standalone device's folder: no scenario
    problems = check_audit(signed_run)
    assert problems and all("pass the devices' key ring with --keys" in p.problem for p in problems)
    # the public keys of the run's devices, saved as `hdus-sim certs` writes them
    peers = [int(k) for k in json.loads((signed_run / "audit" / "heads.json").read_text())]
    from hdus_sim.wire.security import KeyRing as Ring
    from tests.conftest import TINY

    signing = Ring.for_simulation(peers, TINY["seed"])
    public = Ring()
    for p in peers:
        public.add_public(p, signing.public_bytes(p))
    public.save(tmp_path / "keys")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "hdus_sim",
            "audit",
            str(signed_run),
            "--keys",
            str(tmp_path / "keys"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
