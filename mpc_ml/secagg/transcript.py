"""The public transcript of a session (every message, in order) and `verify`, which replays it."""

from __future__ import annotations

import base64
import binascii
import json
import warnings
from collections.abc import Mapping

import numpy as np

from .errors import SecAggError
from .messages import Params, Result
from .messages import session_of
from .server import AggregateResult, SecAggServer

FORMAT = "quorum-secagg-transcript-v2"
_ROUND_OF = {2: 0, 3: 1, 4: 2, 6: 3, 7: 4}  # client message kind -> the round it belongs to


def to_json(transcript: list[bytes]) -> str:
    """Canonical JSON: {"format", "messages": [base64 of each message]}."""
    doc = {"format": FORMAT, "messages": [base64.b64encode(m).decode("ascii") for m in transcript]}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def from_json(text: str | bytes) -> list[bytes]:
    """Parse a transcript file (the messages themselves are checked by `verify`)."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SecAggError(f"transcript: not JSON ({exc})") from exc
    except RecursionError as exc:  # json.loads on deeply nested arrays or objects
        raise SecAggError("transcript: JSON nested too deeply") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or set(doc) != {"format", "messages"}:
        raise SecAggError(f"transcript: expected an object with format {FORMAT!r} and messages")
    if not isinstance(doc["messages"], list) or not all(isinstance(m, str) for m in doc["messages"]):
        raise SecAggError("transcript: messages must be a list of base64 strings")
    out = []
    for i, m in enumerate(doc["messages"]):
        try:
            raw = base64.b64decode(m, validate=True)
        except binascii.Error as exc:
            raise SecAggError(f"transcript: message {i} is not valid base64") from exc
        if base64.b64encode(raw).decode("ascii") != m:
            raise SecAggError(f"transcript: message {i} is not canonical base64")
        out.append(raw)
    return out


def verify(transcript: list[bytes] | str, peer_keys: Mapping[int, bytes] | None = None,
           context: bytes | None = None) -> AggregateResult:
    """Replay every message through the server's checks, cross-check every revealed share, and
    recompute the aggregate; raise SecAggError naming the first failure, else return the result (its total shaped as
    the updates, as the signed session parameters state, so it equals `aggregate(...).total`). A revealed
    share beyond the needed ones that is wrong does not change the total (each rebuilt secret is checked against
    its commitment or public key): it is listed in the result's `disputes`, naming the dealer and the holder,
    one of whom lied.
    With `peer_keys` (the clients' registered verify keys) every client's keys must be signed by them; without
    them the clients' keys are taken as the transcript states them, so the replay shows that the server's
    arithmetic is right, not who the clients were. With `context` (as given to `aggregate`), the session must be the
    one it names: another round's transcript is refused."""
    messages = from_json(transcript) if isinstance(transcript, str) else list(transcript)
    if len(messages) < 3:
        raise SecAggError("transcript: too short")
    if peer_keys is None:
        warnings.warn("secagg.verify without peer_keys checks the server's arithmetic against the client keys the "
                      "transcript itself states: it does not show that real clients took part (pass their registered "
                      "verify keys)", UserWarning, stacklevel=2)
    params = Params.from_bytes(messages[0])
    if context is not None and params.session != session_of(context):
        raise SecAggError("transcript: its session is not the one this context names (another task or round)")
    server = SecAggServer(params, peer_keys)
    kinds = [m[5] if len(m) >= 6 else 0 for m in messages[1:]]
    if kinds[-1] != Result.KIND or kinds.count(Result.KIND) != 1 or kinds.count(5) != 1:
        raise SecAggError("transcript: must hold one unmask request and end with one result")
    if kinds != sorted(kinds):
        raise SecAggError("transcript: messages are out of round order")
    for i, (kind, data) in enumerate(zip(kinds, messages[1:]), start=1):
        try:
            if kind in _ROUND_OF:
                server.close_until(_ROUND_OF[kind])
                server.receive(data)
            elif kind == 5:
                server.close_until(2)
                if server.masked_round_done() != data:
                    raise SecAggError("the unmask request does not list exactly the survivors and the dropped clients")
            elif kind == Result.KIND:
                result = server.finish(cross_check=True)
                if not np.array_equal(Result.from_bytes(data).total, Result.from_bytes(result.transcript[-1]).total):
                    raise SecAggError("the published result does not equal the aggregate recomputed from the transcript")
                return result
            else:
                raise SecAggError(f"unknown message kind {kind}")
        except SecAggError as exc:
            raise SecAggError(f"transcript message {i}: {exc}") from exc
    raise SecAggError("transcript: no result")
