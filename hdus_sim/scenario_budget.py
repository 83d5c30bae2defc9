"""The size budget of a scenario, checked in constant time before anything is built.

:func:`check_budget` is pure arithmetic on the scenario's numbers (a complete graph on
100,000 peers is refused with its edge count before a single edge exists), against the
scenario's ``limits`` (:class:`LimitsSpec`). The small helpers every scenario check shares
(:func:`fail`, :func:`as_number`) live here too.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from hdus_sim.scenario import Scenario

__all__ = [
    "BUILD_IN_VALIDATION_EDGES",
    "DATASET_SIZES",
    "LimitsSpec",
    "as_number",
    "check_budget",
    "estimate_edges",
    "fail",
]

#: Samples of the datasets whose size is known without reading files.
DATASET_SIZES = {"digits": 1797, "mnist_subset": 5000}
#: Largest topology file read (bytes); its edges also count against ``limits.max_edges``.
MAX_TOPOLOGY_FILE_BYTES = 64 * 1024 * 1024
#: ``clustered_gateways`` computes a devices x gateways distance table (24 bytes a pair).
_MAX_GATEWAY_PAIRS = 2_000_000
#: Validation builds the initial graph (checking its connectivity) up to this many edges
#: (about 0.3 s); a larger one has its parameters checked without building it.
BUILD_IN_VALIDATION_EDGES = 20_000
#: A random builder is refused up front when more than this many nodes would be isolated
#: on average: it would retry 100 times (each a full build) and then fail anyway.
_MAX_EXPECTED_ISOLATED = 10.0


class LimitsSpec(BaseModel):
    """The size budget a scenario is checked against before anything is built.

    The defaults fit one machine with a few GB of memory; raise a limit to run a larger
    scenario knowingly (networkx holds about 300 bytes per edge, the engine a few hundred
    bytes per peer and round of churn bookkeeping). The hard ceilings stop a typo from
    turning validation itself into a multi-hour job.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    #: peers ever online: initial peers, scripted joins and expected churn arrivals
    max_peers: Annotated[int, Field(ge=2, le=10_000_000)] = 100_000
    #: edges of the initial graph, counted (or expected, for random graphs) before building
    max_edges: Annotated[int, Field(ge=1, le=100_000_000)] = 1_000_000
    #: scripted rounds plus settle rounds
    max_rounds: Annotated[int, Field(ge=1, le=10_000_000)] = 100_000
    #: peers x rounds (per-peer, per-round bookkeeping: churn masks, deletion draws)
    max_peer_rounds: Annotated[int, Field(ge=1, le=10_000_000_000)] = 5_000_000
    #: peers ever online when a ``churn`` section is given: churn is planned peer by peer
    #: during validation (about 1 ms a peer, per-peer random streams)
    max_churn_peers: Annotated[int, Field(ge=2, le=10_000_000)] = 10_000
    #: expected deletion requests (the Poisson stream plus scripted ones)
    max_deletion_requests: Annotated[int, Field(ge=1, le=10_000_000)] = 100_000
    #: values of a synthetic dataset, samples x dimensions (4 bytes each)
    max_synthetic_values: Annotated[int, Field(ge=1, le=4_000_000_000)] = 100_000_000


def fail(field: str, message: str) -> ValueError:
    """The error of a scenario check: ``field`` in backticks, then what is wrong and the fix."""
    return ValueError(f"`{field}`: {message}")


