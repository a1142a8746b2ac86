"""Both groups, with real parameters, for every core test."""

import pytest

from threshold.groups import get_group


@pytest.fixture(params=["ed25519", "modp"], scope="session")
def group(request):
    return get_group(request.param)
