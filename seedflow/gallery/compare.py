"""``seedflow gallery --compare REF``: what a change did to the images, before and after.

The lock at a git ref (read with ``git``, parsed and checked like any lockfile) against the
working lock's entries the pipeline still has (orphans count as removed), entry by entry:

- **unchanged**: the same fingerprint and the same images (counted, not shown);
- **changed**: the same fingerprint with other images (regenerated), or the same address
  with another request (a new prompt, seed, size …): shown side by side, before and after;
- **added**: in the working lock only; **removed**: at the ref only.

A ref whose commit has no lockfile at that path is an empty lock: everything is added.

Images after come from the working tree (inside output_dir only). Images before come from
the working tree when the file there still has the recorded sha256, else from the store (if
one is configured), else from git at the ref (if images are committed); otherwise a
placeholder says how to get them.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from seedflow.apply.download import MAX_BYTES
from seedflow.errors import SeedflowError
from seedflow.gallery.build import STATUS_OF_STATE, Media, Status, Tile, _date, aspect_of, prompt_of
from seedflow.gallery.gitref import MAX_LOCK_BYTES, GitRef, read_blob, repo_path, resolve_ref
from seedflow.gallery.thumbs import media_of_bytes
from seedflow.lock.format import parse_lock
from seedflow.lock.model import LockedImage, LockEntry, State
from seedflow.outputs import OutputRoot
from seedflow.store import ObjectMissing, ObjectStore, StoreError

MAX_VALUE_TEXT = 300
"""How much of a changed request value the page shows."""


class Change(StrEnum):
    CHANGED = "changed"
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class Difference:
    change: Change
    before: LockEntry | None
    after: LockEntry | None

    @property
    def address(self) -> str:
        entry = self.after or self.before
        assert entry is not None
        return entry.address


@dataclass(frozen=True, slots=True)
class LockDiff:
    differences: tuple[Difference, ...]    # changed, then added, then removed; by address
    unchanged: int


@dataclass(frozen=True, slots=True)
class Pair:
    """One changed, added or removed combination, as the page shows it."""

    change: Change
    address: str
    edits: tuple[tuple[str, str, str], ...]    # (what, before, after), e.g. the prompt
    before: tuple[Tile, ...]
    after: tuple[Tile, ...]


@dataclass(frozen=True, slots=True)
class ComparePage:
    title: str
    ref: str
    commit: str
    lock: str                  # the lockfile's path in the repository
    lock_at_ref: bool          # False: the ref has no lockfile there (everything is added)
    pairs: tuple[Pair, ...]
    unchanged: int


# ---- the diff (pure) -----------------------------------------------------------------------

def diff_locks(before: Mapping[str, LockEntry], after: Mapping[str, LockEntry]) -> LockDiff:
    """Pair entries by fingerprint, then the rest by address; see the module docstring."""
    found: list[Difference] = []
    unchanged = 0
    for fingerprint in before.keys() & after.keys():
        old, new = before[fingerprint], after[fingerprint]
        if _images(old) == _images(new):
            unchanged += 1
        else:
            found.append(Difference(Change.CHANGED, old, new))
    gone = {e.address: e for f, e in before.items() if f not in after}
    came = {e.address: e for f, e in after.items() if f not in before}
    for address in gone.keys() & came.keys():
        found.append(Difference(Change.CHANGED, gone.pop(address), came.pop(address)))
    found += [Difference(Change.ADDED, None, e) for e in came.values()]
    found += [Difference(Change.REMOVED, e, None) for e in gone.values()]
    order = list(Change)
    found.sort(key=lambda d: (order.index(d.change), d.address))
    return LockDiff(tuple(found), unchanged)


def _images(entry: LockEntry) -> tuple[State, tuple[str, ...]]:
    return entry.state, tuple(image.sha256 for image in entry.images)


def edits(before: LockEntry | None, after: LockEntry | None) -> tuple[tuple[str, str, str], ...]:
    """What differs between two requests, value by value (nested keys dotted, the prompt
    first); a regenerated combination with the same request says so."""
    if before is None or after is None:
        return ()
    found = []
    old_prompt = prompt_of(before.request, before.provider)
    new_prompt = prompt_of(after.request, after.provider)
    if old_prompt != new_prompt:
        found.append(("prompt", old_prompt, new_prompt))
    if before.provider != after.provider:
        found.append(("provider", before.provider, after.provider))
    old_values, new_values = flatten(before.request), flatten(after.request)
    for key in sorted(old_values.keys() | new_values.keys()):
        old, new = old_values.get(key), new_values.get(key)
        if old != new and (old, new) != (old_prompt, new_prompt):
            found.append((key, _text(old), _text(new)))
    if not found and before.fingerprint == after.fingerprint:
        found.append(("image", "generated before", "generated again (same request)"))
    return tuple(found)


def flatten(request: Mapping[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """A request's values by dotted key (``input.seed``); lists and deep values whole."""
    found: dict[str, Any] = {}
    for key, value in request.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and depth < 3:
            found.update(flatten(value, f"{name}.", depth + 1))
        else:
            found[name] = value
    return found


