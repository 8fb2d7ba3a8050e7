"""Shared fixtures of the reliability suite: an isolated environment and in-process CLI runs.

The suite is self-contained (``python -m pytest tests/reliability``): it needs no fixture from
other test folders.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clirun import Run, in_process


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    # Belt and braces: should a case unexpectedly reach a provider, it finds a closed port.
    monkeypatch.setenv("SEEDFLOW_APIKLEY_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SEEDFLOW_MODELLIX_BASE_URL", "http://127.0.0.1:9")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    """``cli(*args)`` runs ``seedflow ARGS`` in this process: exit code and what it printed."""

    return in_process(capsys)
