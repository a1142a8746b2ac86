"""Ballots accepted per second over HTTP by `quorum serve` (gunicorn, 2 workers, full server-side checks:
parsing, membership, every proof, the credential's signature, replay/copy checks, the chained append), with
p50/p95 latency, on SQLite and PostgreSQL. Also the 200-caster load test's engine (tests/web/test_load_postgres.py).

    python benchmarks/web_load.py                 # both databases, 400 ballots, 200 concurrent
    python benchmarks/web_load.py --db sqlite --ballots 200 --no-write
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from voting.ballot import encrypt_ballot  # noqa: E402
from voting.demo import DEMO_MANIFEST, key_ceremony, random_choices  # noqa: E402
from voting.election import Election  # noqa: E402
from voting.tally import trustee_decrypt  # noqa: E402
from voting.verifier import verify_record  # noqa: E402
from web import elections  # noqa: E402
from web.app import create_app  # noqa: E402
from web.config import Config  # noqa: E402

PG_ADMIN = "host=127.0.0.1 port=5432 dbname=test"
PG_BASE = "postgresql+psycopg://127.0.0.1:5432/test"


@dataclass(frozen=True)
class Outcome:
    """What one run measured and checked."""

    database: str
    group: str
    ballots: int
    concurrency: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]
    board_ballots: int
    distinct_receipts: int
    record_valid: bool

    @property
    def per_second(self) -> float:
        """Ballots accepted per second (wall clock, first request sent to last answer)."""
        return self.statuses.get(201, 0) / self.seconds

    def percentile(self, p: float) -> float:
        """Latency percentile in milliseconds."""
        return 1000 * statistics.quantiles(self.latencies, n=100, method="inclusive")[int(p) - 1]


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema in database `test` (dropped afterwards); yields its URL."""
    import psycopg

    schema = "qweb_" + secrets.token_hex(6)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def prepare(url: str, data_dir: Path, voters: int, group: str) -> tuple[str, list[dict[str, Any]], list[Any]]:
    """An open election with `voters` credentials on the database, one encrypted ballot per voter, the trustees' keys."""
    app = create_app(Config.load(db=url, data_dir=data_dir))
    state = app.extensions["quorum"]
    election_id = "load-" + secrets.token_hex(3)
    csv = "voter_id\n" + "".join(f"v{i}\n" for i in range(voters))
    request = elections.validate(election_id, DEMO_MANIFEST, group, ["A", "B", "C"], 2, csv)
    elections.create(state.board, request)
    election = Election(state.board, election_id)
    payload, keys = key_ceremony(election.entries()[0].payload)
    election.key_ceremony(payload)
    issued = elections.issue(state.board, state.session, election_id, None, "")
    elections.open_election(state.board, election_id)
    ctx = election.context()
    rng = __import__("random").Random(7)
    ballots = [encrypt_ballot(ctx, c.credential, {k.id: random_choices(k, rng) for k in ctx.manifest.contests})[0]
               for c in issued]
    state.board.engine.dispose()
    return election_id, ballots, keys


