"""The browser-side cryptography (web/static/js/crypto/) in Debian's Chromium, against threshold/.

One page runs every known-answer vector of tests/vectors/js/vectors.json (encodings, canonical
JSON, RFC 9380 hashing, both groups' arithmetic and decoding, ElGamal, proofs, hybrid
encryption, hash to element, GJKR DKG, partial decryption, keystore) and produces proofs and
ciphertexts with real randomness, which Python then verifies. A JavaScript trustee takes part in
a ceremony with Python trustees (also when one of them withholds its reveal), and decrypts with them. The pages are served with a Content-Security-Policy
that forbids inline scripts and eval.

ATTACKS rows: 1 (every challenge hashes the statement: a moved proof fails, in both languages),
4 (invalid encodings rejected alike: 0, 1, p-1, p, non-residues, small-order and non-canonical
points), 7 (hash_to_field with 128 extra bits; rejection-sampled nonces), 8 (byte-identical
injective encoding and canonical JSON), 18 (the booth's code runs under a strict CSP).
"""

from __future__ import annotations

import json
import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

from threshold import dkg, hybrid, keystore, keystore_browser
from threshold.decryption import PartialDecryption, combine, partial_decrypt, verify_partial
from threshold.elgamal import Ciphertext, PublicKey, decrypt
from threshold.encoding import encode
from threshold.groups import get_group
from threshold.proofs import ChaumPedersenProof, RangeProof, SchnorrProof
from threshold.shamir import evaluate
from web.ceremony import qualification_json

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "js" / "vectors.json"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVED = ("/web/static/", "/tests/web_js/", "/tests/vectors/js/")
CSP = "default-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'"
GROUPS = ("ed25519", "modp")


