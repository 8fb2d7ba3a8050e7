"""A saved plan: what was reviewed is what runs (Terraform's ``plan -out`` / ``apply PLANFILE``).

``seedflow plan P --out FILE`` writes the plan's work (address, action, fingerprint of each
item), the sha256 of the pipeline file and of the lockfile and its journal, and the options
that shaped it. ``seedflow apply --plan FILE`` refuses (nothing paid) unless the pipeline and
the lock are byte for byte what they were and the plan it computes now has exactly that work.
Pure: the caller reads the files and passes their digests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seedflow.errors import SeedflowError
from seedflow.plan.diff import PlanItem

FORMAT_VERSION = 1
KIND = "seedflow-plan"
MAX_BYTES = 256 * 2**20
Work = tuple[str, str, str]   # (address, action, fingerprint)


@dataclass(frozen=True)
class SavedPlan:
    pipeline: str
    lock: str
    digests: Mapping[str, str | None]   # "pipeline", "lock", "journal" → sha256 (None: absent)
    targets: tuple[str, ...]
    store: str | None
    work: frozenset[Work]

    def to_json(self) -> str:
        return json.dumps({
            "format_version": FORMAT_VERSION, "kind": KIND, "pipeline": self.pipeline,
            "lock": self.lock, "digests": dict(self.digests), "targets": list(self.targets),
            "store": self.store,
            "work": [{"address": a, "action": act, "fingerprint": fp}
                     for a, act, fp in sorted(self.work)],
        }, ensure_ascii=False, indent=1) + "\n"


def work_of(items: Iterable[PlanItem]) -> frozenset[Work]:
    return frozenset((i.address, i.action.value, _fingerprint(i)) for i in items)


def _fingerprint(item: PlanItem) -> str:
    if item.combination is not None:
        return item.combination.fingerprint
    return item.entry.fingerprint if item.entry is not None else ""


def parse_saved(text: str, name: str) -> SavedPlan:
    """A saved plan file, or a clear error saying what is wrong with it."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise ValueError("not a seedflow plan file")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"plan format {data.get('format_version')!r}; this seedflow reads "
                             f"format {FORMAT_VERSION} (make the plan with the same version)")
        return SavedPlan(
            pipeline=_text(data, "pipeline"), lock=_text(data, "lock"),
            digests={k: v for k, v in _mapping(data, "digests").items()
                     if v is None or isinstance(v, str)},
            targets=tuple(str(t) for t in _list(data, "targets")),
            store=data.get("store") if isinstance(data.get("store"), str) else None,
            work=frozenset((_text(w, "address"), _text(w, "action"), str(w["fingerprint"]))
                           for w in _list(data, "work")))
    except (ValueError, KeyError, TypeError) as exc:
        raise SeedflowError(f"{name}: {exc}; make it again with `seedflow plan PIPELINE "
                            "--out FILE`") from None


def check_current(saved: SavedPlan, name: str, digests: Mapping[str, str | None],
                  work: frozenset[Work]) -> None:
    """Refuse a plan whose inputs or work changed since it was saved."""
    changed = [what for what in ("pipeline", "lock", "journal")
               if saved.digests.get(what) != digests.get(what)]
    if changed:
        raise SeedflowError(f"{name} is stale: the {_and(changed)} changed since the plan was "
                            "saved, so it is not what was reviewed. Make and review a new one "
                            f"(`seedflow plan {saved.pipeline} --out {name}`); nothing was done")
    if work != saved.work:
        gone, new = sorted(saved.work - work), sorted(work - saved.work)
        detail = "; ".join([*(f"no longer {a} {addr}" for addr, a, _ in gone[:3]),
                            *(f"now also {a} {addr}" for addr, a, _ in new[:3])])
        raise SeedflowError(f"{name} is stale: the work differs from the saved plan ({detail}); "
                            "files on disk or in the store changed since. Make and review a new "
                            "plan; nothing was done")


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"`{key}` must be text")
    return value


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data[key]
    if not isinstance(value, dict):
        raise ValueError(f"`{key}` must be an object")
    return value


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data[key]
    if not isinstance(value, list):
        raise ValueError(f"`{key}` must be a list")
    return value
