"""The command-line contract: main(argv) never raises; exit codes 0/1/2/3/130."""

from __future__ import annotations

import json
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
from corekit import Run, WritePipeline, assert_no_traceback

import seedflow.commands.validate
from seedflow import __version__
from seedflow.cli import main
from seedflow.commands import finish
from seedflow.errors import SeedflowError


class Marker:
    """Something a weak reference can follow."""


GOOD = """\
    version: 1
    assets:
      a:
        prompt: "x {{ n }}"
        output: "{{ n }}.png"
        matrix:
          n: [1, 2]
"""


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(run: Run, flag: str) -> None:
    result = run(flag)
    assert result.code == 0
    assert result.err == ""
    assert result.out.startswith("Usage: seedflow [OPTIONS] COMMAND [ARGS]...\n")
    for command in ("validate", "plan", "apply", "schemas", "sim"):
        assert f"\n  {command} " in result.out


@pytest.mark.parametrize("command", ["validate", "plan", "apply", "schemas"])
def test_command_help(run: Run, command: str) -> None:
    result = run(command, "--help")
    assert result.code == 0
    assert result.out.startswith(f"Usage: seedflow {command} [OPTIONS]")


def test_plan_help_documents_the_contract(run: Run) -> None:
    out = run("plan", "--help").out
    for option in ("--format [text|markdown|json]", "--detailed-exitcode", "--lock"):
        assert option in out


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(run: Run, flag: str) -> None:
    result = run(flag)
    assert (result.code, result.out, result.err) == (0, f"seedflow, version {__version__}\n", "")


USAGE_ERRORS = {
    "no-command": ((), "Usage: seedflow [OPTIONS] COMMAND [ARGS]..."),
    "unknown-command": (("frobnicate",), "Error: No such command 'frobnicate'."),
    "missing-argument": (("plan",), "Error: Missing argument 'PIPELINE'."),
    "missing-arguments": (("validate",), "Error: Missing argument 'PIPELINES...'."),
    "unknown-option": (("validate", "--strict", "p.yaml"), "Error: No such option"),
    "bad-choice": (("plan", "p.yaml", "--format", "xml"),
                   "Error: Invalid value for '--format': 'xml' is not one of 'text', "
                   "'markdown', 'json'."),
    "bad-number": (("validate", "--max-combinations", "0", "p.yaml"),
                   "Error: Invalid value for '--max-combinations': 0 is not in the range x>=1."),
    "extra-argument": (("plan", "a.yaml", "b.yaml"),
                       "Error: Got unexpected extra argument (b.yaml)"),
}


@pytest.mark.parametrize("args, message", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_errors_exit_2(run: Run, args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.code == 2
    assert message in result.text
    assert_no_traceback(result)


def test_an_expected_failure_exits_1_with_one_message(run: Run,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> int:
        raise SeedflowError("the thing is wrong; do this instead")

    monkeypatch.setattr(seedflow.commands.validate, "validate", fail)
    result = run("validate", "p.yaml")
    assert (result.code, result.out, result.err) == (
        1, "", "error: the thing is wrong; do this instead\n")


def test_a_bug_exits_3_with_the_crash_log_path_and_no_traceback(
        run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def crash(*args: object, **kwargs: object) -> int:
        raise RuntimeError("boom-4711")

    monkeypatch.setattr(seedflow.commands.validate, "validate", crash)
    result = run("validate", "p.yaml")
    log = tmp_path / "cache" / "seedflow" / "crash.log"
    assert result.code == 3
    assert result.out == ""
    assert result.err == (f"error: seedflow hit an unexpected error (a bug). The traceback is in "
                          f"{log}. Please include it when you report the problem.\n")
    assert_no_traceback(result)
    assert "boom-4711" not in result.text
    text = log.read_text()
    assert f"seedflow {__version__}" in text
    assert "Traceback (most recent call last):" in text
    assert "RuntimeError: boom-4711" in text
    run("validate", "p.yaml")
    assert log.read_text().count("RuntimeError: boom-4711") == 2  # appended, not replaced


def test_crash_log_falls_back_when_the_cache_is_unusable(
        run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()

    def crash(*args: object, **kwargs: object) -> int:
        raise ValueError("boom")

    monkeypatch.setattr(seedflow.commands.validate, "validate", crash)
    result = run("validate", "p.yaml")
    assert result.code == 3
    assert f"The traceback is in {tmp_path / 'tmp' / 'crash.log'}." in result.err
    assert "ValueError: boom" in (tmp_path / "tmp" / "crash.log").read_text()


def test_keyboard_interrupt_exits_130(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(seedflow.commands.validate, "validate", interrupted)
    result = run("validate", "p.yaml")
    assert result.code == 130
    assert result.out == ""
    assert result.err.rstrip("\n").endswith("Interrupted.")
    assert_no_traceback(result)


def test_main_returns_the_command_exit_code(write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline(GOOD)
    assert run("validate", path).code == 0
    assert run("plan", path).code == 0
    assert run("plan", path, "--detailed-exitcode").code == 2


def test_main_never_raises_for_odd_input(run: Run) -> None:
    for args in (["plan", ""], ["validate", "-"], ["plan", "/"], ["--", "plan"],
                 ["plan", "nothing.yaml", "--lock", "/"]):
        result = run(*args)
        assert result.code in (1, 2), args
        assert_no_traceback(result)


def test_the_console_entry_point(write_pipeline: WritePipeline, tmp_path: Path) -> None:
    path = write_pipeline(GOOD)
    done = subprocess.run([sys.executable, "-m", "seedflow", "validate", str(path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (
        0, "p.yaml: valid (2 combinations)\n", "")
    bad = subprocess.run([sys.executable, "-m", "seedflow", "frobnicate"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False)
    assert bad.returncode == 2
    assert main(["--version"]) == 0


WIDE = """\
version: 1
provider: sim
output_dir: out
assets:
  grid:
    prompt: "a {{ thing }} number {{ n }}"
    matrix: {thing: [mug, lamp, chair, desk], n: [%s]}
    output: "{{ thing }}/{{ n }}.png"
"""


@pytest.mark.parametrize("detailed", [False, True])
def test_a_plan_ended_without_freeing_its_objects_still_writes_everything(
        write_pipeline: WritePipeline, tmp_path: Path, detailed: bool) -> None:
    # plan leaves its objects to the OS (os._exit): what it printed must all be flushed first,
    # and its exit code kept; 2,000 items make more output than any pipe buffer holds
    path = write_pipeline(WIDE % ", ".join(str(n) for n in range(500)))
    args = ["plan", str(path), "--format", "json", *(["--detailed-exitcode"] if detailed else [])]
    done = subprocess.run([sys.executable, "-m", "seedflow", *args], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == (2 if detailed else 0), done.stderr
    assert len(json.loads(done.stdout)["items"]) == 2_000
    assert done.stderr == ""


def test_objects_kept_until_exit_are_let_go_when_the_next_command_starts(
        write_pipeline: WritePipeline) -> None:
    path = write_pipeline(GOOD)
    held = Marker()
    finish.keep_until_exit(held)
    gone = weakref.ref(held)
    del held
    assert gone() is not None and finish.kept()

    assert main(["validate", str(path)]) == 0

    assert gone() is None
    assert not finish.kept()   # validate, unlike plan, keeps nothing
