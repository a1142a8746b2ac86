"""Key derivation, the mask PRG (AES-256-CTR keystream read as uint32) and the self-mask commitment."""

from __future__ import annotations

import hashlib

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DOMAIN = b"quorum-secagg-v1 "
_ZERO_IV = bytes(16)


def derive(secret: bytes, label: str, session: bytes) -> bytes:
    """A 32-byte key for one purpose (`label`) in one session, by HKDF-SHA256."""
    return HKDF(hashes.SHA256(), 32, salt=session, info=DOMAIN + label.encode()).derive(secret)


def mask(key: bytes, length: int) -> np.ndarray:
    """`length` uniform uint32 values: the AES-256-CTR keystream of `key` (each key masks one vector)."""
    stream = Cipher(algorithms.AES(key), modes.CTR(_ZERO_IV)).encryptor().update(bytes(4 * length))
    return np.frombuffer(stream, dtype="<u4")


def commit(seed: bytes, session: bytes) -> bytes:
    """Public commitment to a self-mask seed, checked when the seed is reconstructed."""
    return hashlib.sha256(DOMAIN + b"self-mask commitment" + session + seed).digest()
