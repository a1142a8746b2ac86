"""The election lifecycle as board entries: which entry may follow which, checked by the board and the verifier."""

from __future__ import annotations

from threshold.errors import ProtocolError

ENTRY_TYPES = ("setup", "key_ceremony", "credentials", "open", "cast", "spoil", "close", "tally", "decryption", "result")

# phase -> {entry type: phase after it}
TRANSITIONS: dict[str, dict[str, str]] = {
    "new": {"setup": "setup"},
    "setup": {"key_ceremony": "keys"},
    "keys": {"credentials": "registered"},
    "registered": {"open": "open"},
    "open": {"cast": "open", "spoil": "open", "close": "closed"},
    "closed": {"tally": "tallied"},
    "tallied": {"decryption": "decrypting"},
    "decrypting": {"decryption": "decrypting", "result": "done"},
    "done": {},
}

_WHY = {
    "cast": "ballots are accepted only while the election is open",
    "spoil": "ballots are accepted only while the election is open",
    "tally": "the tally comes once, after the election is closed",
    "result": "the result comes once, after the partial decryptions",
    "close": "only an open election can be closed",
    "decryption": "partial decryptions come after the tally and before the result",
}


def next_phase(phase: str, entry_type: str) -> str:
    """The phase after appending entry_type in phase; ProtocolError if the step is illegal."""
    if entry_type not in ENTRY_TYPES:
        raise ProtocolError(f"unknown entry type {entry_type!r}")
    allowed = TRANSITIONS.get(phase, {})
    if entry_type not in allowed:
        reason = _WHY.get(entry_type, f"{entry_type} is not allowed now")
        raise ProtocolError(f"refused {entry_type} in phase {phase!r}: {reason}")
    return allowed[entry_type]
