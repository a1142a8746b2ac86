"""Parsers of the PSI messages reject malformed, truncated and invalid-point input by name."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpc_ml.psi import PsiClient, PsiError, PsiServer, Request, Response, ServerSetup
from mpc_ml.psi.curve import P

CLIENT = PsiClient(["a", "b", "c"])
SERVER = PsiServer(["b", "c", "d"])
REQUEST = CLIENT.request().to_bytes()
RESPONSE = SERVER.respond(REQUEST).to_bytes()
SETUP = SERVER.setup.to_bytes()


@pytest.mark.parametrize(
    ("parse", "data"),
    [(Request.from_bytes, REQUEST), (Response.from_bytes, RESPONSE), (ServerSetup.from_bytes, SETUP)],
    ids=["request", "response", "setup"],
)
def test_every_truncation_is_refused(parse, data: bytes) -> None:  # type: ignore[no-untyped-def]
    for cut in range(len(data)):
        with pytest.raises(PsiError):
            parse(data[:cut])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"XPSI" + REQUEST[4:], "bad magic"),
        (REQUEST[:4] + b"\x09" + REQUEST[5:], "version 9"),
        (RESPONSE, "wrong message kind 2"),
        (REQUEST + b"\x00", "bytes of points"),
        (REQUEST[:6] + b"\x07" + REQUEST[7:], "unknown flags"),
        ("text", "expected bytes"),
    ],
    ids=["magic", "version", "kind", "length", "flags", "type"],
)
def test_malformed_requests_are_named(data: bytes, message: str) -> None:
    with pytest.raises(PsiError, match=message):
        Request.from_bytes(data)


def _request_with_point(u: int) -> bytes:
    return Request(b"").to_bytes()[:7] + struct.pack(">Q", 1) + u.to_bytes(32, "little")


@pytest.mark.parametrize(("u", "message"), [(P, "canonical"), (2**256 - 1, "canonical"), (2, "not on curve25519")])
def test_points_off_the_curve_are_refused(u: int, message: str) -> None:
    with pytest.raises(PsiError, match=message):
        Request.from_bytes(_request_with_point(u))


@pytest.mark.parametrize("u", [0, 1])
def test_small_order_points_are_refused_by_the_server(u: int) -> None:
    with pytest.raises(PsiError, match="small order"):
        SERVER.respond(_request_with_point(u))


@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_parsers(data: bytes) -> None:
    for parse in (Request.from_bytes, Response.from_bytes, ServerSetup.from_bytes):
        with pytest.raises(PsiError):
            parse(data)


def test_round_trips() -> None:
    assert Request.from_bytes(REQUEST).to_bytes() == REQUEST
    assert Response.from_bytes(RESPONSE).to_bytes() == RESPONSE
    assert ServerSetup.from_bytes(SETUP).to_bytes() == SETUP
