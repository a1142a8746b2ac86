"""`quorum verify`: re-check a whole election record and report every failure, each with its check and seq.

Entries are parsed and checked in parallel chunks (forked workers share the record), ballot proofs
are verified in one random-linear-combination batch per chunk and group membership in one batched
test per chunk; the chain, uniqueness, tracking codes, re-vote counters and rule, tally, decryptions and result are
checked in the parent over what the workers return.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import re
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from threshold.batch import BatchVerifier
from threshold.decryption import PartialDecryption, verify_partial
from threshold.elgamal import Ciphertext
from threshold.encoding import canonical_json
from threshold.errors import DecodeError, QuorumError
from voting import lifecycle
from voting.ballot import (Ballot, alpha_digests, ballot_equations, ballot_hash, ballot_hash_json, check_reveal,
                           elements_per_ballot, next_tracker, parse_ballot, signature_valid, signed_body)
from voting.board import signature_valid as board_signature_valid
from voting.context import ElectionContext, base_hash, parse_ceremony, parse_credentials, parse_setup
from voting.manifest import Manifest
from voting.record import (GENESIS, Buffer, Entry, RecordFormatError, hashed_json, line_bounds, parse_entry_line, payload_json,
                           read_raw)
from voting.tally import CastBallot, counted_ballots, counted_hash, decryption_context, parse_tally, product, result_payload

CHECKS = (
    "chain", "signatures", "lifecycle", "parameters", "base_hash", "ballot_format", "ballot_credentials",
    "ballot_signatures", "ballot_proofs", "ballot_hashes", "ciphertext_uniqueness", "trackers", "spoiled_ballots",
    "revote_counters", "counted_ballots", "tally", "decryptions", "result",
)
DESCRIPTIONS = {
    "chain": "seq numbers, prev links and entry hashes",
    "signatures": "board signatures of every entry hash, board.pub equal to the setup's board key",
    "lifecycle": "entry order: setup, key ceremony, credentials, open, ballots, close, tally, decryptions, one result",
    "parameters": "setup, key ceremony (re-adjudicated DKG, trustee signatures) and credential list",
    "base_hash": "the open entry states the election base hash",
    "ballot_format": "every ballot parses against the manifest, elements in the group",
    "ballot_credentials": "every ballot's credential is in the published list",
    "ballot_signatures": "every ballot is signed by its credential",
    "ballot_proofs": "0/1 proofs and contest limit proofs of every ballot",
    "ballot_hashes": "stated ballot hashes recomputed, no ballot twice",
    "ciphertext_uniqueness": "no ciphertext appears twice on the board (copies, challenged ballots)",
    "trackers": "tracking codes chained over the ballots",
    "spoiled_ballots": "challenged ballots open to their stated plaintexts",
    "revote_counters": "each credential's cast ballots carry re-vote counters 0, 1, 2... in board order (a challenged ballot the next one)",
    "counted_ballots": "the tally counts the ballot with the highest re-vote counter of each credential",
    "tally": "the encrypted tally is the product of the counted ballots",
    "decryptions": "partial decryptions proven against the trustees' verification keys",
    "result": "the result is the combination of the partial decryptions",
}
CAST_KEYS = {"ballot", "ballot_hash", "tracker", "cast_at"}
SPOIL_KEYS = CAST_KEYS | {"reveal"}
CHUNK = 4096  # at most this many entries per task: bigger batches make the multi-exponentiation cheaper per term
BALLOT_KEYS = frozenset({"contests", "credential", "revote", "signature"})
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Failure:
    """One failed check on one entry (seq None: the record as a whole)."""

    check: str
    seq: int | None
    detail: str

    def __str__(self) -> str:
        where = f"seq {self.seq}: " if self.seq is not None else ""
        return f"{self.check}: {where}{self.detail}"


@dataclass(frozen=True)
class BallotInfo:
    """What the parent needs from one checked ballot entry."""

    credential: str
    computed_hash: str
    stated_hash: Any
    stated_tracker: Any
    digests: tuple[str, ...]
    selections: tuple[tuple[Ciphertext, ...], ...] | None
    revote: int | None = None


@dataclass(frozen=True)
class EntryInfo:
    """One parsed entry: chain fields, local check results and the payload (ballots summarized)."""

    lineno: int
    seq: int
    type: str
    prev: str
    hash: str
    hash_ok: bool
    sig_ok: bool
    payload: dict[str, Any] | None
    ballot: BallotInfo | None


@dataclass
class Report:
    """The verifier's verdict: every failure, per-check status and the verified result."""

    failures: list[Failure] = field(default_factory=list)
    result: dict[str, Any] | None = None
    manifest: Manifest | None = None  # the result's contests and options, for people (result has only their ids)
    entries: int = 0

    @property
    def valid(self) -> bool:
        """True when every check passed."""
        return not self.failures

    def checks(self) -> list[dict[str, Any]]:
        """One {name, ok, detail} per check (the --json format of Contracts: CLI)."""
        out = []
        for name in CHECKS:
            bad = [f for f in self.failures if f.check == name]
            detail = "; ".join((f"seq {f.seq}: " if f.seq is not None else "") + f.detail for f in bad)
            out.append({"name": name, "ok": not bad, "detail": detail or DESCRIPTIONS[name]})
        return out

    def to_json(self) -> dict[str, Any]:
        """{"valid", "checks", "result"}."""
        return {"valid": self.valid, "checks": self.checks(), "result": self.result or {}}


