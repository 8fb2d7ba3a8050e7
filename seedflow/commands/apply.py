"""``seedflow apply PIPELINE``: generate what the lock lacks, and nothing else."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from seedflow.apply.executor import Executor, Settings, Tally
from seedflow.apply.files import OutputFiles
from seedflow.apply.keeping import Keeper
from seedflow.apply.progress import LiveProgress, PlainLog, terminal_console
from seedflow.apply.recorder import Recorder
from seedflow.apply.runtime import check_keys, open_clients, settings_from_env
from seedflow.apply.wakeups import Wakeups
from seedflow.commands.colour import colour_allowed
from seedflow.commands.confirm import confirm
from seedflow.errors import Interrupted, SeedflowError
from seedflow.lock.model import LockEntry, State
from seedflow.lock.read import read_lock
from seedflow.lock.writer import LockWriter
from seedflow.outputs import OutputRoot
from seedflow.outputs.statcache import StatCache, cache_path
from seedflow.plan.cost import check_budget, estimate
from seedflow.plan.diff import (
    Action,
    Plan,
    PlanItem,
    make_plan,
    matching,
    refuse_targets,
    select,
)
from seedflow.plan.render import cost_line, drift_line, pull_note, summary_line
from seedflow.plan.saved import MAX_BYTES as MAX_PLAN_BYTES
from seedflow.plan.saved import SavedPlan, check_current, parse_saved, work_of
from seedflow.plan.shard import fragment_path, in_shard, parse_shard, shard_sizes
from seedflow.project import (
    check_lock_paths,
    input_digests,
    open_spec,
    open_store,
    plan_checks,
)
from seedflow.store import ObjectStore

LISTED = 20
EXIT_INTERRUPTED = 130   # 128 + SIGINT
EXIT_TERMINATED = 143    # 128 + SIGTERM


def apply(path: Path, *, lock_path: Path | None = None, yes: bool = False,
          locked: bool = False, concurrency: int | None = None,
          targets: tuple[str, ...] = (), retry_uncertain: bool = False,
          recreate_expired: bool = False, max_combinations: int | None = None,
          max_images: int | None = None, max_cost: float | None = None,
          shard: str | None = None, store_url: str | None = None, force: bool = False,
          saved: tuple[SavedPlan, str] | None = None) -> int:
    """Carry out the plan; with ``saved`` (a saved plan and its file name), only if it is
    still exactly that plan."""
    share = parse_shard(shard) if shard else None
    spec = open_spec(path, lock_path=lock_path, max_combinations=max_combinations, new_lock=True,
                     shard=share)
    pipeline, combinations, main_lock = spec.pipeline, spec.combinations, spec.lock_path
    store = open_store(pipeline, store_url)
    settings = settings_from_env(concurrency=concurrency, retry_uncertain=retry_uncertain,
                                 recreate_expired=recreate_expired, shard=share,
                                 shard_sizes=share and shard_sizes(
                                     (c.fingerprint for c in combinations), share[1]))
    base: dict[str, LockEntry] = {}
    if share:
        combinations = [c for c in combinations if in_shard(c.fingerprint, share)]
    wanted = {c.fingerprint for c in combinations}  # other entries are kept unparsed
    unread: set[str] = set()
    if share:
        main = read_lock(main_lock, only=wanted)
        base, unread = main.entries, set(main.unparsed)
    with LockWriter(fragment_path(main_lock, share) if share else main_lock,
                    only=wanted) as writer:
        entries = {**base, **writer.lock.entries}
        check_lock_paths(spec.root, entries, main_lock, combinations)
        in_spec = {c.fingerprint for c in spec.combinations}
        orphans = len((unread | set(writer.lock.unparsed)) - in_spec)
        cache = StatCache(cache_path(main_lock))
        plan = make_plan(combinations, entries, plan_checks(
            spec.root, spec.root.cached_check(cache), entries, store))
        cache.save()
        items = select(plan, targets, force=force)
        if targets and not matching(plan, targets):
            refuse_targets(plan, targets)
        if saved is not None:   # what was reviewed is what runs
            check_current(saved[0], saved[1], input_digests(path, main_lock), work_of(items))
        if not items:
            _fold_journal(writer)   # one a crashed apply may have left
            click.echo(f"Nothing to do. Plan: {summary_line(plan, unread_orphans=orphans)}")
            _notes(plan, path)
            return 0
        _refuse_paid_if_locked(items, locked)
        _refuse_unwritable(items, spec.root)
        if not force:
            _refuse_overwriting([p for item in items for p in item.conflicts], spec.root)
        cost = estimate(_creates(items, settings), pipeline.prices)
        images = pipeline.budget.max_images if max_images is None else max_images
        check_budget(cost, max_images=images,
                     max_cost=_first(max_cost, pipeline.budget.max_cost))
        check_keys(_providers(items))
        if store is not None:  # a store that does not work is found before anything is paid
            asyncio.run(store.check_writable())
        _confirm(items, plan_lines=(f"Plan: {summary_line(plan, unread_orphans=orphans)}",
                                    cost_line(cost)), yes=yes, settings=settings)
        started = time.monotonic()
        try:
            outcome, signalled = asyncio.run(_execute(OutputFiles(spec.root, cache), writer,
                                                      items, settings, store))
        except (KeyboardInterrupt, asyncio.CancelledError):   # a second ^C: stop at once
            raise _interrupted(path, items, writer, signal.SIGINT) from None
        finally:
            _fold_journal(writer)   # a run that failed to start leaves no new lockfile
            cache.save()
    _summarise(outcome, time.monotonic() - started, path, store)
    if signalled is not None:
        raise _interrupted(path, items, writer, signalled)
    return 0 if outcome.ok else 1


def _interrupted(path: Path, items: list[PlanItem], writer: LockWriter,
                 signalled: int) -> Interrupted:
    """What was recorded, and what the next apply does about it."""
    entries = [writer.lock.entries.get(i.combination.fingerprint) for i in items
               if i.combination]
    running = sum(1 for e in entries if e is not None and e.state is State.SUBMITTED)
    unsure = sum(1 for e in entries if e is not None and e.state is State.UNCERTAIN)
    what = (f"{running} tasks are submitted and recorded in {writer.lock.path}; run `seedflow "
            f"apply {path}` again to collect them at no cost" if running else
            f"everything finished so far is recorded in {writer.lock.path}")
    if unsure:
        what += (f". {unsure} creates were being sent and may have reached the provider: they "
                 "are recorded as uncertain (re-sent only with --retry-uncertain)")
    code = EXIT_TERMINATED if signalled == signal.SIGTERM else EXIT_INTERRUPTED
    return Interrupted(what + ".", exit_code=code)


def _first(flag: float | None, configured: float | None) -> float | None:
    return flag if flag is not None else configured


def _providers(items: list[PlanItem]) -> set[str]:
    return {i.combination.provider for i in items
            if i.combination and i.action in (Action.CREATE, Action.RESUME)}


def _fold_journal(writer: LockWriter) -> None:
    """Fold the journal into the lockfile, when there is one to fold."""
    if writer.lock.journal_events:
        writer.compact()


def _creates(items: list[PlanItem], settings: Settings) -> list[PlanItem]:
    """The creates this apply will send (uncertain ones only with --retry-uncertain)."""
    return [i for i in items if i.action == Action.CREATE and i.combination
            and (not i.uncertain or settings.retry_uncertain)]


def _paid(items: list[PlanItem], settings: Settings) -> list[PlanItem]:
    return [i for i in _creates(items, settings) if not i.simulated]


def from_saved_plan(plan_file: Path, pipeline: Path | None, *, lock_path: Path | None,
                    store_url: str | None, concurrency: int | None, force: bool) -> int:
    """``apply --plan FILE``: the saved plan's pipeline, lock, targets and store, and no
    question (the plan was reviewed); refused unless it is still exactly that plan."""
    saved = parse_saved(read_bounded(plan_file, MAX_PLAN_BYTES), str(plan_file))
    for given, recorded, what in ((pipeline, saved.pipeline, "pipeline"),
                                  (lock_path, saved.lock, "lock")):
        if given is not None and Path(given) != Path(recorded):
            raise SeedflowError(f"{plan_file} was made for the {what} {recorded}, not {given}")
    return apply(Path(saved.pipeline), lock_path=Path(saved.lock), yes=True,
                 targets=saved.targets, store_url=store_url or saved.store,
                 concurrency=concurrency, force=force, saved=(saved, str(plan_file)))


def read_bounded(path: Path, limit: int) -> str:
    try:
        if path.stat().st_size > limit:
            raise SeedflowError(f"{path} is larger than {limit:,} bytes; not a seedflow plan")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedflowError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") \
            from None


def _refuse_unwritable(items: list[PlanItem], root: OutputRoot) -> None:
    """Every path this apply will write must be writable before anything is sent: an image
    that cannot be saved would be paid for and then lost."""
    problems: dict[str, str] = {}
    for item in items:
        for stored in _writes(item):
            problem = root.write_problem(stored)
            if problem:
                problems.setdefault(stored, problem)
    if problems:
        rows = "\n  ".join(f"{root.shown(p)}: {why}" for p, why in list(problems.items())[:LISTED])
        more = f"\n  ... and {len(problems) - LISTED} more" if len(problems) > LISTED else ""
        raise SeedflowError(f"{len(problems)} output paths cannot be written, so nothing was "
                            f"sent:\n  {rows}{more}\nFix them (or output_dir) and run apply "
                            "again")


def _notes(plan: Plan, path: Path) -> None:
    """What a plan with nothing to do still has to say: drift, images only in the store."""
    drift = drift_line(plan)
    if drift:
        click.echo(drift)
    if plan.stored_only:
        click.echo(f"Note: {pull_note(path, plan.stored_only)}.")


def _refuse_overwriting(taken: list[str], root: OutputRoot) -> None:
    """seedflow writes over a file only when the lock records that file with the same content
    (or the user says --force): a hand-made file at a new output path is somebody's work."""
    if not taken:
        return
    rows = "\n  ".join(root.shown(p) for p in taken[:LISTED])
    more = f"\n  ... and {len(taken) - LISTED} more" if len(taken) > LISTED else ""
    raise SeedflowError(f"{len(taken)} output paths already hold files that the lock does not "
                        f"record, and apply would overwrite them:\n  {rows}{more}\nMove them "
                        "away, change the output template, or pass --force to overwrite; "
                        "nothing was sent")


