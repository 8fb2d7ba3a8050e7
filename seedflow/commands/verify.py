"""``seedflow verify PIPELINE``: every locked output is on disk, byte for byte (read-only).

Checks each image of the lock's ``succeeded`` entries against its recorded size and sha256.
Exit 0 with one summary line, or 1 listing every missing or changed file and what to do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import click

from seedflow.commands.store import LISTED, locked_images, required_store
from seedflow.errors import SeedflowError
from seedflow.lock.model import LockedImage, LockEntry, State, sort_key
from seedflow.outputs import file_sha256
from seedflow.project import Project, load_project, open_store

PREFIX = 12  # hex digits of a sha256 shown in messages


@dataclass(frozen=True)
class Found:
    """What is at an output path: its sha256 and size, or why there is nothing to hash."""

    sha256: str | None
    size: int | None
    problem: str | None = None  # "missing", or why it cannot be read


@dataclass(frozen=True)
class Mismatch:
    path: str  # relative to the current directory
    entry: LockEntry
    image: LockedImage
    found: Found
    orphan: bool

    def lines(self) -> list[str]:
        expected = f"expected sha256 {self.image.sha256[:PREFIX]}…"
        if self.found.sha256 is None:
            return [f"  {self.found.problem:<8} {self.path}",
                    f"           {self.entry.address}: {expected}"]
        sizes = "" if self.found.size == self.image.size else \
            f" ({self.image.size} bytes recorded, {self.found.size} on disk)"
        return [f"  changed  {self.path}",
                f"           {self.entry.address}: {expected}, found "
                f"{self.found.sha256[:PREFIX]}…{sizes}"]


def verify(path: Path, *, lock_path: Path | None = None, store_url: str | None = None) -> int:
    """Check the disk, or with ``store_url`` (``""``: the configured store) the store."""
    project = load_project(path, lock_path=lock_path)
    if not project.lock.path.exists():
        raise SeedflowError(f"there is no lockfile at {project.lock.path}, so there is nothing "
                            f"to verify: run `seedflow apply {path}` first (or pass --lock)")
    if store_url is not None:
        return verify_store(project, path, store_url or None)
    in_spec = {combo.fingerprint for combo in project.combinations}
    found: dict[Path, Found] = {}
    checked = 0
    mismatches: list[Mismatch] = []
    for entry in sorted(project.lock.entries.values(), key=sort_key):
        if entry.state != State.SUCCEEDED:
            continue
        for image in entry.images:
            checked += 1
            file = project.pipeline.folder / image.path
            state = found.get(file) or found.setdefault(file, _inspect(file))
            if state.sha256 != image.sha256 or state.size != image.size:
                mismatches.append(Mismatch(project.root.shown(image.path), entry, image, state,
                                           entry.fingerprint not in in_spec))
    if not mismatches:
        click.echo(f"Verified {checked} files: every locked output is present and matches its "
                   f"sha256 ({project.lock.path}).")
        return 0
    _report(project, path, mismatches, checked)
    return 1


def verify_store(project: Project, path: Path, store_url: str | None) -> int:
    """Every locked image is in the store (existence of its content-addressed object)."""
    store = required_store(project, store_url)
    images = dict(locked_images(project))

    async def held() -> set[str]:
        await store.check_readable()
        return await store.has_many(image.sha256 for image in images.values())

    found = asyncio.run(held()) if images else set()
    missing = sorted(stored for stored, image in images.items() if image.sha256 not in found)
    if not missing:
        click.echo(f"Verified {len(images)} images: the store {store.url} holds every locked "
                   f"image ({project.lock.path}).")
        return 0
    click.echo(f"{len(missing)} of {len(images)} locked images are not in the store {store.url}:")
    for stored in missing[:LISTED]:
        click.echo(f"  missing  {project.root.shown(stored)}")
    if len(missing) > LISTED:
        click.echo(f"  ... and {len(missing) - LISTED} more")
    click.echo(f"`seedflow push {path}` uploads those that are on this disk.")
    return 1


def _inspect(file: Path) -> Found:
    try:
        return Found(file_sha256(file), file.stat().st_size)
    except FileNotFoundError:
        return Found(None, None, "missing")
    except OSError as exc:
        return Found(None, None, f"unreadable ({exc.strerror})")


def _report(project: Project, path: Path, mismatches: list[Mismatch], checked: int) -> None:
    click.echo(f"{len(mismatches)} of {checked} locked files are missing or changed "
               f"({project.lock.path}):")
    for mismatch in sorted(mismatches, key=lambda m: (m.path, m.entry.address)):
        click.echo("\n".join(mismatch.lines()))
    orphans = sum(1 for m in mismatches if m.orphan)
    changed = sum(1 for m in mismatches if not m.orphan and m.found.sha256 is not None)
    restorable = len(mismatches) - orphans - changed   # missing: apply brings them back
    if restorable and open_store(project.pipeline) is not None:
        click.echo(f"To bring {_files(restorable)} back from the store, run `seedflow pull "
                   f"{path}` (`--force` replaces changed files); images the store lacks come "
                   f"back with `seedflow apply {path}` from the recorded URLs while they last.")
    elif restorable:
        click.echo(f"To restore {_files(restorable)} for free, run `seedflow apply {path}`: it "
                   "downloads each again from the recorded URLs (these expire after about a day; "
                   "after that, `--recreate-expired` generates them again, paid).")
    if changed:
        click.echo(f"{_files(changed)} changed on disk since generation: apply leaves "
                   f"{'it' if changed == 1 else 'them'} alone; `seedflow apply {path} --force` "
                   "puts the generated images back.")
    if orphans:
        verb = "belongs" if orphans == 1 else "belong"
        click.echo(f"{_files(orphans)} {verb} to combinations no longer in the pipeline "
                   f"(orphans): `seedflow prune {path}` forgets them.")


def _files(count: int) -> str:
    return "1 file" if count == 1 else f"{count} files"
