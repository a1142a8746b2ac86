"""One exception hierarchy for everything the core rejects, each naming what was wrong."""

from __future__ import annotations


class QuorumError(Exception):
    """Base of every error Quorum raises on purpose."""


class DecodeError(QuorumError, ValueError):
    """Outside input that is malformed: wrong type, length, range or group membership."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class VerificationError(QuorumError):
    """A proof, signature or share that does not check."""


class ProtocolError(QuorumError):
    """A protocol step out of order, a refused request, or too few honest parties."""
