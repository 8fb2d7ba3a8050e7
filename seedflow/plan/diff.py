"""Plan: the expanded spec diffed against the lock (pure; file checks are injected).

Six actions (DESIGN §3): ``create`` (new fingerprint: one paid task), ``resume`` (submitted
earlier, not finished: poll it, do not pay again), ``restore`` (locked, but a file is missing or
wrong: download again, free), ``relink`` (locked, output path changed: copy, free), ``orphan``
(locked, no longer in the spec: removed only by ``prune``), ``unchanged``.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from seedflow.lock.model import LockedImage, LockEntry, State
from seedflow.outputs import OutputCheck
from seedflow.plan.combos import Combination


class Action(StrEnum):
    CREATE = "create"
    RESUME = "resume"
    RESTORE = "restore"
    RELINK = "relink"
    ORPHAN = "orphan"
    UNCHANGED = "unchanged"


ACTIONS = tuple(Action)
WORK = frozenset({Action.CREATE, Action.RESUME, Action.RESTORE, Action.RELINK})



@dataclass(frozen=True, slots=True)
class Move:
    """One output of a locked task and what to do about it."""

    index: int                # 0-based image index within the task
    target: str               # where the spec wants it (relative to the pipeline folder)
    image: LockedImage        # what the lock recorded
    source: str | None        # an intact copy to copy from (relink), None: download (restore)


@dataclass(frozen=True, slots=True)
class PlanItem:
    action: Action
    combination: Combination | None  # None for orphans
    entry: LockEntry | None          # None for brand-new combinations
    moves: tuple[Move, ...] = ()
    note: str | None = None

    @property
    def address(self) -> str:
        if self.combination:
            return self.combination.address
        assert self.entry is not None
        return self.entry.address

    @property
    def uncertain(self) -> bool:
        return self.entry is not None and self.entry.state == State.UNCERTAIN


@dataclass(frozen=True)
class Plan:
    items: tuple[PlanItem, ...]

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(item.action for item in self.items)
        return {action.value: counts.get(action, 0) for action in ACTIONS}

    @property
    def has_work(self) -> bool:
        """Whether ``apply`` has anything to do (orphans are shown, but only ``prune`` acts)."""
        return any(item.action in WORK for item in self.items)

    def of(self, *actions: Action) -> list[PlanItem]:
        return [item for item in self.items if item.action in actions]


def make_plan(combinations: Iterable[Combination], entries: Mapping[str, LockEntry],
              intact: OutputCheck) -> Plan:
    items = []
    seen = set()
    for combo in combinations:
        seen.add(combo.fingerprint)
        items.append(_diff(combo, entries.get(combo.fingerprint), intact))
    items += [PlanItem(Action.ORPHAN, None, entry) for fp, entry in entries.items()
              if fp not in seen]
    return Plan(tuple(items))


def _diff(combo: Combination, entry: LockEntry | None, intact: OutputCheck) -> PlanItem:
    if entry is None:
        return PlanItem(Action.CREATE, combo, None)
    if entry.state == State.UNCERTAIN:
        return PlanItem(Action.CREATE, combo, entry, note=(
            "an earlier create may have reached the provider (and been charged); apply "
            "re-submits it only with --retry-uncertain"))
    if entry.state == State.FAILED:
        return PlanItem(Action.CREATE, combo, entry,
                        note=f"the last attempt failed: {entry.error or 'unknown reason'}")
    if entry.state == State.SUBMITTED:
        return PlanItem(Action.RESUME, combo, entry, note=f"task {entry.task_id}")
    return _locked(combo, entry, intact)


def _locked(combo: Combination, entry: LockEntry, intact: OutputCheck) -> PlanItem:
    moves = []
    for index, image in enumerate(entry.images):
        if index >= len(combo.outputs):
            break
        target = combo.outputs[index]
        if target == image.path and intact(target, image):
            continue
        source = image.path if target != image.path and intact(image.path, image) else None
        moves.append(Move(index, target, image, source))
    if not moves:
        return PlanItem(Action.UNCHANGED, combo, entry)
    action = Action.RESTORE if any(m.source is None for m in moves) else Action.RELINK
    return PlanItem(action, combo, entry, tuple(moves))


def matching(plan: Plan, targets: Iterable[str]) -> list[PlanItem]:
    """Every item (work or not) whose address matches one of the ``targets`` globs.

    Only ``*`` and ``?`` are wildcards: addresses are full of brackets (``hero[scene=dusk]``),
    so ``[`` is literal and an address copied from ``plan`` selects exactly itself.
    """
    patterns = [p.replace("[", "[[]") for p in targets]
    return [i for i in plan.items if any(fnmatch.fnmatchcase(i.address, p) for p in patterns)]


def select(plan: Plan, targets: Iterable[str]) -> list[PlanItem]:
    """The plan's work items, limited to addresses matching any of the ``targets`` globs."""
    chosen = matching(plan, targets) if targets else plan.items
    return [i for i in chosen if i.action in WORK]
