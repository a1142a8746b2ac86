"""web/static/js/crypto/argon2.js and keystore.js: argon2id in plain JavaScript (RFC 9106, no WebAssembly) and the
backups the browser seals in threshold/keystore.py's format, checked under node (tests/web_js/argon2_node.mjs) and
in Debian's Chromium against argon2-cffi and threshold.keystore.

Timings (printed, never asserted): `pytest -s tests/web_js/test_argon2.py -k timing`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from argon2.low_level import Type, hash_secret_raw

from tests.web_js import test_vectors_in_browser as in_browser
from threshold import keystore, keystore_browser

ROOT = Path(__file__).resolve().parents[2]
NODE_SCRIPT = ROOT / "tests" / "web_js" / "argon2_node.mjs"
SECRET = {"group": "ed25519", "index": 3, "secret": "ab" * 32, "note": "Grüße 😀"}
SMALL = {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1}  # the least a file may ask for
# RFC 9106 section 5.3 (argon2id, version 0x13)
RFC = {"password": "01" * 32, "salt": "02" * 16, "secret": "03" * 8, "ad": "04" * 12, "t": 3, "m": 32, "p": 4, "len": 32}
RFC_TAG = "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
# (time_cost, memory_cost KiB, parallelism, hash length, salt length): p = 4 and m not a multiple of 4p (rounded
# down), t = 1 and 3, H' beyond 64 bytes, more than 128 blocks per segment (several address blocks)
CASES = [(1, 8, 1, 32, 16), (3, 37, 4, 32, 16), (1, 100, 4, 64, 8), (3, 70, 2, 100, 33), (2, 2048, 1, 32, 16),
         (1, 4100, 4, 64, 16), (3, 531, 3, 4, 12), (1, 64, 1, 200, 16)]

browser, server = in_browser.browser, in_browser.server  # the module's fixtures: Chromium, the CSP-serving server
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def node(*requests: dict[str, Any]) -> list[dict[str, Any]]:
    """The answers of argon2_node.mjs to the requests, in order."""
    done = subprocess.run(["node", str(NODE_SCRIPT)], input=json.dumps(requests), capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def python_tag(c: dict[str, Any]) -> str:
    return hash_secret_raw(bytes.fromhex(c["password"]), bytes.fromhex(c["salt"]), time_cost=c["t"],
                           memory_cost=c["m"], parallelism=c["p"], hash_len=c["len"], type=Type.ID).hex()


def random_cases() -> list[dict[str, Any]]:
    rng = random.Random(9106)
    return [{"password": rng.randbytes(rng.randrange(0, 40)).hex(), "salt": rng.randbytes(salt).hex(),
             "t": t, "m": m, "p": p, "len": length} for t, m, p, length, salt in CASES]


def test_rfc_9106_vector_sync_and_async() -> None:
    sync, async_ = node({"op": "argon2id", **RFC}, {"op": "argon2id", "async": True, **RFC})
    assert sync["tag"] == RFC_TAG and async_["tag"] == RFC_TAG


def test_same_tags_as_argon2_cffi() -> None:
    cases = random_cases()
    answers = node(*({"op": "argon2id", **c} for c in cases))
    for c, a in zip(cases, answers):
        assert a["tag"] == python_tag(c), c


@pytest.mark.parametrize("change, field", [
    ({"salt": "00" * 7}, "salt"), ({"t": 0}, "timeCost"), ({"m": 31, "p": 4}, "memoryCost"), ({"p": 0}, "parallelism"),
    ({"len": 3}, "hashLength"), ({"t": 1.5}, "timeCost"),
])
def test_argon2_parameters_out_of_range_are_named(change: dict[str, Any], field: str) -> None:
    (answer,) = node({"op": "argon2id", **{**RFC, **change}})
    assert answer == {"error": "DecodeError", "field": field}


def _python_seal(secret: Any, passphrase: str, params: dict[str, int], draws: list[bytes]) -> dict[str, Any]:
    stream = iter(draws)
    with mock.patch.object(keystore, "os", SimpleNamespace(urandom=lambda n: next(stream))):
        return keystore.seal(secret, passphrase, params)


def test_js_seals_python_document_byte_for_byte_and_each_opens_the_other() -> None:
    params = {"time_cost": 2, "memory_cost": 9 * 1024, "parallelism": 3}
    draws = [os.urandom(16), os.urandom(12)]
    python_doc = _python_seal(SECRET, "correct horse", params, draws)
    js_same, js_default_rng, opened = node(
        {"op": "seal", "secret": SECRET, "passphrase": "correct horse", "params": params, "draws": [d.hex() for d in draws]},
        {"op": "seal", "secret": SECRET, "passphrase": "pass phrase ü", "params": SMALL},
        {"op": "unseal", "document": python_doc, "passphrase": "correct horse"})
    assert js_same["document"] == python_doc
    assert json.dumps(js_same["document"]) == json.dumps(python_doc)  # the same key order too
    assert opened == {"secret": SECRET}
    doc = js_default_rng["document"]
    assert doc["format"] == keystore.FORMAT == "quorum-secret-v1" and doc["kdf"]["name"] == "argon2id"
    assert keystore.unseal(doc, "pass phrase ü") == SECRET


def test_one_derivation_seals_each_state_as_seal_would_with_a_fresh_nonce() -> None:
    """keystore.sealer (the ceremony page's progress, saved after every round): one argon2id key under one salt, a
    fresh nonce per document; each document is the one threshold.keystore.seal writes from the same draws."""
    draws = [os.urandom(16), os.urandom(12), os.urandom(12)]
    states = [SECRET, {"round": "deal", "n": 2}]
    (answer,) = node({"op": "sealer", "secrets": states, "passphrase": "pass phrase", "params": SMALL,
                      "draws": [d.hex() for d in draws]})
    first, second = answer["documents"]
    assert first == _python_seal(SECRET, "pass phrase", SMALL, draws[:2])
    assert second == _python_seal(states[1], "pass phrase", SMALL, [draws[0], draws[2]])
    assert first["kdf"] == second["kdf"] and first["nonce"] != second["nonce"]
    assert [keystore.unseal(d, "pass phrase") for d in (first, second)] == states
    (refused,) = node({"op": "sealer", "secrets": [], "passphrase": "", "params": {}})
    assert refused == {"error": "DecodeError", "field": "passphrase"}


def test_reopen_keeps_sealing_under_the_documents_own_key() -> None:
    """keystore.reopen (the ceremony page resuming its saved progress): the secret, and a sealer under the same
    argon2id key, so one derivation serves both: its documents carry the opened one's salt and parameters with a
    fresh nonce, are what threshold.keystore.seal writes from those draws, and open in Python. A legacy PBKDF2
    document opens with no sealer; a wrong passphrase is refused as unseal refuses it."""
    salt, nonce = os.urandom(16), os.urandom(12)
    saved = _python_seal(SECRET, "pass phrase", SMALL, [salt, nonce])
    fresh = [os.urandom(12), os.urandom(12)]
    states = [{"round": "confirm"}, {"round": "reveal"}]
    resumed, legacy, wrong = node(
        {"op": "reopen", "document": saved, "passphrase": "pass phrase", "secrets": states,
         "draws": [d.hex() for d in fresh]},
        {"op": "reopen", "document": keystore_browser.seal(SECRET, "pass phrase"), "passphrase": "pass phrase",
         "secrets": states},
        {"op": "reopen", "document": saved, "passphrase": "wrong", "secrets": states})
    assert resumed["secret"] == SECRET and resumed["sealer"]
    first, second = resumed["documents"]
    assert first == _python_seal(states[0], "pass phrase", SMALL, [salt, fresh[0]])
    assert second == _python_seal(states[1], "pass phrase", SMALL, [salt, fresh[1]])
    assert first["kdf"] == second["kdf"] == saved["kdf"] and first["nonce"] != second["nonce"]
    assert [keystore.unseal(d, "pass phrase") for d in (first, second)] == states
    assert legacy == {"secret": SECRET, "sealer": False, "documents": []}
    assert wrong == {"error": "VerificationError", "field": None}


def test_browser_backup_opens_with_keystore_load(tmp_path: Path) -> None:
    """What the CLI does with a trustee's secret file: threshold.keystore.load, no conversion."""
    (answer,) = node({"op": "seal", "secret": SECRET, "passphrase": "pass phrase", "params": SMALL})
    path = tmp_path / "trustee-1.json"
    path.write_text(json.dumps(answer["document"]), encoding="utf-8")
    assert keystore.load(path, "pass phrase") == SECRET
    assert keystore_browser.unseal_any(answer["document"], "pass phrase") == SECRET


def test_legacy_pbkdf2_backup_still_opens() -> None:
    legacy = keystore_browser.seal(SECRET, "pass phrase")
    opened, wrong, weak = node({"op": "unseal", "document": legacy, "passphrase": "pass phrase"},
                               {"op": "unseal", "document": legacy, "passphrase": "wrong"},
                               {"op": "unseal", "document": {**legacy, "kdf": {**legacy["kdf"], "iterations": 1000}},
                                "passphrase": "pass phrase"})
    assert opened == {"secret": SECRET}
    assert wrong == {"error": "VerificationError", "field": None}
    assert weak == {"error": "DecodeError", "field": "secret file.kdf.iterations"}


def _tampered(doc: dict[str, Any]) -> dict[str, Any]:
    body = bytearray.fromhex(doc["ciphertext"])
    body[0] ^= 1
    return {**doc, "ciphertext": body.hex()}


KDF_CHANGES = [
    ({"time_cost": 0}, "secret file.kdf.time_cost"), ({"time_cost": 21}, "secret file.kdf.time_cost"),
    ({"memory_cost": 4 * 1024}, "secret file.kdf.memory_cost"), ({"memory_cost": 2 * 1024 * 1024}, "secret file.kdf.memory_cost"),
    ({"parallelism": 17}, "secret file.kdf.parallelism"), ({"parallelism": True}, "secret file.kdf.parallelism"),
    ({"time_cost": 1.5}, "secret file.kdf.time_cost"), ({"salt": "00" * 15}, "secret file.kdf.salt"),
    ({"salt": "AB" * 16}, "secret file.kdf.salt"), ({"name": "argon2i"}, "secret file.kdf.name"),
    ({"iterations": 600000}, "secret file.kdf"),
]


def test_wrong_passphrase_tampering_and_malformed_documents_are_refused() -> None:
    doc = keystore.seal(SECRET, "pass phrase", SMALL)
    requests: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"document": doc, "passphrase": "wrong"}, {"error": "VerificationError", "field": None}),
        ({"document": _tampered(doc), "passphrase": "pass phrase"}, {"error": "VerificationError", "field": None}),
        ({"document": {**doc, "nonce": "00" * 12}, "passphrase": "pass phrase"}, {"error": "VerificationError", "field": None}),
        ({"document": {**doc, "format": "quorum-secret-v2"}, "passphrase": "pass phrase"},
         {"error": "DecodeError", "field": "secret file.format"}),
        ({"document": {**doc, "extra": 1}, "passphrase": "pass phrase"}, {"error": "DecodeError", "field": "secret file"}),
        ({"document": {**doc, "ciphertext": doc["ciphertext"][:30]}, "passphrase": "pass phrase"},
         {"error": "DecodeError", "field": "secret file.ciphertext"}),
        ({"document": {**doc, "nonce": "00" * 11}, "passphrase": "pass phrase"}, {"error": "DecodeError", "field": "secret file.nonce"}),
    ]
    for change, field in KDF_CHANGES:
        requests.append(({"document": {**doc, "kdf": {**doc["kdf"], **change}}, "passphrase": "pass phrase"},
                         {"error": "DecodeError", "field": field}))
    answers = node(*({"op": "unseal", **r} for r, _ in requests))
    for (request, expected), answer in zip(requests, answers):
        assert answer == expected, request