# State shared with forked workers (set before the pool starts, read-only afterwards): one verification at a time
# per process holds _VERIFYING while it is set.
_DATA = b""
_LINES: list[tuple[int, int]] = []
_CTX: ElectionContext | None = None
_PUB = ""
_VERIFYING = threading.Lock()

Chunk = tuple[list[EntryInfo], list[Failure], "RecordFormatError | None", "list[Ciphertext] | None"]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a while (back on after, if it was on).

    Checking a chunk allocates millions of objects (parsed JSON, ballots, equations) that reference counting
    frees, none of them in a cycle; the collector's full passes over that growing heap cost about 7% of the
    verifier's CPU (ed25519) for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@_collector_paused()
def _check_chunk(bounds: tuple[int, int]) -> Chunk:
    """Parse and check lines [lo, hi): entry hashes and board signatures, every per-ballot check in one batch,
    and the product of the chunk's countable ballots (for the tally check)."""
    lo, hi = bounds
    infos: list[EntryInfo] = []
    failures: list[Failure] = []
    ballots: list[tuple[int, Ballot, dict[str, Any]]] = []
    ctx = _CTX
    reader = ctx.group.reader() if ctx else None
    for index in range(lo, hi):
        start, end = _LINES[index]
        try:
            entry = parse_entry_line(_DATA[start:end], index + 1)
        except RecordFormatError as exc:
            return infos, failures, exc, None
        raw = _DATA[start:end]
        hash_ok = entry.hash == hashlib.sha256(hashed_json(raw, entry)).hexdigest()
        is_ballot = entry.type in ("cast", "spoil")
        info = EntryInfo(index + 1, entry.seq, entry.type, entry.prev, entry.hash, hash_ok,
                         board_signature_valid(_PUB, entry.hash, entry.sig), None if is_ballot else entry.payload, None)
        if is_ballot and ctx is not None:
            info = _ballot_entry(ctx, entry, raw, info, reader, len(infos), ballots, failures)
        infos.append(info)
    if ctx is not None and ballots:
        _ballot_checks(ctx, reader, ballots, infos, failures)
    return infos, failures, None, _flat_product(ctx, _countable(infos, ctx)) if ctx else None


