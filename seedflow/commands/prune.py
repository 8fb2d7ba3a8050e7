"""``seedflow prune PIPELINE [--files] [--yes]``: forget lock entries the pipeline no longer has.

An *orphan* is a locked combination that is no longer in the spec (plan shows it as ``orphan``).
Prune lists them, asks on a terminal (``--yes`` skips the question; without a terminal it is
required), then drops them through :class:`LockWriter` (journal, then compaction), holding the
lockfile's apply lock, so it never races an ``apply``.

``--files`` also deletes the orphans' images, but never a file that something else may own:
one that another lock entry or a current combination's output also uses (a new image may have
been written to the same path), one that no longer holds the bytes this entry recorded, or one
outside the pipeline's ``output_dir``. Files are deleted before the entries are dropped, so a
crash in between leaves an orphan that a second prune finishes, never an untracked file.

Unfinished orphans (``uncertain`` or ``submitted``) may be paid tasks still running at the
provider: they are listed with a warning and pruned only with ``--yes``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import click

from seedflow.commands.confirm import confirm
from seedflow.errors import SeedflowError
from seedflow.lock.model import LockedImage, LockEntry, sort_key
from seedflow.lock.read import read_lock
from seedflow.lock.writer import LockWriter
from seedflow.outputs import OutputRoot, file_sha256
from seedflow.pipeline.model import Pipeline
from seedflow.plan.combos import Combination
from seedflow.plan.diff import Action, make_plan
from seedflow.project import check_lock_paths, open_spec

STALE = ""   # the key of stale copies among the per-fingerprint file actions


@dataclass(frozen=True)
class FileAction:
    """What prune does with one orphan image file."""

    file: Path          # as recorded: the pipeline's folder / the lock's path
    shown: str          # relative to the current directory
    verb: str           # "delete", "keep" or "gone" (nothing to delete)
    reason: str = ""    # why it is kept

    @property
    def delete(self) -> bool:
        return self.verb == "delete"


def prune(path: Path, *, lock_path: Path | None = None, files: bool = False,
          yes: bool = False) -> int:
    spec = open_spec(path, lock_path=lock_path)
    pipeline, combinations, lock_file = spec.pipeline, spec.combinations, spec.lock_path
    entries = read_lock(lock_file).entries
    if files:   # deleting: only files at paths seedflow could have written
        check_lock_paths(spec.root, entries, lock_file, combinations)
    if not orphans_of(entries, combinations) and not (
            files and stale_copies(spec.root, entries, combinations)):  # read-only: no work
        click.echo("No orphans." + (" No stale copies." if files else ""))
        return 0
    with LockWriter(lock_file) as writer:
        orphans = orphans_of(writer.lock.entries, combinations)
        chosen = orphans if yes else [e for e in orphans if not e.state.unfinished]
        dropped = {e.fingerprint for e in chosen}
        remaining = {fp: e for fp, e in writer.lock.entries.items() if fp not in dropped}
        actions = file_actions(pipeline, chosen, remaining, combinations) if files else {}
        if files:
            actions[STALE] = stale_copies(spec.root, remaining, combinations)
        _show(pipeline, lock_file, orphans, actions, files=files)
        _warn_unfinished([e for e in orphans if e.state.unfinished], yes=yes)
        _ask(lock_file, chosen, actions, yes=yes)
        failed = _delete(actions)
        _remove_empty_folders([f for f in _deleting(actions) if f not in failed], spec.root)
        done = [e for e in chosen
                if not any(a.file in failed for a in actions.get(e.fingerprint, ()))]
        writer.drop(e.fingerprint for e in done)
        writer.compact()
    _summarise(lock_file, done, actions, kept=len(orphans) - len(chosen), failed=failed)
    return 1 if failed else 0


def orphans_of(entries: Mapping[str, LockEntry],
               combinations: Iterable[Combination]) -> list[LockEntry]:
    """Locked entries no combination of the spec has (the plan's ``orphan`` items)."""
    plan = make_plan(combinations, entries, lambda path, image: True)
    return sorted((item.entry for item in plan.of(Action.ORPHAN) if item.entry), key=sort_key)


def file_actions(pipeline: Pipeline, chosen: list[LockEntry],
                 remaining: Mapping[str, LockEntry],
                 combinations: Iterable[Combination]) -> dict[str, list[FileAction]]:
    """Per orphan fingerprint, what to do with each of its images (see the module docstring)."""
    folder = pipeline.folder
    used = _users(folder, remaining, combinations)
    root = OutputRoot(folder, pipeline.output_dir)
    decided: dict[str, FileAction] = {}
    actions: dict[str, list[FileAction]] = {}
    for entry in chosen:
        for image in entry.images:
            real = os.path.realpath(folder / image.path)
            if real not in decided:
                decided[real] = _decide(image.path, real, image, root, used)
            actions.setdefault(entry.fingerprint, []).append(decided[real])
    return actions


def _users(folder: Path, remaining: Mapping[str, LockEntry],
           combinations: Iterable[Combination]) -> dict[str, str]:
    """Real path → who else uses it: a lock entry staying in the lock, or a current output."""
    used: dict[str, str] = {}
    for combo in combinations:
        for output in combo.outputs:
            used.setdefault(os.path.realpath(folder / output), f"an output of {combo.address}")
    for entry in remaining.values():
        for image in entry.images:
            used.setdefault(os.path.realpath(folder / image.path),
                            f"the lock entry {entry.address}")
    return used


def _decide(stored: str, real: str, image: LockedImage, root: OutputRoot,
            used: Mapping[str, str]) -> FileAction:
    file, shown = root.file(stored), root.shown(stored)
    if not root.holds(stored):
        return FileAction(file, shown, "keep", "outside output_dir: seedflow never deletes there")
    if real in used:
        return FileAction(file, shown, "keep", f"still used by {used[real]}")
    try:
        intact = file_sha256(file) == image.sha256
    except FileNotFoundError:
        return FileAction(file, shown, "gone", "already deleted")
    except OSError as exc:
        return FileAction(file, shown, "keep", f"unreadable: {exc.strerror}")
    if not intact:
        return FileAction(file, shown, "keep", "changed since it was generated, so not this "
                          "entry's image any more")
    return FileAction(file, shown, "delete")


def stale_copies(root: OutputRoot, entries: Mapping[str, LockEntry],
                 combinations: Iterable[Combination]) -> list[FileAction]:
    """Files in output_dir that nothing uses but that hold the bytes of an image the lock keeps,
    intact, at another path: the copies a relink leaves behind. Deleting one loses nothing."""
    intact = root.hash_check()
    kept: dict[str, tuple[str, str]] = {}      # sha256 → (address, where the lock keeps it)
    for entry in entries.values():
        for image in entry.images:
            if image.sha256 not in kept and intact(image.path, image):
                kept[image.sha256] = (entry.address, image.path)
    sizes = {image.size for e in entries.values() for image in e.images}
    used = set(_users(root.folder, entries, combinations))
    found = []
    for file in _files_in(root.output_dir):
        if os.path.realpath(file) in used or _size(file) not in sizes:
            continue
        owner = kept.get(file_sha256(file))
        if owner is not None:
            found.append(FileAction(file, root.shown_abs(file), "delete", f"a copy of "
                                    f"{owner[0]}, which the lock keeps at {root.shown(owner[1])}"))
    return found


def _files_in(folder: Path) -> Iterator[Path]:
    """Regular files below ``folder``; symbolic links are neither followed nor listed."""
    for dirpath, folders, names in os.walk(folder):
        folders.sort()
        for name in sorted(names):
            file = Path(dirpath) / name
            if not file.is_symlink():
                yield file


def _size(file: Path) -> int | None:
    try:
        return file.stat().st_size
    except OSError:
        return None


def _remove_empty_folders(deleted: list[Path], root: OutputRoot) -> None:
    """The folders the deleted files leave empty go too, up to (not including) output_dir."""
    for file in deleted:
        folder = file.parent
        while root.contains_abs(folder) and folder.resolve() != root.real:
            try:
                folder.rmdir()   # only succeeds on an empty folder
            except OSError:
                break
            folder = folder.parent


def _show(pipeline: Pipeline, lock_file: Path, orphans: list[LockEntry],
          actions: Mapping[str, list[FileAction]], *, files: bool) -> None:
    if actions.get(STALE):
        click.echo("Copies that relinks left behind (nothing uses them):")
        for action in actions[STALE]:
            click.echo(f"      {action.verb:<7} {action.shown}  ({action.reason})")
    if not orphans:
        return
    click.echo(f"Orphaned entries in {lock_file} (no longer in {pipeline.path}):")
    for entry in orphans:
        task = f", task {entry.task_id}" if entry.task_id else ""
        flight = "  (unfinished: may be a paid task in flight)" if entry.state.unfinished else ""
        count = "" if files or not entry.images else f", {_files(len(entry.images))} left on disk"
        click.echo(f"  - {entry.address}  [{entry.state}{task}{count}]{flight}")
        for action in actions.get(entry.fingerprint, ()):
            reason = f"  ({action.reason})" if action.reason else ""
            click.echo(f"      {action.verb:<7} {action.shown}{reason}")


def _warn_unfinished(unfinished: list[LockEntry], *, yes: bool) -> None:
    if not unfinished:
        return
    n = len(unfinished)
    what = (f"{n} unfinished orphan{'s' * (n != 1)} (uncertain or submitted) may be paid tasks "
            "still in flight at the provider; pruning forgets them, and their images are never "
            "downloaded.")
    then = " Pruning them anyway (--yes)." if yes else " They are kept: they are pruned only " \
        "with --yes."
    click.echo(f"warning: {what}{then}", err=True)


def _ask(lock_file: Path, chosen: list[LockEntry],
             actions: Mapping[str, list[FileAction]], *, yes: bool) -> None:
    if yes:
        return
    if not chosen and not actions.get(STALE):
        raise SeedflowError("nothing pruned: every orphan is unfinished and may be a paid task "
                            "in flight; pass --yes to prune them anyway")
    deleting = _deleting(actions)
    files = f" and delete {_files(len(deleting))}" if deleting else ""
    what = f"remove {len(chosen)} entr{'ies' if len(chosen) != 1 else 'y'} from {lock_file}{files}"
    if not chosen:
        what = f"delete {_files(len(deleting))}"
    confirm(f"{what[0].upper()}{what[1:]}?", action=f"prune would {what}",
            without_terminal="pass --yes to go ahead (--yes also prunes unfinished orphans)",
            cancelled="cancelled; nothing was changed")


def _deleting(actions: Mapping[str, list[FileAction]]) -> list[Path]:
    return list(dict.fromkeys(a.file for group in actions.values() for a in group if a.delete))


def _delete(actions: Mapping[str, list[FileAction]]) -> dict[Path, str]:
    """Delete the files marked for deletion; return those that could not be, with why."""
    failed: dict[Path, str] = {}
    for file in _deleting(actions):
        try:
            file.unlink(missing_ok=True)
        except OSError as exc:
            failed[file] = exc.strerror or str(exc)
    return failed


def _summarise(lock_file: Path, done: list[LockEntry], actions: Mapping[str, list[FileAction]],
               *, kept: int, failed: Mapping[Path, str]) -> None:
    deleted = [f for f in _deleting(actions) if f not in failed]
    files = f" and deleted {_files(len(deleted))}" if actions else ""
    click.echo(f"Pruned {len(done)} orphaned entr{'ies' if len(done) != 1 else 'y'} from "
               f"{lock_file}{files}.")
    if kept:
        click.echo(f"Kept {kept} unfinished orphan{'s' * (kept != 1)} (--yes prunes "
                   f"{'them' if kept != 1 else 'it'}).")
    for file, reason in failed.items():
        click.echo(f"error: cannot delete {os.path.relpath(file)}: {reason}; its entry stays in "
                   "the lock, so running prune again retries it", err=True)


def _files(count: int) -> str:
    return "1 file" if count == 1 else f"{count} files"
