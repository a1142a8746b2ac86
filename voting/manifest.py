"""The election manifest: contests of kinds plurality, approval, exact k-of-n and yes/no referendum, strictly validated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from threshold.errors import DecodeError
from voting.voters_csv import UNSTORABLE

_CONTROL = re.compile(f"[{UNSTORABLE}]")

KINDS = ("plurality", "approval", "exact", "referendum")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_OPTIONS = 64
MAX_CONTESTS = 64
MAX_TEXT = 1000


@dataclass(frozen=True)
class Contest:
    """One question: its options and how many of them a ballot may select (min_selections..max_selections)."""

    id: str
    title: str
    kind: str
    options: tuple[str, ...]
    labels: tuple[str, ...]
    min_selections: int
    max_selections: int

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON of the contest, as written in the setup entry."""
        out: dict[str, Any] = {"id": self.id, "title": self.title, "kind": self.kind}
        if self.kind != "referendum":
            out["options"] = [{"id": o, "label": label} for o, label in zip(self.options, self.labels)]
        if self.kind == "approval":
            out["max"] = self.max_selections
        if self.kind == "exact":
            out["k"] = self.max_selections
        return out


@dataclass(frozen=True)
class Manifest:
    """The contests of an election, in ballot order."""

    title: str
    contests: tuple[Contest, ...]

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON of the manifest (bound into the election base hash)."""
        return {"title": self.title, "contests": [c.to_json() for c in self.contests]}

    def contest(self, contest_id: str) -> Contest:
        """The contest with this id; DecodeError naming it if unknown."""
        for c in self.contests:
            if c.id == contest_id:
                return c
        raise DecodeError("contest", f"unknown contest {contest_id!r}")

    @classmethod
    def from_json(cls, obj: Any, field: str = "manifest") -> "Manifest":
        """Validate and parse a manifest; errors name the offending field."""
        obj = _object(obj, {"title", "contests"}, set(), field)
        title = _text(obj["title"], f"{field}.title")
        contests = obj["contests"]
        if not isinstance(contests, list) or not 1 <= len(contests) <= MAX_CONTESTS:
            raise DecodeError(f"{field}.contests", f"expected a list of 1 to {MAX_CONTESTS} contests")
        parsed = tuple(_contest(c, f"{field}.contests[{i}]") for i, c in enumerate(contests))
        seen: set[str] = set()
        for i, c in enumerate(parsed):
            if c.id in seen:
                raise DecodeError(f"{field}.contests[{i}].id", f"duplicate contest id {c.id!r}")
            seen.add(c.id)
        return cls(title, parsed)


def _object(obj: Any, required: set[str], optional: set[str], field: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise DecodeError(field, "expected an object")
    missing = required - set(obj)
    if missing:
        raise DecodeError(field, f"missing {', '.join(sorted(missing))}")
    extra = set(obj) - required - optional
    if extra:
        raise DecodeError(field, f"unexpected {', '.join(sorted(extra))}")
    return obj


def _text(value: Any, field: str) -> str:
    """A title or label: printable text (no control character: it is shown on ballots, pages and terminals)."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise DecodeError(field, f"expected a non-empty string of at most {MAX_TEXT} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise DecodeError(field, "not encodable as UTF-8 (a lone surrogate)") from None
    if _CONTROL.search(value):
        raise DecodeError(field, "control characters (newlines, tabs, escape sequences) are not allowed")
    return value


def _ident(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise DecodeError(field, "expected an id of 1-64 letters, digits, '_', '.', '-' starting with a letter or digit")
    return value


def _count(value: Any, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise DecodeError(field, f"expected an integer from {low} to {high}")
    return value


def _contest(obj: Any, field: str) -> Contest:
    if not isinstance(obj, dict):
        raise DecodeError(field, "expected an object")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise DecodeError(f"{field}.kind", f"expected one of {', '.join(KINDS)}")
    if kind == "referendum":
        obj = _object(obj, {"id", "title", "kind"}, set(), field)
        return Contest(_ident(obj["id"], f"{field}.id"), _text(obj["title"], f"{field}.title"), kind,
                       ("yes", "no"), ("Yes", "No"), 0, 1)
    extra = {"approval": {"max"}, "exact": {"k"}}.get(kind, set())
    obj = _object(obj, {"id", "title", "kind", "options"} | extra, set(), field)
    options = obj["options"]
    if not isinstance(options, list) or not 2 <= len(options) <= MAX_OPTIONS:
        raise DecodeError(f"{field}.options", f"expected a list of 2 to {MAX_OPTIONS} options")
    ids, labels = [], []
    for j, option in enumerate(options):
        where = f"{field}.options[{j}]"
        option = _object(option, {"id", "label"}, set(), where)
        oid = _ident(option["id"], f"{where}.id")
        if oid in ids:
            raise DecodeError(f"{where}.id", f"duplicate option id {oid!r}")
        ids.append(oid)
        labels.append(_text(option["label"], f"{where}.label"))
    n = len(ids)
    low, high = 0, 1
    if kind == "approval":
        high = _count(obj["max"], f"{field}.max", 1, n)
    elif kind == "exact":
        low = high = _count(obj["k"], f"{field}.k", 1, n - 1)
    return Contest(_ident(obj["id"], f"{field}.id"), _text(obj["title"], f"{field}.title"), kind,
                   tuple(ids), tuple(labels), low, high)


def benchmark_manifest() -> Manifest:
    """The manifest of the ElectionGuard comparison: contest A 1 of 4, contest B up to 2 of 5."""
    return Manifest.from_json({
        "title": "Benchmark election",
        "contests": [
            {"id": "A", "title": "Choose 1 of 4", "kind": "plurality",
             "options": [{"id": f"a{i}", "label": f"Candidate A{i}"} for i in range(1, 5)]},
            {"id": "B", "title": "Choose up to 2 of 5", "kind": "approval", "max": 2,
             "options": [{"id": f"b{i}", "label": f"Candidate B{i}"} for i in range(1, 6)]},
        ],
    })
