"""Fixtures for end-to-end apply tests: a running simulator, a project folder with a pipeline
writer, an environment that points seedflow at the simulator, in-process runs of the CLI, and
a real S3 server over HTTP for the store (tests/s3server.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from applykit import CANARY, Project, Run
from clirun import in_process

from seedflow.sim import SimConfig, Simulator


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Simulator]]:
    """Start simulators (latency 50 ms unless given); all are stopped at the end."""
    started: list[Simulator] = []

    def start(**config: Any) -> Simulator:
        config.setdefault("latency", 0.05)
        simulator = Simulator(SimConfig(**config))
        simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture
def sim(make_sim: Callable[..., Simulator]) -> Simulator:
    return make_sim()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    root.mkdir()
    return Project(root)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, project: Project, tmp_path: Path
        ) -> Callable[..., dict[str, str]]:
    """``env(sim, **extra)`` points seedflow at ``sim`` (every provider), with tiny poll and
    backoff delays, the canary as both API keys, the crash log under tmp_path, and the project
    folder as the working directory. Returns the variables set (for subprocesses)."""
    monkeypatch.chdir(project.root)

    def point(simulator: Simulator, **extra: str) -> dict[str, str]:
        values = {
            "APIKLEY_API_KEY": CANARY,
            "MODELLIX_API_KEY": CANARY,
            "SEEDFLOW_APIKLEY_BASE_URL": simulator.base_url,
            "SEEDFLOW_MODELLIX_BASE_URL": simulator.base_url,
            "SEEDFLOW_SIM_URL": simulator.base_url,
            "SEEDFLOW_POLL_INTERVAL": "0.03",
            "SEEDFLOW_POLL_MAX": "0.2",
            "SEEDFLOW_RETRY_BASE": "0.05",
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "NO_COLOR": "1",
            **extra,
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return values

    return point


@pytest.fixture
def seedflow(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run ``seedflow ARGS...`` in this process; returns the exit code and what it printed."""

    return in_process(capsys)