def as_number(value: Any) -> float | None:
    """``value`` as a float if it is a real number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# ---------------------------------------------------------------------------- budget
def _file_edges(path: Path) -> int:
    """Edges a topology file holds, counted without building a graph (lines or tags)."""
    if path.suffix.lower() == ".graphml":
        count = 0
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                count += len(re.findall(rb"<edge[\s/>]", chunk))
        return count
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.split(b"#", 1)[0].strip())


def estimate_edges(kind: str, n: int, params: dict[str, Any]) -> int | None:
    """Edges the builder ``kind`` makes on ``n`` nodes (expected, for random graphs).

    ``None`` when a parameter is missing or not a number: the builder then refuses it with
    its own message, before it builds anything.

    Examples
    --------
    >>> estimate_edges("complete", 100_000, {})
    4999950000
    >>> estimate_edges("k_regular", 1000, {"k": 4}), estimate_edges("ring", 10, {})
    (2000, 10)
    """
    pairs = n * (n - 1) // 2
    if kind == "ring":
        return n
    if kind == "complete":
        return pairs
    if kind == "grid":
        return 2 * n
    if kind in ("k_regular", "small_world"):
        k = as_number(params.get("k"))
        return None if k is None else int(n * max(k, 0) // 2)
    if kind == "scale_free":
        m = as_number(params.get("m"))
        return None if m is None else int(max(n - m, 0) * max(m, 0))
    if kind == "erdos_renyi":
        p = as_number(params.get("p"))
        return None if p is None else int(min(max(p, 0.0), 1.0) * pairs)
    if kind == "random_geometric":
        r = as_number(params.get("radius"))
        return None if r is None else int(min(math.pi * max(r, 0.0) ** 2, 1.0) * pairs)
    if kind == "clustered_gateways":
        g = as_number(params.get("gateways"))
        if g is None:
            return None
        g = int(min(max(g, 0), n))
        backbone = g * (g - 1) // 2 if params.get("backbone") == "complete" else g
        return backbone + (n - g)
    if kind == "edges":
        edges = params.get("edges")
        return len(edges) if isinstance(edges, list) else None
    if kind == "file":
        path = params.get("path")
        if not isinstance(path, str | Path) or not Path(path).is_file():
            return None  # the loader names the missing file
        return _file_edges(Path(path))
    return None


def _expected_peers(sc: Scenario) -> int:
    """Peers ever online, estimated from the fields alone (before churn is planned)."""
    joins = {e.peer for e in sc.events if e.kind == "join" and e.peer is not None}
    total = sc.peers.initial + len(joins - set(range(sc.peers.initial)))
    churn = sc.churn
    if churn is not None and churn.arrivals is not None:
        total += math.ceil(churn.arrivals.rate * sc.rounds)
    if churn is not None and churn.trace is not None and churn.trace.intervals:
        total += len(churn.trace.intervals)
    return total


def check_budget(sc: Scenario) -> None:
    """Refuse a scenario whose size is over ``limits`` (arithmetic only, nothing is built)."""
    peers = _check_peers(sc)
    _check_rounds(sc, peers)
    _check_topology_size(sc)
    _check_data_size(sc, peers)


def _check_peers(sc: Scenario) -> int:
    """Initial and ever-online peers against their caps; the peers ever online (expected)."""
    lim = sc.limits
    n = sc.peers.initial
    if n > lim.max_peers:
        raise fail(
            "peers.initial",
            f"{n:,} peers is over the budget limits.max_peers = {lim.max_peers:,}; use fewer "
            "peers, or raise limits.max_peers if the machine can hold them",
        )
    peers = _expected_peers(sc)
    if peers > lim.max_peers:
        raise fail(
            "peers",
            f"about {peers:,} peers are ever online (initial, joins and churn arrivals), over "
            f"the budget limits.max_peers = {lim.max_peers:,}; lower churn.arrivals.rate or "
            "the rounds, or raise limits.max_peers",
        )
    if sc.churn is not None and peers > lim.max_churn_peers:
        raise fail(
            "churn",
            f"churn is planned peer by peer before the run (about 1 ms a peer): {peers:,} peers "
            f"is over the budget limits.max_churn_peers = {lim.max_churn_peers:,}; use fewer "
            "peers, or raise limits.max_churn_peers and expect validation to take longer",
        )
    return peers


def _check_rounds(sc: Scenario, peers: int) -> None:
    """Scripted plus settle rounds, and peer-rounds, against their caps."""
    lim = sc.limits
    total_rounds = sc.rounds + sc.effective_settle_rounds
    if total_rounds > lim.max_rounds:
        field = "rounds"
        if sc.rounds <= sc.effective_settle_rounds:  # name what made the settle rounds large
            ex = sc.exchange
            field = "settle_rounds" if sc.settle_rounds is not None else "exchange.relay_hops"
            if sc.settle_rounds is None and ex.heartbeat_timeout >= ex.relay_hops:
                field = "exchange.heartbeat_timeout"
        raise fail(
            field,
            f"{sc.rounds:,} rounds plus {sc.effective_settle_rounds:,} settle rounds "
            f"(heartbeat_timeout + relay_hops + 1 unless set) is over the budget "
            f"limits.max_rounds = {lim.max_rounds:,}; lower them or raise limits.max_rounds",
        )
    if peers * total_rounds > lim.max_peer_rounds:
        raise fail(
            "rounds",
            f"{peers:,} peers x {total_rounds:,} rounds = {peers * total_rounds:,} peer-rounds, "
            f"over the budget limits.max_peer_rounds = {lim.max_peer_rounds:,}; use fewer "
            "peers or rounds, or raise limits.max_peer_rounds",
        )


def _check_topology_size(sc: Scenario) -> None:
    """The topology file's bytes, the graph's edges, the gateway table and the density."""
    lim = sc.limits
    n = sc.peers.initial
    kind, params = sc.topology.kind, sc.topology.params
    if kind == "file":
        path = params.get("path")
        if isinstance(path, str) and Path(path).is_file():
            size = Path(path).stat().st_size
            if size > MAX_TOPOLOGY_FILE_BYTES:
                raise fail(
                    "topology.params.path",
                    f"{path!r} is {size:,} bytes, over the {MAX_TOPOLOGY_FILE_BYTES:,}-byte "
                    "cap for topology files; give a smaller graph",
                )
    edges = estimate_edges(kind, n, params)
    if edges is not None and edges > lim.max_edges:
        mean = 2 * edges / max(n, 1)
        raise fail(
            "topology",
            f"the {kind} graph on {n:,} peers has {'about ' if kind in _RANDOM else ''}"
            f"{edges:,} edges (mean degree {mean:,.0f}), over the budget limits.max_edges = "
            f"{lim.max_edges:,}; use a sparser topology (e.g. kind: k_regular, params: "
            f"{{k: 4}} gives {2 * n:,} edges), fewer peers, or raise limits.max_edges",
        )
    if kind == "clustered_gateways":
        g = as_number(params.get("gateways"))
        if g is not None and g >= 1 and (n - g) * g > _MAX_GATEWAY_PAIRS:
            raise fail(
                "topology.params.gateways",
                f"{int(g):,} gateways for {n:,} peers needs a {(n - int(g)) * int(g):,}-entry "
                f"distance table, over {_MAX_GATEWAY_PAIRS:,}; use fewer gateways",
            )
    _check_density(kind, n, params)


def _check_data_size(sc: Scenario, peers: int) -> None:
    """The deletion stream's expected requests and a synthetic dataset's values."""
    lim = sc.limits
    stream = sc.deletion_requests
    if stream is not None:
        end = sc.rounds if stream.end is None else min(stream.end, sc.rounds)
        expected = stream.rate * peers * max(end - stream.start, 0)
        if expected > lim.max_deletion_requests:
            raise fail(
                "deletion_requests.rate",
                f"{stream.rate} requests per peer and round over {peers:,} peers and "
                f"{max(end - stream.start, 0):,} rounds is about {expected:,.0f} requests, over "
                f"the budget limits.max_deletion_requests = {lim.max_deletion_requests:,}; "
                "lower the rate or the window (start, end)",
            )
    ds = sc.dataset
    if ds.name == "synthetic" and ds.synthetic_samples is not None:
        values = ds.synthetic_samples * ds.synthetic_dim
        if values > lim.max_synthetic_values:
            raise fail(
                "dataset.synthetic_samples",
                f"{ds.synthetic_samples:,} samples x {ds.synthetic_dim:,} dimensions = "
                f"{values:,} values ({4 * values / 2**30:,.1f} GiB), over the budget "
                f"limits.max_synthetic_values = {lim.max_synthetic_values:,}; use fewer "
                "samples or dimensions",
            )


_RANDOM = ("erdos_renyi", "random_geometric")


def _check_density(kind: str, n: int, params: dict[str, Any]) -> None:
    """Refuse random graphs so sparse that they are almost never connected (before retrying)."""
    if n < 2:
        return
    if kind == "erdos_renyi":
        p = as_number(params.get("p"))
        if p is None or not 0 < p < 1:
            return
        isolated = n * math.exp((n - 1) * math.log1p(-p))
        fix = f"raise p above about ln(n)/n = {math.log(n) / n:.3g}"
        field = "topology.params.p"
    elif kind == "random_geometric":
        r = as_number(params.get("radius"))
        if r is None or r <= 0 or math.pi * r * r >= 1:
            return
        isolated = n * math.exp((n - 1) * math.log1p(-math.pi * r * r))
        fix = f"raise radius above about sqrt(ln(n)/(pi n)) = {math.sqrt(math.log(n) / (math.pi * n)):.3g}"  # noqa: E501
        field = "topology.params.radius"
    else:
        return
    if isolated > _MAX_EXPECTED_ISOLATED:
        raise fail(
            field,
            f"the {kind} graph on {n:,} peers with {field.rsplit('.', 1)[1]}="
            f"{params[field.rsplit('.', 1)[1]]} leaves about {isolated:,.0f} peers without "
            f"a link, so it is (almost) never connected; {fix}",
        )
