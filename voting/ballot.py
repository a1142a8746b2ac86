"""Encrypted ballots: one ciphertext and 0/1 proof per option, a range proof per contest for its limits,
a per-credential re-vote counter, an Ed25519 signature by the voter's credential, the ballot hash, tracking
codes and Benaloh reveals.

Every proof's context holds the election base hash, the voter's public credential, the contest and the
option, so a proof moved to another election, ballot, voter, contest or option fails.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, Sequence

from threshold.batch import BatchVerifier, Equation
from threshold.elgamal import Ciphertext
from threshold.encoding import canonical_json, encode
from threshold.errors import DecodeError
from threshold.groups import Element, ElementReader, Group
from threshold.groups.base import SCALAR_BYTES
from threshold.proofs import RangeProof
from voting import credentials
from voting.context import ElectionContext
from voting.manifest import Contest, Manifest


@dataclass(frozen=True)
class ContestBallot:
    """One contest of a ballot: a ciphertext and 0/1 proof per option and the proof of the contest's limits."""

    contest_id: str
    selections: tuple[Ciphertext, ...]
    proofs: tuple[RangeProof, ...]
    limit_proof: RangeProof


@dataclass(frozen=True)
class Ballot:
    """A cast or challenged ballot as published on the board."""

    credential: str
    contests: tuple[ContestBallot, ...]
    signature: str
    body: dict[str, Any]
    hash: bytes
    revote: int = 0


@dataclass(frozen=True)
class BallotSecrets:
    """What the voter's device keeps to answer a Benaloh challenge: plaintexts and nonces per contest."""

    plaintexts: dict[str, list[int]]
    nonces: dict[str, list[int]]


BODY_KEYS = ("credential", "contests", "revote")
MAX_REVOTE = 2**31 - 1


