"""Pipeline + plan → the gallery's page model (pure: no I/O, no Pillow, no HTML).

Layout rules:

- One :class:`Section` per asset, in pipeline order.
- Rows and columns are matrix axes: ``--rows``/``--cols`` when the asset has that axis, else
  the first axis with more than one value becomes the rows and the next one the columns.
- An axis whose value follows from another's (every combination with ``season=winter`` has
  ``scene=snow``) is *folded*: it is no grid dimension, its value is shown as a note beside
  the value it follows (:func:`dependent_axes`). Axes named by ``--rows``/``--cols`` are
  never folded.
- Every other axis with more than one value splits the section into sub-grids, one per
  combination of their values (titled e.g. ``seed=11``); axes with a single value are listed
  once in the section header.
- A cell holds the images of the combination at that row and column (several, side by side,
  when the asset asks for ``images`` > 1); a cell with no combination (an ``exclude``) is
  shown empty ("not in the matrix").
- Mapping values are labelled by their ``id`` (or ``name``) key, as in addresses.
- A combination whose images are not on disk is a placeholder tile saying why (not generated
  yet, failed, in progress, file missing). In plan mode, what ``apply`` would pay for is marked
  ``+ new`` and orphaned lock entries are listed at the end.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from seedflow.errors import SeedflowError
from seedflow.lock.model import State
from seedflow.pipeline.model import Asset, Pipeline
from seedflow.plan.combos import Combination
from seedflow.plan.diff import Action, Move, Plan, PlanItem
from seedflow.providers import PROVIDERS
from seedflow.providers.native import RequestMapping

MISSING_VALUE = "—"
"""The label of an axis a combination does not set (an ``include`` that adds a new key)."""


MODIFIED = "the file differs from the image the lockfile records (edited or replaced)"


class Status(StrEnum):
    READY = "ready"            # the image is on disk
    PENDING = "pending"        # never generated
    RUNNING = "running"        # submitted, not finished (apply resumes it)
    FAILED = "failed"          # the last attempt failed
    UNCERTAIN = "uncertain"    # a create may have reached the provider
    MISSING = "missing"        # locked, but the file is gone or wrong (apply restores it)
    BROKEN = "broken"          # on disk, but cannot be shown (set by :func:`attach_media`)


STATUS_OF_STATE: Mapping[State, Status] = {
    State.UNCERTAIN: Status.UNCERTAIN, State.SUBMITTED: Status.RUNNING,
    State.FAILED: Status.FAILED, State.SUCCEEDED: Status.READY,
}
"""What a combination's tiles show for its lock entry's state (a succeeded entry's image that
is not on disk as recorded is MISSING; no entry at all is PENDING)."""


class Mark(StrEnum):
    NEW = "new"                # plan mode: apply would create it (a new task)
    ORPHAN = "orphan"          # plan mode: locked, no longer in the pipeline


LEGEND: tuple[tuple[Mark, str], ...] = (
    (Mark.NEW, "apply would generate this: a new task (paid, except on the simulator)"),
    (Mark.ORPHAN, "in the lockfile but no longer in the pipeline"),
)


@dataclass(frozen=True, slots=True)
class Media:
    """Where the rendered page finds an image (hrefs relative to the gallery folder)."""

    thumb: str
    full: str
    width: int      # of the thumbnail, pixels
    height: int
    sha256: str = ""   # of the file that was shown


@dataclass(frozen=True, slots=True)
class Tile:
    """One image of one combination: a thumbnail, or a placeholder saying why not."""

    address: str
    prompt: str
    provider: str
    task_id: str | None
    date: str | None
    output: str                  # the path the spec wants, relative to the pipeline folder
    index: int                   # 1-based image index within the task
    images: int                  # images the task makes
    aspect: tuple[int, int]      # width:height, for sizing placeholders
    status: Status
    source: str | None = None    # the file to show (relative to the pipeline folder)
    sha256: str | None = None    # what the lock recorded for it
    note: str | None = None      # why there is no image (or what is odd about it), in words
    mark: Mark | None = None
    media: Media | None = None


@dataclass(frozen=True, slots=True)
class Cell:
    tiles: tuple[Tile, ...] = ()


@dataclass(frozen=True, slots=True)
class Grid:
    title: str | None                      # the split-axis values, e.g. "seed=11"
    rows: tuple[str, ...]                  # row labels ("" when there is no row axis)
    cols: tuple[str, ...]
    cells: tuple[tuple[Cell, ...], ...]    # rows × cols
    row_notes: tuple[str, ...] = ()        # per row: the folded axes' values ("" for none)
    col_notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Section:
    asset: str
    providers: tuple[str, ...]
    row_axis: str | None
    col_axis: str | None
    split_axes: tuple[str, ...]
    fixed: tuple[tuple[str, str], ...]     # single-valued axes: (axis, label)
    grids: tuple[Grid, ...]
    folded: tuple[tuple[str, str], ...] = ()   # (dependent axis, the axis it follows)


@dataclass(frozen=True, slots=True)
class Page:
    title: str
    plan_mode: bool
    sections: tuple[Section, ...]
    orphans: tuple[Tile, ...] = ()
    plan_summary: tuple[tuple[str, int], ...] = ()

    def tiles(self) -> Iterable[Tile]:
        for section in self.sections:
            for grid in section.grids:
                for row in grid.cells:
                    for cell in row:
                        yield from cell.tiles
        yield from self.orphans


@dataclass(frozen=True, slots=True)
class Axis:
    name: str
    values: tuple[str, ...]    # labels, in matrix order


def build_page(pipeline: Pipeline, plan: Plan, *, rows: str | None = None,
               cols: str | None = None, plan_mode: bool = False) -> Page:
    """The page model of ``plan``'s combinations; SeedflowError for unusable --rows/--cols."""
    by_asset: dict[str, list[PlanItem]] = {}
    orphans: list[Tile] = []
    for item in plan.items:
        if item.combination is not None:
            by_asset.setdefault(item.combination.asset, []).append(item)
        elif plan_mode and item.entry is not None:
            orphans += orphan_tiles(item)
    axes = {a.name: asset_axes(a, by_asset.get(a.name, [])) for a in pipeline.assets}
    check_axis_options(axes, rows, cols)
    sections = tuple(
        section(asset.name, by_asset[asset.name], axes[asset.name], rows, cols, plan_mode)
        for asset in pipeline.assets if asset.name in by_asset)
    summary = tuple(plan.summary.items()) if plan_mode else ()
    return Page(pipeline.path.name, plan_mode, sections, tuple(orphans), summary)


