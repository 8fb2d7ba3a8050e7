"""Plan: the expanded spec diffed against the lock (pure; file checks are injected).

Six actions (DESIGN §3): ``create`` (new fingerprint: one paid task), ``resume`` (submitted
earlier, not finished: poll it, do not pay again), ``restore`` (locked, but a file is missing or
wrong: download again, free), ``relink`` (locked, output path changed: copy, free), ``orphan``
(locked, no longer in the spec: removed only by ``prune``), ``unchanged``.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, overload

import msgspec

from seedflow.errors import SeedflowError
from seedflow.lock.decode import EntryBrief
from seedflow.lock.model import LockedImage, LockEntry, State
from seedflow.outputs import OutputCheck
from seedflow.plan.combos import Combination
from seedflow.providers import PROVIDERS


class Action(StrEnum):
    CREATE = "create"
    RESUME = "resume"
    RESTORE = "restore"
    RELINK = "relink"
    ORPHAN = "orphan"
    UNCHANGED = "unchanged"
    MODIFIED = "modified"   # locked, but a different file is at the path (edited or replaced)


ACTIONS = tuple(Action)
WORK = frozenset({Action.CREATE, Action.RESUME, Action.RESTORE, Action.RELINK})



class Move(msgspec.Struct, frozen=True, gc=False):
    """One output of a locked task and what to do about it."""

    index: int                # 0-based image index within the task
    target: str               # where the spec wants it (relative to the pipeline folder)
    image: LockedImage        # what the lock recorded
    source: str | None        # an intact copy to copy from (relink), None: download (restore)
    stored: bool = False      # no copy needed: the store holds the bytes (`pull` fetches them)


class PlanItem(msgspec.Struct, frozen=True, gc=False):
    action: Action
    combination: Combination | None  # None for orphans
    entry: LockEntry | None          # None for brand-new combinations
    moves: tuple[Move, ...] = ()
    note: str | None = None
    stored_only: int = 0             # images in the store but not on this disk (`pull`)
    conflicts: tuple[str, ...] = ()  # outputs to write where an unrecorded file already is

    @property
    def address(self) -> str:
        if self.combination:
            return self.combination.address
        assert self.entry is not None
        return self.entry.address

    @property
    def uncertain(self) -> bool:
        return self.entry is not None and self.entry.state == State.UNCERTAIN

    @property
    def simulated(self) -> bool:
        """Whether its combination goes to a simulated provider (no money changes hands)."""
        spec = PROVIDERS.get(self.combination.provider) if self.combination else None
        return spec is not None and spec.simulated


class Unread(Protocol):
    """Lock entries left in the lockfile (seedflow.lock.read.Unread): counted, and read from
    the file again each time they are iterated."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[LockEntry]: ...

    def briefs(self) -> Iterator[EntryBrief]: ...


class _NoUnread:
    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[LockEntry]:
        return iter(())

    def briefs(self) -> Iterator[EntryBrief]:
        return iter(())


NO_UNREAD: Unread = _NoUnread()


class PlanItems(Sequence[PlanItem]):
    """A plan's items: those held in memory (``listed``), then one orphan per ``unread`` lock
    entry, built as iteration reaches it. A lock's history (a million entries of earlier
    specs) then costs a plan time to list, but no memory."""

    def __init__(self, listed: tuple[PlanItem, ...], unread: Unread) -> None:
        self.listed = listed
        self.unread = unread

    def __len__(self) -> int:
        return len(self.listed) + len(self.unread)

    def __iter__(self) -> Iterator[PlanItem]:
        yield from self.listed
        for entry in self.unread:
            yield PlanItem(Action.ORPHAN, None, entry)

    @overload
    def __getitem__(self, index: int) -> PlanItem: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[PlanItem]: ...

    def __getitem__(self, index: int | slice) -> PlanItem | Sequence[PlanItem]:
        if isinstance(index, int) and 0 <= index < len(self.listed):
            return self.listed[index]
        return tuple(self)[index]


