"""What a running apply reports, and the two displays of it.

The executor reports through :class:`Hooks` (as Terraform's apply walk reports through its hook
interface): a few in-between events, and exactly one :meth:`Hooks.finished` per plan item,
whatever happened, with a :class:`Finished` outcome. A display that counts ``finished`` calls
therefore always reaches the total. :class:`PlainLog` writes one line per event for CI logs;
:class:`LiveProgress` draws a bar on a terminal.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TextIO

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from seedflow.plan.diff import Action, PlanItem


class Outcome(StrEnum):
    """How one plan item ended."""

    DONE = "done"
    FAILED = "failed"
    UNCERTAIN = "uncertain"       # a create may have reached the provider; not re-sent
    NOT_STARTED = "not-started"   # never sent (the provider refused the key, for instance)
    STOPPED = "stopped"           # apply was stopped (^C, SIGTERM); the next apply goes on


@dataclass(frozen=True)
class Finished:
    """One item's end: its outcome and what happened (paths written, or why not), in words."""

    outcome: Outcome
    detail: str

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DONE


def done(detail: str) -> Finished:
    return Finished(Outcome.DONE, detail)


def failed(reason: str) -> Finished:
    return Finished(Outcome.FAILED, reason)


def uncertain(reason: str) -> Finished:
    return Finished(Outcome.UNCERTAIN, reason)


def not_started(reason: str) -> Finished:
    return Finished(Outcome.NOT_STARTED, reason)


def stopped(reason: str) -> Finished:
    return Finished(Outcome.STOPPED, reason)


class Hooks(Protocol):
    def started(self, item: PlanItem) -> None:
        """An item is being worked on (a resume says which task it polls)."""

    def submitted(self, address: str, task_id: str) -> None:
        """A create was accepted: the provider's task id, now durable in the journal."""

    def retrying(self, address: str, reason: str) -> None:
        """Something will be tried again (a rate limit, a failed generation, a paid retry)."""

    def finished(self, item: PlanItem, result: Finished) -> None:
        """The item ended; called exactly once per item."""


def label(item: PlanItem, result: Finished) -> str:
    """The word a log shows for an item's end: ``done``, ``relinked``, ``restored``, or the
    outcome of a failure."""
    if not result.ok:
        return result.outcome.value
    return {Action.RELINK: "relinked", Action.RESTORE: "restored",
            Action.MODIFIED: "restored"}.get(item.action, "done")


class PlainLog:
    """CI logs: one timestamped line per event, nothing redrawn."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.counts: Counter[str] = Counter()

    def started(self, item: PlanItem) -> None:
        if item.action == Action.RESUME and item.entry is not None:
            self._line("resume", item.address, item.entry.task_id or "")

    def submitted(self, address: str, task_id: str) -> None:
        self._line("submitted", address, task_id)

    def retrying(self, address: str, reason: str) -> None:
        self._line("retry", address, reason)

    def finished(self, item: PlanItem, result: Finished) -> None:
        self._line(label(item, result), item.address, result.detail)

    def _line(self, event: str, address: str, detail: str) -> None:
        self.counts[event] += 1
        stamp = time.strftime("%H:%M:%S")
        suffix = f"  {detail}" if detail else ""
        click.echo(f"{stamp} {event:<11} {address}{suffix}", file=self.stream)

    def __enter__(self) -> PlainLog:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class LiveProgress:
    """A terminal display: a bar over the items, counts by outcome, ETA."""

    def __init__(self, total: int, console: Console) -> None:
        self.counts: Counter[str] = Counter()
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]apply"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[states]}"), TimeRemainingColumn(), console=console,
            transient=False)
        self.task = self.progress.add_task("apply", total=total, states="")

    def started(self, item: PlanItem) -> None:
        return None

    def submitted(self, address: str, task_id: str) -> None:
        self.counts["submitted"] += 1
        self._redraw(0)

    def retrying(self, address: str, reason: str) -> None:
        return None

    def finished(self, item: PlanItem, result: Finished) -> None:
        self.counts[result.outcome.value] += 1
        if not result.ok:
            self.console.print(f"[red]{result.outcome.value}[/red] {escape(item.address)}: "
                               f"{escape(result.detail)}", highlight=False)
        self._redraw(1)

    def _redraw(self, advance: int) -> None:
        bad = self.counts["failed"] + self.counts["uncertain"] + self.counts["not-started"] \
            + self.counts["stopped"]
        states = (f"submitted {self.counts['submitted']} · done {self.counts['done']} · "
                  f"failed {bad}")
        self.progress.update(self.task, advance=advance, states=states)

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
