"""The evidence sections of a report: membership inference and backdoor, from ``verify``.

Present only when ``hdus-sim verify --mia`` / ``--backdoor`` ran. Each section explains
what was attacked and how, then tabulates the attack's AUC / TPR (or backdoor success
rate, a fraction) per stage, with the spread over peers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hdus_sim.attacks import DELETION_STAGES
from hdus_sim.report.format import DASH, fmt, num
from hdus_sim.report.model import Section, Table

__all__ = [
    "ATTACK_LABELS",
    "MIA_STAGE_LABELS",
    "backdoor_section",
    "evidence_sections",
    "mia_section",
    "mia_table",
    "point_mia_section",
]

#: Stage of a membership-inference result -> what its row of the table attacked.
MIA_STAGE_LABELS: dict[str, str] = {
    "departed_main_before": "departed peer's main model, before the leave",
    "departed_ensemble_before": "departed peer's ensemble, before the leave",
    "before_holders": "holders of its seed, before the leave",
    "before": "every other peer, before the leave",
    "after": "survivors, after the leave",
    "oracle": "survivors in the retrain oracle",
    "never_seen": "survivors after: never-seen vs never-seen",
    "owner_main_before": "owner's main model, before the deletion",
    "owner_ensemble_before": "owner's ensemble, before the deletion",
    "owner_main_after": "owner's main model, after the deletion",
    "owner_ensemble_after": "owner's ensemble, after the deletion",
    "oracle_main": "owner's main model in the point-deletion oracle",
    "oracle_ensemble": "owner's ensemble in the point-deletion oracle",
}
#: Attack key of ``verify.json`` -> its name in the tables.
ATTACK_LABELS: dict[str, str] = {"loss": "loss threshold", "lira": "LiRA"}


def _spread(stage: Mapping[str, Any], key: str) -> str:
    """``"min..max"`` of ``key`` over the peers of a stage, or a dash if not recorded."""
    lo, hi = stage.get(f"{key}_min"), stage.get(f"{key}_max")
    if lo is None or hi is None:
        return DASH
    return f"{fmt(num(lo))}..{fmt(num(hi))}"


def mia_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """One row per departure, attack and stage: AUC and TPR with their spread over peers."""
    out: list[list[str]] = []
    for m in rows:
        for attack in ("loss", "lira"):
            stages = m.get(attack) or {}
            for name, label in MIA_STAGE_LABELS.items():
                st = stages.get(name)
                if not st:
                    continue
                out.append(
                    [
                        f"{m.get('peer')} ({m.get('kind')}, round {m.get('round')})",
                        ATTACK_LABELS[attack],
                        label,
                        fmt(st.get("peers")),
                        fmt(num(st.get("auc_mean"))),
                        _spread(st, "auc"),
                        fmt(num(st.get("auc_std"))),
                        fmt(num(st.get("tpr_mean"))),
                        _spread(st, "tpr"),
                    ]
                )
    return Table(
        [
            "departed peer",
            "attack",
            "models attacked",
            "peers",
            "AUC",
            "AUC min..max",
            "AUC std",
            "TPR @ 1% FPR",
            "TPR min..max",
        ],
        out,
    )


def mia_section(rows: Sequence[Mapping[str, Any]]) -> Section:
    """Membership inference on the departed peers' data (``rows``: one per departure)."""
    first = rows[0]
    sizes = "; ".join(
        f"peer {m.get('peer')}: {m.get('members', DASH)} members vs "
        f"{m.get('nonmembers', DASH)} non-members"
        for m in rows
    )
    deltas = "; ".join(
        f"peer {m.get('peer')}: "
        + ", ".join(
            f"{ATTACK_LABELS[a]} {fmt(num(v))}"
            for a, v in (m.get("after_minus_oracle_auc") or {}).items()
            if v is not None
        )
        for m in rows
    )
    null = num(first.get("null_auc_sd"))
    back = [str(m.get("peer")) for m in rows if m.get("owner_rejoined")]
    back_note = (
        f" Peer(s) {', '.join(back)} came back later under a new epoch with the same data: "
        "the survivors legitimately hold its new seed after the leave, and so does the "
        "oracle (which withholds only the departed epoch)."
        if back
        else ""
    )
    return Section(
        "Membership inference on departed peers' data",
        (
            "Empirical evidence, not a proof. Members: the departed peer's training "
            "samples; non-members: as many samples nobody trained on, class by class (its "
            "own local test samples first, then other peers' local test samples and the "
            "global test set). Loss threshold: the confidence in the true label. LiRA: "
            f"per-example Gaussians of the logit-scaled confidence from {first.get('shadows')} "
            "shadows, each the attacked ensemble with the departed peer's seed replaced by "
            "one distilled from its main model trained on a random half of the candidates "
            f"({first.get('variance')} variance).",
            f"Sizes: {sizes}. With no signal an AUC spreads by about {fmt(null)} (one "
            "standard deviation) around 0.5 at these sizes, and every peer is attacked on "
            "the same members, so their AUCs move together: the reference for the "
            "survivors after the leave is the retrain oracle, not 0.5 (never-seen vs "
            "never-seen is averaged over 16 halvings of the non-members). TPR at 1% FPR "
            "cannot be resolved below one non-member. The departed peer's own models "
            "show what a model that trained on the data looks like. After minus oracle "
            f"(AUC): {deltas}." + back_note,
        ),
        table=mia_table(rows),
    )