@dataclass(frozen=True)
class Plan:
    items: Sequence[PlanItem]

    @property
    def listed(self) -> Sequence[PlanItem]:
        """The items held in memory: every one but the orphans still in the lockfile (which
        are never work, never modified, never in the store)."""
        return self.items.listed if isinstance(self.items, PlanItems) else self.items

    @property
    def unread(self) -> Unread:
        """The orphans still in the lockfile (the items after :attr:`listed`)."""
        return self.items.unread if isinstance(self.items, PlanItems) else NO_UNREAD

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(item.action for item in self.listed)
        counts[Action.ORPHAN] += len(self.items) - len(self.listed)
        return {action.value: counts.get(action, 0) for action in ACTIONS}

    @property
    def has_work(self) -> bool:
        """Whether ``apply`` has anything to do (orphans are shown, but only ``prune`` acts)."""
        return any(item.action in WORK for item in self.listed)

    @property
    def stored_only(self) -> int:
        """Images that count as present because the store holds them, though this disk lacks
        them (``seedflow pull`` brings them here)."""
        return sum(item.stored_only for item in self.listed)

    @property
    def conflicts(self) -> list[str]:
        """Paths this plan would write where a file seedflow did not write already is."""
        return [path for item in self.listed for path in item.conflicts]

    def of(self, *actions: Action) -> list[PlanItem]:
        every = self.items if Action.ORPHAN in actions else self.listed
        return [item for item in every if item.action in actions]


@dataclass(frozen=True)
class Checks:
    """What the plan may ask about the world (its only inputs besides spec and lock).

    ``intact``: is this locked image at this path? ``held``: does the store hold these bytes
    (no store: never)? ``now``: the time, for result URLs past their provider's lifetime
    (None: do not judge).
    """

    intact: OutputCheck
    held: Callable[[LockedImage], bool] = lambda image: False
    now: datetime | None = None
    exists: Callable[[str], bool] = lambda stored: False


def make_plan(combinations: Iterable[Combination], entries: Mapping[str, LockEntry],
              checks: Checks | OutputCheck, unread: Unread = NO_UNREAD) -> Plan:
    """The plan; ``unread``: lock entries not in ``entries`` and not in the spec (orphans read
    from the lockfile as the plan is listed)."""
    if not isinstance(checks, Checks):
        checks = Checks(checks)
    items = []
    seen = set()
    intact = checks.intact
    for combo in combinations:
        seen.add(combo.fingerprint)
        entry = entries.get(combo.fingerprint)
        if entry is not None and entry.state is State.SUCCEEDED \
                and _in_place(combo.outputs, entry.images, intact):   # the usual case
            items.append(PlanItem(Action.UNCHANGED, combo, entry))
        else:
            items.append(_diff(combo, entry, checks))
    items += [PlanItem(Action.ORPHAN, None, entry) for fp, entry in entries.items()
              if fp not in seen]
    return Plan(PlanItems(tuple(items), unread) if len(unread) else tuple(items))


def _in_place(outputs: tuple[str, ...], images: tuple[LockedImage, ...],
              intact: OutputCheck) -> bool:
    """Whether each locked image is intact where the spec wants it (an output the lock has
    no image for is not looked at, as in :func:`_locked`)."""
    if len(outputs) == 1 == len(images):   # one image a task, unrolled
        return outputs[0] == images[0].path and intact(outputs[0], images[0])
    return all(path == image.path and intact(path, image)
               for path, image in zip(outputs, images, strict=False))


def _diff(combo: Combination, entry: LockEntry | None, checks: Checks) -> PlanItem:
    if entry is None:
        return PlanItem(Action.CREATE, combo, None, conflicts=_taken(combo.outputs, checks))
    if entry.state is State.SUCCEEDED:   # the usual case first
        return _locked(combo, entry, checks)
    if entry.state == State.UNCERTAIN:
        return PlanItem(Action.CREATE, combo, entry, note=(
            "an earlier create may have reached the provider (and been charged); apply "
            "re-submits it only with --retry-uncertain"), conflicts=_taken(combo.outputs, checks))
    if entry.state == State.FAILED:
        return PlanItem(Action.CREATE, combo, entry,
                        note=f"the last attempt failed: {entry.error or 'unknown reason'}",
                        conflicts=_taken(combo.outputs, checks))
    if entry.state == State.SUBMITTED:
        return PlanItem(Action.RESUME, combo, entry, note=f"task {entry.task_id}")
    return _locked(combo, entry, checks)


