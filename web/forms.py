"""Turning the election form into the structures voting validates, and its errors back onto form fields."""

from __future__ import annotations

import re
from typing import Any, Mapping

from threshold.errors import DecodeError

KIND_LABELS = {
    "plurality": "Choose one",
    "approval": "Choose up to N",
    "exact": "Choose exactly N",
    "referendum": "Yes / no question",
}
MAX_FORM_CONTESTS = 20
# what the forms' labels say, for the error summary (which showed 'repeat_password', 'contests[1].limit')
FIELD_LABELS = {
    "username": "User name", "password": "Password", "current_password": "Current password",
    "new_password": "New password", "repeat_password": "New password again", "election_id": "Election id",
    "title": "Title", "group": "Group", "trustees": "Trustees", "quorum": "Trustees needed to decrypt",
    "voters": "Voter list", "credentials_csv": "Public credentials", "contests": "Questions",
}
CONTEST_LABELS = {"title": "question", "kind": "kind", "limit": "N", "options": "options"}


def contest_count(form: Mapping[str, str]) -> int:
    """How many contest fieldsets the form shows (at least 1, 'add a contest' adds one)."""
    try:
        count = int(form.get("contest_count", "1"))
    except ValueError:
        count = 1
    if form.get("action") == "add_contest":
        count += 1
    return max(1, min(count, MAX_FORM_CONTESTS))


def whole_number(text: str, field: str) -> int:
    """An integer typed in a form field; DecodeError naming the field otherwise."""
    try:
        return int(text)
    except ValueError:
        raise DecodeError(field, "expected a whole number") from None


def manifest_from_form(form: Mapping[str, str], count: int) -> dict[str, Any]:
    """The manifest JSON described by the contest fieldsets (voting.manifest validates it)."""
    contests = []
    for i in range(count):
        prefix = f"contests[{i}]"
        title = form.get(f"{prefix}.title", "").strip()
        options = [line.strip() for line in form.get(f"{prefix}.options", "").splitlines() if line.strip()]
        if not title and not options:
            continue
        kind = form.get(f"{prefix}.kind", "plurality")
        contest: dict[str, Any] = {"id": f"q{i + 1}", "title": title, "kind": kind}
        if kind != "referendum":
            contest["options"] = [{"id": f"o{j + 1}", "label": label} for j, label in enumerate(options)]
        if kind == "approval":
            contest["max"] = whole_number(form.get(f"{prefix}.limit", ""), f"{prefix}.limit")
        elif kind == "exact":
            contest["k"] = whole_number(form.get(f"{prefix}.limit", ""), f"{prefix}.limit")
        contests.append(contest)
    return {"title": form.get("title", "").strip(), "contests": contests}


def trustees_from_form(form: Mapping[str, str]) -> list[str]:
    """One trustee name per line."""
    return [line.strip() for line in form.get("trustees", "").splitlines() if line.strip()]


def form_field(field: str) -> str:
    """The form input an error from voting belongs to ('manifest.contests[0].options[1].label' -> 'contests[0].options')."""
    name = field.removeprefix("manifest.")
    name = re.sub(r"^(contests\[\d+\])\.(max|k)$", r"\1.limit", name)
    name = re.sub(r"^(contests\[\d+\]\.options)\[\d+\].*$", r"\1", name)
    name = re.sub(r"^(contests\[\d+\])\.id$", r"\1.title", name)
    name = re.sub(r"^trustees\[\d+\]$", "trustees", name)
    return name


def field_label(field: str) -> str:
    """The label a person reads for a field named in an error ('contests[1].limit' -> 'Question 2: N'); else the name."""
    match = re.fullmatch(r"contests\[(\d+)\](?:\.(\w+))?", field)
    if match and (match.group(2) is None or match.group(2) in CONTEST_LABELS):
        part = f": {CONTEST_LABELS[match.group(2)]}" if match.group(2) else ""
        return f"Question {int(match.group(1)) + 1}{part}"
    return FIELD_LABELS.get(field, field)
