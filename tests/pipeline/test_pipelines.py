"""Every shipped example pipeline validates, and plans against its shipped lockfile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from corekit import Run, assert_no_traceback

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
SHIPPED = sorted(PIPELINES.glob("*.yaml")) + sorted(PIPELINES.glob("*.yml"))


def test_pipelines_are_shipped() -> None:
    assert SHIPPED, f"no pipelines in {PIPELINES}"
    assert PIPELINES / "catalog.yaml" in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_pipeline_validates(run: Run, path: Path) -> None:
    result = run("validate", path)
    assert result.code == 0, result.err
    assert result.err == ""
    assert result.out.startswith(f"{path}: valid (")
    assert_no_traceback(result)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_pipeline_plans(run: Run, path: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in PIPELINES.iterdir()}
    result = run("plan", path, "--format", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert sum(data["summary"].values()) == len(data["items"]) > 0
    assert {p: p.stat().st_mtime_ns for p in PIPELINES.iterdir()} == before  # read-only


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_pipeline_points_editors_at_the_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/pipeline.schema.json"
