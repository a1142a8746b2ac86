"""Helpers of the session 20 key-ceremony reviews: who signs a transcript, and the browser's DKG module run under node."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterable

import pytest

from threshold import dkg
from threshold.errors import QuorumError
from threshold.proofs import SchnorrProof
from threshold.vss import feldman_commit, pedersen_h

CRYPTO_JS = Path(__file__).resolve().parents[2] / "web" / "static" / "js" / "crypto"


def signers(trustees: Iterable[dkg.Trustee], transcript: dkg.Transcript) -> list[int]:
    """The qualified trustees that sign the transcript (each adjudicates it itself)."""
    trustees = list(trustees)
    result = transcript.adjudicate(trustees[0].params)
    signed = []
    for t in trustees:
        if t.index in result.qualified:
            try:
                t.sign(transcript)
                signed.append(t.index)
            except QuorumError:
                pass
    return signed


def run_node(runner: str, work: Path) -> Any:
    """Run an ES-module script beside a copy of web/static/js/crypto; its last line of output, as JSON (skipped without
    node)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed")
    shutil.copytree(CRYPTO_JS, work / "crypto")
    (work / "package.json").write_text('{"type": "module"}')
    (work / "run.js").write_text(runner)
    proc = subprocess.run([node, "run.js"], cwd=work, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def confirmed(trustees: Iterable[dkg.Trustee], messages: dict[int, dkg.DealerMessage],
              complaints: list[dkg.Complaint]) -> dict[int, dkg.Confirmation]:
    """Round 4 played by `trustees` over one view: each computes QUAL itself; the qualified ones' confirmations."""
    made = {t.index: t.confirm(messages, complaints) for t in trustees}
    return {i: c for i, c in made.items() if c is not None}


def reveal_by_hand(params: dkg.CeremonyParams, dealer: dkg.Trustee, qualification: dkg.Qualification) -> dkg.Reveal:
    """Dealer's true Feldman values with valid proofs bound to `qualification` under `params`' context, made outside
    Trustee.reveal (which reveals only once every qualified trustee confirmed the trustee's own QUAL)."""
    g, h = params.group, pedersen_h(params.group)
    return dkg.Reveal(dealer.index, tuple(feldman_commit(g, dealer.polynomial)), tuple(
        (SchnorrProof.prove(g, a, params.ctx("dkg-feldman", dealer.index, m, qualification.transcript_hash)),
         SchnorrProof.prove(g, b, params.ctx("dkg-blinding", dealer.index, m, qualification.transcript_hash), base=h))
        for m, (a, b) in enumerate(zip(dealer.polynomial, dealer.blinding))))
