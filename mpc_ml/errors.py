"""Errors raised by mpc_ml: each names what went wrong and, where one is to blame, the party."""

from __future__ import annotations


class MPCError(Exception):
    """Base class of every mpc_ml error."""


class InputError(MPCError, ValueError):
    """Bad input caught before any protocol round (shape, NaN/inf, range, party index)."""


class ProtocolError(MPCError):
    """A message from a party was malformed or out of order."""

    def __init__(self, message: str, party: int | None = None) -> None:
        super().__init__(message)
        self.party = party


class PartyTimeout(ProtocolError):
    """A party sent nothing within the timeout."""


class PartyDied(ProtocolError):
    """A party closed its connection (process died or exited early)."""


class ShareCheckError(ProtocolError):
    """Opened shares do not lie on one polynomial of the expected degree."""

    def __init__(self, message: str, suspects: list[int]) -> None:
        super().__init__(message, suspects[0] if len(suspects) == 1 else None)
        self.suspects = suspects


class SingularMatrixError(MPCError, ArithmeticError):
    """A linear system to solve is singular (e.g. collinear features); only its rank was revealed."""


class EvidenceError(MPCError):
    """Evidence for an output does not verify."""
