"""web/static/js/api.js under node against real sockets: a server that never answers, or stops in the middle of its
answer, gives a NetworkError saying so after the timeout; a closed port, a non-JSON body (a network's login page)
and a problem+json answer each give an Error naming what happened (never a raw TypeError, a hang, or a success)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_SCRIPT = ROOT / "tests" / "web_js" / "api_node.mjs"
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


class _Handler(BaseHTTPRequestHandler):
    release = threading.Event()  # the silent paths wait on it, so the server thread can end

    def _answer(self) -> None:
        if self.path == "/silent":
            self.release.wait(30)
            return
        if self.path == "/half":  # headers and the start of a body, then nothing
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b'{"entries": [')
            self.wfile.flush()
            self.release.wait(30)
            return
        if self.path == "/problem":
            body, kind, status = {"title": "Unprocessable", "detail": "ballot: unknown contest 'x'"}, "application/problem+json", 422
        elif self.path == "/html":
            body, kind, status = None, "application/json", 200
        elif self.path == "/portal":  # a network's login page, reached through a redirect fetch follows
            body, kind, status = None, "text/html; charset=utf-8", 200
        else:
            body, kind, status = {"echo": self.path}, "application/json", 200
        data = b"<html>proxy error</html>" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    _Handler.release.set()
    srv.shutdown()
    srv.server_close()


def run(*requests: dict) -> list[dict]:
    out = subprocess.run(["node", str(NODE_SCRIPT)], input=json.dumps(list(requests)), capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_silent_server_is_an_error_saying_so_after_the_timeout(base: str) -> None:
    silent, half = run({"method": "post", "url": f"{base}/silent", "timeoutMs": 300},
                       {"method": "get", "url": f"{base}/half", "timeoutMs": 300})
    for answer in (silent, half):
        assert answer["error"] == "NetworkError"
        assert answer["message"] == "the server sent nothing for 0.3 s: try again"


def test_network_failures_and_bad_answers_are_named(base: str) -> None:
    ok, problem, html, portal, closed = run(
        {"method": "get", "url": f"{base}/ok", "timeoutMs": 5000},
        {"method": "post", "url": f"{base}/problem", "timeoutMs": 5000},
        {"method": "get", "url": f"{base}/html", "timeoutMs": 5000},
        {"method": "post", "url": f"{base}/portal", "timeoutMs": 5000},
        {"method": "get", "url": f"http://127.0.0.1:{_closed_port()}/", "timeoutMs": 5000})
    assert ok == {"data": {"echo": "/ok"}}
    assert problem == {"error": "ApiError", "message": "ballot: unknown contest 'x'", "status": 422}
    assert html["error"] == "Error" and html["message"].startswith("the server's answer is not JSON")
    assert portal == {"error": "Error", "status": None,
                      "message": "the server's answer is text/html, not JSON (a login page of the network in the way?)"}
    assert closed["error"] == "NetworkError" and closed["message"].startswith("cannot reach the server (")
