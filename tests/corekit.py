"""Shared helpers for tests that write pipelines: files, in-process CLI runs, lockfiles.

Every test runs in its own temporary folder (the current directory), so the paths seedflow
prints are short and exact (``p.yaml:4:5: ...``) and whole messages can be compared.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from clirun import Result, Run, in_process

from seedflow.lock.format import lock_text
from seedflow.lock.model import LockedImage, LockEntry
from seedflow.pipeline.load import load_pipeline
from seedflow.plan.combos import Combination, resolve

CANARY_NAME = "SEEDFLOW_TEST_CANARY"
CANARY_VALUE = "canary-4f1d9c7e-never-print-me"




WritePipeline = Callable[..., Path]

TWO_PHOTOS = """
    version: 1
    provider: apikley
    output_dir: out
    assets:
      a:
        prompt: a photo {{ n }}
        matrix: {n: [1, 2]}
        output: "a/{{ n }}.png"
"""
"""One asset, two combinations (write_pipeline dedents it)."""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in tmp_path; crash logs go to tmp; no colour settings or keys leak in."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(CANARY_NAME, CANARY_VALUE)


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@pytest.fixture
def write_pipeline(tmp_path: Path) -> WritePipeline:
    """Write YAML (dedented; line 1 is the first non-empty line) and return its relative path."""

    def write(text: str, name: str = "p.yaml") -> Path:
        path = Path(name)
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """``seedflow ARGS...`` in-process; returns the exit code and what it printed."""

    return in_process(capsys)


def combos_of(path: Path) -> list[Combination]:
    return resolve(load_pipeline(path))


def fingerprints(path: Path) -> dict[str, str]:
    """address → fingerprint of every combination of a pipeline file."""
    return {c.address: c.fingerprint for c in combos_of(path)}


def entry_for(combo: Combination, *, state: str = "succeeded", task_id: str | None = "task-1",
              images: Iterable[LockedImage] | None = None, error: str | None = None,
              completed_at: str = "2024-05-01T10:01:00Z") -> LockEntry:
    """A lock entry as apply would record it for ``combo``."""
    return LockEntry(
        fingerprint=combo.fingerprint, address=combo.address, asset=combo.asset,
        provider=combo.provider, state=state, request=combo.request,  # type: ignore[arg-type]
        task_id=task_id, submitted_at="2024-05-01T10:00:00Z",
        completed_at=completed_at if state == "succeeded" else None,
        images=tuple(images or ()), error=error, unsent=combo.unsent)


def image(path: str, data: bytes = b"png-bytes", url: str = "https://cdn.example/x.png",
          ) -> LockedImage:
    import hashlib

    return LockedImage(path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                       url=url)


def write_lock(path: Path, entries: Iterable[LockEntry]) -> None:
    path.write_text(lock_text(entries), encoding="utf-8")


def assert_no_traceback(result: Result) -> None:
    assert "Traceback" not in result.text
    assert 'File "' not in result.text
