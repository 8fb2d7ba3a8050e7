"""Fixtures for every test: an environment scrubbed of the developer's settings."""

from __future__ import annotations

import os

import pytest
from environment import foreign


@pytest.fixture(autouse=True)
def _scrubbed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The failpoint spec is read once, at import: the test process must never carry one.
    assert not os.environ.get("SEEDFLOW_FAILPOINT")
    for name in [n for n in os.environ if foreign(n)]:
        monkeypatch.delenv(name)
