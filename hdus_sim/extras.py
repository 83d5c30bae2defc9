"""Optional parts of the install: a runtime that needs one says which extra brings it.

Ray (the ``ray`` runtime, ``sweep --parallel ray``) and Flower (``bench``'s FedAvg) are
extras, ``pip install 'hdus-sim[ray]'`` / ``'hdus-sim[flower]'``; ``[dev]`` has both.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from hdus_sim.errors import RunError

__all__ = ["require"]


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module``, or raise one :class:`RunError` line naming the extra to install.

    Examples
    --------
    >>> require("json", "core", "reading JSON").__name__
    'json'
    >>> require("no_such_module_here", "ray", "runtime.kind: ray")
    Traceback (most recent call last):
    ...
    hdus_sim.errors.RunError: runtime.kind: ray needs the Python package 'no_such_module_here', which is not installed; install it with: pip install 'hdus-sim[ray]'
    """  # noqa: E501
    try:
        return importlib.import_module(module)
    except ImportError:
        raise RunError(
            f"{what} needs the Python package {module!r}, which is not installed; install it "
            f"with: pip install 'hdus-sim[{extra}]'"
        ) from None
