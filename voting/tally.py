"""Counting: which ballots count (the cast ballot with the highest re-vote counter of each credential), their homomorphic product,
the trustees' partial decryptions of a tally they recomputed themselves, and the combined result."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from threshold.decryption import PartialDecryption, combine, partial_decrypt
from threshold.dkg import TrusteeKey
from threshold.elgamal import Ciphertext
from threshold.encoding import encode
from threshold.errors import DecodeError, ProtocolError
from voting.context import ElectionContext
from voting.manifest import Manifest


@dataclass(frozen=True)
class CastBallot:
    """What counting needs from one cast entry: its credential, hash, ciphertexts per contest and re-vote counter."""

    seq: int
    credential: str
    ballot_hash: str
    selections: tuple[tuple[Ciphertext, ...], ...]
    revote: int = 0


def counted_ballots(cast: Iterable[CastBallot]) -> list[CastBallot]:
    """The re-vote rule: of each credential's cast ballots, the one with the highest re-vote counter counts (the
    counter is signed by the voter, so the board cannot reorder re-votes; on a tie, which the board refuses and
    the verifier reports, the later one on the board)."""
    best: dict[str, CastBallot] = {}
    for b in sorted(cast, key=lambda b: (b.revote, b.seq)):
        best[b.credential] = b
    return sorted(best.values(), key=lambda b: b.seq)


def counted_hash(ballots: Sequence[CastBallot]) -> str:
    """Hash of the sorted hashes of the counted ballots (stated in the tally entry)."""
    return hashlib.sha256(encode("quorum/counted", sorted(bytes.fromhex(b.ballot_hash) for b in ballots))).hexdigest()


def product(ctx: ElectionContext, ballots: Sequence[CastBallot]) -> list[list[Ciphertext]]:
    """The encrypted tally: per contest and option, the product of the counted ballots' ciphertexts."""
    g = ctx.group
    out = []
    for i, contest in enumerate(ctx.manifest.contests):
        row = []
        for j in range(len(contest.options)):
            row.append(Ciphertext(g.prod(b.selections[i][j].alpha for b in ballots),
                                  g.prod(b.selections[i][j].beta for b in ballots)))
        out.append(row)
    return out


def tally_payload(ctx: ElectionContext, ballots: Sequence[CastBallot]) -> dict[str, Any]:
    """The tally entry: encrypted tally, number of counted ballots and the hash of their list."""
    g = ctx.group
    sums = product(ctx, ballots)
    return {"contests": [{"id": c.id, "ciphertexts": [ct.to_json(g) for ct in row]}
                         for c, row in zip(ctx.manifest.contests, sums)],
            "counted": len(ballots), "counted_hash": counted_hash(ballots)}


def parse_tally(ctx: ElectionContext, payload: Any) -> list[Ciphertext]:
    """The tally entry's ciphertexts in manifest order, flattened; errors name the field."""
    if not isinstance(payload, dict) or set(payload) != {"contests", "counted", "counted_hash"}:
        raise DecodeError("tally", "expected exactly 'contests', 'counted', 'counted_hash'")
    contests = payload["contests"]
    if not isinstance(contests, list) or len(contests) != len(ctx.manifest.contests):
        raise DecodeError("tally.contests", "expected one item per contest of the manifest")
    flat = []
    for i, (contest, item) in enumerate(zip(ctx.manifest.contests, contests)):
        if not isinstance(item, dict) or set(item) != {"id", "ciphertexts"} or item["id"] != contest.id:
            raise DecodeError(f"tally.contests[{i}]", f"expected {{id: {contest.id!r}, ciphertexts}}")
        cts = item["ciphertexts"]
        if not isinstance(cts, list) or len(cts) != len(contest.options):
            raise DecodeError(f"tally.contests[{i}].ciphertexts", f"expected {len(contest.options)} ciphertexts")
        flat.extend(Ciphertext.from_json(ctx.group, ct, f"tally.contests[{i}].ciphertexts[{j}]") for j, ct in enumerate(cts))
    return flat


def decryption_context(ctx: ElectionContext) -> bytes:
    """Context of the trustees' decryption proofs."""
    return encode("quorum/decryption", ctx.base_hash)


def trustee_decrypt(ctx: ElectionContext, key: TrusteeKey, ballots: Sequence[CastBallot], tally: dict[str, Any]) -> dict[str, Any]:
    """A trustee's partial decryption, given only if its key is this election's (g^x_i is the ceremony's
    verification key of its index: a backup of another election is refused before any use) and the tally entry
    equals its own product of the published ballots."""
    if ctx.group.exp_g(key.secret) != ctx.ceremony.verification_keys.get(key.index):
        raise ProtocolError(f"trustee {key.index} refuses: its key is not this election's (its share does not match "
                            f"the key ceremony's verification key of trustee {key.index}): another election's key file?")
    mine = tally_payload(ctx, counted_ballots(ballots))
    if mine != tally:
        raise ProtocolError(f"trustee {key.index} refuses: the tally entry is not the product of the published ballots")
    flat = [ct for row in product(ctx, counted_ballots(ballots)) for ct in row]
    return partial_decrypt(ctx.group, key.index, key.secret, flat, decryption_context(ctx)).to_json(ctx.group)


def result_payload(ctx: ElectionContext, tally: Sequence[Ciphertext], partials: Sequence[PartialDecryption], counted: int) -> dict[str, Any]:
    """Combine k valid partial decryptions into the counts per option (invalid ones are blamed and skipped)."""
    dec = combine(ctx.group, tally, partials, ctx.ceremony.verification_keys, ctx.setup.quorum,
                  decryption_context(ctx), counted)
    counts, out = list(dec.plaintexts), []
    for contest in ctx.manifest.contests:
        n = len(contest.options)
        out.append({"id": contest.id, "counts": counts[:n]})
        counts = counts[n:]
    return {"contests": out, "trustees": list(dec.used)}


def format_result(manifest: Manifest, result: dict[str, Any]) -> str:
    """The result as text, one line per option."""
    lines = []
    for contest, item in zip(manifest.contests, result["contests"]):
        lines.append(f"{contest.title}:")
        for label, count in zip(contest.labels, item["counts"]):
            lines.append(f"  {label:<20} {count}")
    lines.append(f"decrypted by trustees {', '.join(map(str, result['trustees']))}")
    return "\n".join(lines)
