"""Pins for `quorum verify`: what an auditor learned through another channel than the record.

A self-consistent record proves nothing about which board or election it is: a fabricated record carries its own
board key and base hash, and a board that adds or swaps public credentials before the open can vote for whoever
holds the new private ones. Each pin given adds one named check to the verifier's report (`pinned_board_key`,
`pinned_base_hash`, `pinned_credentials`: the credential authority's public list is exactly the board's); without
pins the report is unchanged (Contracts: CLI).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from threshold.errors import QuorumError
from voting.context import build_context, parse_credentials
from voting.record import Buffer, RecordFormatError, line_bounds, parse_entry_line, read_raw
from voting.voters_csv import VoterListError, parse_public_credentials

PIN_CHECKS = ("pinned_board_key", "pinned_base_hash", "pinned_credentials")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class PinError(ValueError):
    """A pin value that is neither well-formed hex nor a readable key file (exit 2)."""


def parse_board_key_pin(value: str) -> str:
    """The pinned board key as 64 lowercase hex: given as hex, or as a file holding hex (like board.pub) or an
    Ed25519 public key in PEM."""
    if _HEX64.fullmatch(value.strip()):
        return value.strip().lower()
    path = Path(value)
    if not path.is_file():
        raise PinError(f"--board-key: {value!r} is neither 64 hex characters nor a readable file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PinError(f"--board-key: cannot read {value!r} ({exc.strerror})") from None
    text = data.decode("ascii", errors="replace").strip()
    if _HEX64.fullmatch(text):
        return text.lower()
    if text.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise PinError(f"--board-key: {value!r} is not a PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise PinError(f"--board-key: {value!r} holds a public key that is not Ed25519")
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return raw.hex()
    raise PinError(f"--board-key: {value!r} must hold the board's public key as 64 hex characters or PEM")


def parse_base_hash_pin(value: str) -> str:
    """The pinned base hash as 64 lowercase hex."""
    if not _HEX64.fullmatch(value.strip()):
        raise PinError(f"--base-hash: expected 64 hex characters, got {value!r}")
    return value.strip().lower()


def parse_credentials_pin(value: str) -> frozenset[str]:
    """The credential authority's public list: its public-credentials.csv (`voter_id,public_credential`)."""
    try:
        data = Path(value).read_bytes()
    except OSError as exc:
        raise PinError(f"--credentials: cannot read {value!r} ({exc.strerror})") from None
    try:
        given = parse_public_credentials(data)
    except VoterListError as exc:
        raise PinError(f"--credentials: {value}: not a list of public credentials: {'; '.join(exc.errors)}") from None
    return frozenset(credential for credential, _ in given.values())


def _parameters(data: Buffer) -> dict[str, Any]:
    """The payloads of the record's first setup, key ceremony and credentials entries (those before the ballots)."""
    found: dict[str, Any] = {}
    for index, (start, end) in enumerate(line_bounds(data)):
        entry = parse_entry_line(data[start:end], index + 1)
        if entry.type in ("open", "cast", "spoil", "close"):
            break
        found.setdefault(entry.type, entry.payload)
    missing = [t for t in ("setup", "key_ceremony", "credentials") if t not in found]
    if missing:
        raise QuorumError(f"no {', '.join(missing)} entry before the ballots")
    return found


def _credentials_check(data: Buffer, pinned: frozenset[str]) -> dict[str, Any]:
    name = "pinned_credentials"
    try:
        board, _ = parse_credentials(_parameters(data)["credentials"])
    except RecordFormatError:
        raise
    except QuorumError as exc:
        return {"name": name, "ok": False, "detail": f"cannot read the board's public credentials ({exc})"}
    extra, missing = sorted(board - pinned), sorted(pinned - board)
    if not extra and not missing:
        return {"name": name, "ok": True, "detail": f"the board's {len(board)} public credentials are exactly the pinned list"}
    parts = [f"{len(extra)} on the board are not in the pinned list (first {extra[0]})" if extra else "",
             f"{len(missing)} of the pinned list are not on the board (first {missing[0]})" if missing else ""]
    return {"name": name, "ok": False, "detail": "; ".join(p for p in parts if p)}


def check_pins(record: str | Path, board_key: str | None = None, base_hash: str | None = None,
               credentials: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """One {name, ok, detail} per pin given (already parsed), in PIN_CHECKS order; RecordFormatError if the record
    is unreadable."""
    data, pub = read_raw(record)
    return check_pins_raw(data, pub, board_key, base_hash, credentials)


def check_pins_raw(data: Buffer, pub: str, board_key: str | None = None, base_hash: str | None = None,
                   credentials: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """`check_pins` on a record already read (the bytes a verifier checked)."""
    out = []
    if board_key is not None:
        ok = pub == board_key
        # the pin is not echoed on failure: a user who passed the board's private key by mistake would see it printed
        out.append({"name": "pinned_board_key", "ok": ok, "detail": f"board.pub is the pinned board key {board_key}" if ok
                    else f"board.pub {pub} differs from the pinned board key"})
    if base_hash is not None:
        try:
            found = _parameters(data)
            got = build_context(found["setup"], found["key_ceremony"], found["credentials"]).base_hash.hex()
        except RecordFormatError:
            raise
        except QuorumError as exc:
            out.append({"name": "pinned_base_hash", "ok": False,
                        "detail": f"cannot recompute the base hash from the parameters ({exc})"})
        else:
            ok = got == base_hash
            out.append({"name": "pinned_base_hash", "ok": ok, "detail": f"the base hash is the pinned one {base_hash}" if ok
                        else f"the base hash recomputed from the parameters, {got}, differs from the pinned {base_hash}"})
    if credentials is not None:
        out.append(_credentials_check(data, credentials))
    return out
