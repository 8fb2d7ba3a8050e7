"""Shared fixtures of the reliability suite: an isolated environment and in-process CLI runs.

The suite is self-contained (``python -m pytest tests/reliability``): it needs no fixture from
other test folders.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clirun import Run, in_process

# Settings a developer's shell may carry that would change what these tests observe.
SCRUBBED = ("APIKLEY_API_KEY", "MODELLIX_API_KEY", "SEEDFLOW_APIKLEY_BASE_URL",
            "SEEDFLOW_MODELLIX_BASE_URL", "SEEDFLOW_SIM_URL", "SEEDFLOW_SIM_LATENCY",
            "SEEDFLOW_CONCURRENCY", "SEEDFLOW_POLL_INTERVAL", "SEEDFLOW_POLL_MAX",
            "SEEDFLOW_RETRY_BASE", "SEEDFLOW_APIKLEY_RATE", "SEEDFLOW_MODELLIX_RATE",
            "SEEDFLOW_FAILPOINT")




@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The failpoint spec is read once, at import: this process must never carry one.
    assert not os.environ.get("SEEDFLOW_FAILPOINT")
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    # Belt and braces: should a case unexpectedly reach a provider, it finds a closed port.
    monkeypatch.setenv("SEEDFLOW_APIKLEY_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SEEDFLOW_MODELLIX_BASE_URL", "http://127.0.0.1:9")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    """``cli(*args)`` runs ``seedflow ARGS`` in this process: exit code and what it printed."""

    return in_process(capsys)
