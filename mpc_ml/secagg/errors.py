"""Exceptions of secure aggregation."""

from __future__ import annotations


class SecAggError(ValueError):
    """Bad input, a malformed or inconsistent message, a refused request, or a transcript that does not check."""


class DropoutError(SecAggError):
    """Too few clients are left for the round to go on (more dropouts than the threshold allows)."""
