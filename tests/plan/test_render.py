"""Rendering a plan (seedflow/plan/render.py): the whole text, markdown and JSON of a small plan
with a create on each provider, an unchanged combination, an orphan and an unsent-seed note."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from corekit import Run, WritePipeline, combos_of, entry_for, image, write_lock
from msgspec.structs import replace

from seedflow.plan import render
from seedflow.project import load_project

PIPELINE = """\
    version: 1
    assets:
      mug:
        prompt: "a mug, take {{ seed }}"
        output: "mug/{{ seed }}.png"
        matrix:
          seed: [1, 2]
      hero:
        provider: modellix
        prompt: "a lighthouse"
        aspect: "16:9"
        output: "hero/{{ seed }}.png"
        matrix:
          seed: [7, 8]
"""
NOTE = ("asset `hero`: modellix has no seed field for Seedream 4.0, so seeds are not sent; they "
        "still make 2 distinct combinations (images may differ only by chance)")
SUMMARY = "3 to create (paid), 0 to resume, 0 to restore, 0 to relink, 1 orphaned, 1 unchanged."
COST = ("3 images, estimated 5 credits plus 2 on modellix at an unknown price "
        "(set `prices.<provider>`)")


@pytest.fixture
def small(write_pipeline: WritePipeline, tmp_path: Path) -> Path:
    """``mug[seed=2]`` generated and on disk, ``gone[n=9]`` orphaned, three creates."""
    path = write_pipeline(PIPELINE)
    combos = {c.address: c for c in combos_of(path)}
    (tmp_path / "mug").mkdir()
    (tmp_path / "mug/2.png").write_bytes(b"png-bytes")
    unchanged = entry_for(combos["mug[seed=2]"], images=[image("mug/2.png")])
    orphan = replace(unchanged, fingerprint="0" * 32, address="gone[n=9]", asset="gone",
                     task_id="task-9", images=(image("gone/9.png"),))
    write_lock(tmp_path / "p.lock", [unchanged, orphan])
    return path


def test_text(small: Path, run: Run) -> None:
    result = run("plan", small)
    assert (result.code, result.err) == (0, "")
    assert result.out == "\n".join([
        "Pipeline p.yaml · lock p.lock",
        "",
        "  + create   mug[seed=1]",
        "      mug/1.png",
        "  + create   hero[seed=7]",
        "      hero/7.png",
        "  + create   hero[seed=8]",
        "      hero/8.png",
        "  - orphan   gone[n=9]",
        f"Note: {NOTE}.",
        f"Plan: {SUMMARY}",
        f"Cost: {COST}.",
    ]) + "\n"


def test_text_in_colour(small: Path) -> None:
    project = load_project(small)
    lines = list(render.render_text(project, project.plan(), colour=True))
    assert lines[2] == click.style("  + create   mug[seed=1]", fg="green")
    assert lines[8] == click.style("  - orphan   gone[n=9]", fg="red")
    assert lines[3] == "      mug/1.png"


def test_text_with_nothing_to_do(write_pipeline: WritePipeline, tmp_path: Path,
                                 run: Run) -> None:
    path = write_pipeline(PIPELINE.replace("[1, 2]", "[2]").split("      hero:")[0])
    (combo,) = combos_of(path)
    (tmp_path / "mug").mkdir()
    (tmp_path / "mug/2.png").write_bytes(b"png-bytes")
    entry = entry_for(combo, images=[image("mug/2.png")])
    write_lock(tmp_path / "p.lock", [entry, replace(entry, fingerprint="0" * 32,
                                                    address="gone[n=9]", asset="gone")])
    assert run("plan", path).out == "\n".join([
        "Pipeline p.yaml · lock p.lock",
        "",
        "  - orphan   gone[n=9]",
        "No changes. Every combination is generated and its files are in place.",
        "1 lock entries are no longer in the pipeline (nothing for apply to do); "
        "`seedflow prune` removes them.",
        "",
        "Plan: 0 to create, 0 to resume, 0 to restore, 0 to relink, 1 orphaned, "
        "1 unchanged.",
    ]) + "\n"


def test_markdown(small: Path, run: Run) -> None:
    """(More in test_markdown.py.)"""
    result = run("plan", small, "--format", "markdown")
    assert result.code == 0
    apikley = '{"model": "bytedance/seedream-v4-text-to-image", "input": {"seed": 1}}'
    assert result.out == "\n".join([
        "### seedflow plan: `p.yaml` · lock `p.lock`",
        "",
        f"**Plan:** {SUMMARY}",
        "",
        f"**Cost:** {COST}.",
        "",
        f"> Note: {NOTE}.",
        "",
        "<details><summary><code>mug</code> — 1 to create</summary>",
        "",
        "```diff",
        "+ create   mug[seed=1]",
        "      mug/1.png",
        "      prompt: a mug, take 1",
        f"      apikley request: {apikley}",
        "```",
        "",
        "</details>",
        "",
        "<details><summary><code>hero</code> — 2 to create</summary>",
        "",
        "```diff",
        *(line for seed in (7, 8) for line in (
            f"+ create   hero[seed={seed}]",
            f"      hero/{seed}.png",
            "      prompt: a lighthouse",
            '      modellix request: {"size": "2560x1440"}',
            f'      not sent (identity only): {{"seed": {seed}}}')),
        "```",
        "",
        "</details>",
        "",
        "<details><summary><code>gone</code> — 1 orphaned</summary>",
        "",
        "```diff",
        "- orphan   gone[n=9]",
        "      gone/9.png",
        "```",
        "",
        "</details>",
        "",
    ]) + "\n"


def test_json(small: Path, run: Run) -> None:
    result = run("plan", small, "--format", "json")
    assert result.code == 0
    fp = {c.address: c.fingerprint for c in combos_of(small)}
    hero = {"prompt": "a lighthouse", "size": "2560x1440"}

    def mug(seed: int) -> dict[str, object]:
        return {"model": "bytedance/seedream-v4-text-to-image",
                "input": {"prompt": f"a mug, take {seed}", "seed": seed}}

    assert json.loads(result.out) == {
        "items": [
            {"action": "create", "address": "mug[seed=1]", "asset": "mug", "vars": {"seed": 1},
             "provider": "apikley", "request": mug(1), "fingerprint": fp["mug[seed=1]"],
             "outputs": ["mug/1.png"]},
            {"action": "unchanged", "address": "mug[seed=2]", "asset": "mug",
             "vars": {"seed": 2}, "provider": "apikley", "request": mug(2),
             "fingerprint": fp["mug[seed=2]"], "outputs": ["mug/2.png"], "task_id": "task-1"},
            {"action": "create", "address": "hero[seed=7]", "asset": "hero",
             "vars": {"seed": 7}, "provider": "modellix", "request": hero,
             "fingerprint": fp["hero[seed=7]"], "outputs": ["hero/7.png"]},
            {"action": "create", "address": "hero[seed=8]", "asset": "hero",
             "vars": {"seed": 8}, "provider": "modellix", "request": hero,
             "fingerprint": fp["hero[seed=8]"], "outputs": ["hero/8.png"]},
            {"action": "orphan", "address": "gone[n=9]", "asset": "gone", "vars": None,
             "provider": "apikley", "request": mug(2), "fingerprint": "0" * 32,
             "outputs": ["gone/9.png"], "task_id": "task-9"},
        ],
        "format_version": 1,
        "pipeline": "p.yaml",
        "lock": "p.lock",
        "summary": {"create": 3, "resume": 0, "restore": 0, "relink": 0, "orphan": 1,
                    "unchanged": 1, "modified": 0},
        "cost": {"tasks": 3, "images": 3, "estimate": 5.0, "unit": "credits",
                 "unpriced_images": {"modellix": 2}},
        "notes": [NOTE],
        "in_store_only": 0,
    }