def _countable(infos: list[EntryInfo], ctx: ElectionContext) -> list[CastBallot]:
    """The cast ballots that parsed and passed their membership tests, under a published credential: the re-vote
    rule chooses the counted ballots among these."""
    return [CastBallot(i.seq, i.ballot.credential, i.ballot.computed_hash, i.ballot.selections, i.ballot.revote)
            for i in infos if i.type == "cast" and i.ballot is not None and i.ballot.selections is not None
            and i.ballot.credential in ctx.credentials]


def _flat_product(ctx: ElectionContext, ballots: list[CastBallot]) -> list[Ciphertext]:
    """The product of the ballots' ciphertexts, position by position (contests, then options)."""
    return [ct for row in product(ctx, ballots) for ct in row]


def _body_json(line: bytes, entry: Entry) -> bytes | None:
    """The canonical JSON of a well-formed ballot's signed body, cut from the (canonical) entry line.

    With payload keys exactly CAST_KEYS or SPOIL_KEYS and ballot keys exactly BALLOT_KEYS, the payload's JSON is
    {"ballot":BALLOT,REST} and BALLOT is the body's JSON with ,"signature":SIG before its closing brace.
    """
    payload, ballot = entry.payload, entry.payload.get("ballot")
    if set(payload) != (CAST_KEYS if entry.type == "cast" else SPOIL_KEYS) or not isinstance(ballot, dict) \
            or ballot.keys() != BALLOT_KEYS or not isinstance(ballot["signature"], str):
        return None
    text = payload_json(line, entry)
    rest = canonical_json({k: v for k, v in payload.items() if k != "ballot"})
    ballot_json = text[len('{"ballot":'):len(text) - len(rest)]
    return ballot_json[:len(ballot_json) - len(',"signature":' + '}') - len(canonical_json(ballot["signature"]))] + b"}"


def _ballot_entry(ctx: ElectionContext, entry: Entry, line: bytes, info: EntryInfo, reader: Any, pos: int,
                  ballots: list, failures: list[Failure]) -> EntryInfo:
    """Parse one ballot entry; its hash is computed from the raw body even when the ballot does not parse."""
    payload = entry.payload
    keys = CAST_KEYS if entry.type == "cast" else SPOIL_KEYS
    raw = payload.get("ballot")
    body = signed_body(raw) if isinstance(raw, dict) else {}
    revote = body.get("revote") if type(body.get("revote")) is int else None  # checked even if the rest fails to parse
    body_json = _body_json(line, entry)
    digest = ballot_hash_json(ctx, body_json) if body_json is not None else ballot_hash(ctx, body)
    # only strings are kept of the stated fields (anything else fails their checks the same way as None): a deeply
    # nested value would fail to pickle on its way to the parent
    stated_hash, stated_tracker = (v if isinstance(v, str) else None for v in (payload.get("ballot_hash"), payload.get("tracker")))
    credential = body.get("credential")
    summary = BallotInfo(credential if isinstance(credential, str) else "", digest.hex(), stated_hash, stated_tracker,
                         (), None, revote)
    if set(payload) != keys:
        failures.append(Failure("ballot_format", entry.seq, f"payload keys must be exactly {sorted(keys)}"))
    elif not all(isinstance(payload[k], str) and _HEX64.fullmatch(payload[k]) for k in ("ballot_hash", "tracker")):
        failures.append(Failure("ballot_format", entry.seq, "ballot_hash and tracker must be 64 lowercase hex characters"))
    elif not isinstance(payload["cast_at"], str):
        failures.append(Failure("ballot_format", entry.seq, "cast_at must be a string"))
    else:
        try:
            ballots.append((pos, parse_ballot(ctx, raw, reader, digest), payload))
        except DecodeError as exc:
            failures.append(Failure("ballot_format", entry.seq, str(exc)))
    return EntryInfo(**{**info.__dict__, "ballot": summary})