def check_axis_options(axes: Mapping[str, Sequence[Axis]], rows: str | None,
                       cols: str | None) -> None:
    if rows is not None and rows == cols:
        raise SeedflowError(f"--rows and --cols are both `{rows}`; pick two different axes")
    known = sorted({axis.name for asset_axes in axes.values() for axis in asset_axes})
    for option, name in (("--rows", rows), ("--cols", cols)):
        if name is not None and name not in known:
            listed = ", ".join(f"`{n}`" for n in known) or "none (no asset has a matrix)"
            raise SeedflowError(f"{option} `{name}`: no asset has a matrix axis of that name; "
                                f"the axes are: {listed}")


# ---- axes ---------------------------------------------------------------------------------

def label(value: Any) -> str:
    """A matrix value as people read it: mappings by their ``id`` (or ``name``) key."""
    if isinstance(value, Mapping):
        for key in ("id", "name"):
            if key in value:
                return label(value[key])
        return ", ".join(f"{k}={label(v)}" for k, v in value.items()
                         if not isinstance(v, Mapping | list))
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def value_label(vars: Mapping[str, Any], axis: str) -> str:
    return label(vars[axis]) if axis in vars else MISSING_VALUE


def asset_axes(asset: Asset, items: Sequence[PlanItem]) -> tuple[Axis, ...]:
    """The asset's axes (declared ones first, then keys only ``include`` adds), each with the
    labels its combinations use: declared values in declared order, then any others."""
    names = list(asset.matrix.axis_names)
    for item in items:
        assert item.combination is not None
        names += [k for k in item.combination.vars if k not in names]
    declared = dict(asset.matrix.axes)
    axes = []
    for name in names:
        used = {value_label(_vars(item), name): None for item in items}
        ordered = [v for v in dict.fromkeys(label(x) for x in declared.get(name, ())) if v in used]
        ordered += [v for v in used if v not in ordered]
        axes.append(Axis(name, tuple(ordered)))
    return tuple(axes)


