"""Session 23 review of the web pages' network handling, the ceremony's confirm round and resumed progress.

Reviewed: 798bcca (web/static/js/api.js: every call gives up after 60 s, names network failures and non-JSON
answers; booth/election.js loadContext through getJson; the booth keeps its ballot after a lost cast answer),
288fdc5 (web/static/js/ceremony.js: the confirm round posts the confirmation signed when ownQualification computed
QUAL) and c78b253 / c044927 (crypto/keystore.js `reopen`, trustee/open.js `openSealed` returning {secret, sealer}:
resumed progress keeps sealing under the saved document's own argon2id key and salt).

Threat model: the server answers every API call and may be malicious (it holds the board key, may withhold or delay
any answer, drop a connection after storing what it got); it does not hold voters' credentials nor trustees' keys;
a slow or lossy network between a legitimate server and the page is also in scope. Timeouts are exercised at scale:
the tests replace AbortSignal.timeout by one that fires after a fraction of the delay asked (node: 1/100; Chromium:
at most a second and a half once a test says so), so that api.js still says "60 s".

Found, and fixed in session 23 (each a "Failed before" test): the booth now offers only the action a ballot was
sent for (SENT in booth.js), api.js times out on silence (each read of the answer restarts the clock), requires a
JSON answer, and names an error answer with a null body; the ceremony page polls again after no answer
(NetworkError) instead of stopping.
- booth.js challenge handler: after a cast whose answer never came (the server stored it, then stayed silent for
  60 s), the booth still offers "Challenge" for the same ballot and sends its plaintexts and nonces to the server: the
  server learns the vote of a ballot it holds as cast (test_the_booth_never_reveals_a_ballot_it_sent_for_casting).
- booth.js cast handler: after a challenge whose answer never came, the booth casts the very ballot whose opening it
  just sent; a server that kept the opening and never published the spoil entry gets it counted and the booth shows
  a receipt (test_the_booth_never_casts_a_ballot_whose_opening_it_sent).
  Both were reachable before with a dropped connection (fetch rejected, `pending` kept); 798bcca adds the silent
  server (before: the buttons stayed disabled while the call hung) and makes keeping the ballot the design.
- api.js call: the 60 s limit covers the whole answer, not silence: a board page (ENTRIES_PAGE_BYTES = 32 MiB) must
  arrive at 4.5 Mbit/s or more, so a voter on a slower but live link can no longer follow a modp board and "try
  again" repeats the same page forever; decrypt.js fetches the whole board in one unpaged GET under the same limit
  (test_a_slow_but_live_board_page_is_not_cut_off).
- api.js call: a 200 answer that is not JSON (an HTML login or captive-portal page after a redirect, which fetch
  follows) is taken as an empty success {}: decrypt.js then says "Done: your share is on the board"
  (test_a_200_answer_that_is_not_json_is_an_error).
- api.js ApiError: an error answer whose JSON body is null becomes "cannot reach the server (Cannot read properties
  of null ...): check the connection" (test_an_error_answer_with_a_null_body_is_not_called_a_network_failure).

Held (passing tests): problem+json errors keep status, detail and field errors, a non-JSON error page is "HTTP
502", a connection dropped mid-answer and a silent server are each named, loadContext's message keeps the server's
detail (or the status when there is none); a cast whose answer is withheld past the timeout is cast again with the
same ballot and gets the stored receipt (one cast entry, no re-vote); a challenge whose answer is withheld is sent
again (same ballot, same opening) and checked; in the ceremony page a silent poll is followed by another (the
page says "No answer from the server"), a relay showing another QUAL in the confirm round gets MISMATCH before any confirm post, the
confirmation cached before that stop is the one posted after Start again (the page's only confirm post), accepted by
the relay and valid for the Python trustees' QUAL, and legacy PBKDF2 progress (no sealer) is re-saved as argon2id
under a fresh salt; keystore.reopen refuses a document whose kdf salt or parameters were changed (no key under
attacker-chosen weaker parameters without the passphrase), keeps the document's own parameters, and draws a fresh
nonce per document (never the opened document's).

Checked by reading, no test: the cached confirmation and the cached qualification are set together (confirm, then
saveState, then ownQualification) and ownQualification compares the relay's QUAL at every step before anything is
posted, so the confirmation posted always signs the QUAL the page computed and checked; a page resumed by a reload
has no cached confirmation and signs again (Trustee.confirm refuses another QUAL). Retries are idempotent where the
pages retry: the server returns the first receipt for a cast of the credential's latest ballot and for the same
challenge, and the stored entry for a second decryption; ceremony rounds are not idempotent server-side (409), but the
page posts only when the fresh state lacks its message (mine()). Observations: the ceremony page's loop ended on
one silent poll until the trustee pressed Start again (fixed: it polls again); a trustee whose decryption answer
timed out while the server published the result is told on retry that "the results appear once enough trustees have decrypted" (the server's
retry path answers result_published false); AbortSignal.timeout needs Safari 16 / Chrome 103 / Firefox 100, below
which every API call fails as "cannot reach the server (AbortSignal.timeout is not a function)"; decrypt.js still
reads the whole board in one GET (no longer cut off while data flows, but held in memory whole).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.review.test_client_and_records_review import _entries, _open, _own_state_home  # noqa: F401  (autouse)
from tests.web import flow
from tests.web.conftest import admin, api_post, app  # noqa: F401  (fixtures)
from tests.web.live import chromium, open_booth, serve, watch_errors

ROOT = Path(__file__).resolve().parents[2]
JS = (ROOT / "web" / "static" / "js").as_uri()
NODE = shutil.which("node")
SCALE = 100  # node: AbortSignal.timeout(ms) fires after ms / SCALE

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")

# ------------------------------------------------------------------------------------------------ node harness

_PRELUDE = """
const SCALE = %(scale)d;
const realTimeout = AbortSignal.timeout.bind(AbortSignal);
AbortSignal.timeout = (ms) => realTimeout(ms / SCALE);
globalThis.document = { querySelector: () => null };
const js = %(js)r;
const { ApiError, getJson, postJson, TIMEOUT_MS } = await import(`${js}/api.js`);
const base = process.argv[2];
async function outcome(promise) {
  try {
    return { data: await promise };
  } catch (error) {
    return { error: error.constructor.name, message: error.message, status: error instanceof ApiError ? error.status : null,
      errors: error instanceof ApiError ? error.errors : null };
  }
}
const out = {};
"""


def _node(base: str, body: str) -> dict[str, Any]:
    """Run `body` under node after the prelude (api.js imported, timeouts scaled by SCALE); it fills `out`."""
    script = _PRELUDE % {"scale": SCALE, "js": JS} + body + "\nprocess.stdout.write(JSON.stringify(out));\n"
    done = subprocess.run([NODE or "node", "--input-type=module", "-", base], input=script, capture_output=True,
                          text=True, timeout=60, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


Behaviour = Callable[[BaseHTTPRequestHandler], None]


def _send(h: BaseHTTPRequestHandler, status: int, kind: str, data: bytes) -> None:
    h.send_response(status)
    h.send_header("Content-Type", kind)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, Behaviour] = {}
    release = threading.Event()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?")[0]
        self.routes.get(path, lambda h: _send(h, 404, "application/problem+json", b'{"title": "Not Found"}'))(self)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[str, dict[str, Behaviour]]]:
    """A loopback server answering each path as the test's `routes` say (the dict is the server's)."""
    routes: dict[str, Behaviour] = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", routes
    _Handler.release.set()
    srv.shutdown()
    srv.server_close()


def _json(status: int, body: Any, kind: str = "application/json") -> Behaviour:
    return lambda h: _send(h, status, kind, json.dumps(body).encode())


def _silent(h: BaseHTTPRequestHandler) -> None:
    _Handler.release.wait(20)


def _dropped_mid_body(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", "1000")
    h.end_headers()
    h.wfile.write(b'{"entries": [')
    h.wfile.flush()
    h.connection.shutdown(socket.SHUT_RDWR)


def _streamed(total: int, per_second: float, chunk: int = 4096) -> Behaviour:
    """A valid JSON board page ({"entries": []} padded with whitespace to `total` bytes) sent steadily at
    `per_second` bytes a second: never silent for more than chunk / per_second seconds."""
    def answer(h: BaseHTTPRequestHandler) -> None:
        head, tail = b'{"entries": [] ', b"}"
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(total))
        h.end_headers()
        h.wfile.write(head)
        left = total - len(head) - len(tail)
        started = time.monotonic()
        sent = 0
        try:
            while sent < left:
                n = min(chunk, left - sent)
                h.wfile.write(b" " * n)
                h.wfile.flush()
                sent += n
                time.sleep(max(0.0, started + sent / per_second - time.monotonic()))
            h.wfile.write(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page gave up
    return answer


# ------------------------------------------------------------------------------------------------ api.js under node


@needs_node
def test_errors_are_named_with_status_detail_and_field_errors(fake: tuple[str, dict[str, Behaviour]]) -> None:
    """What the pages show when a call fails: a problem+json answer keeps its status, detail and field errors (the
    booth's fail() lists them); a non-JSON error page is 'HTTP 502'; a connection dropped in the middle of the answer
    and a server that never answers are each an Error saying so (never a raw TypeError or a hang); loadContext's
    message keeps the server's detail, or the status when the answer has none (the old code said 'HTTP 404')."""
    base, routes = fake
    field_errors = [{"field": "ballot.contests[0]", "message": "unknown contest"}]
    routes.update({
        "/problem": _json(422, {"title": "Unprocessable", "detail": "ballot: unknown contest 'x'",
                                "errors": field_errors}, "application/problem+json"),
        "/proxy": lambda h: _send(h, 502, "text/html", b"<html>Bad Gateway</html>"),
        "/dropped": _dropped_mid_body,
        "/silent": _silent,
        "/api/elections/gone/entries": _json(404, {"title": "Not Found", "detail": "no election 'gone' on this board"},
                                             "application/problem+json"),
        "/api/elections/down/entries": lambda h: _send(h, 503, "text/plain", b"maintenance"),
        "/api/elections/mute/entries": _silent,
    })
    out = _node(base, """
const { loadContext } = await import(`${js}/booth/election.js`);
out.problem = await outcome(postJson(`${base}/problem`, {}));
out.proxy = await outcome(getJson(`${base}/proxy`));
out.dropped = await outcome(getJson(`${base}/dropped`));
out.silent = await outcome(postJson(`${base}/silent`, {}));
for (const name of ["gone", "down", "mute"]) out[name] = await outcome(loadContext(`${base}/api/elections/${name}`, "00"));
""")
    assert out["problem"] == {"error": "ApiError", "message": "ballot: unknown contest 'x'", "status": 422,
                              "errors": field_errors}
    assert out["proxy"] == {"error": "ApiError", "message": "HTTP 502", "status": 502, "errors": []}
    assert out["dropped"]["error"] == "NetworkError" and out["dropped"]["message"].startswith("cannot reach the server (")
    assert out["silent"]["error"] == "NetworkError"
    assert out["silent"]["message"] == "the server sent nothing for 60 s: try again"
    assert out["gone"]["message"] == "cannot read the board: no election 'gone' on this board"
    assert out["down"]["message"] == "cannot read the board: HTTP 503"
    assert out["mute"]["message"] == "cannot read the board: the server sent nothing for 60 s: try again"


@needs_node
def test_a_slow_but_live_board_page_is_not_cut_off(fake: tuple[str, dict[str, Behaviour]]) -> None:
    """Failed before (fixed in session 23): web/static/js/api.js call: AbortSignal.timeout(60 s) bounds the whole
    answer (headers and body), not the time the server stays silent. A live answer still arriving is cut off:
    booth/chain.js Chain.follow asks pages of up to web/api.py ENTRIES_PAGE_BYTES = 32 MiB (a modp ballot is ~69 kB,
    1000 entries exceed it), which need 4.5 Mbit/s to arrive within 60 s; at 3 Mbit/s every page fails with 'the
    server did not answer within 60 s: try again' and the retry asks the same page, so that voter can never vote
    (before: slow but working). decrypt.js GETs the whole board unpaged (`${api}/entries`: ~690 MB for 10,000 modp
    ballots) under the same limit. Here, scaled 1/100: 1/100 of a page at 3 Mbit/s, never silent for more than 11
    ms. Fix: an idle timeout (read response.body with a reader and re-arm the timer on every chunk), or a per-call
    limit for the entries reads; page decrypt.js's entries read with ?from= as chain.js does
    
    Chain.follow (the booth's board check before encrypting and before showing a receipt) against a server that
    sends a board page steadily: at LAN speed it completes; at 3 Mbit/s (a mobile link) the same page must complete
    too, however long it takes, as long as bytes keep arriving."""
    from web.api import ENTRIES_PAGE_BYTES

    base, routes = fake
    page_bytes = ENTRIES_PAGE_BYTES // SCALE
    routes["/api/elections/fast/entries"] = _streamed(page_bytes, 100e6 / 8)
    routes["/api/elections/mobile/entries"] = _streamed(page_bytes, 3e6 / 8, chunk=4096)
    out = _node(base, """
const { Chain } = await import(`${js}/booth/chain.js`);
for (const name of ["fast", "mobile"]) {
  const chain = new Chain(`${base}/api/elections/${name}`, { seq: 3, hash: "00".repeat(32), type: "open" },
    new Uint8Array(32), new Set());
  const started = performance.now();
  out[name] = { ...(await outcome(chain.follow())), seconds_scaled: (performance.now() - started) * SCALE / 1000 };
}
""")
    assert "error" not in out["fast"], out
    assert "error" not in out["mobile"], out  # now: 'the server did not answer within 60 s: try again'


@needs_node
def test_a_200_answer_that_is_not_json_is_an_error(fake: tuple[str, dict[str, Behaviour]]) -> None:
    """Failed before (fixed in session 23): web/static/js/api.js call: `type.includes("json") ? await
    response.json() : {}` then `if (!response.ok) throw`: a 200 answer with Content-Type text/html (an SSO or
    captive-portal login page reached through a redirect, which fetch follows, POST turning into GET) resolves to {}
    as if the server had answered. decrypt.js then announces 'Done: your share is on the board'
    (answer.result_published undefined) for a share the server never got; ceremony.js post() takes the round as
    sent. Fix: for an ok answer require a JSON Content-Type and throw `the server's answer is not JSON (Content-Type
    ...)` otherwise (no API route answers 200 without JSON)
    
    The commit names 'a non-JSON answer' as an Error; an HTML page with a 200 status must be one too."""
    base, routes = fake
    routes["/login-page"] = lambda h: _send(h, 200, "text/html; charset=utf-8", b"<!doctype html><h1>Sign in</h1>")
    out = _node(base, """
out.post = await outcome(postJson(`${base}/login-page`, { index: 1 }));
out.get = await outcome(getJson(`${base}/login-page`));
""")
    assert out["post"].get("error") == "Error" and "not JSON" in out["post"]["message"], out  # now: {"data": {}}
    assert out["get"].get("error") == "Error" and "not JSON" in out["get"]["message"], out


@needs_node
def test_an_error_answer_with_a_null_body_is_not_called_a_network_failure(fake: tuple[str, dict[str, Behaviour]]) -> None:
    """Failed before (fixed in session 23): web/static/js/api.js ApiError constructor reads problem.detail of the
    parsed body: an error answer whose JSON is `null` (status 500, Content-Type application/json, body 'null')
    throws a TypeError inside call(), which its catch names 'cannot reach the server (Cannot read properties of null
    (reading 'detail')): check the connection and try again' though the server answered. Fix: `const problem = data
    !== null && typeof data === "object" ? data : {}` before `new ApiError(response.status, problem)`"""
    base, routes = fake
    routes["/null-error"] = lambda h: _send(h, 500, "application/json", b"null")
    out = _node(base, "out.answer = await outcome(getJson(`${base}/null-error`));")
    assert out["answer"]["error"] == "ApiError" and out["answer"]["status"] == 500, out


# ------------------------------------------------------------------------------------------------ keystore.reopen

SMALL = {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1}  # the least a document may ask for
SECRET = {"group": "ed25519", "index": 1, "state": "ab" * 32}


@needs_node
def test_reopen_refuses_a_document_whose_kdf_salt_or_parameters_were_changed() -> None:
    """An attacker who swaps the saved progress (localStorage) cannot make the page keep sealing under parameters it
    chose: the parameters and the salt select the key, so a document whose kdf fields differ from those it was sealed
    under does not open (VerificationError, as in Python), and reopen hands out no sealer. Only the passphrase's
    holder can write a document that reopen keeps sealing under."""
    from tests.web_js.test_argon2 import node
    from threshold import keystore
    from threshold.errors import VerificationError

    saved = keystore.seal(SECRET, "pass phrase", {"time_cost": 2, "memory_cost": 9 * 1024, "parallelism": 2})
    kdf = saved["kdf"]
    variants = [{**saved, "kdf": {**kdf, **change}} for change in (
        {"time_cost": 1}, {"memory_cost": 8 * 1024}, {"parallelism": 1}, SMALL, {"salt": "00" * 16})]
    answers = node(*({"op": "reopen", "document": v, "passphrase": "pass phrase", "secrets": [{"x": 1}]}
                     for v in [saved, *variants]))
    assert answers[0]["secret"] == SECRET and answers[0]["sealer"]
    assert answers[1:] == [{"error": "VerificationError", "field": None}] * len(variants)
    for v in variants:
        with pytest.raises(VerificationError):
            keystore.unseal(v, "pass phrase")


@needs_node
def test_reopen_keeps_the_documents_parameters_and_draws_a_fresh_nonce_each_time() -> None:
    """reopen's sealer (the ceremony page after Start again or a reload): every document carries the opened one's
    salt and kdf parameters, even below the defaults sealer() would choose (t=3, 64 MiB, p=4): such a document can
    only come from the passphrase's holder (test above) or an earlier version. Each has its own nonce, none the
    opened document's, so no (key, nonce) pair repeats; AES-GCM's associated data is the format (each opens in
    Python, whose unseal authenticates it)."""
    from tests.web_js.test_argon2 import node
    from threshold import keystore

    saved = keystore.seal(SECRET, "pass phrase", SMALL)
    states = [{"round": i} for i in range(24)]
    (answer,) = node({"op": "reopen", "document": saved, "passphrase": "pass phrase", "secrets": states})
    docs = answer["documents"]
    assert answer["secret"] == SECRET and len(docs) == len(states)
    assert all(d["kdf"] == saved["kdf"] and d["format"] == keystore.FORMAT for d in docs)
    assert len({d["nonce"] for d in docs} | {saved["nonce"]}) == len(docs) + 1
    assert [keystore.unseal(d, "pass phrase") for d in docs] == states


# ------------------------------------------------------------------------------------------------ pages in Chromium

TIMEOUT = 60_000
PASSPHRASE = "a browser trustee passphrase"
# Chromium: once the test sets window.__fastTimeout, AbortSignal.timeout fires after at most that many ms (api.js
# still asks for 60 s and says so): a withheld answer times out in a test's time.
FAST_TIMEOUT = """(() => {
  const real = AbortSignal.timeout.bind(AbortSignal);
  AbortSignal.timeout = (ms) => real(window.__fastTimeout ? Math.min(ms, window.__fastTimeout) : ms);
})();"""
NO_ANSWER = "the server sent nothing for 60 s"


def _page(browser: Any, errors: list[str]) -> Any:
    context = browser.new_context(accept_downloads=True)
    context.add_init_script(FAST_TIMEOUT)
    page = context.new_page()
    watch_errors(page, errors)
    return page


def _booth_encrypted(browser: Any, base: str, credential: str, choose: str, errors: list[str]) -> Any:
    """A voter's booth with its ballot encrypted, at the cast-or-challenge step."""
    page = _page(browser, errors)
    open_booth(page, base, "club")
    page.fill("#credential", credential)
    page.click("#credential-form button")
    page.wait_for_selector("#step-choose:not([hidden])", timeout=TIMEOUT)
    page.click(f"#ballot label:text-is('{choose}')")
    page.click("#encrypt")
    page.wait_for_selector("#step-decide:not([hidden]), #problem:not([hidden])", timeout=TIMEOUT)
    assert page.is_visible("#step-decide"), page.inner_text("#problem")
    return page


def _posted(page: Any, suffix: str) -> list[Any]:
    """The JSON bodies the page POSTs to URLs ending in `suffix`, as they are sent."""
    bodies: list[Any] = []
    page.on("request", lambda r: bodies.append(r.post_data_json) if r.method == "POST" and r.url.endswith(suffix) else None)
    return bodies


def _withhold_answer(page: Any, suffix: str, forward: bool) -> list[Any]:
    """The next POST to `suffix` gets no answer (forwarded to the server first if `forward`: it stores it); the
    page's call times out. Returns the bodies withheld."""
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route.request.post_data_json)
        if forward:
            route.fetch()  # the server has it; its answer never reaches the page

    page.route(f"**{suffix}", hold, times=1)
    return held