def _membership(ctx: ElectionContext, reader: Any, ballots: list, infos: list[EntryInfo], failures: list[Failure]) -> list:
    """One batched subgroup test for the chunk; on failure, find and drop each bad ballot."""
    try:
        reader.finish()
        return ballots
    except DecodeError:
        pass
    kept = []
    for pos, ballot, payload in ballots:
        try:
            parse_ballot(ctx, payload["ballot"])
            kept.append((pos, ballot, payload))
        except DecodeError as exc:
            failures.append(Failure("ballot_format", infos[pos].seq, str(exc)))
    return kept


def _proofs(ctx: ElectionContext, ballots: list, reader: Any = None) -> set[int]:
    """Positions of the ballots whose proofs fail, in one batch (with the reader's owed membership tests if given)."""
    batch = BatchVerifier(ctx.group, {ctx.public_key.element: ctx.public_key.table})
    for pos, ballot, _ in ballots:
        batch.add(pos, ballot_equations(ctx, ballot))
    return set(batch.verify(reader))


def _ballot_checks(ctx: ElectionContext, reader: Any, ballots: list, infos: list[EntryInfo], failures: list[Failure]) -> None:
    """Membership and proofs of the chunk's ballots in one batch; if some element is not in the group, the bad
    ballots are found and dropped (ballot_format) and the others' proofs batched again. Then the per-ballot checks."""
    try:
        bad = _proofs(ctx, ballots, reader)
    except DecodeError:
        ballots = _membership(ctx, reader, ballots, infos, failures)
        bad = _proofs(ctx, ballots)
    for pos, ballot, payload in ballots:
        seq = infos[pos].seq
        if not signature_valid(ballot):
            failures.append(Failure("ballot_signatures", seq, "not signed by its credential"))
        if pos in bad:
            failures.append(Failure("ballot_proofs", seq, "a 0/1 or limit proof does not verify"))
        if infos[pos].type == "spoil":
            for problem in check_reveal(ctx, ballot, payload["reveal"]):
                failures.append(Failure("spoiled_ballots", seq, problem))
        summary = infos[pos].ballot
        infos[pos] = EntryInfo(**{**infos[pos].__dict__, "ballot": BallotInfo(
            summary.credential, summary.computed_hash, summary.stated_hash, summary.stated_tracker,
            tuple(alpha_digests(ctx, ballot)), tuple(cb.selections for cb in ballot.contests), ballot.revote)})


def _head(data: bytes, lines: list[tuple[int, int]]) -> list[Entry]:
    """The entries before the first ballot: where the election's parameters are."""
    head = []
    for index, (start, end) in enumerate(lines):
        entry = parse_entry_line(data[start:end], index + 1)
        if entry.type in ("open", "cast", "spoil", "close"):
            break
        head.append(entry)
    return head