def dependent_axes(axes: Sequence[Axis], combos: Sequence[Mapping[str, Any]],
                   keep: Collection[str] = ()) -> dict[str, str]:
    """The axes whose value follows from another axis's value in every combination, each
    mapped to the axis it follows. Axes are tried in order (those in ``keep`` first, and never
    folded); an axis can only follow one that is not folded itself. Single-valued axes are not
    folded (the header lists them once)."""
    varying = sorted((axis for axis in axes if len(axis.values) > 1),
                     key=lambda axis: axis.name not in keep)
    leaders: list[Axis] = []
    folded: dict[str, str] = {}
    for axis in varying:
        leader = None if axis.name in keep else next(
            (lead for lead in leaders if determines(lead.name, axis.name, combos)), None)
        if leader is None:
            leaders.append(axis)
        else:
            folded[axis.name] = leader.name
    return folded


def determines(leader: str, follower: str, combos: Iterable[Mapping[str, Any]]) -> bool:
    """Whether each value of ``leader`` comes with one value of ``follower`` only."""
    seen: dict[str, str] = {}
    for vars in combos:
        value = value_label(vars, follower)
        if seen.setdefault(value_label(vars, leader), value) != value:
            return False
    return True


def choose_axes(axes: Sequence[Axis], rows: str | None,
                cols: str | None) -> tuple[Axis | None, Axis | None]:
    """The row and column axes: the requested ones if this asset has them, else the first
    axes with more than one value."""
    by_name = {axis.name: axis for axis in axes}
    row = by_name.get(rows) if rows else None
    col = by_name.get(cols) if cols else None
    varying = [axis for axis in axes if len(axis.values) > 1]
    if row is None:
        row = next((a for a in varying if a is not col), None)
    if col is None:
        col = next((a for a in varying if a is not row), None)
    return row, col


# ---- sections and grids --------------------------------------------------------------------

def section(asset: str, items: Sequence[PlanItem], all_axes: Sequence[Axis], rows: str | None,
            cols: str | None, plan_mode: bool) -> Section:
    combos = [_vars(item) for item in items]
    folded = dependent_axes(all_axes, combos, keep=[n for n in (rows, cols) if n])
    axes = [axis for axis in all_axes if axis.name not in folded]
    notes = fold_notes(folded, combos)
    row, col = choose_axes(axes, rows, cols)
    others = [axis for axis in axes if axis is not row and axis is not col]
    split = tuple(axis for axis in others if len(axis.values) > 1)
    fixed = tuple((axis.name, axis.values[0]) for axis in others if len(axis.values) == 1)
    groups: dict[tuple[str, ...], list[PlanItem]] = {}
    for item in items:
        groups.setdefault(tuple(value_label(_vars(item), a.name) for a in split), []).append(item)
    order = {a.name: {v: i for i, v in enumerate(a.values)} for a in split}
    keys = sorted(groups, key=lambda key: [order[a.name][v]
                                           for a, v in zip(split, key, strict=True)])
    grids = tuple(with_notes(grid(_title(split, key, notes), groups[key], row, col, plan_mode),
                             row, col, notes) for key in keys)
    providers = tuple(dict.fromkeys(_combo(item).provider for item in items))
    return Section(asset, providers, row.name if row else None, col.name if col else None,
                   tuple(a.name for a in split), fixed, grids, tuple(folded.items()))