def point_mia_section(res: Mapping[str, Any]) -> Section:
    """Membership inference on the points deleted inside peers, pooled over owners."""
    out: list[list[str]] = []
    for attack in ("loss", "lira"):
        for name in DELETION_STAGES:
            st = (res.get(attack) or {}).get(name)
            if not st:
                continue
            out.append(
                [
                    ATTACK_LABELS[attack],
                    MIA_STAGE_LABELS.get(name, name),
                    fmt(st.get("peers")),
                    fmt(num(st.get("auc_pooled"))),
                    fmt(num(st.get("tpr_pooled"))),
                    fmt(num(st.get("auc_mean"))),
                    _spread(st, "auc"),
                ]
            )
    owners = res.get("owners") or {}
    skipped = res.get("skipped") or []
    who = ", ".join(f"peer {o}: {v.get('points')} by {v.get('method')}" for o, v in owners.items())
    return Section(
        "Membership inference on deleted points",
        (
            f"{res.get('points')} points deleted inside {len(owners)} peer(s) ({who}), "
            f"each attacked on its owner's models against {res.get('nonmembers')} "
            "never-seen samples; owners hold few points, so AUC and TPR are pooled over "
            f"owners (no-signal spread about {fmt(num(res.get('null_auc_sd')))}). "
            "Empirical evidence, not a proof."
            + (
                " Not attacked (offline at the end): "
                + ", ".join(str(s.get("peer")) for s in skipped)
                + "."
                if skipped
                else ""
            ),
        ),
        table=Table(
            [
                "attack",
                "models attacked",
                "owners",
                "AUC (pooled)",
                "TPR @ 1% FPR (pooled)",
                "AUC (mean over owners)",
                "AUC min..max",
            ],
            out,
        ),
    )


def backdoor_section(rows: Sequence[Mapping[str, Any]]) -> Section:
    """Backdoor success of a departed planter, before, after and in the retrain oracle."""
    out: list[list[str]] = []
    for b in rows:
        who = f"{b.get('peer')} ({b.get('kind')}, round {b.get('round')})"
        out.append(
            [who, "planter's main model, before", fmt(num(b.get("planter_main_before"))), DASH]
        )
        out.append(
            [
                who,
                "planter's ensemble, before",
                fmt(num(b.get("planter_own_ensemble_before"))),
                DASH,
            ]
        )
        spread = b.get("spread") or {}
        for key, label in (
            ("before_holders", "holders of its seed, before"),
            ("before", "every other peer, before"),
            ("after", "survivors, after"),
            ("oracle", "survivors in the retrain oracle"),
        ):
            st = spread.get(key) or {}
            lo, hi = st.get("min"), st.get("max")
            out.append(
                [
                    who,
                    label,
                    fmt(num(st.get("mean"))),
                    DASH if lo is None else f"{fmt(num(lo))}..{fmt(num(hi))}",
                ]
            )
    first = rows[0]
    clean = first.get("clean_accuracy") or {}
    return Section(
        "Backdoor of a departed peer",
        (
            f"Attack success: the fraction of triggered global-test inputs of other classes "
            f"classified as the target class {first.get('target')}. After the leave it must "
            "match the retrain oracle's; after minus oracle: "
            + "; ".join(
                f"peer {b.get('peer')}: {fmt(num(b.get('after_minus_oracle')))}" for b in rows
            )
            + ". Clean global accuracy of the survivors after the leave "
            f"{fmt(num((clean.get('after') or {}).get('mean')))}, in the oracle "
            f"{fmt(num((clean.get('oracle') or {}).get('mean')))}. Empirical evidence.",
        ),
        table=Table(["departed peer", "models", "attack success", "min..max over peers"], out),
    )


def evidence_sections(verify: Mapping[str, Any]) -> list[Section]:
    """Membership inference and backdoor sections, when ``verify --mia/--backdoor`` ran."""
    out: list[Section] = []
    mia = [m for m in verify.get("membership_inference") or [] if m.get("loss")]
    if mia:
        out.append(mia_section(mia))
    points = verify.get("point_deletion_inference")
    if points and points.get("owners"):
        out.append(point_mia_section(points))
    backdoor = verify.get("backdoor") or []
    if backdoor:
        out.append(backdoor_section(backdoor))
    return out
