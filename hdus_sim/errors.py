"""The platform's exception tree: every user-causable error names the problem and the fix."""

from __future__ import annotations

__all__ = ["HdusError", "RunError", "ScenarioError", "VerificationError"]


class HdusError(Exception):
    """Root of every error raised by ``hdus_sim``."""


class ScenarioError(HdusError, ValueError):
    """A scenario file or dict is invalid; the message names the field and the fix."""


class RunError(HdusError):
    """A run cannot proceed (bad output directory, event that no longer applies, ...)."""


class VerificationError(HdusError):
    """A run directory cannot be verified (missing or inconsistent files)."""
