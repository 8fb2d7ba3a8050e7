"""``seedflow pull PIPELINE`` and ``seedflow push PIPELINE``: locked images between this disk
and the store. Neither ever contacts a provider or pays.

``pull`` materialises every locked image from the store into output_dir (concurrently,
sha256-verified, atomically; a file that differs from the locked image is left alone unless
``--force``). ``push`` uploads every locked image on this disk that the store lacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from rich.progress import MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from seedflow.apply.progress import bar_column, terminal_console
from seedflow.commands.colour import colour_allowed
from seedflow.errors import SeedflowError
from seedflow.lock.model import LockedImage, State, sort_key
from seedflow.outputs.statcache import StatCache, cache_path, stat_key
from seedflow.project import Project, load_project, open_store
from seedflow.store import ObjectStore, Result, Transfer, TransferReport
from seedflow.store import pull as pull_objects
from seedflow.store import push as push_objects

LISTED = 20
LOST = ("not on this disk (or changed since it was generated) and not in the store: "
        "`seedflow apply` restores it from the provider's URL while that lasts")


def pull(path: Path, *, lock_path: Path | None = None, store_url: str | None = None,
         force: bool = False) -> int:
    project = load_project(path, lock_path=lock_path)
    store = required_store(project, store_url)
    transfers: list[Transfer] = []
    refused: list[tuple[str, str]] = []
    stored_as: dict[Path, str] = {}
    for stored, image in locked_images(project):
        try:
            transfers.append(Transfer(image.sha256, project.root.writable(stored), image.size))
        except (SeedflowError, OSError) as exc:
            refused.append((project.root.shown(stored), _why(exc)))
            continue
        stored_as[transfers[-1].path] = stored

    async def run() -> TransferReport:
        await store.check_readable()
        with display(len(transfers), "pull") as progress:
            return await pull_objects(store, transfers, overwrite=force, callback=progress)

    report = asyncio.run(run())
    _remember(project, stored_as, transfers, report)
    click.echo(f"Pulled {report.transferred} images from {store.url} ({report.present} already "
               "here, verified).")
    problems = [*refused, *failures(report, project)]
    _list("Not pulled", problems, hint=None if force else
          "a file that differs from the locked image is kept; --force replaces it")
    return 0 if report.ok and not problems else 1


def _remember(project: Project, stored_as: dict[Path, str], transfers: list[Transfer],
              report: TransferReport) -> None:
    """Files pull wrote or verified go into the stat cache: the next plan need not hash them."""
    if report.aborted is not None or report.skipped:
        return   # which files were verified is not known: better to hash them next time
    failed = {r.transfer.path for r in report.failures}
    cache = StatCache(cache_path(project.lock.path))
    for transfer in transfers:
        if transfer.path not in failed:
            with contextlib.suppress(OSError):
                cache.remember(stored_as[transfer.path], stat_key(os.stat(transfer.path)),
                               transfer.sha256)
    cache.save()


def push(path: Path, *, lock_path: Path | None = None, store_url: str | None = None) -> int:
    project = load_project(path, lock_path=lock_path)
    store = required_store(project, store_url)
    check = project.root.hash_check()
    here, absent = [], []
    for stored, image in locked_images(project):
        if check(stored, image):
            here.append(Transfer(image.sha256, project.root.file(stored), image.size))
        else:
            absent.append((stored, image))

    async def run() -> tuple[TransferReport, set[str]]:
        await store.check_writable()
        with display(len(here), "push") as progress:
            report = await push_objects(store, here, callback=progress)
        held = await store.has_many(image.sha256 for _, image in absent) if absent else set()
        return report, held

    report, held = asyncio.run(run())
    click.echo(f"Pushed {report.transferred} images to {store.url} ({report.present} already "
               "there).")
    lost = [(project.root.shown(stored), LOST) for stored, image in absent
            if image.sha256 not in held]
    problems = [*failures(report, project), *lost]
    _list("Not pushed", problems, hint=None)
    return 0 if report.ok and not problems else 1


def _why(exc: Exception) -> str:
    if isinstance(exc, SeedflowError):
        return exc.message
    return f"cannot create its folder: {exc.strerror if isinstance(exc, OSError) else exc}"


def required_store(project: Project, flag: str | None) -> ObjectStore:
    store = open_store(project.pipeline, flag)
    if store is None:
        raise SeedflowError(f"{project.pipeline.path} names no store: add `store: URL` to it, "
                            "or pass --store URL (or set SEEDFLOW_STORE); see docs/store.md")
    return store


def locked_images(project: Project) -> Iterator[tuple[str, LockedImage]]:
    """Every image of every generated entry, in lock order, once per path."""
    seen: set[str] = set()
    for entry in sorted(project.lock.entries.values(), key=sort_key):
        if entry.state is not State.SUCCEEDED:
            continue
        for image in entry.images:
            if image.path not in seen:
                seen.add(image.path)
                yield image.path, image


def failures(report: TransferReport, project: Project) -> list[tuple[str, str]]:
    rows = [(shown_path(project, r.transfer.path), r.error.message if r.error else "failed")
            for r in report.failures]
    if report.aborted is not None:
        rows.append((f"{report.skipped} more", f"not tried: {report.aborted.message}"))
    return rows


def shown_path(project: Project, file: Path) -> str:
    try:
        return project.root.shown(file.relative_to(project.pipeline.folder).as_posix())
    except ValueError:
        return str(file)


def _list(title: str, rows: list[tuple[str, str]], *, hint: str | None) -> None:
    if not rows:
        return
    click.echo(f"{title} ({len(rows)}):")
    for where, why in rows[:LISTED]:
        click.echo(f"  {where}: {why}")
    if len(rows) > LISTED:
        click.echo(f"  ... and {len(rows) - LISTED} more")
    if hint:
        click.echo(hint)


class _Bar:
    """Transfer progress on a terminal: one bar, advanced once per object."""

    def __init__(self, total: int, verb: str) -> None:
        console = terminal_console(colour_allowed())
        self.progress = Progress(TextColumn(f"[bold]{verb}"), bar_column(console),
                                 MofNCompleteColumn(), TimeRemainingColumn(), console=console)
        self.task = self.progress.add_task(verb, total=total)

    def started(self, transfer: Transfer) -> None:
        return None

    def finished(self, result: Result) -> None:
        self.progress.update(self.task, advance=1)

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


class _Quiet:
    """Off a terminal: nothing per object (the summary lists what failed)."""

    def started(self, transfer: Transfer) -> None:
        return None

    def finished(self, result: Result) -> None:
        return None

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def display(total: int, verb: str) -> _Bar | _Quiet:
    return _Bar(total, verb) if sys.stderr.isatty() else _Quiet()