@pytest.mark.parametrize("secret, passphrase, params, field", [
    (SECRET, "", SMALL, "passphrase"),
    (SECRET, "pass phrase", {"iterations": 600000}, "options.iterations"),
    (SECRET, "pass phrase", {**SMALL, "memory_cost": 1024}, "kdf.memory_cost"),
    (SECRET, "pass phrase", {**SMALL, "time_cost": 0}, "kdf.time_cost"),
    (SECRET, "pass phrase", {**SMALL, "parallelism": 32}, "kdf.parallelism"),
])
def test_seal_refuses_bad_input(secret: Any, passphrase: str, params: dict[str, Any], field: str) -> None:
    (answer,) = node({"op": "seal", "secret": secret, "passphrase": passphrase, "params": params})
    assert answer == {"error": "DecodeError", "field": field}


def test_default_parameters_64_mib() -> None:
    """The real default (t = 3, 64 MiB, p = 4) both ways; the node timing is printed (`pytest -s -k 64_mib`)."""
    python_doc = keystore.seal(SECRET, "pass phrase")
    js, opened = node({"op": "seal", "secret": SECRET, "passphrase": "pass phrase", "params": {}},
                      {"op": "unseal", "document": python_doc, "passphrase": "pass phrase"})
    assert {k: v for k, v in js["document"]["kdf"].items() if k not in ("name", "salt")} == keystore.ARGON2
    assert keystore.unseal(js["document"], "pass phrase") == SECRET
    assert opened == {"secret": SECRET}


