"""Threshold cryptography core: groups, encodings, ElGamal, Shamir/VSS, DKG, proofs.

This layer imports nothing from the rest of Quorum. The names below are the public API;
everything else is reachable by module (threshold.dkg, threshold.decryption, ...).
"""

from threshold.batch import BatchVerifier
from threshold.elgamal import Ciphertext, PublicKey, discrete_log
from threshold.errors import DecodeError, ProtocolError, QuorumError, VerificationError
from threshold.groups import Group, get_group
from threshold.proofs import ChaumPedersenProof, RangeProof, SchnorrProof

__all__ = [
    "BatchVerifier", "Ciphertext", "ChaumPedersenProof", "DecodeError", "Group", "ProtocolError",
    "PublicKey", "QuorumError", "RangeProof", "SchnorrProof", "VerificationError", "discrete_log", "get_group",
]