class _Handler(SimpleHTTPRequestHandler):
    """Static files under SERVED only, with a strict Content-Security-Policy."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript", ".json": "application/json"}

    def send_head(self):  # noqa: D102 - http.server hook
        path = urlsplit(self.path).path
        if ".." in path or not path.startswith(SERVED):
            self.send_error(404)
            return None
        return super().send_head()

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(ROOT)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"chromium is not installed at {CHROMIUM} (`make system-deps` installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser: Any, url: str) -> tuple[Any, dict[str, Any]]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("#status[data-done]", state="attached", timeout=300_000)
    out = page.evaluate("window.__quorum")
    assert not errors, f"uncaught errors in the page: {errors}"
    assert "error" not in out, out.get("error")
    assert out["violations"] == [], f"Content-Security-Policy violations: {out['violations']}"
    return page, out


@pytest.fixture(scope="module")
def vector_page(browser: Any, server: str) -> Iterator[tuple[Any, dict[str, Any]]]:
    page, out = _open(browser, f"{server}/tests/web_js/vectors.html?mode=vectors")
    yield page, out
    page.close()


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    return json.loads(VECTORS.read_text())


def test_every_vector_passes_in_the_browser(vector_page: tuple[Any, dict[str, Any]]) -> None:
    """ATTACKS rows 1, 4, 7, 8: the browser reproduces every known answer of threshold/."""
    _, out = vector_page
    results = out["results"]
    failed = [f"{r['name']}: {r['detail']}" for r in results if not r["ok"]]
    assert len(results) > 300
    assert not failed, "\n".join(failed)


def test_vectors_are_current(vectors: dict[str, Any]) -> None:
    """vectors.json is what make_vectors.py writes today (threshold/ has not drifted from it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS.with_name("make_vectors.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert json.loads(json.dumps(module.build())) == vectors


def test_browser_outputs_verify_in_python(vector_page: tuple[Any, dict[str, Any]], vectors: dict[str, Any]) -> None:
    """Proofs, ciphertexts, partial decryptions and a keystore made with the browser's randomness."""
    _, out = vector_page
    produced = out["produced"]
    assert keystore.unseal(produced["keystore"], "browser passphrase") == {"made": "in the browser", "n": 1}
    assert keystore_browser.unseal_any(produced["keystore"], "browser passphrase")["n"] == 1
    for name in GROUPS:
        g, p = get_group(name), produced[name]
        ctx = bytes.fromhex(p["context"])
        v = vectors["proofs"][name]
        pk = PublicKey(g, g.from_hex(v["range"][0]["public_key"]))
        secret = g.scalar_from_hex(v["election_secret"])
        fixed, fv = p["fixed_range"], v["range"][p["fixed_range"]["index"]]
        proof = RangeProof.from_json(g, fixed["proof"], fv["limit"])
        assert proof.verify(pk, Ciphertext.from_json(g, fixed["ciphertext"]), bytes.fromhex(fv["context"]))
        assert fixed["proof"] == fv["proof"], "the browser's proof with Python's draws differs from Python's"
        for item in p["range"]:
            ct = Ciphertext.from_json(g, item["ciphertext"])
            proof = RangeProof.from_json(g, item["proof"], item["limit"])
            assert proof.verify(pk, ct, ctx), (name, item["m"], item["limit"])
            assert not proof.verify(pk, ct, ctx + b"\x00"), "ATTACKS row 1: proof accepted in another context"
            assert decrypt(g, secret, ct, 10) == item["m"]
        X = g.from_hex(p["schnorr"]["public"])
        assert SchnorrProof.from_json(g, p["schnorr"]["proof"]).verify(g, X, ctx)
        cp = ChaumPedersenProof.from_json(g, p["cp"]["proof"])
        assert cp.verify(g, g.g, g.from_hex(p["cp"]["X1"]), g.from_hex(p["cp"]["g2"]), g.from_hex(p["cp"]["X2"]), ctx)
        hv = vectors["hybrid"][name][1]
        ct = hybrid.HybridCiphertext.from_json(g, p["hybrid"]["ciphertext"])
        plain = hybrid.decrypt(g, g.scalar_from_hex(hv["secret"]), ct, bytes.fromhex(hv["aad"]))
        assert plain.decode() == p["hybrid"]["plaintext"]
        dv = vectors["decryption"][name]
        key = dkg.TrusteeKey.from_json(g, dv["key"])
        cts = [Ciphertext.from_json(g, c) for c in dv["ciphertexts"]]
        partial_json = PartialDecryption.from_json(g, p["partial"], len(cts))
        assert verify_partial(g, key.verification_keys[key.index], cts, partial_json, bytes.fromhex(dv["context"]))


@pytest.mark.parametrize("name", GROUPS)
@pytest.mark.parametrize("scenario", ["honest", "bad-dealer", "python-withholds", "browser-withholds"])
def test_ceremony_with_a_browser_trustee(vector_page: tuple[Any, dict[str, Any]], name: str, scenario: str) -> None:
    """ATTACKS row 10: trustee 1 runs in the browser, 2 and 3 in Python; with a bad dealer the browser's
    complaint is upheld by Python's adjudication; when a qualified trustee (Python's or the browser's) withholds
    its reveal, the others open their shares of it and both sides reconstruct the same key, the one the reveal
    would have given; then the browser trustee decrypts."""
    page, _ = vector_page
    g = get_group(name)
    params = dkg.CeremonyParams(g, 3, 2, encode("interop", name, scenario))
    p = {"group": name, "n": 3, "k": 2, "context": params.context.hex()}

    def js(fn: str, *args: Any) -> Any:
        return page.evaluate("([fn, args]) => window.quorumInterop[fn](...args)", [fn, list(args)])

    def public(**rounds: Any) -> dict[str, Any]:
        """The transcript so far as the browser reads it (JSON lists in trustee order)."""
        return {key: [m.to_json(g) for m in (v if isinstance(v, list) else [m for _, m in sorted(v.items())])]
                for key, v in rounds.items()}

    r = js("announce", p, 1)
    state = r["state"]
    py = {i: dkg.Trustee(params, i) for i in (2, 3)}
    anns = {1: dkg.Announcement.from_json(params, r["announcement"]), **{i: t.announce() for i, t in py.items()}}
    r = js("deal", p, state, public(a=anns)["a"])
    state = r["state"]
    msgs = {1: dkg.DealerMessage.from_json(params, r["message"]), **{i: t.deal(anns) for i, t in py.items()}}
    if scenario == "bad-dealer":
        t3 = py[3]
        wrong = ((evaluate(t3.polynomial, 1, g.q) + 1).to_bytes(32, "big")
                 + evaluate(t3.blinding, 1, g.q).to_bytes(32, "big"))
        forged = hybrid.encrypt(g, anns[1].enc_key, wrong, params.ctx("dkg-share", 3, 1))
        msgs[3] = py[3].sign_deal({**msgs[3].shares, 1: forged})
    r = js("check", p, state, public(m=msgs)["m"])
    state = r["state"]
    browser_complaints = [dkg.Complaint.from_json(params, c) for c in r["complaints"]]
    assert [(c.accuser, c.dealer) for c in browser_complaints] == ([(1, 3)] if scenario == "bad-dealer" else [])
    complaints = browser_complaints + [c for t in py.values() for c in t.check_shares(msgs)]
    qualification = dkg.qualify(params, anns, msgs, complaints)
    assert qualification.qualified == ((1, 2) if scenario == "bad-dealer" else (1, 2, 3))
    so_far = public(announcements=anns, messages=msgs, complaints=complaints)
    r = js("confirm", p, state, so_far)
    state = r["state"]  # the browser trustee keeps the qualification it confirmed
    assert r["qualification"] == qualification_json(qualification)  # the hash of rounds 1-3 included
    confirmations = {1: dkg.Confirmation.from_json(params, r["confirmation"]),
                     **{i: c for i, t in py.items() if (c := t.confirm(msgs, complaints)) is not None}}
    r = js("reveal", p, state, [c.to_json(g) for _, c in sorted(confirmations.items())])
    state = r["state"]
    made = {i: t.reveal(confirmations) for i, t in py.items()}  # every Python trustee goes on under QUAL
    every_reveal = {1: dkg.Reveal.from_json(params, r["reveal"]), **{i: rv for i, rv in made.items() if rv is not None}}
    assert all(rv.valid(params, msgs[i], qualification) for i, rv in every_reveal.items())
    withheld = {"python-withholds": 2, "browser-withholds": 1}.get(scenario)
    reveals = {i: rv for i, rv in every_reveal.items() if i != withheld}
    recon = dkg.to_reconstruct(params, qualification, msgs, reveals)
    assert recon == (() if withheld is None else (withheld,))
    openings = {}
    if recon:
        if 1 not in recon:
            r = js("open", p, state, {**so_far, **public(reveals=reveals)})
            assert r["reconstruct"] == list(recon)
            openings[1] = dkg.Opening.from_json(params, r["opening"])
        openings.update({i: t.open(msgs, reveals) for i, t in py.items() if i not in recon})
    result = dkg.adjudicate(params, anns, msgs, complaints, reveals, openings)
    assert result.reconstructed == recon
    revealing = dkg.adjudicate(params, anns, msgs, complaints, every_reveal, {})
    assert (result.public_key, result.verification_keys) == (revealing.public_key, revealing.verification_keys), \
        "withholding a reveal changed the joint key"
    r = js("finish", p, state, {**so_far, **public(reveals=reveals, openings=openings)})
    assert r["result"] == result.to_json(g)
    assert r["result"]["qualification_hash"] == qualification.transcript_hash.hex()
    key1 = dkg.TrusteeKey.from_json(g, r["key"])
    assert dkg.verify_signature(params, anns[1], result, SchnorrProof.from_json(g, r["signature"]))
    key2 = py[2].finish(dkg.Transcript(anns, msgs, complaints, reveals, openings))
    pk = PublicKey(g, result.public_key)
    cts = [pk.encrypt(m)[0] for m in (0, 3, 7)]
    ctx = encode("interop tally", scenario)
    part1 = PartialDecryption.from_json(g, js("decrypt", name, r["key"], [c.to_json(g) for c in cts], ctx.hex()), len(cts))
    part2 = partial_decrypt(g, 2, key2.secret, cts, ctx)
    assert part1.index == key1.index == 1
    decryption = combine(g, cts, [part1, part2], result.verification_keys, 2, ctx, bound=10)
    assert decryption.plaintexts == (0, 3, 7)
    assert decryption.blamed == ()


def test_ballot_encryption_in_the_browser(browser: Any, server: str) -> None:
    """A 2-contest ballot (1 of 4, up to 2 of 5) encrypted in the browser verifies in Python.

    Prints the timings (measured, never asserted): `pytest -s -k ballot_encryption`.
    """
    page, out = _open(browser, f"{server}/tests/web_js/vectors.html?mode=timing")
    page.close()
    for name in GROUPS:
        g, t = get_group(name), out["timings"][name]
        pk = PublicKey(g, g.from_hex(t["public_key"]))
        for c, contest in enumerate(t["ballot"]):
            cts = [Ciphertext.from_json(g, s["ciphertext"]) for s in contest["selections"]]
            for s, (ct, sel) in enumerate(zip(cts, contest["selections"])):
                assert RangeProof.from_json(g, sel["proof"], 1).verify(pk, ct, encode("ballot-timing", c, s))
            total = Ciphertext(g.prod(x.alpha for x in cts), g.prod(x.beta for x in cts))
            assert RangeProof.from_json(g, contest["proof"], contest["limit"]).verify(pk, total, encode("ballot-timing", c))
        print(f"\n{name}: generator table {t['generator_table_ms']:.0f} ms; first ballot (with key table) "
              f"{t['first_ballot_ms_with_key_table']:.0f} ms; ballot {t['ballot_ms_median']:.0f} ms (median); "
              f"verify 9 selection proofs {t['selection_proofs_verify_ms']:.0f} ms")
    print(f"keystore seal + unseal (argon2id t=3, 64 MiB, p=4, twice): {out['timings']['keystore_seal_and_unseal_ms']:.0f} ms")


RECORDS = ROOT / "tests" / "vectors" / "records"


def recount_script(scripts: str) -> str:
    """A page function running trustee/tally.js's checkedTally on the entries it is given, after board.js's baseHash
    (recomputed from them, checked against the open entry's), as decrypt.js does; `scripts`: where the page serves
    web/static/js."""
    return """async ([entries]) => {
  const { checkedTally } = await import("%(js)s/trustee/tally.js");
  const { baseHash } = await import("%(js)s/board.js");
  const { getGroup } = await import("%(js)s/crypto/groups.js");
  try {
    const base = await baseHash(entries, "refusing to decrypt");
    return { ok: (await checkedTally(getGroup(entries[0].payload.group.name), entries, base)).length };
  } catch (err) {
    return { error: err.message };
  }
}""" % {"js": scripts}


_RECOUNT = recount_script("/web/static/js")


@pytest.mark.parametrize(("record", "refusal"), [
    ("valid-ed25519", None),
    ("invalid-ballot_bad_signature", None),  # the badly signed ballot is superseded by a re-vote: not counted
    ("invalid-ballot_unknown_credential", "not from a published credential"),  # ATTACKS row 13
    ("invalid-tally_subset", "not the product of the published ballots"),  # ATTACKS row 12
    ("invalid-chain_prev", "chain is broken"),
    ("invalid-signature_flipped", "not signed by the board's key"),
    ("invalid-signatures_other_key", "not signed by the board's key"),
    ("invalid-revote_gap", "re-vote number"),
    ("invalid-revote_repeated", "re-vote number"),
    ("invalid-revote_reordered", "re-vote number"),
    ("invalid-cast_after_challenge", "reuses a ciphertext"),  # ATTACKS row 15
    ("invalid-ballot_moved_proof", None),  # the ballot with a moved proof is superseded by a re-vote: not counted
    ("invalid-base_hash_changed", "base hash does not match its parameters: refusing to decrypt"),
    ("invalid-base_hash_no_open", "the election is not open yet: refusing to decrypt"),
])
def test_the_browser_trustee_recounts_only_a_checked_board(vector_page: tuple[Any, dict[str, Any]], record: str,
                                                          refusal: str | None) -> None:
    """trustee/tally.js, before a trustee's browser decrypts: the chain and the board's signatures (setup.board_key),
    every counted ballot from a published credential, signed by it and with proofs that hold, and the tally equal
    to their product. The
    sample records (tests/vectors/records) are the boards a server could show the trustee."""
    page, _ = vector_page
    entries = [json.loads(line) for line in (RECORDS / record / "board.jsonl").read_text().splitlines()]
    out = page.evaluate(_RECOUNT, [entries])
    if refusal is None:
        assert out.get("ok"), out
    else:
        assert refusal in out.get("error", ""), out


def test_the_browser_trustee_refuses_a_counted_ballot_its_credential_did_not_sign(
        vector_page: tuple[Any, dict[str, Any]], tmp_path: Path) -> None:
    """A board that re-signs its chain over a counted ballot with a forged signature (so the chain and the board's
    signatures hold) is still refused: the recount checks each counted ballot's credential signature."""
    from nacl.signing import SigningKey

    from tests.voting.voting_helpers import load, rechain, scripted_record
    from voting import credentials
    from voting.ballot import ballot_hash, signed_body

    s = scripted_record(tmp_path)
    entries = load(s.record)
    page, _ = vector_page
    assert page.evaluate(_RECOUNT, [entries]).get("ok"), "the scripted record itself is refused"
    ballot = next(e for e in entries if e["seq"] == s.seqs["v3"])["payload"]["ballot"]
    ballot["signature"] = credentials.sign(SigningKey.generate(), ballot_hash(s.ctx, signed_body(ballot)))
    rechain(entries, s.key)
    out = page.evaluate(_RECOUNT, [entries])
    assert f"the ballot at entry {s.seqs['v3']} is not signed by its credential" in out.get("error", ""), out


@pytest.mark.parametrize(("fault", "refusal"), [
    ("proof_missing_key", "proofs[0]"),
    ("non_member", "selection 1"),
    ("contest_missing", "does not have the manifest's contests"),
    ("limit_proof_other_contest", "has a proof that does not hold"),
])
def test_the_browser_trustee_refuses_a_counted_ballot_its_credential_signed_over_bad_proofs(
        vector_page: tuple[Any, dict[str, Any]], tmp_path: Path, fault: str, refusal: str) -> None:
    """A counted ballot signed by its own credential (the web server issues credentials) but malformed or with a proof
    that does not hold is refused before any decryption, naming its entry: the recount checks every counted ballot's
    shape, ciphertexts and proofs as the verifier's ballot_format and ballot_proofs do."""
    from tests.voting.voting_helpers import load, rechain, scripted_record
    from voting.ballot import ballot_hash, signed_body
    from voting.credentials import sign, signing_key

    s = scripted_record(tmp_path)
    entries = load(s.record)
    page, _ = vector_page
    ballot = next(e for e in entries if e["seq"] == s.seqs["v3"])["payload"]["ballot"]
    contests = ballot["contests"]
    if fault == "proof_missing_key":
        del contests[0]["proofs"][0]["a"]
    elif fault == "non_member":  # the point of order 2 of edwards25519, or -1 mod p: not in the prime-order subgroup
        order2 = "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
        contests[0]["selections"][0]["alpha"] = order2 if s.ctx.group.name == "ed25519" else \
            s.ctx.group.to_hex(s.ctx.group.p - 1)
    elif fault == "contest_missing":
        contests.pop()
    else:
        contests[0]["limit_proof"], contests[-1]["limit_proof"] = contests[-1]["limit_proof"], contests[0]["limit_proof"]
    ballot["signature"] = sign(signing_key(s.ctx.setup.election_id, s.credentials[3]),
                               ballot_hash(s.ctx, signed_body(ballot)))
    rechain(entries, s.key)
    out = page.evaluate(_RECOUNT, [entries])
    assert f"the ballot at entry {s.seqs['v3']}" in out.get("error", ""), out
    assert refusal in out["error"] and out["error"].endswith("refusing to decrypt"), out
