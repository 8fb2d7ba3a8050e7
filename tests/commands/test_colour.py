"""Colour: only on a terminal, never with `--no-color` or NO_COLOR (no-color.org), which take
the colour away and nothing else: apply's progress bar still shows, in characters."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from clirun import Run, in_process, terminal
from reviewkit import Write

from seedflow.apply.progress import plain_bar

FULL_PLAIN_BAR = f"[{'#' * 38}]"    # 40 columns wide, as rich's own bar
EMPTY_PLAIN_BAR = f"[{'-' * 38}]"


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return in_process(capsys)


def on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdin, stdout and stderr are a 256-colour terminal (stderr is where the bar goes). Call
    it in the test itself: pytest swaps the captured streams between setup and the test."""
    terminal(monkeypatch, answer=True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "160")   # room for the whole bar and the counts beside it
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)


def colour_codes(text: str) -> list[str]:
    """The SGR escape sequences in ``text`` that set a colour (foreground or background, any
    palette); bold, dim and reset are not colour."""
    found = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        numbers = [int(p) for p in params.split(";") if p]
        if any(30 <= n <= 38 or 40 <= n <= 48 or 90 <= n <= 107 for n in numbers):
            found.append(params)
    return found


def visible(text: str) -> str:
    """``text`` as a terminal shows it, escape sequences (bold, cursor) left out."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_no_color_keeps_a_visible_progress_bar(write: Write, run: Run,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = write()
    on_a_terminal(monkeypatch)   # workdir sets NO_COLOR=1

    result = run("apply", pipeline)

    assert result.code == 0, result.text
    assert colour_codes(result.err) == []
    assert f"apply {EMPTY_PLAIN_BAR} 0/4" in visible(result.err)   # before anything is done
    assert f"apply {FULL_PLAIN_BAR} 4/4" in visible(result.err)
    assert "4 done, 0 failed" in result.out


def test_the_no_color_flag_does_what_no_color_does(write: Write, run: Run,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = write()
    on_a_terminal(monkeypatch)
    monkeypatch.delenv("NO_COLOR")

    result = run("--no-color", "apply", pipeline)

    assert result.code == 0, result.text
    assert colour_codes(result.err) == []
    assert f"apply {FULL_PLAIN_BAR} 4/4" in visible(result.err)


def test_with_colour_the_bar_is_rich_and_coloured(write: Write, run: Run,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The two tests above can fail: the same run, colour allowed, writes colour codes."""
    pipeline = write()
    on_a_terminal(monkeypatch)
    monkeypatch.delenv("NO_COLOR")

    result = run("apply", pipeline)

    assert result.code == 0, result.text
    assert colour_codes(result.err) != []
    assert "━" * 40 in result.err
    assert FULL_PLAIN_BAR not in result.err


def test_the_no_color_flag_uncolours_plan(write: Write, run: Run,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = write()
    on_a_terminal(monkeypatch)
    monkeypatch.delenv("NO_COLOR")
    assert colour_codes(run("plan", pipeline).out) != []   # the check can fail

    plain = run("--no-color", "plan", pipeline).out

    assert "\x1b[" not in plain
    assert "  + create   shots[thing=cup, seed=1]\n" in plain


def test_an_empty_no_color_is_not_set(write: Write, run: Run,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """no-color.org: NO_COLOR disables colour when present *and not an empty string*."""
    pipeline = write()
    on_a_terminal(monkeypatch)
    monkeypatch.setenv("NO_COLOR", "")

    assert colour_codes(run("plan", pipeline).out) != []


@pytest.mark.parametrize(("completed", "total", "bar"), [
    (0, 4, "----------"), (1, 4, "##--------"), (2, 4, "#####-----"), (4, 4, "##########"),
    (5, 4, "##########"), (0, 0, "----------"), (3, None, "----------"),
])
def test_the_plain_bar(completed: float, total: float | None, bar: str) -> None:
    assert plain_bar(completed, total, 10) == bar


def test_pull_draws_the_plain_bar_too(write: Write, run: Run,
                                      workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = write()
    on_a_terminal(monkeypatch)
    monkeypatch.setenv("SEEDFLOW_STORE", str(workdir / "store"))
    assert run("apply", pipeline).code == 0
    for image in (workdir / "assets").rglob("*.png"):
        image.unlink()

    result = run("pull", pipeline)

    assert result.code == 0, result.text
    assert colour_codes(result.err) == []
    assert f"{FULL_PLAIN_BAR} 4/4" in visible(result.err)
