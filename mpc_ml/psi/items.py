"""Normalisation of user items to bytes, with clear errors for bad items."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from .errors import PsiError

Item = str | bytes


def item_bytes(item: object, index: int) -> bytes:
    """The bytes of one item: UTF-8 for text, as is for bytes; anything else is an error."""
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    raise PsiError(f"item {index} is a {type(item).__name__}; PSI items must be str or bytes")


def normalise(chunk: list[object], start: int) -> list[bytes]:
    """`item_bytes` of each item of `chunk` (whose first item has index `start`), fast for all-str or all-bytes."""
    kinds = set(map(type, chunk))
    if kinds == {str}:
        return [x.encode("utf-8") for x in chunk]  # type: ignore[attr-defined]
    if kinds == {bytes}:
        return chunk  # type: ignore[return-value]
    return [item_bytes(x, start + i) for i, x in enumerate(chunk)]


def chunks(items: Iterable[object], size: int) -> Iterator[list[object]]:
    """The items as lists of at most `size`, as given."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def batches(items: Iterable[object], size: int) -> Iterator[list[bytes]]:
    """Yield the items as lists of at most `size` normalised byte strings."""
    start = 0
    for chunk in chunks(items, size):
        yield normalise(chunk, start)
        start += len(chunk)
