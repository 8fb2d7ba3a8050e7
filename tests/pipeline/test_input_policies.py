"""Input rules a pull request could otherwise abuse or trip over: where outputs may go, YAML
tags, base-60 aspects, dates, and --target typos."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from corekit import Run, WritePipeline, assert_no_traceback, dedent


def pipeline(output_dir: str = "out", aspect: str = '"1:1"', extra: str = "") -> str:
    return f"""
        version: 1
        provider: sim
        output_dir: {output_dir}
        assets:
          a:
            prompt: "a cat"
            aspect: {aspect}
            output: a.png
        {extra}
    """


def test_an_absolute_output_dir_is_refused(write_pipeline: WritePipeline, run: Run) -> None:
    result = run("validate", write_pipeline(pipeline(output_dir="/etc")))
    assert result.code == 1
    assert result.err.splitlines()[0] == ("p.yaml:3:13: output_dir '/etc' is absolute; write it "
                                          "relative to the pipeline's folder (e.g. ../assets)")


def test_output_dir_stays_inside_the_git_repository(tmp_path: Path, run: Run) -> None:
    repo = tmp_path / "repo"
    (repo / "pipelines").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    inside = repo / "pipelines" / "ok.yaml"
    inside.write_text(dedent(pipeline(output_dir="../assets")))
    outside = repo / "pipelines" / "bad.yaml"
    outside.write_text(dedent(pipeline(output_dir="../../elsewhere")))

    assert run("validate", inside).code == 0
    result = run("validate", outside)
    assert result.code == 1
    assert "bad.yaml:3:13: output_dir '../../elsewhere' resolves to" in result.err
    assert "outside the git repository" in result.err
    assert_no_traceback(result)


@pytest.mark.parametrize(("value", "tag"), [
    ("!!python/object/apply:os.system [id]", "!!python/object/apply:os.system"),
    ("!custom {k: 1}", "!custom"),
    ("!!binary aGk=", "!!binary"),
    ("!!set {a, b}", "!!set"),
])
def test_yaml_tags_are_refused(write_pipeline: WritePipeline, run: Run, value: str,
                               tag: str) -> None:
    path = write_pipeline(pipeline(extra=f"vars: {{x: {value}}}"))
    result = run("validate", path)
    assert result.code == 1
    assert f"unsupported YAML tag {tag}: a pipeline is plain YAML data; remove the tag" \
        in result.err
    assert_no_traceback(result)


def test_a_bad_explicit_scalar_tag_is_an_error_not_a_crash(write_pipeline: WritePipeline,
                                                           run: Run) -> None:
    result = run("validate", write_pipeline(pipeline(extra="vars: {x: !!int zz}")))
    assert result.code == 1
    assert "invalid YAML value: invalid literal for int() with base 10: 'zz'" in result.err
    assert_no_traceback(result)


def test_an_unquoted_aspect_says_to_quote_it(write_pipeline: WritePipeline, run: Run) -> None:
    result = run("validate", write_pipeline(pipeline(aspect="16:9")))
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        'p.yaml:7:13: assets.a.aspect: aspect 969 is a number: YAML reads an unquoted 16:9 as '
        'base 60; quote it: "16:9"')


def test_dates_stay_the_text_written(write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline(pipeline(extra="vars: {launch: 2024-05-01}").replace(
        '"a cat"', '"a cat, launch {{ launch }}"'))
    result = run("plan", path, "--format", "json")
    assert result.code == 0, result.err
    assert "a cat, launch 2024-05-01" in result.out


def test_a_target_that_matches_nothing_is_an_error(write_pipeline: WritePipeline,
                                                   run: Run) -> None:
    path = write_pipeline(pipeline())
    result = run("apply", path, "--target", "b*")
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        "error: --target b* matches no combination; addresses look like a (`seedflow plan` "
        "lists them), an asset's name selects all of it; * and ? are wildcards")
    assert not Path("p.lock").exists()
