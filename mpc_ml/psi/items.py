"""Normalisation of user items to bytes, with clear errors for bad items."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from itertools import islice

from .errors import PsiError

Item = str | bytes


def text_bytes(item: str) -> bytes:
    """UTF-8 of the text's NFC form: the same name composed on one system and decomposed on another ('é' as one
    code point or as 'e' and an accent) is one item."""
    return unicodedata.normalize("NFC", item).encode("utf-8")


def item_bytes(item: object, index: int, side: str) -> bytes:
    """The bytes of one item of the `side` set: `text_bytes` for text, as is for bytes; anything else is an error."""
    if isinstance(item, str):
        try:
            return text_bytes(item)
        except UnicodeEncodeError as exc:  # a lone surrogate (e.g. bytes decoded with surrogateescape)
            raise PsiError(f"{side} set: item {index} is not valid Unicode text ({exc.reason} at position "
                           f"{exc.start}); pass such items as bytes") from None
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    raise PsiError(f"{side} set: item {index} is a {type(item).__name__}; PSI items must be str or bytes "
                   "(convert numbers with str())")


def normalise(chunk: list[object], start: int, side: str) -> list[bytes]:
    """`item_bytes` of each item of `chunk` (whose first item has index `start`), fast for all-str or all-bytes."""
    kinds = set(map(type, chunk))
    if kinds == {str}:
        try:
            return list(map(text_bytes, chunk))  # type: ignore[arg-type]
        except UnicodeEncodeError:
            pass  # named below, item by item
    if kinds == {bytes}:
        return chunk  # type: ignore[return-value]
    return [item_bytes(x, start + i, side) for i, x in enumerate(chunk)]


def collection(items: object, side: str) -> Iterable[object]:
    """`items` checked to be a collection of items: a lone str or bytes would be split into characters."""
    if isinstance(items, (str, bytes, bytearray, memoryview)):
        raise PsiError(f"{side} set is a single {type(items).__name__}: pass a list of items (a string would "
                       "be split into its characters)")
    if not isinstance(items, Iterable):
        raise PsiError(f"{side} set must be an iterable of str or bytes items, got {type(items).__name__}")
    return items


def chunks(items: Iterable[object], size: int) -> Iterator[list[object]]:
    """The items as lists of at most `size`, as given."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk

