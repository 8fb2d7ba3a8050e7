"""Helpers for gallery tests: pipelines on disk, fabricated lock entries, real PNG files.

A module of its own (not conftest.py): several test folders have a conftest, and importing
"conftest" by name would be ambiguous.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
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


# ---- git repositories for ``gallery --compare`` ---------------------------------------------

COMPARED = """\
version: 1
provider: sim
output_dir: assets
defaults:
  resolution: 1K
assets:
  shots:
    prompt: "Product photo of {{ product.text }}, soft studio light"
    matrix:
      product:
        - {id: mug, text: a matte ceramic mug in sage green}
        - {id: lamp, text: a brass desk lamp}
        - {id: vase, text: a tall glass vase}
      aspect: ["1:1", "16:9", "9:16"]
    output: "{{ product.id }}/{{ aspect | slug }}.png"
"""
"""The pipeline a compare test commits: 9 combinations of three aspect ratios."""


def change_pipeline(text: str) -> str:
    """The pull request: the mug's prompt changes (3 changed), the vase loses its 9:16
    crop (1 removed), a fern comes in (3 added)."""
    text = text.replace("in sage green", "in terracotta")
    text = text.replace("        - {id: vase, text: a tall glass vase}\n",
                        "        - {id: vase, text: a tall glass vase}\n"
                        "        - {id: fern, text: a potted fern}\n")
    return text.replace('      aspect: ["1:1", "16:9", "9:16"]\n',
                        '      aspect: ["1:1", "16:9", "9:16"]\n'
                        '      exclude:\n        - {product: {id: vase}, aspect: "9:16"}\n')


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          env=env, timeout=60, check=True)
    return done.stdout


def committed_project(repo: Path, *, commit: Iterable[str] = ("catalog.yaml", "catalog.lock",
                                                            "assets"),
                      text: str = COMPARED, extra: str = "") -> Path:
    """A git repository with the pipeline applied on the simulator and ``commit`` committed;
    then the pull request's change applied in the working tree. Returns the pipeline path."""
    from seedflow.cli import main

    repo.mkdir(parents=True, exist_ok=True)
    path = repo / "catalog.yaml"
    path.write_text(text + extra, encoding="utf-8")
    assert main(["apply", "--yes", str(path)]) == 0
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", *commit)
    git(repo, "commit", "-q", "-m", "catalog")
    path.write_text(change_pipeline(text) + extra, encoding="utf-8")
    assert main(["apply", "--yes", "--force", str(path)]) == 0
    return path