Notes = Mapping[tuple[str, str], str]
"""(axis, value label) → the folded axes' values that come with it, e.g. ``scene=snow``."""


def fold_notes(folded: Mapping[str, str], combos: Iterable[Mapping[str, Any]]) -> Notes:
    found: dict[tuple[str, str], dict[str, str]] = {}
    for vars in combos:
        for follower, leader in folded.items():
            key = (leader, value_label(vars, leader))
            found.setdefault(key, {})[follower] = value_label(vars, follower)
    return {key: ", ".join(f"{name}={value}" for name, value in values.items())
            for key, values in found.items()}


def with_notes(model: Grid, row: Axis | None, col: Axis | None, notes: Notes) -> Grid:
    return replace(model,
                   row_notes=tuple(notes.get((row.name, r), "") if row else "" for r in model.rows),
                   col_notes=tuple(notes.get((col.name, c), "") if col else "" for c in model.cols))


def grid(title: str | None, items: Sequence[PlanItem], row: Axis | None, col: Axis | None,
         plan_mode: bool) -> Grid:
    row_labels = row.values if row else ("",)
    col_labels = col.values if col else ("",)
    slots: dict[tuple[str, str], list[Tile]] = {}
    for item in items:
        vars = _vars(item)
        key = (value_label(vars, row.name) if row else "",
               value_label(vars, col.name) if col else "")
        slots.setdefault(key, []).extend(combination_tiles(item, plan_mode))
    cells = tuple(tuple(Cell(tuple(slots.get((r, c), ()))) for c in col_labels)
                  for r in row_labels)
    return Grid(title, row_labels, col_labels, cells)


def _title(split: Sequence[Axis], key: tuple[str, ...], notes: Notes) -> str | None:
    if not split:
        return None
    parts = []
    for axis, value in zip(split, key, strict=True):
        note = notes.get((axis.name, value))
        parts.append(f"{axis.name}={value}" + (f" ({note})" if note else ""))
    return ", ".join(parts)


# ---- tiles ---------------------------------------------------------------------------------

def combination_tiles(item: PlanItem, plan_mode: bool) -> list[Tile]:
    """One tile per output image of a combination, with its status on disk."""
    combo = _combo(item)
    entry = item.entry
    moves = {move.index: move for move in item.moves}
    base = Tile(
        address=combo.address, prompt=prompt_of(combo.request, combo.provider),
        provider=combo.provider, task_id=entry.task_id if entry else None,
        date=_date(entry.completed_at or entry.submitted_at) if entry else None,
        output="", index=1, images=len(combo.outputs),
        aspect=aspect_of(combo.request, combo.provider),
        status=Status.PENDING, mark=Mark.NEW if plan_mode and item.action == Action.CREATE
        else None)
    tiles = []
    for index, output in enumerate(combo.outputs):
        status, source, note = _image_state(item, index, moves)
        sha = entry.images[index].sha256 if source and entry else None
        tiles.append(replace(base, output=output, index=index + 1, status=status,
                             source=source, sha256=sha, note=note))
    return tiles


def _image_state(item: PlanItem, index: int,
                 moves: Mapping[int, Move]) -> tuple[Status, str | None, str | None]:
    entry = item.entry
    if entry is None:
        return Status.PENDING, None, "not generated yet"
    status = STATUS_OF_STATE[entry.state]
    if status == Status.UNCERTAIN:
        return status, None, ("not generated yet: an earlier request may have reached the "
                              "provider (outcome unknown)")
    if status == Status.FAILED:
        return status, None, f"generation failed: {entry.error or 'unknown reason'}"
    if status == Status.RUNNING:
        return status, None, "not generated yet: the task is still running"
    if index >= len(entry.images):
        return Status.MISSING, None, "the provider returned fewer images than requested"
    move = moves.get(index)
    if move is None:
        return Status.READY, entry.images[index].path, None
    if move.source is not None:
        return Status.READY, move.source, None
    if item.action == Action.MODIFIED and move.target == move.image.path:
        return Status.READY, move.target, None   # shown, and flagged as differing (see below)
    if move.stored:
        return Status.MISSING, None, "in the store, not on this disk: seedflow pull brings it"
    return Status.MISSING, None, "file missing on disk; apply restores it"