def _writes(item: PlanItem) -> tuple[str, ...]:
    if item.moves:
        return tuple(m.target for m in item.moves if not m.stored)
    return item.combination.outputs if item.combination else ()


def _refuse_paid_if_locked(items: list[PlanItem], locked: bool) -> None:
    creates = [i for i in items if i.action == Action.CREATE]
    if locked and creates:
        shown = "\n  ".join(i.address for i in creates[:LISTED])
        more = f"\n  ... and {len(creates) - LISTED:,} more" if len(creates) > LISTED else ""
        how = "simulated" if all(i.simulated for i in creates) else "paid"
        raise SeedflowError(f"--locked: {len(creates):,} combinations are not in the lockfile "
                            f"and would need {how} generation:\n  {shown}{more}\nRun "
                            "`seedflow apply` without --locked (and commit the lockfile) to "
                            "generate them")


def _confirm(items: list[PlanItem], *, plan_lines: tuple[str, str], yes: bool,
             settings: Settings) -> None:
    """On a terminal, show what will be created (as `terraform apply` does) and ask before
    paid work; off a terminal, paid work needs --yes."""
    paid = _paid(items, settings)
    simulated = [i for i in _creates(items, settings) if i.simulated]
    if sys.stdin.isatty() and sys.stdout.isatty() and (paid or simulated):   # first, what
        _list_creates(paid, "apply will create (paid):")                   # it is about
        _list_creates(simulated, "apply will create (simulated, free):")
        click.echo("\n".join(plan_lines))
    if not paid or yes:
        return
    confirm("Start the paid tasks listed above?",
            action=f"this apply would start {len(paid):,} paid generation tasks",
            without_terminal="pass --yes to go ahead (CI), or --locked to refuse paid work",
            cancelled="cancelled; nothing was generated")


