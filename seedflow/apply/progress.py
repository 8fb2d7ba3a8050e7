"""What a running apply reports, and the two displays of it.

The executor reports through :class:`Hooks` (as Terraform's apply walk reports through its hook
interface): a few in-between events, and exactly one :meth:`Hooks.finished` per plan item,
whatever happened, with a :class:`Finished` outcome. A display that counts ``finished`` calls
therefore always reaches the total. :class:`PlainLog` writes one line per event for CI logs;
:class:`LiveProgress` draws a bar on a terminal: rich's, coloured, or where colour is off
(``--no-color``, NO_COLOR, a dumb terminal) :class:`PlainBar`, which shows in characters alone.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TextIO

import click
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress_bar import ProgressBar
from rich.text import Text

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
            TextColumn("[bold]apply"), bar_column(console), MofNCompleteColumn(),
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


def terminal_console(colour: bool) -> Console:
    """The console progress bars draw on (stderr); without ``colour``, it writes no colour
    codes (rich also honours NO_COLOR by itself)."""
    return Console(stderr=True) if colour else Console(stderr=True, no_color=True)


def bar_column(console: Console) -> ProgressColumn:
    """rich's bar where the console has colour; in characters alone where it has none."""
    return BarColumn() if has_colour(console) else PlainBar()


def has_colour(console: Console) -> bool:
    return not console.no_color and console.color_system is not None


class PlainBar(BarColumn):
    """A bar that shows without colour (NO_COLOR, --no-color, a dumb terminal), as
    ``[#####-----]``. rich's own bar tells done from to-do by colour alone: without colour its
    to-do part is not drawn, so an unstarted bar is invisible."""

    def render(self, task: Task) -> ProgressBar:
        return _PlainProgressBar(total=max(0.0, task.total) if task.total is not None else None,
                                 completed=max(0.0, task.completed),
                                 width=None if self.bar_width is None else max(1, self.bar_width))


class _PlainProgressBar(ProgressBar):
    """rich's bar (so it measures and shrinks the same way), drawn in characters."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = min(self.width or options.max_width, options.max_width)
        if width < 3:
            yield Text(plain_bar(self.completed, self.total, width))
            return
        yield Text(f"[{plain_bar(self.completed, self.total, width - 2)}]")


def plain_bar(completed: float, total: float | None, width: int) -> str:
    """``width`` characters: ``#`` for the done share of ``total``, ``-`` for the rest."""
    share = min(max(completed / total, 0.0), 1.0) if total else 0.0
    done = int(share * width)
    return "#" * done + "-" * (width - done)
