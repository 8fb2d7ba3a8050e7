"""Rendering a plan: ``text`` for people, ``markdown`` for pull requests, ``json`` for tools."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from seedflow.lock.decode import EntryBrief
from seedflow.plan.cost import Estimate, estimate
from seedflow.plan.diff import Action, Move, Plan, PlanItem
from seedflow.providers import PROVIDERS

if TYPE_CHECKING:
    from seedflow.project import Project

SYMBOLS = {Action.CREATE: "+", Action.RESUME: "~", Action.RESTORE: "↻",
           Action.RELINK: "→", Action.ORPHAN: "-", Action.UNCHANGED: " ", Action.MODIFIED: "!"}
COLOURS = {Action.CREATE: "green", Action.RESUME: "yellow", Action.RESTORE: "cyan",
           Action.RELINK: "cyan", Action.ORPHAN: "red", Action.UNCHANGED: "white",
           Action.MODIFIED: "magenta"}
JSON_FORMAT_VERSION = 1   # of `plan --format json`; raised when a field changes meaning


def display_path(project: Project, path: str) -> str:
    """A stored path as people see it (relative to the current directory)."""
    return project.root.shown(path)


def item_outputs(project: Project, item: PlanItem) -> list[str]:
    if item.combination:
        paths: list[str] = list(item.combination.outputs)
    else:
        paths = [image.path for image in item.entry.images] if item.entry else []
    return [display_path(project, p) for p in paths]


def unsent_notes(plan: Plan) -> list[str]:
    """One plain sentence per asset whose seeds cannot be sent to its provider (the provider's
    spec says what it cannot send)."""
    assets: Counter[tuple[str, str]] = Counter()
    for item in plan.listed:
        if item.combination and item.combination.unsent and item.action != Action.ORPHAN:
            assets[(item.combination.asset, item.combination.provider)] += 1
    return [f"asset `{asset}`: {PROVIDERS[provider].unsent_note()}; they still make {n} "
            "distinct combinations (images may differ only by chance)"
            for (asset, provider), n in assets.items()]


def summary_line(plan: Plan, *, unread_orphans: int = 0) -> str:
    """The counts by action; ``unread_orphans``: orphaned lock lines a caller left unparsed
    (apply reads only the entries its pipeline can touch)."""
    s = plan.summary
    orphans = s["orphan"] + unread_orphans
    return (f"{to_create(plan.listed)}, {s['resume']:,} to resume, {s['restore']:,} to restore, "
            f"{s['relink']:,} to relink, {orphans:,} orphaned, {s['unchanged']:,} unchanged.")


def to_create(items: Iterable[PlanItem]) -> str:
    """``7 to create (paid)``, ``(simulated)`` on the simulator, ``(5 paid, 2 simulated)``."""
    paid = simulated = 0
    for item in items:
        if item.action == Action.CREATE and item.combination:
            simulated += item.simulated
            paid += not item.simulated
    if not simulated:
        return f"{paid:,} to create" + (" (paid)" if paid else "")
    if not paid:
        return f"{simulated:,} to create (simulated)"
    return f"{paid + simulated:,} to create ({paid:,} paid, {simulated:,} simulated)"


def cost_line(est: Estimate) -> str:
    """The one cost line of a text plan and of apply."""
    return f"Cost: {est.describe()}."


def render_text(project: Project, plan: Plan, *, colour: bool) -> Iterator[str]:
    lock = project.lock
    state = "" if lock.path.exists() else " (new)"
    yield f"Pipeline {project.pipeline.path} · lock {lock.path}{state}"
    yield ""
    for item in plan.items:
        if item.action == Action.UNCHANGED:
            continue
        head = f"  {SYMBOLS[item.action]} {item.action.value:<8} {item.address}"
        yield click.style(head, fg=COLOURS[item.action]) if colour else head
        yield from _text_details(project, item)
    if not plan.has_work:
        where = "in place or in the store" if plan.stored_only else "in place"
        yield f"No changes. Every combination is generated and its files are {where}."
        orphans = plan.summary["orphan"]
        if orphans:
            yield (f"{orphans} lock entries are no longer in the pipeline (nothing for apply to "
                   "do); `seedflow prune` removes them.")
        yield ""
    for note in unsent_notes(plan):
        yield f"Note: {note}."
    drift = drift_line(plan)
    if drift:
        yield drift
    if plan.stored_only:
        yield f"Note: {pull_note(project.pipeline.path, plan.stored_only)}."
    yield f"Plan: {summary_line(plan)}"
    if plan.summary["create"]:
        yield cost_line(cost_estimate(project, plan))


def _text_details(project: Project, item: PlanItem) -> Iterator[str]:
    if item.moves:
        for move in item.moves:
            target = display_path(project, move.target)
            yield f"      {target}  ({how_moved(project, move)})"
    elif item.action != Action.ORPHAN:
        for path in item_outputs(project, item):
            yield f"      {path}"
    for path in item.conflicts:
        yield f"      conflict: {display_path(project, path)} holds a file seedflow did not write"
    if item.note:
        yield f"      note: {item.note}"


def drift_line(plan: Plan) -> str | None:
    """Files on disk that differ from what seedflow recorded or is about to write (Terraform's
    drift): apply never overwrites them unless told to."""
    modified = len(plan.of(Action.MODIFIED))
    taken = len(plan.conflicts)
    if not modified and not taken:
        return None
    parts = []
    if modified:
        parts.append(f"{modified} generated image{'s' * (modified != 1)} changed on disk (apply "
                     "leaves them; `apply --force` restores the generated ones)")
    if taken:
        parts.append(f"{taken} output path{'s' * (taken != 1)} already hold{'s' * (taken == 1)} "
                     "a file seedflow did not write (apply refuses to overwrite; --force does)")
    return "Drift: " + "; ".join(parts) + "."


def how_moved(project: Project, move: Move) -> str:
    """How a relink or restore gets an output to its place."""
    if move.source:
        return f"copy from {display_path(project, move.source)}"
    if move.stored:
        return "in the store: only the lock changes"
    if move.target == move.image.path and project.root.exists(move.target):
        return "changed on disk since it was generated"
    return "download"


def pull_note(pipeline: Path, n: int) -> str:
    """One line for every image the store holds that this disk lacks (nothing to do for apply)."""
    images = "1 image is" if n == 1 else f"{n:,} images are"
    return f"{images} in the store but not on this disk: `seedflow pull {pipeline}`"


def plan_json(project: Project, plan: Plan) -> dict[str, Any]:
    """The plan as JSON data (what ``--format json`` writes)."""
    show = project.root.shower()
    return {"items": [_item_json(show, item) for item in plan.items],
            **_plan_facts(project, plan)}


def _plan_facts(project: Project, plan: Plan) -> dict[str, Any]:
    return {
        "format_version": JSON_FORMAT_VERSION,
        "pipeline": str(project.pipeline.path),
        "lock": str(project.lock.path),
        "summary": plan.summary,
        "cost": _cost_json(cost_estimate(project, plan)),
        "notes": unsent_notes(plan),
        "in_store_only": plan.stored_only,
    }


def cost_estimate(project: Project, plan: Plan) -> Estimate:
    return estimate(plan.listed, project.pipeline.prices)


def _cost_json(est: Estimate) -> dict[str, Any]:
    return {"tasks": est.tasks, "images": est.images, "estimate": est.cost, "unit": est.unit,
            "unpriced_images": dict(est.unpriced)}


def _item_json(show: Callable[[str], str], item: PlanItem) -> dict[str, Any]:
    """One item; ``show`` turns a stored path into what people see (OutputRoot.shower)."""
    combo, entry = item.combination, item.entry
    if combo is not None:   # the same keys, without asking for each whether it is an orphan
        # the action as the str enum it is (its text; reading .value costs more than the rest)
        data: dict[str, Any] = {
            "action": item.action, "address": combo.address, "asset": combo.asset,
            "vars": combo.vars, "provider": combo.provider, "request": combo.request,
            "fingerprint": combo.fingerprint, "outputs": [show(path) for path in combo.outputs]}
        if entry is not None and entry.task_id:
            data["task_id"] = entry.task_id
        if item.note or item.moves:
            _item_extras(show, item, data)
        return data
    stored = [i.path for i in entry.images] if entry else ()
    data = {   # an orphan: all it has is its lock entry
        "action": item.action.value,
        "address": item.address,
        "asset": entry.asset if entry else None,
        "vars": None,
        "provider": entry.provider if entry else None,
        "request": entry.request if entry else None,
        "fingerprint": entry.fingerprint if entry else None,
        "outputs": [show(path) for path in stored],
    }
    if entry and entry.task_id:
        data["task_id"] = entry.task_id
    _item_extras(show, item, data)
    return data


def _item_extras(show: Callable[[str], str], item: PlanItem, data: dict[str, Any]) -> None:
    """An item's note and moves, where it has them."""
    if item.note:
        data["note"] = item.note
    if item.moves:
        data["moves"] = [{"to": show(m.target), "from": show(m.source) if m.source else None,
                          "url": None if m.source or m.stored else m.image.url,
                          "in_store": m.stored} for m in item.moves]