def _list_creates(creates: list[PlanItem], title: str) -> None:
    if not creates:
        return
    click.echo(title)
    for item in creates[:LISTED]:
        click.echo(f"  + {item.address}")
    if len(creates) > LISTED:
        click.echo(f"  ... and {len(creates) - LISTED:,} more (`seedflow plan` lists them all)")


async def _execute(files: OutputFiles, writer: LockWriter, items: list[PlanItem],
                   settings: Settings, store: ObjectStore | None) -> tuple[Tally, int | None]:
    """Run the executor; the first ^C or SIGTERM stops it in good order (see Executor.stop),
    a second ^C stops at once. Returns what it did and the signal that stopped it, if any."""
    terminal = sys.stderr.isatty()
    display = LiveProgress(len(items), terminal_console(colour_allowed())) if terminal \
        else PlainLog(sys.stderr)
    restoring = {i.combination.provider for i in items   # may download a recorded URL
                 if i.combination and i.action not in (Action.CREATE, Action.RESUME)}
    async with open_clients(_providers(items), restoring=restoring) as connections:
        executor = Executor(files=files, recorder=Recorder(writer),
                            clients=connections.clients, downloads=connections.downloads,
                            settings=settings,
                            hooks=display, rebase=connections.rebase,
                            wakeups=Wakeups(connections.callbacks),
                            keeper=Keeper(store) if store is not None else None)
        signalled: list[int] = []
        with display, _stop_on_signals(executor, signalled):
            return await executor.run(items), (signalled[0] if signalled else None)