def _text(value: Any) -> str:
    if value is None:
        return "(not set)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           sort_keys=True)
    return text if len(text) <= MAX_VALUE_TEXT else text[:MAX_VALUE_TEXT] + "…"


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """``old`` → ``new`` word by word: ``("=", text)``, ``("-", text)``, ``("+", text)``."""
    a, b = old.split(" "), new.split(" ")
    if len(a) * len(b) > 250_000:   # difflib is quadratic: very long texts whole
        return [("-", old), ("+", new)]
    parts: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            parts.append(("=", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            parts.append(("-", " ".join(a[i1:i2])))
        if j2 > j1:
            parts.append(("+", " ".join(b[j1:j2])))
    return parts


def entry_tiles(entry: LockEntry) -> list[Tile]:
    """One tile per recorded image of a lock entry (one placeholder when it has none)."""
    base = Tile(address=entry.address, prompt=prompt_of(entry.request, entry.provider),
                provider=entry.provider, task_id=entry.task_id,
                date=_date(entry.completed_at or entry.submitted_at), output="", index=1,
                images=max(1, len(entry.images)),
                aspect=aspect_of(entry.request, entry.provider),
                status=STATUS_OF_STATE[entry.state],
                note=f"generation failed: {entry.error}" if entry.error else "no image recorded")
    if not entry.images:
        return [base]
    return [replace(base, output=image.path, index=i + 1, status=Status.MISSING,
                    sha256=image.sha256, note=None) for i, image in enumerate(entry.images)]


# ---- finding the images (I/O) --------------------------------------------------------------

class Images:
    """Finds and thumbnails the images of both sides into the gallery folder."""

    def __init__(self, root: OutputRoot, ref: GitRef, out: Path,
                 store: ObjectStore | None) -> None:
        self.root, self.ref, self.out, self.store = root, ref, out, store
        self.written: set[Path] = set()   # the files the page uses (the rest are pruned)

    def show(self, tile: Tile, *, before: bool) -> Tile:
        if tile.sha256 is None:
            return tile
        image = LockedImage(tile.output, tile.sha256, 0, "")
        found = (self._local(image) or self._stored(image)
                 or (self._committed(image) if before else None))
        if isinstance(found, Media):
            return replace(tile, status=Status.READY, media=found, note=None)
        if found:
            return replace(tile, status=Status.BROKEN, note=f"cannot show the image: {found}")
        return replace(tile, note=self._missing(before))

    def _missing(self, before: bool) -> str:
        if not before:
            return "not on this disk: run seedflow apply (or seedflow pull)"
        return (f"not on this disk, in the store or in git at {self.ref.name}: check out "
                f"{self.ref.name} and run seedflow pull to see it")

    def _local(self, image: LockedImage) -> Media | str | None:
        if not self.root.holds(image.path):
            return None
        try:
            data = self.root.file(image.path).resolve().read_bytes()
        except OSError:
            return None
        return self._checked(data, image)

    def _stored(self, image: LockedImage) -> Media | str | None:
        if self.store is None:
            return None
        temp = self.out / f".fetch-{image.sha256}.tmp"
        try:
            asyncio.run(self.store.get_file(image.sha256, temp, overwrite=True))
            return self._checked(temp.read_bytes(), image)
        except ObjectMissing:
            return None
        except (StoreError, OSError):
            self.store = None   # unreachable or refused: not asked again for every image
            return None
        finally:
            temp.unlink(missing_ok=True)

    def _committed(self, image: LockedImage) -> Media | str | None:
        if not self.root.holds(image.path):
            return None
        path = repo_path(self.ref, self.root.file(image.path))
        data = read_blob(self.ref, path, max_bytes=MAX_BYTES) if path else None
        return self._checked(data, image) if data is not None else None

    def _checked(self, data: bytes, image: LockedImage) -> Media | str | None:
        """The image shown (or why it cannot be), None when these are not its bytes."""
        if hashlib.sha256(data).hexdigest() != image.sha256:
            return None
        media = media_of_bytes(data, self.out)
        if isinstance(media, Media):
            self.written |= {self.out / media.thumb, self.out / media.full}
        return media


# ---- the page ------------------------------------------------------------------------------

def read_lock_at(ref: GitRef, lock_path: Path) -> tuple[str, dict[str, LockEntry] | None]:
    """The lockfile's path in the repository and its entries at the ref (None: no lockfile
    there). A lockfile outside the repository is an error."""
    path = repo_path(ref, lock_path)
    if path is None:
        raise SeedflowError(f"the lockfile {lock_path} is outside the git repository "
                            f"{ref.top}; --compare reads it at {ref.name} from git")
    data = read_blob(ref, path, max_bytes=MAX_LOCK_BYTES)
    if data is None:
        return path, None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SeedflowError(f"{path} at {ref.name} is not UTF-8 text: not a lockfile") from None
    return path, parse_lock(text, f"{path} at {ref.name}")


def open_ref(folder: Path, name: str, lock_path: Path
             ) -> tuple[GitRef, str, dict[str, LockEntry] | None]:
    """Resolve the ref and read the lock there; every problem is a SeedflowError, raised
    before anything is written."""
    ref = resolve_ref(folder, name)
    path, entries = read_lock_at(ref, lock_path)
    return ref, path, entries


def compare_page(title: str, ref: GitRef, lock: str, at_ref: Mapping[str, LockEntry] | None,
                 working: Mapping[str, LockEntry], images: Images) -> ComparePage:
    found = diff_locks(at_ref or {}, working)
    pairs = tuple(pair(d, images) for d in found.differences)
    return ComparePage(title, ref.name, ref.commit, lock, at_ref is not None, pairs,
                       found.unchanged)


def pair(difference: Difference, images: Images) -> Pair:
    return Pair(difference.change, difference.address,
                edits(difference.before, difference.after),
                _side(difference.before, images, before=True),
                _side(difference.after, images, before=False))


def _side(entry: LockEntry | None, images: Images, *, before: bool) -> tuple[Tile, ...]:
    if entry is None:
        return ()
    return tuple(images.show(t, before=before) for t in entry_tiles(entry))


def counts(page: ComparePage) -> Iterable[tuple[Change, int]]:
    for change in Change:
        yield change, sum(1 for p in page.pairs if p.change == change)


def pairs_of(page: ComparePage, change: Change) -> Sequence[Pair]:
    return [p for p in page.pairs if p.change == change]
