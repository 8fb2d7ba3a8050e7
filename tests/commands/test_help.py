"""`seedflow --help`: commands in workflow order with whole summaries at 80 columns, and the exit
codes it lists are the ones seedflow returns."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from corekit import Run, WritePipeline

import seedflow.commands.validate
from seedflow.commands.apply import EXIT_TERMINATED
from seedflow.errors import Interrupted

WORKFLOW_COMMANDS = """\
Commands:
  init      Start a project: a pipeline that runs on the simulator.
  validate  Check pipeline files: schema, templates, providers, paths.
  plan      Show what `apply` would do, without doing it (read-only).
  apply     Generate what the lockfile lacks; asks before paid work.
  verify    Check that every locked image is intact on disk (read-only).
  gallery   Write an HTML contact sheet of the pipeline's images.
  pull      Bring locked images from the store onto this disk (free).
  push      Upload the locked images that the store lacks (free).
  prune     Remove lock entries no longer in the pipeline (orphans).
  lock      Merge and check lockfiles: shards, branches, git merges.
  schemas   Rebuild the JSON Schemas, or export them into a project.
  sim       The embedded provider simulator (Apikley and Modellix).
"""

GOOD = """\
    version: 1
    assets:
      a:
        prompt: "x {{ n }}"
        output: "{{ n }}.png"
        matrix:
          n: [1, 2]
"""


@pytest.fixture(autouse=True)
def _eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")


def section(text: str, title: str) -> str:
    """The ``title:`` section of a help text, up to the next blank line."""
    start = text.index(f"\n{title}:\n") + 1
    end = text.find("\n\n", start)
    return text[start:] if end < 0 else text[start:end + 1]


def test_commands_are_listed_in_workflow_order_with_whole_summaries(run: Run) -> None:
    result = run("--help")

    assert (result.code, result.err) == (0, "")
    assert section(result.out, "Commands") == WORKFLOW_COMMANDS


@pytest.mark.parametrize("group", [(), ("lock",), ("sim",)])
def test_no_summary_is_cut_off_and_nothing_is_wider_than_80_columns(
        run: Run, group: tuple[str, ...]) -> None:
    out = run(*group, "--help").out

    assert "..." not in section(out, "Commands")
    assert max(len(line) for line in out.splitlines()) <= 80


def test_subcommands_are_listed_as_declared(run: Run) -> None:
    assert section(run("lock", "--help").out, "Commands") == (
        "Commands:\n"
        "  merge         Fold lockfiles and shard fragments into OUT.\n"
        "  check         Check that lockfiles load (for pre-commit, CI).\n"
        "  merge-driver  The git merge driver for lockfiles.\n")


def test_help_lists_the_exit_codes(run: Run) -> None:
    out = run("--help").out

    assert out[out.index("  Exit codes:"):] == (
        "  Exit codes:\n"
        "    0    success (plan --detailed-exitcode: nothing to do)\n"
        "    1    an expected failure, said in one message (bad input, failed tasks)\n"
        "    2    usage error (plan --detailed-exitcode: there is work to do)\n"
        "    3    a bug: the traceback goes to a log file, whose path is printed\n"
        "    130  interrupted (^C); apply first records what it paid for\n"
        "    143  terminated (SIGTERM); apply first records what it paid for\n"
        "\n"
        "  Colour only on a terminal, never with --no-color or NO_COLOR set; progress\n"
        "  bars still show.\n")


def raising(error: BaseException) -> Callable[..., int]:
    def command(*args: object, **kwargs: object) -> int:
        raise error
    return command


def test_each_listed_exit_code_is_what_seedflow_returns(
        run: Run, write_pipeline: WritePipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    good = write_pipeline(GOOD)
    bad = write_pipeline("version: 1\nassets: {a: {prompt: x}}\n", name="bad.yaml")
    returned = {
        "0": [run("validate", good).code, run("plan", good).code],
        "1": [run("validate", bad).code],
        "2": [run("plan", good, "--no-such-option").code,
              run("plan", good, "--detailed-exitcode").code],
    }
    for code, error in (("3", RuntimeError("boom")), ("130", KeyboardInterrupt()),
                        ("143", Interrupted("stopped", exit_code=EXIT_TERMINATED))):
        monkeypatch.setattr(seedflow.commands.validate, "validate", raising(error))
        returned[code] = [run("validate", good).code]
    listed = re.findall(r"^    (\d+) ", run("--help").out, flags=re.MULTILINE)

    assert listed == list(returned)
    assert {code: set(codes) for code, codes in returned.items()} == {
        code: {int(code)} for code in listed}