@contextmanager
def _stop_on_signals(executor: Executor, signalled: list[int]) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def stop(sig: int) -> None:
        if signalled and main is not None:   # asked twice: stop now
            main.cancel()
            return
        signalled.append(sig)
        executor.stop()

    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop, sig)
            handled.append(sig)
        except (ValueError, RuntimeError, NotImplementedError):   # not the main thread
            pass
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def _stopped(outcome: Tally) -> str:
    return f", {len(outcome.stopped)} stopped" if outcome.stopped else ""


def _summarise(outcome: Tally, seconds: float, path: Path,
               store: ObjectStore | None) -> None:
    click.echo(f"Applied in {seconds:.1f}s: {len(outcome.done)} done, {len(outcome.failed)} "
               f"failed, {len(outcome.uncertain)} uncertain, {len(outcome.not_started)} not "
               f"started{_stopped(outcome)}; {outcome.creates} tasks created, {outcome.polls} "
               "polls.")
    for title, rows in (("Failed", outcome.failed), ("Uncertain (may have been charged; "
                        "re-run with --retry-uncertain to pay for them again)", outcome.uncertain),
                        ("Not started", outcome.not_started)):
        if rows:
            click.echo(f"{title}:")
            for address, reason in rows:
                click.echo(f"  {address}: {reason}")
    if outcome.stopped:   # possibly the whole plan: the first few say enough
        click.echo("Stopped (the next apply goes on with them):")
        for address, reason in outcome.stopped[:LISTED]:
            click.echo(f"  {address}: {reason}")
        if len(outcome.stopped) > LISTED:
            click.echo(f"  ... and {len(outcome.stopped) - LISTED} more")
    if store is not None:
        click.echo(f"Store {store.url}: {outcome.uploads} images uploaded.")
    if outcome.unstored:
        click.echo(f"Not uploaded to the store ({len(outcome.unstored)}; the images are on disk "
                   f"and in the lock, nothing is lost; `seedflow push {path}` uploads them):")
        for address, reason in outcome.unstored[:LISTED]:
            click.echo(f"  {address}: {reason}")
        if len(outcome.unstored) > LISTED:
            click.echo(f"  ... and {len(outcome.unstored) - LISTED} more")