def test_timing_in_node() -> None:
    """argon2id at the default parameters in node, median of 3 (printed, never asserted)."""
    request = {"op": "argon2id", "password": "00" * 20, "salt": "01" * 16, "t": 3, "m": 64 * 1024, "p": 4, "len": 32}
    answers = node(request, request, request)
    assert len({a["tag"] for a in answers}) == 1 and answers[0]["tag"] == python_tag(request)
    ms = [a["ms"] for a in answers]
    print(f"\nargon2id t=3 m=64 MiB p=4 in node: median {statistics.median(ms):.0f} ms "
          f"({', '.join(f'{x:.0f}' for x in ms)})")


_IN_PAGE = """async ([request, runs]) => {
  const { argon2id, argon2idAsync } = await import("/web/static/js/crypto/argon2.js");
  const keystore = await import("/web/static/js/crypto/keystore.js");
  const { fromHex, toHex } = await import("/web/static/js/crypto/bytes.js");
  const params = { timeCost: request.t, memoryCost: request.m, parallelism: request.p, hashLength: request.len };
  const out = { tag: toHex(await argon2idAsync(fromHex(request.password, null, "p"), fromHex(request.salt, null, "s"), params)),
                ms: [] };
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    argon2id(fromHex(request.password, null, "p"), fromHex(request.salt, null, "s"), params);
    out.ms.push(performance.now() - started);
  }
  out.sealed = await keystore.seal({ made: "in chromium" }, "pass phrase", { time_cost: 1, memory_cost: 8192, parallelism: 2 });
  return out;
}"""


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_in_chromium_same_tag_and_timing(browser: Any, server: str) -> None:
    """One argon2-cffi case and a backup sealed in Chromium under the pages' CSP; then argon2id at the default
    parameters timed there, median of 3 (printed, never asserted)."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/tests/web_js/argon2.html")
    case = random_cases()[1]
    out = page.evaluate(_IN_PAGE, [case, 0])
    assert out["tag"] == python_tag(case)
    assert keystore.unseal(out["sealed"], "pass phrase") == {"made": "in chromium"}
    default = {"password": "00" * 20, "salt": "01" * 16, "t": 3, "m": 64 * 1024, "p": 4, "len": 32}
    timed = page.evaluate(_IN_PAGE, [default, 3])
    page.close()
    assert not errors, errors
    assert timed["tag"] == python_tag(default)
    print(f"\nargon2id t=3 m=64 MiB p=4 in chromium: median {statistics.median(timed['ms']):.0f} ms "
          f"({', '.join(f'{ms:.0f}' for ms in timed['ms'])})")
