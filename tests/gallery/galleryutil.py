"""Helpers for gallery tests: pipelines on disk, fabricated lock entries, real PNG files.

A module of its own (not conftest.py): several test folders have a conftest, and importing
"conftest" by name would be ambiguous.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from PIL import Image

from seedflow.lock.model import LockedImage, LockEntry
from seedflow.lock.read import Lock
from seedflow.outputs import OutputRoot
from seedflow.plan.combos import Combination
from seedflow.plan.diff import Plan, make_plan
from seedflow.project import Project, load_project

WritePipeline = Callable[[str], Path]


@pytest.fixture
def write_pipeline(tmp_path: Path) -> WritePipeline:
    """Write a pipeline (YAML body after the header lines) to tmp_path/p/pipeline.yaml."""

    def write(assets: str, *, provider: str = "sim") -> Path:
        folder = tmp_path / "p"
        folder.mkdir(exist_ok=True)
        path = folder / "pipeline.yaml"
        path.write_text(f"version: 1\nprovider: {provider}\noutput_dir: out\n"
                        f"{textwrap.dedent(assets)}", encoding="utf-8")
        return path

    return write


def png_bytes(size: tuple[int, int] = (640, 360), colour: tuple[int, int, int] = (200, 80, 40),
              mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    fill = (*colour, 128) if mode == "RGBA" else colour
    Image.new(mode, size, fill).save(out, "PNG")
    return out.getvalue()


def generated(project: Project, combo: Combination, *, write: bool = True,
              size: tuple[int, int] = (640, 360), state: str = "succeeded") -> LockEntry:
    """A lock entry for ``combo`` as a finished apply records it (files written to disk)."""
    images = []
    for index, output in enumerate(combo.outputs):
        data = png_bytes(size, (40 * index % 255, 120, 200))
        if write:
            target = project.pipeline.folder / output
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        images.append(LockedImage(output, hashlib.sha256(data).hexdigest(), len(data),
                                  f"https://files.example/{combo.fingerprint}/{index}.png"))
    return LockEntry(
        fingerprint=combo.fingerprint, address=combo.address, asset=combo.asset,
        provider=combo.provider, state=state,  # type: ignore[arg-type]
        request=combo.request, task_id=f"task-{combo.fingerprint[:8]}",
        submitted_at="2026-01-02T03:04:05Z", completed_at="2026-01-02T03:05:06Z",
        images=tuple(images) if state == "succeeded" else (),
        error="content policy" if state == "failed" else None)


def with_entries(project: Project, entries: Iterable[LockEntry]) -> Project:
    lock = Lock(project.lock.path, {e.fingerprint: e for e in entries})
    return Project(project.pipeline, project.combinations, lock)


def plan_of(project: Project) -> Plan:
    return make_plan(project.combinations, project.lock.entries,
                     OutputRoot(project.pipeline.folder,
                                project.pipeline.output_dir).presence_check())


def load(path: Path) -> Project:
    return load_project(path)
