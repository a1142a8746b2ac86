"""One client of secure aggregation (Bonawitz et al., CCS 2017, with the SecAgg+ neighbour graph).

Round 0 `advertise`: two X25519 public keys (share encryption c, masks s) and a signing key.
Round 1 `share_keys`: Shamir-share the self-mask seed b and the mask key s_sk among its
neighbours, each share encrypted to its recipient (AES-GCM under an X25519(c) key).
Round 2 `masked_input`: y = q(x) + PRG(b) + sum_v +-PRG(X25519(s_sk, s_pk_v)) mod 2^32.
Round 3 `confirm` (Bonawitz's consistency check): the client checks the unmask request against
what it saw and signs it with the digest of the key list it saw; it confirms one request per session.
Round 4 `unmask`: once a majority of all the session's clients (and at least threshold) confirmed that
same request over that same key list, for each neighbour the share of b (it survived) or of s_sk (it
dropped), never both. Honest clients confirm once, so two stories (who survived, who dropped), or two
key lists (two graphs), cannot both win a majority: every answer answers the same request.

With `peer_keys` (a PKI: client id -> Ed25519 verify key, known to every client) a client
accepts a neighbour's keys only if signed by that neighbour's registered key, so a server
cannot slip in keys of its own (Bonawitz's active-adversary model). Without it the server is
trusted to relay the keys unchanged (the semi-honest model).
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from collections.abc import Mapping

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from threshold.shamir import evaluate, random_polynomial

from .errors import DropoutError, SecAggError
from .graph import neighbours
from .keys import agree, new_scalar, public_bytes, scalar_to_secret
from .messages import (FIELD, Confirm, Keys, Masked, Params, Shares, Unmask, UnmaskRequest, check_signature, digest,
                       sender_of, session_of)
from .prg import commit, derive, mask
from .quantize import Quantizer


def graph_seed(params: Params, keys: dict[int, Keys]) -> bytes:
    """The public seed of the neighbour graph: every round-0 message, in id order."""
    return hashlib.sha256(params.session + b"".join(keys[u].raw for u in sorted(keys))).digest()


def share_nonce(sender: int, recipient: int) -> bytes:
    """AES-GCM nonce of the share from `sender` to `recipient` (the key is shared by both directions)."""
    return struct.pack(">IIxxxx", sender, recipient)


def pair_sign(u: int, v: int) -> int:
    """+1 when u adds the pairwise mask with v, -1 when it subtracts it."""
    return 1 if u < v else -1


class SecAggClient:
    """The state of one client through the five rounds."""

    def __init__(
        self,
        sender: int,
        params: Params | bytes,
        signing_key: Ed25519PrivateKey | None = None,
        peer_keys: Mapping[int, bytes] | None = None,
        context: bytes | None = None,
    ) -> None:
        self.params = params if isinstance(params, Params) else Params.from_bytes(params)
        if context is not None and self.params.session != session_of(context):
            raise SecAggError("the server's session is not the one the context this client joins names (another task "
                              "or round)")
        self._peer_keys = dict(peer_keys) if peer_keys is not None else None
        if not 1 <= sender <= self.params.clients:
            raise SecAggError(f"client id must be 1..{self.params.clients}, got {sender}")
        self.id = sender
        self._sign = signing_key or Ed25519PrivateKey.generate()
        self._c, self._s = new_scalar(), new_scalar()
        self._b = secrets.randbelow(FIELD)
        self._stage = 0
        self._keys: dict[int, Keys] = {}
        self._neighbours: set[int] = set()
        self._own_shares: tuple[int, int] = (0, 0)
        self._received: dict[int, tuple[int, int]] = {}  # from u: (share of s_sk_u, share of b_u)
        self._request = b""  # the unmask request it confirmed
        self._seed = b""  # the digest of the key list it was given (graph_seed)

    def _expect(self, expected: int, name: str) -> None:
        """Refuse a call out of round order. The round moves on only once a call has succeeded, so a
        refused message leaves the client where it was (and never lets it answer a later round)."""
        if self._stage != expected:
            raise SecAggError(f"client {self.id}: {name} out of order (round {self._stage} is next)")

    def advertise(self) -> bytes:
        """Round 0: the signed Keys message."""
        self._expect(0, "advertise")
        self._stage = 1
        return Keys.build(self.id, public_bytes(self._c), public_bytes(self._s), self._sign, self.params.context)

    def share_keys(self, keys: list[bytes]) -> bytes:
        """Round 1: from every client's Keys message, the signed Shares message."""
        self._expect(1, "share_keys")
        p = self.params
        parsed: dict[int, Keys] = {}
        for data in keys:
            k = Keys.from_bytes(data, p.context, check=False)
            if k.sender in parsed or k.sender > p.clients:
                raise SecAggError(f"keys: client {k.sender} repeated or out of range")
            parsed[k.sender] = k
        mine = parsed.get(self.id)
        if mine is None or mine.s_pk != public_bytes(self._s) or mine.c_pk != public_bytes(self._c):
            raise SecAggError(f"client {self.id}: its own keys are missing or altered in the key list")
        if len(parsed) < p.threshold:
            raise DropoutError(f"only {len(parsed)} clients advertised keys, threshold is {p.threshold}")
        graph = neighbours(sorted(parsed), p.degree, graph_seed(p, parsed))[self.id]
        checked = set(parsed) if self._peer_keys is not None else graph | {self.id}  # every listed key signs a confirmation
        for v in sorted(checked):
            if self._peer_keys is not None and self._peer_keys.get(v) != parsed[v].sig_pk:
                raise SecAggError(f"client {self.id}: refused: the keys of client {v} are not signed by its registered key")
            check_signature(parsed[v].sig_pk, p.context, parsed[v].raw, f"keys of client {v}")
        b_poly = random_polynomial(self._b, p.threshold - 1, FIELD)
        s_poly = random_polynomial(scalar_to_secret(self._s), p.threshold - 1, FIELD)
        ciphertexts = {}
        for v in sorted(graph):
            plain = struct.pack(">II", self.id, v) + evaluate(s_poly, v, FIELD).to_bytes(32, "little")
            plain += evaluate(b_poly, v, FIELD).to_bytes(32, "little")
            key = derive(agree(self._c, parsed[v].c_pk, f"keys of client {v}"), "share encryption", p.session)
            ciphertexts[v] = AESGCM(key).encrypt(share_nonce(self.id, v), plain, p.context)
        b_commit = commit(self._b.to_bytes(32, "little"), p.session)
        message = Shares.build(self.id, b_commit, ciphertexts, self._sign, p.context)
        self._own_shares = (evaluate(s_poly, self.id, FIELD), evaluate(b_poly, self.id, FIELD))
        self._keys, self._neighbours, self._stage = parsed, graph, 2
        self._seed = graph_seed(p, parsed)
        return message

    def masked_input(self, update: np.ndarray, shares: list[bytes], quantizer: Quantizer) -> bytes:
        """Round 2: from the neighbours' Shares messages and the update, the signed Masked message."""
        self._expect(2, "masked_input")
        p = self.params
        if (quantizer.clip, quantizer.bits) != (p.clip, p.bits):  # the sum of levels of two scales means nothing
            raise SecAggError(f"client {self.id}: the quantizer (clip {quantizer.clip!r}, {quantizer.bits} bits) is not the "
                              f"session's (clip {p.clip!r}, {p.bits} bits)")
        values = np.asarray(update)
        if values.shape != p.shape:
            raise SecAggError(f"client {self.id}: update has shape {values.shape}, expected the session's {p.shape}")
        received: dict[int, tuple[int, int]] = {}
        for data in shares:
            sender, pair = self._receive_share(data, received)
            received[sender] = pair
        if len(received) + 1 < p.threshold:  # Bonawitz round 2: else a server withholding shares isolates this input
            raise DropoutError(
                f"client {self.id}: shares from {len(received)} neighbours; at least {p.threshold - 1} (threshold - 1) are "
                "needed to mask an input")
        total = quantizer.quantize(values.ravel())
        total = total + mask(derive(self._b.to_bytes(32, "little"), "self mask", p.session), p.length)
        for v in sorted(received):
            pad = mask(derive(agree(self._s, self._keys[v].s_pk, f"keys of client {v}"), "pairwise mask", p.session), p.length)
            total = total + pad if pair_sign(self.id, v) > 0 else total - pad
        message = Masked.build(self.id, total, sorted(received), self._sign, p.context)
        self._received, self._stage = received, 3
        return message

    def _receive_share(self, data: bytes, received: dict[int, tuple[int, int]]) -> tuple[int, tuple[int, int]]:
        """Check and decrypt the share addressed to this client in one neighbour's Shares message
        (`received`: the shares already taken from this list): its sender, and (share of s_sk, share of b)."""
        p = self.params
        sender = sender_of(data)
        if sender not in self._neighbours or sender in received:
            raise SecAggError(f"client {self.id}: shares from client {sender}, not a neighbour or repeated")
        msg = Shares.from_bytes(data, self._keys[sender].sig_pk, p.context)
        if self.id not in msg.ciphertexts:
            raise SecAggError(f"client {self.id}: shares of client {sender} hold nothing for it")
        key = derive(agree(self._c, self._keys[sender].c_pk, f"keys of client {sender}"), "share encryption", p.session)
        try:
            plain = AESGCM(key).decrypt(share_nonce(sender, self.id), msg.ciphertexts[self.id], p.context)
        except InvalidTag as exc:
            raise SecAggError(f"client {self.id}: the share from client {sender} fails authentication") from exc
        s_share, b_share = int.from_bytes(plain[8:40], "little"), int.from_bytes(plain[40:72], "little")
        if plain[:8] != struct.pack(">II", sender, self.id) or s_share >= FIELD or b_share >= FIELD:
            raise SecAggError(f"client {self.id}: the share from client {sender} is malformed")
        return sender, (s_share, b_share)

    def confirm(self, request: bytes) -> bytes:
        """Round 3: the signed Confirm message for this unmask request, once checked against what this client saw;
        refuses any request that would reveal an input, and a second request."""
        if self._stage != 3:
            raise SecAggError(f"client {self.id}: refused: unmask request at round {self._stage} (one per session, after the masked input)")
        self._check_request(UnmaskRequest.from_bytes(request))
        self._request, self._stage = bytes(request), 4
        return Confirm.build(self.id, request, self._seed, self._sign, self.params.context)

    def _check_request(self, req: UnmaskRequest) -> None:
        survivors, dropped = set(req.survivors), set(req.dropped)
        both = survivors & dropped
        if both:
            raise SecAggError(
                f"client {self.id}: refused: client {min(both)} is listed both as a survivor and as dropped "
                "(its self-mask seed and its mask key together would reveal its input)"
            )
        unknown = (survivors | dropped) - set(self._keys)
        if unknown:  # an id padding the survivors would also defeat the threshold check below
            raise SecAggError(f"client {self.id}: refused: client {min(unknown)} is listed but advertised no keys in this session")
        if self.id not in survivors:
            raise SecAggError(f"client {self.id}: refused: it sent its masked input but is not listed as a survivor")
        if len(survivors) < self.params.threshold:
            raise DropoutError(f"refused: {len(survivors)} survivors, threshold is {self.params.threshold}")
        listed = (survivors | dropped) & self._neighbours
        if listed != set(self._received):
            raise SecAggError(f"client {self.id}: refused: the lists do not match the neighbours that shared keys")

    def unmask(self, request: bytes, confirmations: list[bytes]) -> bytes:
        """Round 4: the signed Unmask message for the request this client confirmed, given the confirmations the
        server collected; answers only if a majority of the session's clients (and at least threshold) confirmed
        the same request over the same key list."""
        if self._stage != 4:
            raise SecAggError(f"client {self.id}: refused: unmask at round {self._stage} (once per session, after confirming)")
        if bytes(request) != self._request:
            raise SecAggError(f"client {self.id}: refused: not the unmask request it confirmed")
        survivors = set(UnmaskRequest.from_bytes(request).survivors)
        needed = self.params.confirmations_needed
        confirmed: set[int] = set()
        for data in confirmations:
            if len(confirmed) == needed:
                break  # a majority holds: no other request or key list can have one
            sender = sender_of(data)
            if sender not in survivors or sender in confirmed:
                continue  # only survivors confirm: anything else cannot count
            c = Confirm.from_bytes(data, self._keys[sender].sig_pk, self.params.context)
            if c.request != digest(self._request) or c.keys != self._seed:
                raise SecAggError(f"client {self.id}: refused: client {sender} confirmed another unmask request or key list")
            confirmed.add(sender)
        if len(confirmed) < needed:
            raise DropoutError(
                f"client {self.id}: refused: {len(confirmed)} clients confirmed the unmask request, {needed} needed "
                f"(a majority of the {self.params.clients} clients, and the threshold)")
        self._stage = 5
        req = UnmaskRequest.from_bytes(request)
        survivors, dropped = set(req.survivors), set(req.dropped)
        b_shares = {u: self._received[u][1] for u in survivors & set(self._received)}
        b_shares[self.id] = self._own_shares[1]
        sk_shares = {u: self._received[u][0] for u in dropped & set(self._received)}
        return Unmask.build(self.id, self._request, b_shares, sk_shares, self._sign, self.params.context)
