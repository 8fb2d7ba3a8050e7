"""Fixtures for the review and CI commands (verify, prune, lock merge, init).

Every test runs in its own temporary folder (the current directory) with the embedded
simulator made fast, so ``apply`` generates real images in well under a second and the paths
the commands print are short and exact.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from seedflow.cli import main
from seedflow.lock.model import LockedImage, LockEntry, State


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh current directory; seedflow pointed at a fast embedded simulator, no keys."""
    root = tmp_path / "work"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv("SEEDFLOW_SIM_LATENCY", "0.05")
    monkeypatch.setenv("SEEDFLOW_POLL_INTERVAL", "0.05")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    return root


def pipeline_text(things: Sequence[str] = ("cup", "lamp"), seeds: Sequence[int] = (1, 2),
                  extra: str = "") -> str:
    """A sim pipeline: one image per (thing, seed) at ``assets/shots/THING-SEED.png``; ``extra``
    is appended as is (more assets, indented by two spaces)."""
    return textwrap.dedent(f"""\
        version: 1
        provider: sim
        output_dir: ../assets
        defaults:
          resolution: 1K
        assets:
          shots:
            prompt: "a photo of a {{{{ thing }}}}"
            aspect: "1:1"
            matrix:
              thing: [{", ".join(things)}]
              seed: [{", ".join(str(s) for s in seeds)}]
            output: "shots/{{{{ thing }}}}-{{{{ seed }}}}.png"
        """) + extra


Write = Callable[..., Path]


@pytest.fixture
def write(workdir: Path) -> Write:
    """``write(things, seeds, extra=..., name="p")`` → ``pipelines/<name>.yaml``."""

    def writer(things: Sequence[str] = ("cup", "lamp"), seeds: Sequence[int] = (1, 2),
               extra: str = "", name: str = "p") -> Path:
        path = workdir / "pipelines" / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(pipeline_text(things, seeds, extra), encoding="utf-8")
        return path.relative_to(workdir)

    return writer


def apply(pipeline: Path, *args: str) -> None:
    """Run ``seedflow apply`` in this process against the embedded simulator."""
    assert main(["apply", str(pipeline), *args]) == 0


def entry(fp: str, state: State | str = State.SUCCEEDED, *, task: str | None = "t1",
          attempts: int = 1, images: int = 1, submitted: str | None = "2026-01-01T00:00:00Z",
          completed: str | None = None, address: str | None = None,
          path: str = "out") -> LockEntry:
    """A hand-made lock entry (``completed`` defaults to a time for finished states)."""
    state = State(state)
    if state in (State.SUCCEEDED, State.FAILED) and completed is None:
        completed = "2026-01-01T00:01:00Z"
    if state == State.UNCERTAIN:
        task, submitted, completed = None, None, None
    pictures = tuple(LockedImage(f"{path}/{fp}-{task}-{i}.png", f"{i:064x}", 100 + i,
                                 f"https://example.test/{task}/{i}.png") for i in range(images))
    return LockEntry(fingerprint=fp, address=address or f"a[{fp}]", asset="a", provider="sim",
                     state=state, request={"prompt": fp}, task_id=task, submitted_at=submitted,
                     completed_at=completed, attempts=attempts,
                     images=pictures if state != State.UNCERTAIN else ())
