"""Running seedflow in-process from tests: the exit code and everything it printed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from seedflow.cli import main


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


Run = Callable[..., Result]


def in_process(capsys: pytest.CaptureFixture[str]) -> Run:
    """``run(*args)`` calls ``seedflow.cli.main(args)`` and captures what it printed."""

    def run(*args: str | Path) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def terminal(monkeypatch: pytest.MonkeyPatch, answer: bool) -> list[str]:
    """Pretend stdin and stdout are a terminal on which the user answers ``answer`` to every
    question; returns the questions asked."""
    asked: list[str] = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)

    def confirm(text: str, default: bool = False) -> bool:
        asked.append(text)
        return answer

    monkeypatch.setattr("click.confirm", confirm)
    return asked
