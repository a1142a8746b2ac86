"""Groups behind one interface: `get_group("modp")` (4096-bit) or `get_group("ed25519")`."""

from __future__ import annotations

from functools import lru_cache

from threshold.errors import DecodeError
from threshold.groups.base import Element, ElementReader, FixedBase, Group

GROUP_NAMES = ("modp", "ed25519")


@lru_cache(maxsize=None)
def get_group(name: str) -> Group:
    """The shared instance of a named group (its tables are cached on it)."""
    if name == "modp":
        from threshold.groups.modp import ModpGroup

        return ModpGroup()
    if name == "ed25519":
        from threshold.groups.ed25519 import Ed25519Group

        return Ed25519Group()
    raise DecodeError("group", f"unknown group {name!r}; expected one of {', '.join(GROUP_NAMES)}")


__all__ = ["Element", "ElementReader", "FixedBase", "Group", "GROUP_NAMES", "get_group"]