def orphan_tiles(item: PlanItem) -> list[Tile]:
    entry = item.entry
    assert entry is not None
    base = Tile(address=entry.address, prompt=prompt_of(entry.request, entry.provider),
                provider=entry.provider, task_id=entry.task_id,
                date=_date(entry.completed_at or entry.submitted_at),
                output="", index=1, images=max(1, len(entry.images)),
                aspect=aspect_of(entry.request, entry.provider), status=Status.MISSING,
                note="no image recorded", mark=Mark.ORPHAN)
    if not entry.images:
        return [base]
    return [replace(base, output=image.path, index=i + 1, status=Status.READY, source=image.path,
                    sha256=image.sha256, note=None) for i, image in enumerate(entry.images)]


def attach_media(page: Page, media: Mapping[str, Media | str]) -> Page:
    """The page with each shown file's thumbnail and link; a file that could not be read
    (``media`` maps it to a reason) becomes a placeholder saying so, and a file whose bytes
    are not what the lock recorded is shown with a warning."""

    def fix(tile: Tile) -> Tile:
        if tile.status != Status.READY or tile.source is None:
            return tile
        found = media.get(tile.source, "not processed")
        if isinstance(found, str):
            return replace(tile, status=Status.BROKEN, note=f"cannot show the image: {found}")
        if tile.sha256 and found.sha256 and found.sha256 != tile.sha256:
            return replace(tile, media=found, note=MODIFIED)
        return replace(tile, media=found)

    sections = tuple(replace(s, grids=tuple(
        replace(g, cells=tuple(tuple(Cell(tuple(fix(t) for t in cell.tiles)) for cell in row)
                               for row in g.cells))
        for g in s.grids)) for s in page.sections)
    return replace(page, sections=sections, orphans=tuple(fix(t) for t in page.orphans))


def sources(page: Page) -> list[str]:
    """Every file the page shows, once each, in page order."""
    return list(dict.fromkeys(t.source for t in page.tiles()
                              if t.status == Status.READY and t.source is not None))


# ---- request details -----------------------------------------------------------------------

def _mappings(provider: str | None) -> Iterable[RequestMapping]:
    """Who reads a native request: its provider's mapping. A lock entry (from a pull request)
    may name a provider this seedflow does not know: then every mapping is asked in turn."""
    spec = PROVIDERS.get(provider) if provider is not None else None
    if spec is not None:
        return (spec.mapping,)
    return tuple({id(s.mapping): s.mapping for s in PROVIDERS.values()}.values())


def prompt_of(request: Mapping[str, Any], provider: str | None = None) -> str:
    """The prompt of a native request ("" when it does not say)."""
    found = (mapping.prompt_of(request) for mapping in _mappings(provider))
    return next((prompt for prompt in found if prompt is not None), "")


def aspect_of(request: Mapping[str, Any], provider: str | None = None) -> tuple[int, int]:
    """The image's width:height from the native request (1:1 when it does not say)."""
    found = (mapping.aspect_of(request) for mapping in _mappings(provider))
    return next((aspect for aspect in found if aspect is not None), (1, 1))


def _date(stamp: str | None) -> str | None:
    """``2026-11-21T12:21:26Z`` → ``2026-11-21 12:21 UTC``."""
    if not stamp:
        return None
    match = re.match(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::\d\d(?:\.\d+)?)?Z$", stamp)
    return f"{match[1]} {match[2]} UTC" if match else stamp


def _combo(item: PlanItem) -> Combination:
    assert item.combination is not None
    return item.combination


def _vars(item: PlanItem) -> Mapping[str, Any]:
    assert item.combination is not None
    return item.combination.vars
