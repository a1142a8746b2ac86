"""The one exception type of the PSI protocols."""

from __future__ import annotations


class PsiError(ValueError):
    """Bad input, a malformed or inconsistent message, or a failed peer."""
