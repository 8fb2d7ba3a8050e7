"""`seedflow ci plan`: several pipelines planned into one markdown report (the PR comment and
the job summary) and the action's outputs, from the same plans `seedflow plan` renders."""

from __future__ import annotations

from pathlib import Path

from clirun import Run
from composite import parse_outputs
from corekit import assert_no_traceback
from reviewkit import Write, apply

from seedflow.ci.report import output_lines


def plan(run: Run, *pipelines: Path | str, extra: tuple[str, ...] = ()) -> tuple[int, str, str,
                                                                                 dict[str, str]]:
    result = run("ci", "plan", "--markdown", "plan.md", "--github-output", "out",
                 "--step-summary", "summary.md", *extra, *pipelines)
    report = Path("plan.md").read_text()
    assert Path("summary.md").read_text() == report
    outputs = parse_outputs(Path("out").read_text())
    Path("out").unlink()
    Path("summary.md").unlink()
    return result.code, report, result.err, outputs


def markdown_of(run: Run, pipeline: Path | str, *args: str) -> str:
    """What `seedflow plan P --format markdown` prints: the report's section for P."""
    result = run("plan", pipeline, "--format", "markdown", *args)
    assert result.code == 0, result.text
    return result.out.rstrip("\n")


def test_work_in_any_pipeline_is_has_work(run: Run, write: Write) -> None:
    done = write(name="done")
    apply(done, "--yes")
    pending = write(things=("cup",), seeds=(1, 2, 3), name="pending")
    code, report, _, outputs = plan(run, done, pending)
    assert code == 0
    assert outputs == {"has-work": "true", "creates": "3", "images": "3", "failed": "0"}
    assert report == markdown_of(run, done) + "\n\n" + markdown_of(run, pending) + "\n"
    assert "shots[thing=cup, seed=3]" in report


def test_nothing_to_do_is_has_work_false(run: Run, write: Write) -> None:
    pipeline = write()
    apply(pipeline, "--yes")
    code, _, _, outputs = plan(run, pipeline)
    assert code == 0
    assert outputs == {"has-work": "false", "creates": "0", "images": "0", "failed": "0"}


def test_a_deleted_image_is_work_but_nothing_to_pay(run: Run, write: Write) -> None:
    pipeline = write()
    apply(pipeline, "--yes")
    Path("assets/shots/cup-1.png").unlink()
    code, report, _, outputs = plan(run, pipeline)
    assert (code, outputs["has-work"], outputs["creates"]) == (0, "true", "0")
    assert report == markdown_of(run, pipeline) + "\n"
    assert "restore" in report


def test_targets_limit_the_report(run: Run, write: Write) -> None:
    pipeline = write()
    code, report, _, outputs = plan(run, pipeline, extra=("--target", "shots[thing=cup*"))
    assert (code, outputs["creates"]) == (0, "2")
    assert report == markdown_of(run, pipeline, "--target", "shots[thing=cup*") + "\n"
    assert "lamp" not in report


def test_a_broken_pipeline_is_reported_and_the_others_still_planned(run: Run,
                                                                    write: Write) -> None:
    good = write(name="good")
    broken = Path("pipelines/broken.yaml")
    broken.write_text("version: 1\nprovider: sim\nassets:\n  a:\n    prompt: hi\n"
                      "    output: ../../escape.png\n")
    code, report, err, outputs = plan(run, broken, good)
    assert code == 1
    assert outputs == {"has-work": "true", "creates": "4", "images": "4", "failed": "1"}
    failure, rest = report.split("\n\n### ")
    assert failure.startswith("### seedflow plan: `pipelines/broken.yaml`\n\n**The plan "
                              "failed**; nothing below is current.\n\n```text\n"
                              "pipelines/broken.yaml:6:13: ")
    assert "### " + rest == markdown_of(run, good) + "\n"
    assert err.startswith("error: pipelines/broken.yaml: pipelines/broken.yaml:6:13: ")
    assert err.endswith("1 of 2 pipelines could not be planned.\n")


def test_a_missing_pipeline_is_one_clear_error(run: Run, write: Write) -> None:
    code, report, err, outputs = plan(run, "pipelines/nope.yaml")
    assert code == 1 and outputs["failed"] == "1"
    assert "**The plan failed**" in report
    assert "nope.yaml" in err
    assert "Traceback" not in err


def test_a_failure_in_the_comment_stays_text(run: Run, write: Write) -> None:
    """The file name and the message are the pull request's: inside code, control characters
    shown escaped, fenced with more backticks than any run inside."""
    name = Path("pipelines/a````b\u202e.yaml")
    name.parent.mkdir(exist_ok=True)
    name.write_text("version: 1\nprovider: sim\nassets:\n  a:\n    prompt: '{{ nope }}'\n"
                    "    output: a.png\n")
    code, report, _, _ = plan(run, name)
    assert code == 1
    lines = report.split("\n")
    assert lines[0] == "### seedflow plan: `````pipelines/a````b\\u202e.yaml`````"
    fence = lines[4].removesuffix("text")
    assert set(fence) == {"`"} and len(fence) >= 5
    assert lines[-2] == fence and lines[-1] == ""
    assert "\u202e" not in report


def test_output_values_cannot_inject_other_outputs() -> None:
    text = output_lines({"has-work": "false", "comment-url": "x\nhas-work=true"})
    assert parse_outputs(text) == {"has-work": "false", "comment-url": "x\nhas-work=true"}


def test_without_pipelines_it_is_a_usage_error(run: Run, write: Write) -> None:
    result = run("ci", "plan", "--markdown", "plan.md")
    assert result.code == 2
    assert_no_traceback(result)