def _encoded(data: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON by orjson (5× the standard encoder); keys that are not text (a matrix
    value's mapping may have numbers as keys) written as text, as the standard encoder does; what
    orjson refuses (an integer past 64 bits, which an old lock entry may hold) by the standard
    one."""
    try:
        return orjson.dumps(data, default=_as_dict)
    except orjson.JSONEncodeError:
        pass
    try:
        return orjson.dumps(data, default=_as_dict, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return _STANDARD(data).encode()


def _as_dict(value: Any) -> dict[str, Any]:
    """A Mapping that is not a dict (a lock entry's request kept as text) as a dict."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


_STANDARD = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_as_dict).encode


def _orphan_json(show: Callable[[str], str], brief: EntryBrief) -> bytes:
    """:func:`_item_json` of an orphan still in the lockfile, its request copied as read."""
    data: dict[str, Any] = {
        "action": Action.ORPHAN.value, "address": brief.address, "asset": brief.asset,
        "vars": None, "provider": brief.provider,
        "request": orjson.Fragment(brief.request_json), "fingerprint": brief.fingerprint,
        "outputs": [show(path) for path in brief.paths]}
    if brief.task_id:
        data["task_id"] = brief.task_id
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:   # text orjson refuses (a lone surrogate): decoded again
        return _STANDARD({**data, "request": json.loads(brief.request_json)}).encode()


_BATCH = 1_000


def write_json(project: Project, plan: Plan, stream: Any) -> None:
    """:func:`plan_json`, streamed one item per line (readable, diffable, and at 100,000 items
    never held in memory as a whole). UTF-8, written as bytes where ``stream`` has a binary
    ``buffer`` (standard output: orjson's bytes go out without a decode and an encode)."""
    write = _bytes_writer(stream)
    show = project.root.shower()
    write(b'{"items": [')
    items = plan.listed
    for start in range(0, len(items), _BATCH):   # one write per batch of lines
        write((b",\n" if start else b"\n") + b",\n".join(
            [_encoded(_item_json(show, item)) for item in items[start:start + _BATCH]]))
    listed = len(plan.listed)
    for number, brief in enumerate(plan.unread.briefs(), start=listed):
        write((b",\n" if number else b"\n") + _orphan_json(show, brief))
    facts = json.dumps(_plan_facts(project, plan), ensure_ascii=False, indent=1)
    write(("\n],\n" + facts[2:] + "\n").encode())


def _bytes_writer(stream: Any) -> Callable[[bytes], Any]:
    buffer = getattr(stream, "buffer", None)
    if buffer is None:   # a text stream only (io.StringIO)
        return lambda data: stream.write(data.decode())
    stream.flush()   # what went to the text layer goes first
    return buffer.write  # type: ignore[no-any-return]
