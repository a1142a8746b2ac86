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


class InputSizeError(InputError, ProtocolError):
    """An input message of another size than the shape this party expected, refused from its header: the parties
    passed different shapes, or the input party misbehaves (both an InputError and a ProtocolError naming it)."""


class SingularMatrixError(MPCError, ArithmeticError):
    """A linear system to solve is singular (e.g. collinear features); only its rank was revealed."""


class EvidenceError(MPCError):
    """Evidence for an output does not verify."""


PEER_TEXT_LIMIT = 200  # characters of a peer's own words kept in an error or a log line


def peer_text(raw: bytes | str, limit: int = PEER_TEXT_LIMIT) -> str:
    """A peer's free text (an error frame's reason), safe to put in an exception or a log line.

    A peer chooses these bytes: raw, a newline forges a log line and an escape sequence drives
    the reader's terminal. Invalid UTF-8 is replaced, every non-printable character (controls,
    line separators, bidi overrides) is shown escaped (\\x1b, \\u202e), and the text is cut to
    `limit` characters with a note of its whole size. Used wherever such text is read.
    """
    if isinstance(raw, (bytes, bytearray, memoryview)):
        size, text = f"{len(raw)} bytes", bytes(raw[: 4 * limit + 4]).decode("utf-8", errors="replace")
    else:
        size, text = f"{len(raw)} characters", raw
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text[:limit])
    return shown if len(text) <= limit else f"{shown}... (cut, {size} in all)"
