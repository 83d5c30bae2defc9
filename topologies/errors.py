"""The one exception the topologies package raises for user-fixable problems."""

from __future__ import annotations

__all__ = ["TopologyError"]


class TopologyError(ValueError):
    """A topology could not be built, loaded or changed because of a bad input.

    The message names the offending parameter (or file), the value it had and how to fix
    it. It subclasses :class:`ValueError` so callers that only know the standard library
    can still catch it.

    Examples
    --------
    >>> from topologies import ring
    >>> try:
    ...     ring(2, seed=0)
    ... except TopologyError as err:
    ...     print(err)
    ring: n must be an integer >= 3, got 2; pass n=3 or more
    """
