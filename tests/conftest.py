"""Fixtures for every test: an environment scrubbed of the developer's settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from environment import foreign
from s3server import S3Server


@pytest.fixture(autouse=True)
def _scrubbed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The failpoint spec is read once, at import: the test process must never carry one.
    assert not os.environ.get("SEEDFLOW_FAILPOINT")
    for name in [n for n in os.environ if foreign(n)]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server in a child process on loopback, one for the whole session (as s3fs's
    own suite runs it); see tests/s3server.py."""
    with S3Server() as server:
        yield server


@pytest.fixture
def moto(s3_server: S3Server) -> Iterator[S3Server]:
    """The session's S3 server, its counters zeroed and its knobs back at rest afterwards."""
    s3_server.reset_stats()
    yield s3_server
    s3_server.set_latency(0)
    s3_server.set_body_rate(0)
    s3_server.require_auth(False)


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