def _locked(combo: Combination, entry: LockEntry, checks: Checks) -> PlanItem:
    """Where each locked image is: in place, only in the store, elsewhere on disk (relink),
    nowhere but at the provider's URL (restore), or replaced by another file (modified)."""
    moves = []
    stored_only = modified = 0
    # the outputs the lock has images for (a spec may now ask for more or fewer)
    for index, (image, locked) in enumerate(zip(combo.outputs, entry.images, strict=False)):
        in_place = image == locked.path
        if in_place and checks.intact(image, locked):
            continue
        if in_place and checks.exists(image):
            modified += 1   # someone's edit: never reverted silently (apply --force restores)
            moves.append(Move(index, image, locked, None))
        elif checks.held(locked):
            stored_only += in_place
            if not in_place:
                moves.append(Move(index, image, locked, None, stored=True))
        else:
            source = locked.path if not in_place and checks.intact(locked.path, locked) else None
            moves.append(Move(index, image, locked, source))
    if not moves:   # (moves, note, stored_only) positionally: 100,000 of them
        return PlanItem(Action.UNCHANGED, combo, entry, (), None, stored_only)
    restores = [m for m in moves if m.source is None and not m.stored]
    action = Action.MODIFIED if modified else Action.RESTORE if restores else Action.RELINK
    taken = _taken([m.target for m in moves if m.target != m.image.path and not m.stored
                    and not checks.intact(m.target, m.image)], checks)
    return PlanItem(action, combo, entry, tuple(moves), note=_at_risk(entry, checks, restores),
                    stored_only=stored_only, conflicts=taken)


def _taken(paths: Iterable[str], checks: Checks) -> tuple[str, ...]:
    """The paths among ``paths`` where a file already is (which the lock does not record)."""
    return tuple(path for path in paths if checks.exists(path))


AT_RISK = "at risk"


def _age(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.0f} hours" if hours < 72 else f"{hours / 24:.0f} days"


def _at_risk(entry: LockEntry, checks: Checks, restores: list[Move]) -> str | None:
    """A restore whose only source is a result URL older than the provider keeps results."""
    spec = PROVIDERS.get(entry.provider)
    lifetime = spec.result_url_lifetime if spec else None
    if not restores or lifetime is None or checks.now is None or not entry.completed_at:
        return None
    try:
        done = datetime.strptime(entry.completed_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    age = (checks.now - done).total_seconds()
    if age <= lifetime:
        return None
    return (f"{AT_RISK}: its result URL is {_age(age)} old and {entry.provider} keeps "
            f"results for about {lifetime / 3600:.0f} hours, so the download will probably "
            "fail; restore it from a store (`store:`, see docs/store.md) or pay for it again "
            "with `apply --recreate-expired`")


def matching(plan: Plan, targets: Iterable[str]) -> list[PlanItem]:
    """Every item (work or not) whose address matches one of the ``targets`` globs.

    Only ``*`` and ``?`` are wildcards: addresses are full of brackets (``hero[scene=dusk]``),
    so ``[`` is literal and an address copied from ``plan`` selects exactly itself. A name
    without brackets also selects all of that asset's combinations (``hero`` = ``hero[*``).
    """
    patterns = []
    for target in targets:
        patterns.append(target.replace("[", "[[]"))
        if "[" not in target:
            patterns.append(target.replace("[", "[[]") + "[[]*")
    return [i for i in plan.items if any(fnmatch.fnmatchcase(i.address, p) for p in patterns)]


def refuse_targets(plan: Plan, targets: Iterable[str]) -> list[PlanItem]:
    """Raise the error for targets that match nothing (a typo must not select "nothing")."""
    example = plan.items[0].address if plan.items else "asset[axis=value]"
    raise SeedflowError(f"--target {' '.join(targets)} matches no combination; addresses look "
                        f"like {example} (`seedflow plan` lists them), an asset's name selects "
                        "all of it; * and ? are wildcards")


def select(plan: Plan, targets: Iterable[str], *, force: bool = False) -> list[PlanItem]:
    """The plan's work items, limited to addresses matching any of the ``targets`` globs;
    ``force`` adds the modified ones (to be restored)."""
    chosen = matching(plan, targets) if targets else plan.listed   # orphans are never work
    work = WORK | {Action.MODIFIED} if force else WORK
    return [i for i in chosen if i.action in work]
