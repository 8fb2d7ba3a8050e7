"""Fixtures for every test: an environment scrubbed of the developer's settings."""

from __future__ import annotations

import os
import sys

import pytest
from environment import foreign


@pytest.fixture(autouse=True)
def _scrubbed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The failpoint spec is read once, at import: the test process must never carry one.
    assert not os.environ.get("SEEDFLOW_FAILPOINT")
    for name in [n for n in os.environ if foreign(n)]:
        monkeypatch.delenv(name)


_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the test process the way seedflow's own entry point does (seedflow.cli.entry):
    obstore's Rust worker threads can abort a finalizing interpreter (SIGABRT), which would
    turn a green run red after its summary was printed."""
    if "obstore" in sys.modules and _status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_status[-1])