def _wait_settled(page: Any, done: str) -> None:
    page.wait_for_selector(f"{done}:not([hidden]), #problem:not([hidden])", timeout=TIMEOUT)


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_a_cast_whose_answer_is_withheld_is_cast_again_with_the_same_receipt(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """The server stores the cast ballot and stays silent past the timeout: the booth says so, keeps the ballot at the
    cast-or-challenge step, and casting again shows the receipt of the ballot stored (one cast entry, no re-vote)."""
    issued = _open(app, admin)
    errors: list[str] = []
    with serve(app) as base, chromium() as browser:
        page = _booth_encrypted(browser, base, issued[0]["credential"], "Bob", errors)
        withheld = _withhold_answer(page, "/ballots", forward=True)
        page.evaluate("window.__fastTimeout = 1500")
        page.click("#cast")
        page.wait_for_selector(f"#problem:has-text('{NO_ANSWER}')", timeout=TIMEOUT)
        assert withheld and page.is_visible("#step-decide") and page.is_enabled("#cast")
        page.evaluate("window.__fastTimeout = 0")
        page.click("#cast")
        _wait_settled(page, "#step-receipt")
        assert page.is_visible("#step-receipt"), page.inner_text("#problem")
        tracker = page.inner_text("#tracker")
    cast = _entries(app, "cast")
    assert len(cast) == 1 and cast[0].payload["tracker"] == tracker
    assert cast[0].payload["ballot"] == withheld[0]["ballot"]
    assert not [e for e in errors if "page error" in e], errors


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_a_challenge_whose_answer_is_withheld_is_sent_again_and_checked(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """The server publishes the challenged ballot and stays silent past the timeout: sending the same challenge again
    (the same ballot and opening: revealJson is deterministic) gets the stored receipt from the server's retry path,
    and the booth checks the spoil entry and the opening as usual; one spoil entry, nothing cast."""
    issued = _open(app, admin)
    errors: list[str] = []
    with serve(app) as base, chromium() as browser:
        page = _booth_encrypted(browser, base, issued[0]["credential"], "Cy", errors)
        withheld = _withhold_answer(page, "/challenges", forward=True)
        again = _posted(page, "/challenges")
        page.evaluate("window.__fastTimeout = 1500")
        page.click("#challenge")
        page.wait_for_selector(f"#problem:has-text('{NO_ANSWER}')", timeout=TIMEOUT)
        page.evaluate("window.__fastTimeout = 0")
        page.click("#challenge")
        _wait_settled(page, "#step-checked")
        assert page.is_visible("#step-checked"), page.inner_text("#problem")
        assert "The check passed" in page.inner_text("#check-result") and "Chair: Cy" in page.inner_text("#check-choices")
    assert again[-1] == withheld[0]
    assert len(_entries(app, "spoil")) == 1 and _entries(app, "cast") == []


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_the_booth_never_reveals_a_ballot_it_sent_for_casting(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """Failed before (fixed in session 23): web/static/js/booth.js, the #challenge click handler: after a cast whose
    answer never came (api.js timeout after 60 s, or a dropped connection), `pending` stays and the step still
    offers Challenge for the same ballot; the handler POSTs /challenges with revealJson(ctx, pending.secrets), the
    plaintexts and nonces of a ballot the server may hold as cast (here it does: the server stored it, then kept
    silent). Cast and Challenge are the step's only two buttons, so a voter told 'try again' may well press the
    other one. The honest server refuses ('replayed ballot'), but the opening has reached it: a server withholding
    cast answers learns the votes of the voters who then challenge. Fix: mark the ballot once its cast POST is sent
    (pending.sent = 'cast') and from then on offer only Cast (the same ballot again, whose retry the server answers
    with the stored receipt); never reveal it"""
    issued = _open(app, admin)
    errors: list[str] = []
    with serve(app) as base, chromium() as browser:
        page = _booth_encrypted(browser, base, issued[0]["credential"], "Bob", errors)
        withheld = _withhold_answer(page, "/ballots", forward=True)
        challenges = _posted(page, "/challenges")
        page.evaluate("window.__fastTimeout = 1500")
        page.click("#cast")
        page.wait_for_selector(f"#problem:has-text('{NO_ANSWER}')", timeout=TIMEOUT)
        page.evaluate("window.__fastTimeout = 0")
        if page.is_visible("#challenge") and page.is_enabled("#challenge"):
            page.click("#challenge")
            _wait_settled(page, "#step-checked")
    assert len(_entries(app, "cast")) == 1  # the ballot the booth sent for casting is cast
    revealed = [c for c in challenges if c["ballot"] == withheld[0]["ballot"]]
    assert not revealed, f"the opening of the cast ballot was sent: {revealed[0]['reveal']}"


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_the_booth_never_casts_a_ballot_whose_opening_it_sent(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """Failed before (fixed in session 23): web/static/js/booth.js, the #cast click handler: after a challenge whose
    answer never came (api.js timeout, or a dropped connection), `pending` stays and Cast is still offered; the
    handler POSTs /ballots with the very ballot whose plaintexts and nonces it just sent in the challenge. A server
    that keeps the opening and never publishes the spoil entry stores the ballot as cast: the booth checks the cast
    entry, shows 'Your ballot is cast' with a receipt, and the server knows that counted ballot's choices (Benaloh:
    a ballot opened is never cast). Fix: once the challenge POST is sent (pending.sent = 'challenge') offer only
    Challenge (the same ballot and opening, which the server's retry path answers with the stored receipt: see
    test_a_challenge_whose_answer_is_withheld_is_sent_again_and_checked); never cast it"""
    issued = _open(app, admin)
    errors: list[str] = []
    with serve(app) as base, chromium() as browser:
        page = _booth_encrypted(browser, base, issued[0]["credential"], "Bob", errors)
        opened = _withhold_answer(page, "/challenges", forward=False)  # the server keeps the opening to itself
        casts = _posted(page, "/ballots")
        page.evaluate("window.__fastTimeout = 1500")
        page.click("#challenge")
        page.wait_for_selector(f"#problem:has-text('{NO_ANSWER}')", timeout=TIMEOUT)
        page.evaluate("window.__fastTimeout = 0")
        assert opened and opened[0]["reveal"][0]["plaintexts"] == [0, 1, 0]  # Bob, in the server's hands
        if page.is_visible("#cast") and page.is_enabled("#cast"):
            page.click("#cast")
            _wait_settled(page, "#step-receipt")
        receipt = page.is_visible("#step-receipt")
    sent = [c for c in casts if c["ballot"] == opened[0]["ballot"]]
    assert not sent, f"the opened ballot was sent for casting; receipt shown: {receipt}; cast entries: " \
                     f"{[e.payload['ballot_hash'] for e in _entries(app, 'cast')]}"


def _wait_for(client: FlaskClient, url: str, ready: Callable[[dict[str, Any]], bool], what: str, page: Any,
              seconds: float = 60) -> dict[str, Any]:
    """Poll the relay until `ready(state)`, waiting through Playwright so that the page's route handlers run."""
    deadline = time.monotonic() + seconds
    while True:
        state = client.get(url).get_json()
        if ready(state):
            return state
        assert time.monotonic() < deadline, f"timed out waiting for {what}: round {state['round']}; page says " \
                                            f"{page.inner_text('#problem')!r} / {page.inner_text('#status')!r}"
        page.wait_for_timeout(150)


def _saved(page: Any, key: str) -> dict[str, Any]:
    return json.loads(page.evaluate("(k) => localStorage.getItem(k)", key))


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_ceremony_page_polls_again_after_a_silent_poll_refuses_another_qual_and_posts_its_cached_confirmation(
        app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    """Trustee 1 in Chromium, trustees 2 and 3 Python clients (3 trustees, k = 2).

    1. One poll of the relay gets no answer: the page says so and polls again (since the fix of this review: it
       used to stop until the trustee pressed Start again).
    2. In the confirm round the relay shows another QUAL (its transcript hash changed): MISMATCH, and no confirm post.
    3. The progress is swapped for the same state in the legacy PBKDF2 format; Start again: it opens without a
       sealer, so the page derives a fresh argon2id key (a new salt, format quorum-secret-v1), and posts the
       confirmation it signed before step 2 stopped it (cached by ownQualification): the relay accepts it, it is
       valid for the Python trustees' QUAL, and it is the page's only confirm post."""
    from threshold import dkg, keystore, keystore_browser
    from threshold.groups import get_group

    invites = flow.create(admin)
    clients = flow.join(app, {i: invites[i] for i in (2, 3)})
    url = "/api/elections/club/ceremony"
    key = "quorum-ceremony:club:1"
    errors: list[str] = []
    with serve(app) as base, chromium() as browser:
        page = _page(browser, errors)
        page.goto(base + invites[1])
        page.click("button:has-text('Accept and continue')")
        page.wait_for_selector("#start-form")
        page.fill("#passphrase", PASSPHRASE)
        page.fill("#passphrase2", PASSPHRASE)
        page.click("#start")
        _wait_for(clients[2], url, lambda s: [a["index"] for a in s["announcements"]] == [1], "the page's announce", page)
        first = _saved(page, key)

        # 1. a silent poll
        polls: list[float] = []
        page.on("request", lambda r: polls.append(time.monotonic()) if r.method == "GET" and r.url.endswith("/ceremony") else None)
        page.evaluate("window.__fastTimeout = 1500")  # first: a poll held before this would wait 60 s
        page.route("**/ceremony", lambda route: None, times=1)  # never answered
        page.wait_for_selector(f"#status:has-text('No answer from the server: {NO_ANSWER}')", timeout=TIMEOUT)
        page.evaluate("window.__fastTimeout = 0")
        silent = len(polls)
        page.wait_for_function("() => !document.querySelector('#status').textContent.includes('No answer')",
                               timeout=TIMEOUT)  # the next poll was answered
        assert len(polls) > silent and not page.is_visible("#problem"), "the page stopped polling"
        state = clients[2].get(url).get_json()
        params = dkg.CeremonyParams(get_group(state["group"]), state["n"], state["k"], bytes.fromhex(state["context"]))
        g = params.group
        us = {i: dkg.Trustee(params, i) for i in (2, 3)}
        for i, me in us.items():
            assert api_post(clients[i], f"{url}/announce", me.announce().to_json(g)).status_code == 200
        state = _wait_for(clients[2], url, lambda s: s["round"] == "deal", "the deal round", page)
        announcements = {a["index"]: dkg.Announcement.from_json(params, a) for a in state["announcements"]}
        for i, me in us.items():
            assert api_post(clients[i], f"{url}/deal", me.deal(announcements).to_json(g)).status_code == 200
        state = _wait_for(clients[2], url, lambda s: s["round"] == "complain", "the page's deal", page)
        messages = {m["index"]: dkg.DealerMessage.from_json(params, m) for m in state["dealers"]}

        # 2. the relay shows another QUAL in the confirm round
        tampered: list[str] = []

        def other_qual(route: Any) -> None:
            response = route.fetch()
            body = response.json()
            if body.get("round") == "confirm" and body.get("qualification"):
                body["qualification"]["transcript_hash"] = "00" * 32
                tampered.append(body["round"])
            route.fulfill(response=response, json=body)

        confirms = _posted(page, "/ceremony/confirm")
        page.route("**/ceremony", other_qual)
        for i, me in us.items():
            complaints = [c.to_json(g) for c in me.check_shares(messages)]
            assert api_post(clients[i], f"{url}/complain", {"index": i, "complaints": complaints}).status_code == 200
        page.wait_for_selector("#problem:has-text('ceremony outcome differs')", timeout=TIMEOUT)
        assert tampered and confirms == []
        page.unroute("**/ceremony", other_qual)

        # 3. legacy progress, Start again: the cached confirmation is posted
        saved = _saved(page, key)
        assert saved["kdf"] == first["kdf"]
        legacy = keystore_browser.seal(keystore.unseal(saved, PASSPHRASE), PASSPHRASE)
        page.evaluate("([k, v]) => localStorage.setItem(k, v)", [key, json.dumps(legacy)])
        page.click("#start")
        state = _wait_for(clients[2], url, lambda s: [c["index"] for c in s["confirmations"]] == [1],
                          "the page's confirmation", page)
        complaints = [dkg.Complaint.from_json(params, c) for m in state["complaints"] for c in m["complaints"]]
        for i, me in us.items():
            assert api_post(clients[i], f"{url}/confirm", me.confirm(messages, complaints).to_json(g)).status_code == 200
        state = _wait_for(clients[2], url, lambda s: s["round"] == "reveal", "the reveal round", page)
        mine = dkg.Confirmation.from_json(params, state["confirmations"][0])
        assert mine.valid(params, announcements[1], us[2].qualification)
        assert len(confirms) == 1 and confirms[0] == state["confirmations"][0]
        again = _saved(page, key)
        assert again["format"] == keystore.FORMAT and again["kdf"]["salt"] != first["kdf"]["salt"]
        assert again["kdf"]["name"] == "argon2id" and keystore.unseal(again, PASSPHRASE)["index"] == 1
    assert not [e for e in errors if "page error" in e], errors
