"""Review of the creation checks: two trustees whose names differ only by surrounding spaces are one name once
stored (names are trimmed), so they are refused like any other repeated name."""

from __future__ import annotations

import pytest

from tests.web import flow
from threshold.errors import DecodeError
from web import elections


@pytest.mark.parametrize("names", [["Tess", "Tom", "Tess "], ["Tess", "Tom", " Tess"]])
def test_a_name_repeated_with_spaces_is_refused(names: list[str]) -> None:
    with pytest.raises(DecodeError) as caught:
        elections.validate("e1", flow.MANIFEST, "ed25519", names, 2, flow.VOTERS)
    assert caught.value.field == "trustees[2]" and "'Tess' is already trustee 1" in caught.value.message


def test_distinct_names_are_kept_trimmed() -> None:
    request = elections.validate("e1", flow.MANIFEST, "ed25519", [" Tess", "Tom "], 2, flow.VOTERS)
    assert request.trustees == ["Tess", "Tom"]
