"""Groups behind one interface: `get_group("modp")` (4096-bit) or `get_group("ed25519")`."""

from __future__ import annotations

import threading

from threshold.errors import DecodeError
from threshold.groups.base import Element, ElementReader, FixedBase, Group

GROUP_NAMES = ("modp", "ed25519")


_GROUPS: dict[str, Group] = {}
_GROUPS_LOCK = threading.Lock()


def get_group(name: str) -> Group:
    """The shared instance of a named group (its tables are cached on it): one per process, even when
    threads ask for it first at once (elements and keys of two instances would not compare equal)."""
    group = _GROUPS.get(name) if isinstance(name, str) else None
    if group is not None:
        return group
    if name not in GROUP_NAMES:
        raise DecodeError("group", f"unknown group {name!r}; expected one of {', '.join(GROUP_NAMES)}")
    with _GROUPS_LOCK:
        if name not in _GROUPS:
            _GROUPS[name] = _make_group(name)
        return _GROUPS[name]


def _make_group(name: str) -> Group:
    if name == "modp":
        from threshold.groups.modp import ModpGroup

        return ModpGroup()
    from threshold.groups.ed25519 import Ed25519Group

    return Ed25519Group()


__all__ = ["Element", "ElementReader", "FixedBase", "Group", "GROUP_NAMES", "get_group"]
