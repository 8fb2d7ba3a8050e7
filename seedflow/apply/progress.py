"""What a running apply shows: a live display on a terminal, one line per event otherwise."""

from __future__ import annotations

import time
from collections import Counter
from typing import TextIO

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

FINAL = ("done", "failed", "uncertain", "not-started")


class PlainLog:
    """CI logs: one timestamped line per event, nothing redrawn."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.counts: Counter[str] = Counter()

    def __call__(self, event: str, address: str, detail: str) -> None:
        self.counts[event] += 1
        stamp = time.strftime("%H:%M:%S")
        suffix = f"  {detail}" if detail else ""
        click.echo(f"{stamp} {event:<11} {address}{suffix}", file=self.stream)

    def __enter__(self) -> PlainLog:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class LiveProgress:
    """A terminal display: a bar over the work, counts by state, rate and ETA."""

    def __init__(self, total: int, console: Console) -> None:
        self.counts: Counter[str] = Counter()
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]apply"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[states]}"), TimeRemainingColumn(), console=console,
            transient=False)
        self.task = self.progress.add_task("apply", total=total, states="")

    def __call__(self, event: str, address: str, detail: str) -> None:
        self.counts[event] += 1
        if event in ("failed", "uncertain"):
            self.console.print(f"[red]{event}[/red] {address}: {detail}")
        states = (f"submitted {self.counts['submitted']} · done {self.counts['done']} · "
                  f"failed {self.counts['failed'] + self.counts['uncertain']}")
        advance = 1 if event in FINAL else 0
        self.progress.update(self.task, advance=advance, states=states)

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