def finish(url: str, data_dir: Path, election_id: str, keys: list[Any], record: Path) -> list[Any]:
    """Close, tally, decrypt with two trustees and export the record; returns the board's entries."""
    app = create_app(Config.load(db=url, data_dir=data_dir))
    board = app.extensions["quorum"].board
    election = Election(board, election_id)
    election.close()
    election.tally()
    tally = next(e for e in election.entries() if e.type == "tally").payload
    published = election.cast_ballots()
    for key in keys[:2]:
        election.add_decryption(trustee_decrypt(election.context(), key, published, tally))
    election.publish_result()
    board.export(election_id, record)
    entries = board.entries(election_id)
    board.engine.dispose()
    return entries


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(url: str, data_dir: Path, workers: int = 2) -> Iterator[int]:
    """`quorum serve` on a free loopback port (a child process, stopped afterwards)."""
    port = free_port()
    log = open(data_dir / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "quorum", "serve", "--db", url, "--data-dir", str(data_dir),
                             "--port", str(port), "--workers", str(workers)], stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/csrf")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {(data_dir / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def session_headers(port: int) -> dict[str, str]:
    """A session cookie and its CSRF token (one session shared by all casters)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/api/csrf")
    response = conn.getresponse()
    token = json.loads(response.read())["csrf_token"]
    cookie = response.getheader("Set-Cookie").split(";", 1)[0]
    return {"Cookie": cookie, "X-CSRF-Token": token, "Content-Type": "application/json"}


def cast_all(port: int, election_id: str, ballots: list[dict[str, Any]], concurrency: int) -> tuple[float, list[tuple[int, float, dict[str, Any]]]]:
    """Send every ballot, `concurrency` at a time, each on its own connection; returns wall time and (status, latency, body)."""
    headers = session_headers(port)
    bodies = [json.dumps({"ballot": b}).encode() for b in ballots]

    def one(body: bytes) -> tuple[int, float, dict[str, Any]]:
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        conn.request("POST", f"/api/elections/{election_id}/ballots", body=body, headers=headers)
        response = conn.getresponse()
        data = json.loads(response.read())
        conn.close()
        return response.status, time.perf_counter() - start, data

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, bodies))
    return time.perf_counter() - start, results


def run(database: str, url: str, ballots: int, concurrency: int, group: str) -> Outcome:
    """Prepare, serve, cast concurrently, finish the election, then check: nothing lost or duplicated, the record valid."""
    with tempfile.TemporaryDirectory(prefix="quorum-load-") as folder:
        data_dir = Path(folder)
        election_id, prepared, keys = prepare(url, data_dir, ballots, group)
        with server(url, data_dir) as port:
            seconds, results = cast_all(port, election_id, prepared, concurrency)
        entries = finish(url, data_dir, election_id, keys, data_dir / "record.zip")
        report = verify_record(data_dir / "record.zip", workers=1)
    statuses: dict[int, int] = {}
    for status, _, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    receipts = {r["ballot_hash"] for status, _, r in results if status == 201}
    on_board = [e.payload["ballot_hash"] for e in entries if e.type == "cast"]
    return Outcome(database, group, ballots, concurrency, seconds, [lat for _, lat, _ in results], statuses,
                   len(on_board), len(receipts & set(on_board)) if len(set(on_board)) == len(on_board) else -1, report.valid)


def markdown(outcomes: list[Outcome], load: tuple[float, float], minutes: float) -> str:
    """The BENCHMARKS.md section."""
    lines = [
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (whole run {minutes:.0f} min); machine: "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; load average {load[0]:.2f} at start, "
        f"{load[1]:.2f} at end (shared machine: other benchmarks may run at the same time).",
        "",
        "`python benchmarks/web_load.py`: `quorum serve` (gunicorn, 2 workers x 4 threads) on this 2-core machine,",
        "ballots of the demo manifest (4 contests, 12 options) encrypted beforehand, sent over HTTP on loopback by",
        "200 concurrent clients (in the same machine, so the clients share the 2 cores with the server). Every",
        "ballot gets the full server-side checks (parse, group membership, all 0/1 and limit proofs, the",
        "credential's Ed25519 signature, replay and copied-ciphertext checks, the serialized chained append).",
        "Afterwards the election is closed, tallied and decrypted, and checked: every receipt on the board once,",
        "nothing else, and the whole record valid (`quorum verify`: chain, signatures, every proof, the result).",
        "",
        "| database | group | ballots | concurrent | accepted/s | p50 ms | p95 ms | board = receipts | record valid |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        lines.append(f"| {o.database} | {o.group} | {o.ballots} | {o.concurrency} | {o.per_second:.1f} | "
                     f"{o.percentile(50):.0f} | {o.percentile(95):.0f} | "
                     f"{'yes' if o.board_ballots == o.distinct_receipts == o.ballots else 'NO'} | {'yes' if o.record_valid else 'NO'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its section of BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--group", choices=("modp", "ed25519", "both"), default="both")
    parser.add_argument("--ballots", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    outcomes = []
    started, load_start = time.monotonic(), os.getloadavg()[0]
    groups = ("modp", "ed25519") if args.group == "both" else (args.group,)
    for database in (("sqlite", "postgres") if args.db == "both" else (args.db,)):
        for group in groups:
            if database == "sqlite":
                with tempfile.TemporaryDirectory() as folder:
                    outcome = run(database, f"sqlite:///{folder}/bench.db", args.ballots, args.concurrency, group)
            else:
                with pg_schema() as url:
                    outcome = run(database, url, args.ballots, args.concurrency, group)
            print(f"{database} {group}: {outcome.per_second:.1f} ballots/s, p50 {outcome.percentile(50):.0f} ms, "
                  f"p95 {outcome.percentile(95):.0f} ms, statuses {outcome.statuses}, record valid {outcome.record_valid}", flush=True)
            outcomes.append(outcome)
    if not args.no_write:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from anchors import write_section

        section = markdown(outcomes, (load_start, os.getloadavg()[0]), (time.monotonic() - started) / 60)
        write_section(REPO / "BENCHMARKS.md", "Web: ballots over HTTP (web/)", section)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
