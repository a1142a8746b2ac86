"""Normalisation of user items to bytes, with clear errors for bad items."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .errors import PsiError

Item = str | bytes


def item_bytes(item: object, index: int) -> bytes:
    """The bytes of one item: UTF-8 for text, as is for bytes; anything else is an error."""
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    raise PsiError(f"item {index} is a {type(item).__name__}; PSI items must be str or bytes")


def batches(items: Iterable[object], size: int) -> Iterator[list[bytes]]:
    """Yield the items as lists of at most `size` normalised byte strings."""
    batch: list[bytes] = []
    for index, item in enumerate(items):
        batch.append(item_bytes(item, index))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
