"""``seedflow lock merge OUT INPUT...`` and ``seedflow lock merge-driver %O %A %B [%P]``.

``merge`` folds lockfiles and shard fragments (``apply --shard K/N`` writes
``<lock>.shard-K-of-N.lock``) into OUT, under OUT's apply lock, and never loses an entry: OUT's
own entries are kept unless an input has a newer version. ``merge-driver`` is git's merge
driver for ``*.lock`` (see docs/ci.md): a three-way merge written back to ``%A``. The rules are
in :mod:`seedflow.lock.merge`.

``python -m seedflow.commands.lock merge-driver %O %A %B`` runs the driver without the CLI.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from seedflow.atomic import write_atomic
from seedflow.errors import LockError, SeedflowError
from seedflow.lock.format import CONFLICT_MARKERS, lock_text, parse_lock
from seedflow.lock.merge import same, three_way, union
from seedflow.lock.model import LockEntry
from seedflow.lock.read import Lock, read_lock
from seedflow.lock.writer import LockWriter
from seedflow.plan.shard import fragment_share


def merge(out: Path, inputs: Sequence[Path], *, remove_fragments: bool = False) -> int:
    """Fold ``inputs`` into ``out`` (created when missing); exit 0, or a LockError."""
    sources = _distinct([p for p in inputs if not _same_file(p, out)])
    locks = [_read_input(path).entries for path in sources]  # all load, or nothing is written
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with LockWriter(out) as writer:
        before = dict(writer.lock.entries)
        merged = union(locks, into=before)
        changed = [e for fp, e in merged.entries.items() if not same(before.get(fp), e)]
        writer.append(changed)
        writer.compact()
    _warn(merged.warnings)
    added = sum(1 for e in changed if e.fingerprint not in before)
    click.echo(f"Merged {len(sources)} lockfile{'s' * (len(sources) != 1)} into {out}: "
               f"{len(merged.entries)} entries ({added} added, {len(changed) - added} updated).")
    _fragments_done(out, [p for p in sources if fragment_share(out, p)], remove=remove_fragments)
    return 0


def _fragments_done(out: Path, fragments: list[Path], *, remove: bool) -> None:
    """Say which shard fragments are folded in; delete them when asked (only now, after OUT
    holds their records durably)."""
    if not fragments:
        return
    names = ", ".join(str(p) for p in fragments)
    if not remove:
        click.echo(f"Folded shard fragments: {names}. They are in {out} now; delete them (or "
                   "pass --remove-fragments), or plan and apply will ask you to merge again.")
        return
    for fragment in fragments:
        fragment.unlink(missing_ok=True)
    click.echo(f"Folded and removed shard fragments: {names}.")


def _check_out(out: Path) -> None:
    """OUT is merged into, so it must load: a conflicted OUT gets its own advice (a text scan,
    cheap; any other problem is reported when the lock is taken)."""
    try:
        lines = out.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return
    for number, line in enumerate(lines, start=1):
        if line.startswith(CONFLICT_MARKERS):
            raise LockError(f"{out}:{number}: has git conflict markers, and OUT is merged into "
                            "(its entries are kept), so it must load. Write the merge to a new "
                            "file, or resolve it with the merge driver as docs/ci.md shows "
                            "(\"A lockfile that already has conflict markers\")")


def merge_driver(ancestor: Path, ours: Path, theirs: Path, name: str | None = None) -> int:
    """git's merge driver contract: merge ``%O``, ``%A``, ``%B``; write the result to ``%A``.

    Exit 0 when merged; a LockError (exit 1: git keeps the conflict) when a side is not a
    lockfile this seedflow can read.
    """
    base = _parse(ancestor, f"{name or ancestor} (merge base)", empty_ok=True)
    merged = three_way(base, _parse(ours, f"{name or ours} (ours)"),
                       _parse(theirs, f"{name or theirs} (theirs)"))
    write_atomic(ours, lock_text(merged.entries.values()))
    _warn(merged.warnings, prefix=f"{name or ours}: ")
    return 0


def _parse(path: Path, name: str, *, empty_ok: bool = False) -> dict[str, LockEntry]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise LockError(f"{name} is not UTF-8 text, so not a seedflow lockfile") from None
    except OSError as exc:
        raise LockError(f"cannot read {name}: {exc.strerror}") from None
    if empty_ok and not text.strip():
        return {}  # git passes an empty merge base when both sides added the file
    return parse_lock(text, name)


def check(paths: Sequence[Path]) -> int:
    """Every lockfile loads (no conflict markers, valid entries, a format this seedflow reads):
    print each problem, exit 1 if any (for pre-commit and CI)."""
    bad = 0
    for path in paths:
        try:
            entries = _read_input(path).entries
        except SeedflowError as exc:
            bad += 1
            click.echo(exc.message, err=True)
            continue
        click.echo(f"{path}: valid ({len(entries)} entries)")
    if bad:
        click.echo(f"{bad} of {len(paths)} lockfiles cannot be read.", err=True)
    return 1 if bad else 0


def _read_input(path: Path) -> Lock:
    if not path.is_file():
        raise SeedflowError(f"{path}: no such lockfile (check the path; a shard's fragment is "
                            "named like catalog.shard-1-of-4.lock)")
    return read_lock(path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _distinct(paths: list[Path]) -> list[Path]:
    result: list[Path] = []
    for path in paths:
        if not any(_same_file(path, seen) for seen in result):
            result.append(path)
    return result


def _warn(warnings: Sequence[str], prefix: str = "") -> None:
    for warning in warnings:
        click.echo(f"warning: {prefix}{warning}", err=True)


USAGE = ("usage: python -m seedflow.commands.lock merge-driver %O %A %B [%P]\n"
         "       python -m seedflow.commands.lock merge OUT INPUT...")


def _main(argv: Sequence[str]) -> int:
    """The commands without the CLI (so a git config can name this module directly)."""
    command, args = (argv[0], list(argv[1:])) if argv else ("", [])
    try:
        if command == "merge-driver" and len(args) in (3, 4):
            return merge_driver(Path(args[0]), Path(args[1]), Path(args[2]),
                                args[3] if len(args) == 4 else None)
        if command == "merge" and len(args) >= 2:
            return merge(Path(args[0]), [Path(a) for a in args[1:]])
    except SeedflowError as exc:
        click.echo(f"error: {exc.message}", err=True)
        return 1
    click.echo(USAGE, err=True)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
