"""Asking before an action that costs money or forgets records: one question, one refusal."""

from __future__ import annotations

import sys

import click

from seedflow.errors import SeedflowError


def confirm(question: str, *, action: str, without_terminal: str, cancelled: str) -> None:
    """Ask ``question`` on a terminal; refuse with a clear message when the answer is no, or
    when there is no terminal to ask on (CI): ``"{action}, and there is no terminal to confirm
    on; {without_terminal}"``."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise SeedflowError(f"{action}, and there is no terminal to confirm on; "
                            f"{without_terminal}")
    if not click.confirm(question, default=False):
        raise SeedflowError(cancelled)