def signed_body(ballot_json: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a ballot's JSON its credential signs (every key but the signature)."""
    return {k: ballot_json[k] for k in BODY_KEYS if k in ballot_json}


def check_revote(value: Any, field: str = "ballot.revote") -> int:
    """A re-vote counter: a JSON integer (not a boolean) in 0..MAX_REVOTE."""
    if type(value) is not int or not 0 <= value <= MAX_REVOTE:
        raise DecodeError(field, f"expected an integer from 0 to {MAX_REVOTE} (0 for a credential's first ballot)")
    return value


def selection_context(ctx: ElectionContext, credential: str, contest_id: str, option_id: str) -> bytes:
    """Context of one option's 0/1 proof."""
    return encode("quorum/selection", ctx.base_hash, bytes.fromhex(credential), contest_id, option_id)


def contest_context(ctx: ElectionContext, credential: str, contest_id: str) -> bytes:
    """Context of one contest's limit proof."""
    return encode("quorum/contest", ctx.base_hash, bytes.fromhex(credential), contest_id)


def ballot_hash(ctx: ElectionContext, body: Mapping[str, Any]) -> bytes:
    """The hash the credential signs and the tracking code chains: base hash plus canonical JSON of the body."""
    return ballot_hash_json(ctx, canonical_json(body))


def ballot_hash_json(ctx: ElectionContext, body_json: bytes) -> bytes:
    """ballot_hash from the body's canonical JSON."""
    return hashlib.sha256(encode("quorum/ballot", ctx.base_hash, body_json)).digest()


def next_tracker(previous: bytes, digest: bytes) -> bytes:
    """The tracking code of a ballot: chained over the previous ballot's code (the first chains the base hash)."""
    return hashlib.sha256(encode("quorum/tracker", previous, digest)).digest()


def _limits_ciphertext(ctx: ElectionContext, contest: Contest, selections: Sequence[Ciphertext]) -> Ciphertext:
    """The sum of the contest's selections minus its minimum: what the limit proof shows is in 0..max-min."""
    g = ctx.group
    alpha, beta = g.prod(c.alpha for c in selections), g.prod(c.beta for c in selections)
    return Ciphertext(alpha, g.mul(beta, _g_to_minus(g, contest.min_selections)) if contest.min_selections else beta)


@lru_cache(maxsize=64)
def _g_to_minus(group: Group, m: int) -> Element:
    """g^-m, the same for every ballot of a contest with minimum m."""
    return group.inv(group.exp_g(m))


def validate_choices(ctx: ElectionContext, choices: Mapping[str, Sequence[str]]) -> dict[str, list[int]]:
    """Turn {contest id: chosen option ids} into 0/1 vectors; errors name the contest and the rule broken."""
    if not isinstance(choices, Mapping):
        raise DecodeError("choices", "expected an object of contest id to chosen option ids")
    for cid in choices:
        ctx.manifest.contest(cid)
    out = {}
    for contest in ctx.manifest.contests:
        chosen = list(choices.get(contest.id, []))
        unknown = [o for o in chosen if o not in contest.options]
        if unknown:
            raise DecodeError(f"choices.{contest.id}", f"unknown option {unknown[0]!r}")
        if len(set(chosen)) != len(chosen):
            raise DecodeError(f"choices.{contest.id}", "an option is chosen twice")
        if len(chosen) > contest.max_selections:
            raise DecodeError(f"choices.{contest.id}", f"{len(chosen)} selections, at most {contest.max_selections} allowed")
        if len(chosen) < contest.min_selections:
            raise DecodeError(f"choices.{contest.id}", f"{len(chosen)} selections, at least {contest.min_selections} required")
        out[contest.id] = [1 if o in chosen else 0 for o in contest.options]
    return out


def encrypt_ballot(ctx: ElectionContext, private_credential: str, choices: Mapping[str, Sequence[str]],
                   revote: int = 0) -> tuple[dict[str, Any], BallotSecrets]:
    """Encrypt, prove and sign a ballot; returns its JSON and the secrets for a Benaloh challenge.

    `revote` is the credential's re-vote counter: 0 for its first cast ballot, one more for each later one
    (a challenged ballot carries the next counter and consumes none; see Election.next_revote)."""
    check_revote(revote, "revote")
    vectors = validate_choices(ctx, choices)
    key = credentials.signing_key(ctx.setup.election_id, private_credential)
    cred = bytes(key.verify_key).hex()
    pk, g = ctx.public_key, ctx.group
    contests_json, nonces = [], {}
    for contest in ctx.manifest.contests:
        cts, proofs, rs = [], [], []
        for option, m in zip(contest.options, vectors[contest.id]):
            ct, r = pk.encrypt(m)
            cts.append(ct)
            rs.append(r)
            proofs.append(RangeProof.prove(pk, ct, m, r, 1, selection_context(ctx, cred, contest.id, option)))
        shifted = _limits_ciphertext(ctx, contest, cts)
        limit_proof = RangeProof.prove(pk, shifted, sum(vectors[contest.id]) - contest.min_selections, sum(rs) % g.q,
                                       contest.max_selections - contest.min_selections, contest_context(ctx, cred, contest.id))
        nonces[contest.id] = rs
        contests_json.append({"id": contest.id, "selections": [c.to_json(g) for c in cts],
                              "proofs": [p.to_json(g) for p in proofs], "limit_proof": limit_proof.to_json(g)})
    body = {"credential": cred, "contests": contests_json, "revote": revote}
    signature = credentials.sign(key, ballot_hash(ctx, body))
    return {**body, "signature": signature}, BallotSecrets(vectors, nonces)


def _list(value: Any, n: int, field: str) -> list[Any]:
    if not isinstance(value, list) or len(value) != n:
        raise DecodeError(field, f"expected a list of {n} items, got {len(value) if isinstance(value, list) else type(value).__name__}")
    return value


def _ciphertext(reader: ElementReader, obj: Any, field: str) -> Ciphertext:
    if not isinstance(obj, dict) or set(obj) != {"alpha", "beta"}:
        raise DecodeError(field, "expected an object with exactly 'alpha' and 'beta'")
    return Ciphertext(reader.key(obj["alpha"], f"{field}.alpha"), reader.key(obj["beta"], f"{field}.beta"))


def parse_ballot(ctx: ElectionContext, obj: Any, reader: ElementReader | None = None, digest: bytes | None = None) -> Ballot:
    """Parse a ballot against the manifest; the ciphertexts' membership tests are owed to `reader` if given,
    else done now (proof commitments get the core's cheap checks only: see ElementReader.commitment).
    `digest`: the ballot hash if the caller already has it (else computed from `obj`)."""
    if not isinstance(obj, dict) or set(obj) != {"credential", "contests", "revote", "signature"}:
        raise DecodeError("ballot", "expected an object with exactly 'credential', 'contests', 'revote', 'signature'")
    own = reader is None
    reader = reader or ctx.group.reader()
    credential = obj["credential"]
    if not (isinstance(credential, str) and credential in ctx.credentials):  # the published ones passed this at build_context
        credentials.parse_public_credential(credential, "ballot.credential")
    revote = check_revote(obj["revote"])
    sig = obj["signature"]
    if not isinstance(sig, str) or len(sig) != 128 or any(c not in "0123456789abcdef" for c in sig):
        raise DecodeError("ballot.signature", "expected 128 lowercase hex characters")
    contests_json = obj["contests"]
    if not isinstance(contests_json, list):
        raise DecodeError("ballot.contests", "expected a list")
    for i, c in enumerate(contests_json):
        cid = c.get("id") if isinstance(c, dict) else None
        where = f"ballot.contests[{i}]"
        if not isinstance(cid, str):
            raise DecodeError(f"{where}.id", "missing contest id")
        ctx.manifest.contest(cid)
        if i >= len(ctx.manifest.contests) or ctx.manifest.contests[i].id != cid:
            raise DecodeError(f"{where}.id", f"contest {cid!r} out of manifest order")
    if len(contests_json) != len(ctx.manifest.contests):
        raise DecodeError("ballot.contests", f"expected all {len(ctx.manifest.contests)} contests of the manifest")
    with reader.batched():  # the ballot's points checked together at the end (ed25519: decompressions in lanes)
        contests = []
        for i, (contest, c) in enumerate(zip(ctx.manifest.contests, contests_json)):
            where = f"ballot.contests[{i}]"
            if set(c) != {"id", "selections", "proofs", "limit_proof"}:
                raise DecodeError(where, "expected exactly 'id', 'selections', 'proofs', 'limit_proof'")
            n = len(contest.options)
            if isinstance(c["selections"], list) and len(c["selections"]) > n:
                raise DecodeError(f"{where}.selections", f"too many selections: {len(c['selections'])} for {n} options")
            cts = tuple(_ciphertext(reader, s, f"{where}.selections[{j}]")
                        for j, s in enumerate(_list(c["selections"], n, f"{where}.selections")))
            proofs = RangeProof.many_from_json(ctx.group, _list(c["proofs"], n, f"{where}.proofs"), 1,
                                               [f"{where}.proofs[{j}]" for j in range(n)], reader)
            limit = RangeProof.from_json(ctx.group, c["limit_proof"], contest.max_selections - contest.min_selections,
                                         f"{where}.limit_proof", reader)
            contests.append(ContestBallot(contest.id, cts, proofs, limit))
    if own:
        reader.finish()
    body = signed_body(obj)
    return Ballot(obj["credential"], tuple(contests), sig, body, digest or ballot_hash(ctx, body), revote)


def elements_per_ballot(manifest: Manifest) -> int:
    """The group elements a ballot of this manifest holds: per option a ciphertext (2) and its 0/1 proof's
    commitments (4), per contest its limit proof's 2 (limit + 1)."""
    return sum(6 * len(c.options) + 2 * (c.max_selections - c.min_selections + 1) for c in manifest.contests)


def ballot_hex_bytes(manifest: Manifest, group: Group) -> int:
    """The bytes of fixed-length hex a ballot of this manifest holds in this group: its elements, and its proofs'
    scalars (per option a 0/1 proof's challenge and two responses, per contest L challenges and L + 1 responses for
    its limit L): a lower bound on the size of any request that carries it."""
    scalars = sum(3 * len(c.options) + 2 * (c.max_selections - c.min_selections) + 1 for c in manifest.contests)
    return 2 * (elements_per_ballot(manifest) * group.element_bytes + scalars * SCALAR_BYTES)


def ballot_equations(ctx: ElectionContext, ballot: Ballot) -> list[Equation]:
    """Every proof equation of the ballot (0/1 per option, limits per contest), for batch verification."""
    pk = ctx.public_key
    eqs: list[Equation] = []
    for contest, cb in zip(ctx.manifest.contests, ballot.contests):
        for option, ct, proof in zip(contest.options, cb.selections, cb.proofs):
            eqs.extend(proof.equations(pk, ct, selection_context(ctx, ballot.credential, contest.id, option)))
        shifted = _limits_ciphertext(ctx, contest, cb.selections)
        limit_eqs = cb.limit_proof.equations(pk, shifted, contest_context(ctx, ballot.credential, contest.id))
        eqs.extend(_expand_sum(ctx, contest, cb.selections, shifted, limit_eqs))
    return eqs


def _expand_sum(ctx: ElectionContext, contest: Contest, selections: Sequence[Ciphertext], shifted: Ciphertext,
                equations: Sequence[Equation]) -> list[Equation]:
    """Write the contest sum's alpha and beta as the product of the selections' (minus g^min): the same
    equations over bases the 0/1 proofs already use, so a batch has fewer distinct bases to exponentiate."""
    g = ctx.group
    out = []
    for eq in equations:
        terms: list[tuple[Element, int]] = []
        for base, e in eq:
            if base == shifted.alpha:
                terms.extend((ct.alpha, e) for ct in selections)
            elif base == shifted.beta:
                terms.extend((ct.beta, e) for ct in selections)
                terms.append((g.g, -e * contest.min_selections))
            else:
                terms.append((base, e))
        out.append(terms)
    return out


def proofs_valid(ctx: ElectionContext, ballot: Ballot, reader: ElementReader | None = None) -> bool:
    """Whether every proof of one ballot holds (its equations checked in one batch).

    `reader`: the reader `parse_ballot` was given, whose membership tests are still owed; they are folded
    into the same multi-exponentiation where the group allows it, and a non-member raises DecodeError
    naming its field (as `parse_ballot` would have)."""
    batch = BatchVerifier(ctx.group, {ctx.public_key.element: ctx.public_key.table})
    batch.add(0, ballot_equations(ctx, ballot))
    return not batch.verify(reader)


def signature_valid(ballot: Ballot) -> bool:
    """Whether the ballot hash is signed by the ballot's credential."""
    return credentials.signature_valid(bytes.fromhex(ballot.credential), ballot.hash, ballot.signature)


def alpha_digests(ctx: ElectionContext, ballot: Ballot) -> list[str]:
    """A digest of every ciphertext's alpha = g^r: the board never accepts the same one twice."""
    g = ctx.group
    return [hashlib.sha256(g.encode(ct.alpha)).hexdigest() for cb in ballot.contests for ct in cb.selections]


def reveal_json(ctx: ElectionContext, secrets: BallotSecrets) -> list[dict[str, Any]]:
    """The Benaloh reveal of a challenged ballot: every plaintext and nonce."""
    g = ctx.group
    return [{"id": c.id, "plaintexts": secrets.plaintexts[c.id], "nonces": [g.scalar_to_hex(r) for r in secrets.nonces[c.id]]}
            for c in ctx.manifest.contests]


def parse_reveal(ctx: ElectionContext, reveal: Any) -> list[tuple[list[int], list[int]]]:
    """A Benaloh reveal's plaintexts (each 0 or 1) and nonces per contest, in manifest order; DecodeError naming the
    field if it is not shaped like one (whether they open the ballot is check_reveal's to judge)."""
    _list(reveal, len(ctx.manifest.contests), "reveal")
    parsed = []
    for i, (contest, item) in enumerate(zip(ctx.manifest.contests, reveal)):
        where = f"reveal[{i}]"
        if not isinstance(item, dict) or set(item) != {"id", "plaintexts", "nonces"} or item["id"] != contest.id:
            raise DecodeError(where, f"expected {{id: {contest.id!r}, plaintexts, nonces}}")
        n = len(contest.options)
        ms = _list(item["plaintexts"], n, f"{where}.plaintexts")
        for j, m in enumerate(ms):
            if type(m) is not int or m not in (0, 1):
                raise DecodeError(f"{where}.plaintexts[{j}]", "expected 0 or 1")
        rs = [ctx.group.scalar_from_hex(r, f"{where}.nonces[{j}]") for j, r in enumerate(_list(item["nonces"], n, f"{where}.nonces"))]
        parsed.append((ms, rs))
    return parsed


def check_reveal(ctx: ElectionContext, ballot: Ballot, reveal: Any) -> list[str]:
    """Problems with a Benaloh reveal: each ciphertext must be the encryption of its plaintext with its nonce."""
    try:
        parsed = parse_reveal(ctx, reveal)
    except DecodeError as exc:
        return [str(exc)]
    problems: list[str] = []
    for i, (contest, cb, (ms, rs)) in enumerate(zip(ctx.manifest.contests, ballot.contests, parsed)):
        for j, (m, r, ct) in enumerate(zip(ms, rs, cb.selections)):
            if ctx.public_key.encrypt(m, r)[0] != ct:
                problems.append(f"reveal[{i}]: option {contest.options[j]!r} is not the encryption of {m} with the revealed nonce")
    return problems
