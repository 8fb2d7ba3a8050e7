"""Merging lockfiles (pure: entry maps in, entry map and warnings out; no I/O).

Two entry points:

* :func:`three_way` — the git merge driver: the merge base (``%O``) and two sides (``%A``, ``%B``).
* :func:`union` — ``seedflow lock merge``: any number of lockfiles and shard fragments folded into
  the previous content of the output file.

Rules
=====

1. **Identity.** Entries are keyed by fingerprint; the result has one entry per fingerprint.

2. **Three-way (git).** A side that left an entry exactly as the merge base had it yields to
   the other side. So an entry added on one side is kept, an entry changed on one side is taken
   from that side, and an entry the base had and one side removed (``seedflow prune``, or an
   apply that forgot a create the provider refused) is removed — unless the other side changed
   it meanwhile: then the changed entry is kept, with a warning, because dropping a task that
   was just paid for could mean paying for it again (if it is an orphan, prune it again).
   When both sides changed (or both added) the same fingerprint differently, rule 4 picks one.

3. **Union (lock merge).** Every entry of every input is kept: an entry missing from an input
   means nothing (a shard fragment holds only its share). The output file's previous content is
   the starting point, so folding fragments into a lock never loses an entry. Where inputs (or
   an input and the output's previous content) hold different versions of one combination,
   rule 4 picks one; the output's previous version loses exact ties, so a fragment's relinked
   paths replace the lock's old ones.

4. **Picking one version of a combination** (the same answer whatever the order of inputs):

   a. Versions of *one task* (same task id) are stages of one history, and the furthest wins:
      ``succeeded`` > ``failed`` > ``submitted`` (a failure seen after submission is news, not a
      regression), then more downloaded images, then the later ``completed_at`` and
      ``submitted_at``.
   b. Across *different tasks*, a ``succeeded`` one wins: it holds the images that were paid
      for. Two succeeded tasks are an irreconcilable conflict (the combination was generated
      twice, on two branches or shards): the one completed later is kept and a warning names
      both. A file on disk may be the other task's image: ``seedflow verify`` lists it and
      ``seedflow apply`` restores the kept one, for free.
   c. Otherwise the later attempt wins (``attempts`` counts paid creates, and a retry only
      follows the failure or uncertainty it retries). At equal attempts: ``submitted`` >
      ``uncertain`` > ``failed`` — a task that can still be collected for free beats a create
      that may have been charged (apply asks before re-sending it), which beats a known
      failure (keeping the failure would let the next apply pay again without a word).
   d. What is still tied: the later timestamp, then the larger canonical JSON text, so the
      result is deterministic.

Merging is idempotent (merging a result again with the same inputs changes nothing) and
``union`` does not depend on the order of its inputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seedflow.lock.model import LockEntry, State

Entries = Mapping[str, LockEntry]


@dataclass(frozen=True)
class Merged:
    entries: dict[str, LockEntry]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Candidate:
    entry: LockEntry
    fresh: bool  # False: the output's previous version, which no input holds (loses ties)
    text: str    # canonical JSON, the last tie-break


def same(a: LockEntry | None, b: LockEntry | None) -> bool:
    """Equal as written to the lockfile (``None`` only equals ``None``)."""
    if a is None or b is None:
        return a is b
    return a == b or a.to_json() == b.to_json()


def three_way(base: Entries, ours: Entries, theirs: Entries) -> Merged:
    """The git merge: rules 2 and 4."""
    entries: dict[str, LockEntry] = {}
    warnings: list[str] = []
    for fp in sorted(set(base).union(ours, theirs)):
        o, a, b = base.get(fp), ours.get(fp), theirs.get(fp)
        if same(a, b) or same(b, o):
            result = a
        elif same(a, o):
            result = b
        elif a is None or b is None:
            result = a or b
            assert result is not None
            warnings.append(f"{result.address}: removed on one side but changed on the other; "
                            "kept the changed entry (prune it again if it is an orphan)")
        else:
            result, warning = pick([a, b])
            warnings += [warning] if warning else []
        if result is not None:
            entries[fp] = result
    return Merged(entries, tuple(warnings))


def union(inputs: Sequence[Entries], *, into: Entries | None = None) -> Merged:
    """Fold ``inputs`` into ``into`` (the output's previous content): rules 3 and 4."""
    previous = into or {}
    entries: dict[str, LockEntry] = {}
    warnings: list[str] = []
    for fp in sorted(set(previous).union(*inputs)):
        versions = [lock[fp] for lock in inputs if fp in lock]
        old = previous.get(fp)
        if not versions:
            assert old is not None
            entries[fp] = old
        elif len(versions) == 1 and (old is None or same(old, versions[0])):
            entries[fp] = versions[0]  # the common case, without canonical JSON
        else:
            entries[fp], warning = pick(versions, previous=old)
            warnings += [warning] if warning else []
    return Merged(entries, tuple(warnings))


def pick(versions: Iterable[LockEntry], *,
         previous: LockEntry | None = None) -> tuple[LockEntry, str | None]:
    """The version to keep (rule 4), and a warning when two succeeded tasks conflict."""
    candidates = _candidates(versions, previous)
    if len(candidates) == 1:
        return candidates[0].entry, None
    survivors = [c for c in candidates if c.entry.task_id is None]
    tasks: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        if candidate.entry.task_id is not None:
            tasks.setdefault(candidate.entry.task_id, []).append(candidate)
    survivors += [max(group, key=_in_task) for group in tasks.values()]
    winner = max(survivors, key=_across)
    return winner.entry, _conflict(winner.entry, [c.entry for c in survivors])


def _candidates(versions: Iterable[LockEntry], previous: LockEntry | None) -> list[_Candidate]:
    seen: dict[str, _Candidate] = {}
    for entry in versions:
        text = _canonical(entry)
        seen.setdefault(text, _Candidate(entry, True, text))
    if previous is not None:
        text = _canonical(previous)
        seen.setdefault(text, _Candidate(previous, False, text))
    return list(seen.values())


def _canonical(entry: LockEntry) -> str:
    return json.dumps(entry.to_json(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _latest(entry: LockEntry) -> str:
    return max(entry.completed_at or "", entry.submitted_at or "")


def _in_task(c: _Candidate) -> tuple[Any, ...]:
    e = c.entry
    return (e.state.stage_in_task, len(e.images), e.completed_at or "", e.submitted_at or "",
            c.fresh, c.text)


def _across(c: _Candidate) -> tuple[Any, ...]:
    e = c.entry
    if e.state == State.SUCCEEDED:
        return (1, e.completed_at or "", len(e.images), _latest(e), c.fresh, c.text)
    return (0, e.attempts, e.state.rank_across_tasks, _latest(e), c.fresh, c.text)


def _conflict(kept: LockEntry, survivors: list[LockEntry]) -> str | None:
    if kept.state != State.SUCCEEDED:
        return None
    others = sorted({e.task_id or "" for e in survivors
                     if e.state == State.SUCCEEDED and e.task_id != kept.task_id})
    if not others:
        return None
    return (f"{kept.address}: generated twice, by different tasks ({', '.join(others)} and "
            f"{kept.task_id}); kept {kept.task_id}, completed later. The other task's images "
            "are no longer recorded: `seedflow verify` lists any file on disk that is one of "
            "them, and `seedflow apply` restores the kept image for free")