def _context(head: list[Entry], report: Report) -> ElectionContext | None:
    """Build the election context from the parameter entries, reporting why if it cannot be."""
    by_type: dict[str, Entry] = {}
    for entry in head:
        if entry.type in ("setup", "key_ceremony", "credentials") and entry.type not in by_type:
            by_type[entry.type] = entry
    missing = [t for t in ("setup", "key_ceremony", "credentials") if t not in by_type]
    if missing:
        report.failures.append(Failure("parameters", None, f"no {', '.join(missing)} entry before the ballots"))
        return None
    setup, ceremony, credentials = (by_type[t] for t in ("setup", "key_ceremony", "credentials"))
    at = setup.seq  # the entry being parsed: the failure is named with its seq
    try:
        parsed = parse_setup(setup.payload)
        at = ceremony.seq
        parsed_ceremony = parse_ceremony(parsed, ceremony.payload)
        at = credentials.seq
        creds, count = parse_credentials(credentials.payload)
    except QuorumError as exc:
        report.failures.append(Failure("parameters", at, str(exc)))
        return None
    return ElectionContext(parsed, parsed_ceremony, creds, count, base_hash(parsed, parsed_ceremony, credentials.payload))


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\rverifying [{'#' * filled}{'.' * (width - filled)}] {done}/{total} entries")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _chunk_size(ctx: ElectionContext | None) -> int:
    """Lines per chunk: CHUNK, or fewer where the group wants smaller batches (`Group.batch_elements`: ed25519 keeps
    that many decoded points, so a chunk whose ballots hold more would decompress them all twice)."""
    limit = ctx.group.batch_elements if ctx is not None else None
    if limit is None:
        return CHUNK
    return min(CHUNK, max(64, limit // elements_per_ballot(ctx.manifest)))


def _chunks(n: int, workers: int, size: int | None = None) -> list[tuple[int, int]]:
    """[lo, hi) line ranges: the fewest rounds of `workers` equal chunks of at most `size` (default CHUNK) lines each."""
    if n == 0:
        return []
    count = workers * -(-n // (workers * (size or CHUNK)))
    size = -(-n // count)
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def _ignore_sigint() -> None:
    """A verifier worker's start: SIGINT ignored, then unblocked (one pending since the fork is dropped)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _run_chunks(chunks: list[tuple[int, int]], workers: int, progress: bool) -> list:
    done, total, results = 0, len(_LINES), []
    if workers <= 1 or len(chunks) <= 1:
        iterator: Iterable = map(_check_chunk, chunks)
        pool = None
    else:
        # Workers ignore SIGINT: Ctrl-C reaches the parent, which terminates them (no traceback per worker). They
        # are forked with SIGINT blocked, so that one arriving before a worker's initializer runs waits and is
        # then discarded; the parent gets it once the pool exists.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            # never more processes than chunks, nor far more than cores: `--workers 1000000` is no fork bomb
            processes = min(workers, len(chunks), 8 * (os.cpu_count() or 1))
            pool = multiprocessing.get_context("fork").Pool(processes, initializer=_ignore_sigint)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        iterator = pool.imap(_check_chunk, chunks)
    try:
        for (lo, hi), result in zip(chunks, iterator):
            results.append(result)
            done += hi - lo
            if progress:
                _progress(done, total)
    except BaseException:  # Ctrl-C or a worker's error: stop the workers now instead of waiting for their chunks
        if pool is not None:
            pool.terminate()
            pool.join()
            pool = None
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return results


def verify_record(path: str | Path, workers: int | None = None, progress: bool = False) -> Report:
    """Verify the record at `path`; RecordFormatError (exit 2) if it is unreadable or malformed."""
    data, pub = read_raw(path)
    return verify_raw(data, pub, workers, progress)


def verify_raw(data: Buffer, pub: str, workers: int | None = None, progress: bool = False) -> Report:
    """Verify a record already read (`read_raw`: board.jsonl and the checked board key), so that a caller that
    also checks pins checks them on the very bytes verified. Verifications in one process run one at a time: the
    record being checked is held in module globals for the forked workers, and a second one would replace them."""
    with _VERIFYING:
        return _verify_locked(data, pub, workers, progress)


def _verify_locked(data: Buffer, pub: str, workers: int | None, progress: bool) -> Report:
    """verify_raw's work, with _VERIFYING held."""
    global _DATA, _LINES, _CTX, _PUB
    lines = line_bounds(data)
    report = Report(entries=len(lines))
    _DATA, _LINES, _CTX, _PUB = data, lines, None, pub
    try:
        _CTX = _context(_head(data, lines), report)
        workers = workers or os.cpu_count() or 1
        results = _run_chunks(_chunks(len(lines), workers, _chunk_size(_CTX)), workers, progress)
        infos: list[EntryInfo] = []
        products: list[list[Ciphertext]] = []
        for chunk_infos, chunk_failures, chunk_error, chunk_product in results:
            if chunk_error is not None:
                raise chunk_error
            infos.extend(chunk_infos)
            report.failures.extend(chunk_failures)
            if chunk_product is not None:
                products.append(chunk_product)
        _global_checks(infos, pub, _CTX, products, report)
    finally:
        _DATA, _LINES, _CTX, _PUB = b"", [], None, ""
    order = {name: i for i, name in enumerate(CHECKS)}
    report.failures.sort(key=lambda f: (order[f.check], -1 if f.seq is None else f.seq))
    return report


def _chain(infos: list[EntryInfo], report: Report) -> None:
    prev = GENESIS
    for i, info in enumerate(infos):
        if info.seq != i:
            report.failures.append(Failure("chain", info.seq, f"line {info.lineno} has seq {info.seq}, expected {i}"))
        if info.prev != prev:
            report.failures.append(Failure("chain", info.seq, "prev is not the previous entry's hash"))
        if not info.hash_ok:
            report.failures.append(Failure("chain", info.seq, "hash is not the SHA-256 of the entry"))
        prev = info.hash


def _signatures(infos: list[EntryInfo], pub: str, report: Report) -> None:
    setup = infos[0].payload if infos and infos[0].type == "setup" else None
    if isinstance(setup, dict) and setup.get("board_key") != pub:
        report.failures.append(Failure("signatures", infos[0].seq, "board.pub is not the board key stated in the setup entry"))
    for info in infos:
        if not info.sig_ok:
            report.failures.append(Failure("signatures", info.seq, "not signed by the board key"))


def _lifecycle(infos: list[EntryInfo], report: Report) -> None:
    phase = "new"
    for info in infos:
        try:
            phase = lifecycle.next_phase(phase, info.type)
        except QuorumError as exc:
            report.failures.append(Failure("lifecycle", info.seq, str(exc)))
        if info.type == "close" and set(info.payload or {}) != {"timestamp"}:
            report.failures.append(Failure("lifecycle", info.seq, "close payload must be exactly {timestamp}"))
        elif info.type == "close" and not isinstance(info.payload["timestamp"], str):
            report.failures.append(Failure("lifecycle", info.seq, "close timestamp must be a string"))
    if phase != "done":
        report.failures.append(Failure("lifecycle", None, f"the record ends in phase {phase!r}, before the result"))


def _base_hash(infos: list[EntryInfo], ctx: ElectionContext, report: Report) -> None:
    opens = [i for i in infos if i.type == "open"]
    for info in opens:
        if set(info.payload or {}) != {"base_hash", "timestamp"}:
            report.failures.append(Failure("base_hash", info.seq, "open payload must be exactly {base_hash, timestamp}"))
        elif info.payload["base_hash"] != ctx.base_hash.hex():
            report.failures.append(Failure("base_hash", info.seq, "stated base hash differs from the one recomputed from the parameters"))
        elif not isinstance(info.payload["timestamp"], str):
            report.failures.append(Failure("base_hash", info.seq, "open timestamp must be a string"))
    if not opens:
        report.failures.append(Failure("base_hash", None, "no open entry"))


def _ballots(infos: list[EntryInfo], ctx: ElectionContext, report: Report) -> None:
    checked = [i for i in infos if i.ballot is not None]
    _credentials(checked, ctx, report)
    _ballot_hashes(checked, report)
    _ciphertexts(checked, report)
    _trackers(checked, ctx, report)
    _revotes(checked, ctx, report)


def _credentials(checked: list[EntryInfo], ctx: ElectionContext, report: Report) -> None:
    for info in checked:
        if info.ballot.credential not in ctx.credentials:
            report.failures.append(Failure("ballot_credentials", info.seq, "credential not in the published list"))


def _ballot_hashes(checked: list[EntryInfo], report: Report) -> None:
    seen: dict[str, int] = {}
    for info in checked:
        b = info.ballot
        if b.stated_hash != b.computed_hash:
            report.failures.append(Failure("ballot_hashes", info.seq, "stated ballot_hash is not the ballot's hash"))
        if b.computed_hash in seen:
            report.failures.append(Failure("ballot_hashes", info.seq, f"the same ballot as seq {seen[b.computed_hash]}"))
        seen.setdefault(b.computed_hash, info.seq)


def _ciphertexts(checked: list[EntryInfo], report: Report) -> None:
    seen: dict[str, int] = {}
    for info in checked:
        digests = info.ballot.digests
        if len(set(digests)) != len(digests):
            report.failures.append(Failure("ciphertext_uniqueness", info.seq, "two selections share one alpha (a reused nonce)"))
        for d in digests:
            if d in seen:
                report.failures.append(Failure("ciphertext_uniqueness", info.seq, f"a ciphertext already published at seq {seen[d]}"))
                break
        for d in digests:
            seen.setdefault(d, info.seq)


def _trackers(checked: list[EntryInfo], ctx: ElectionContext, report: Report) -> None:
    previous, seen = ctx.base_hash, set()
    for info in checked:
        expected = next_tracker(previous, bytes.fromhex(info.ballot.computed_hash)).hex()
        if info.ballot.stated_tracker != expected:
            report.failures.append(Failure("trackers", info.seq, "tracking code is not chained over the previous one"))
        stated = info.ballot.stated_tracker
        if isinstance(stated, str):  # other types are ballot_format failures
            if stated in seen:
                report.failures.append(Failure("trackers", info.seq, "tracking code given twice"))
            seen.add(stated)
        previous = bytes.fromhex(expected)


def _revotes(checked: list[EntryInfo], ctx: ElectionContext, report: Report) -> None:
    """Per credential, in board order: the k-th cast ballot carries revote k (0, 1, 2... no repeat, no gap, no
    reordering); a challenged ballot carries the counter of the credential's next cast ballot and consumes none."""
    casts: dict[str, int] = {}
    for info in checked:
        b = info.ballot
        if b.revote is None or b.credential not in ctx.credentials:  # ballot_format / ballot_credentials failures
            continue
        expected = casts.get(b.credential, 0)
        if b.revote != expected:
            kind = "a repeat" if b.revote < expected else "a gap"
            what = "challenged ballot" if info.type == "spoil" else "cast ballot"
            report.failures.append(Failure("revote_counters", info.seq, f"{what} has revote {b.revote}, expected {expected} "
                                           f"(the credential's cast ballots before it on the board): {kind} or reordering"))
        if info.type == "cast":
            casts[b.credential] = expected + 1


def _counting(infos: list[EntryInfo], ctx: ElectionContext, products: list[list[Ciphertext]], report: Report) -> None:
    """Re-vote rule, tally, partial decryptions and result; `products`: each chunk's product of countable ballots."""
    cast = _countable(infos, ctx)
    counted = counted_ballots(cast)
    tallies = [i for i in infos if i.type == "tally"]
    if not tallies:
        report.failures.append(Failure("tally", None, "no tally entry"))
        return
    tally_info = tallies[0]
    try:
        tally = parse_tally(ctx, tally_info.payload)
    except DecodeError as exc:
        report.failures.append(Failure("tally", tally_info.seq, str(exc)))
        return
    _counted(tally_info, counted, report)
    _tally(tally_info, tally, ctx, _counted_product(ctx, products, cast, counted), report)
    partials = _decryptions(infos, tally, ctx, report)
    _result(infos, tally, partials, ctx, len(counted), report)


def _counted(tally_info: EntryInfo, counted: list[CastBallot], report: Report) -> None:
    stated = tally_info.payload["counted"]
    if type(stated) is not int or stated != len(counted):
        report.failures.append(Failure("counted_ballots", tally_info.seq, f"states {tally_info.payload['counted']} counted ballots, the re-vote rule gives {len(counted)}"))
    if tally_info.payload["counted_hash"] != counted_hash(counted):
        report.failures.append(Failure("counted_ballots", tally_info.seq, "counted_hash is not the hash of the highest-counter ballot of each credential"))


def _counted_product(ctx: ElectionContext, products: list[list[Ciphertext]], cast: list[CastBallot],
                     counted: list[CastBallot]) -> list[Ciphertext]:
    """The product of the counted ballots: the chunks' products of every countable ballot (made in parallel),
    divided by the product of those the re-vote rule set aside (usually few)."""
    g = ctx.group
    kept = {b.seq for b in counted}
    total = _flat_product(ctx, [])
    for chunk in products:
        total = [Ciphertext(g.mul(t.alpha, c.alpha), g.mul(t.beta, c.beta)) for t, c in zip(total, chunk)]
    aside = _flat_product(ctx, [b for b in cast if b.seq not in kept])
    return [Ciphertext(g.div(t.alpha, a.alpha), g.div(t.beta, a.beta)) for t, a in zip(total, aside)]


def _tally(tally_info: EntryInfo, tally: list[Ciphertext], ctx: ElectionContext, expected: list[Ciphertext],
           report: Report) -> None:
    for pos, (got, want) in enumerate(zip(tally, expected)):
        if got != want:
            report.failures.append(Failure("tally", tally_info.seq, f"ciphertext {pos} is not the product of the counted ballots"))


def _check_partials(info: EntryInfo, partial: PartialDecryption, tally: list[Ciphertext], ctx: ElectionContext, report: Report) -> None:
    vk = ctx.ceremony.verification_keys.get(partial.index)
    if vk is None:
        report.failures.append(Failure("decryptions", info.seq, f"no trustee {partial.index}"))
    elif not verify_partial(ctx.group, vk, tally, partial, decryption_context(ctx)):
        report.failures.append(Failure("decryptions", info.seq, f"partial decryption of trustee {partial.index} does not verify"))


def _decryptions(infos: list[EntryInfo], tally: list[Ciphertext], ctx: ElectionContext, report: Report) -> list[PartialDecryption]:
    partials, seen = [], set()
    for info in infos:
        if info.type != "decryption":
            continue
        try:
            partial = PartialDecryption.from_json(ctx.group, info.payload, len(tally), "decryption")
        except DecodeError as exc:
            report.failures.append(Failure("decryptions", info.seq, str(exc)))
            continue
        if partial.index in seen:
            report.failures.append(Failure("decryptions", info.seq, f"trustee {partial.index} decrypts twice"))
            continue
        seen.add(partial.index)
        _check_partials(info, partial, tally, ctx, report)
        partials.append(partial)
    return partials


def _result(infos: list[EntryInfo], tally: list[Ciphertext], partials: list[PartialDecryption], ctx: ElectionContext,
            bound: int, report: Report) -> None:
    results = [i for i in infos if i.type == "result"]
    if not results:
        report.failures.append(Failure("result", None, "no result entry"))
        return
    try:
        expected = result_payload(ctx, tally, partials, bound)
    except QuorumError as exc:
        report.failures.append(Failure("result", results[0].seq, f"cannot combine the partial decryptions: {exc}"))
        return
    for info in results:
        if canonical_json(info.payload) != canonical_json(expected):  # JSON types too: true is not 1
            report.failures.append(Failure("result", info.seq, "stated result differs from the combination of the partial decryptions"))
    report.result, report.manifest = expected, ctx.manifest


def _global_checks(infos: list[EntryInfo], pub: str, ctx: ElectionContext | None, products: list[list[Ciphertext]],
                   report: Report) -> None:
    _chain(infos, report)
    _signatures(infos, pub, report)
    _lifecycle(infos, report)
    if ctx is None:
        report.failures.append(Failure("parameters", None, "no valid election parameters: ballots, tally and result not checked"))
        return
    _base_hash(infos, ctx, report)
    _ballots(infos, ctx, report)
    _counting(infos, ctx, products, report)
