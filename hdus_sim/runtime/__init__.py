"""Runtimes: where peers live and how their messages are delivered.

``inprocess`` (the default): every peer in this Python process, messages handed over as the
same frozen records the wire carries.
"""

from __future__ import annotations

from hdus_sim.runtime.base import DeliveryStats, DropListener, PeerSpec, Runtime
from hdus_sim.runtime.inprocess import InProcessRuntime

__all__ = ["DeliveryStats", "DropListener", "InProcessRuntime", "PeerSpec", "Runtime"]
