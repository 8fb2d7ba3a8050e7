"""``plan --format markdown``: the plan as a reviewer reads it in a pull-request comment.

A header names the pipeline and its lock, then come the plan and cost lines, the notes, and
per asset a collapsible block listing each change: a create with its rendered prompt and the
native request it sends, a relink as ``from → to``, a restore, an orphan.

Everything from the pipeline or the lock (prompts, paths, matrix values, asset names) is the
pull request's own text, so each piece goes where it can only be text:

- the per-asset list is one fenced code block (no HTML, markdown or @mention is read there),
  fenced with more backticks than any run inside it, so nothing in it can close it early;
- the header's paths are inline code spans, delimited the same way;
- an asset's name in ``<summary>`` (HTML) is HTML-escaped inside ``<code>``, where GitHub
  links no mention.

Control and format characters (a newline included, save a prompt's own line breaks, which stay
indented) are shown escaped: nothing can end a line, a block or the ``<details>`` early, nor
reorder what a reviewer sees (bidi overrides).

GitHub refuses a comment over 65,536 characters: each asset lists its first
:data:`ITEMS_PER_ASSET` changes, long values are clipped, and once :data:`LIMIT` is reached
the remaining assets are only counted; the comment then says how to see everything.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedflow.plan.cost import plural
from seedflow.plan.diff import AT_RISK, Action, Move, Plan, PlanItem
from seedflow.plan.render import (
    SYMBOLS,
    cost_estimate,
    display_path,
    drift_line,
    how_moved,
    item_outputs,
    summary_line,
    unsent_notes,
)
from seedflow.providers import PROVIDERS

if TYPE_CHECKING:
    from seedflow.project import Project

LIMIT = 60_000            # characters: GitHub's 65,536, less room for the workflow's own text
ITEMS_PER_ASSET = 20
MAX_NOTES = 10
PROMPT_CLIP = 2_000       # characters of a prompt shown
REQUEST_CLIP = 1_000      # characters of a request's JSON shown
VALUE_CLIP = 500          # characters of an address or a path shown
INDENT = " " * 6
COUNTED = {Action.CREATE: "to create", Action.RESUME: "to resume", Action.RESTORE: "to restore",
           Action.RELINK: "to relink", Action.ORPHAN: "orphaned", Action.MODIFIED: "modified"}
_TICKS = re.compile("`+")


def render_markdown(project: Project, plan: Plan) -> Iterator[str]:
    changes = _by_asset(plan.items)
    head = list(_head(project, plan))
    yield from head
    if not changes:
        where = "in place or in the store" if plan.stored_only else "in place"
        yield f"No changes. Every combination is generated and its files are {where}."
        return
    listing = _Listing(budget=LIMIT - sum(len(line) + 1 for line in head))
    for asset, group in changes.items():
        yield from listing.block(project, asset, group)
    if listing.left_out:
        yield _left_out_line(project, listing, sum(g.total for g in changes.values()))


def _head(project: Project, plan: Plan) -> Iterator[str]:
    """Which pipeline and lock, the plan and cost lines, and the notes."""
    state = "" if project.lock.path.exists() else " (new)"
    yield (f"### seedflow plan: {code_span(_file(project.pipeline.path))} · lock "
           f"{code_span(_file(project.lock.path))}{state}")
    yield ""
    yield f"**Plan:** {summary_line(plan)}"
    if plan.summary["create"]:
        yield ""
        yield f"**Cost:** {cost_estimate(project, plan).describe()}."
    for note in _notes(project, plan):
        yield ""
        yield f"> {note}"
    yield ""


def _notes(project: Project, plan: Plan) -> list[str]:
    notes = [f"Note: {note}." for note in unsent_notes(plan)]
    if len(notes) > MAX_NOTES:
        notes[MAX_NOTES:] = [f"… and {len(notes) - MAX_NOTES:,} more notes like these "
                             "(`--format json` lists them all)."]
    drift = drift_line(plan)
    if drift:
        notes.append(drift)
    at_risk = sum(1 for item in plan.listed if item.note and item.note.startswith(AT_RISK))
    if at_risk:
        notes.append(f"**At risk:** {plural(at_risk, 'restore')} will probably fail: the "
                     "result URLs have expired (each one's note below says why).")
    if plan.stored_only:
        images = "1 image is" if plan.stored_only == 1 else f"{plan.stored_only:,} images are"
        notes.append(f"Note: {images} in the store but not on this disk: "
                     f"{code_span('seedflow pull ' + _file(project.pipeline.path))}.")
    return notes


@dataclass
class _Changes:
    """One asset's changes: how many of each action, and the first few, which are listed."""

    counts: Counter[Action] = field(default_factory=Counter)
    first: list[PlanItem] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _by_asset(items: Iterable[PlanItem]) -> dict[str, _Changes]:
    """The changes per asset, in the plan's order. Only the listed ones are kept: a lock with
    a million entries of a removed asset is counted as it streams past, not held."""
    groups: dict[str, _Changes] = {}
    for item in items:
        if item.action == Action.UNCHANGED:
            continue
        group = groups.setdefault(_asset(item), _Changes())
        group.counts[item.action] += 1
        if len(group.first) < ITEMS_PER_ASSET:
            group.first.append(item)
    return groups


def _asset(item: PlanItem) -> str:
    if item.combination:
        return item.combination.asset
    return item.entry.asset if item.entry else ""


@dataclass
class _Listing:
    """The per-asset blocks, within ``budget`` characters in all; once one does not fit, the
    assets after it are only counted."""

    budget: int
    shown: int = 0                    # changes listed
    left_out: int = 0                 # changes not listed
    assets_left_out: int = 0
    full: bool = False

    def block(self, project: Project, asset: str, changes: _Changes) -> Iterator[str]:
        summary = (f"<details><summary><code>{_html(asset)}</code> — {_counts(changes.counts)}"
                   "</summary>")
        room = self.budget - len(summary) - 200     # the fences, "… and N more", the closing
        if self.full or room < 0:
            self.full = True
            self.assets_left_out += 1
            self.left_out += changes.total
            return
        body: list[str] = []
        listed = 0
        for item in changes.first:
            lines = _item_lines(project, item)
            size = sum(len(line) + 1 for line in lines)
            if size + 2 * fence_length(body + lines) > room:
                self.full = True
                break
            body += lines
            room -= size
            listed += 1
        if listed < changes.total:
            body.append(f"… and {changes.total - listed:,} more (seedflow plan --format json "
                        "lists every one)")
        fence = "`" * fence_length(body)
        block = [summary, "", fence + "diff", *body, fence, "", "</details>", ""]
        self.budget -= sum(len(line) + 1 for line in block)
        self.shown += listed
        self.left_out += changes.total - listed
        yield from block


def _counts(counts: Counter[Action]) -> str:
    """``3 to create, 1 to relink``."""
    return ", ".join(f"{counts[action]:,} {words}" for action, words in COUNTED.items()
                     if counts.get(action))


def _item_lines(project: Project, item: PlanItem) -> list[str]:
    """One change: its action and address, then (indented) what it does."""
    lines = [f"{SYMBOLS[item.action]} {item.action.value:<8} {_shown(item.address)}"]
    if item.moves:
        lines += [INDENT + _move(project, move) for move in item.moves]
    else:
        lines += [INDENT + _shown(path) for path in item_outputs(project, item)]
    if item.action == Action.CREATE and item.combination:
        lines += _request_lines(item.combination.provider, item.combination.request,
                                item.combination.unsent)
    lines += [f"{INDENT}conflict: {_shown(display_path(project, path))} holds a file seedflow "
              "did not write" for path in item.conflicts]
    if item.note:
        lines.append(f"{INDENT}note: {_clip(plain(item.note), VALUE_CLIP)}")
    return lines


def _move(project: Project, move: Move) -> str:
    target = _shown(display_path(project, move.target))
    if move.source:
        return f"{_shown(display_path(project, move.source))} → {target}"
    return f"{target}  ({_clip(plain(how_moved(project, move)), VALUE_CLIP)})"


def _request_lines(provider: str, request: Mapping[str, Any],
                   unsent: Mapping[str, Any]) -> list[str]:
    """The rendered prompt, then the rest of the native request exactly as it is sent."""
    spec = PROVIDERS.get(provider)
    prompt = spec.mapping.prompt_of(request) if spec else None
    lines = []
    if prompt is not None:
        text = f"\n{INDENT}        ".join(plain(line) for line in prompt.split("\n"))
        lines.append(f"{INDENT}prompt: {_clip(text, PROMPT_CLIP)}")
    rest = _json(_without_prompt(request, prompt))
    lines.append(f"{INDENT}{plain(provider)} request: {_clip(rest, REQUEST_CLIP)}")
    if unsent:
        lines.append(f"{INDENT}not sent (identity only): {_clip(_json(unsent), VALUE_CLIP)}")
    return lines


def _without_prompt(body: Mapping[str, Any], prompt: str | None) -> dict[str, Any]:
    """The body without its ``prompt`` field (shown on a line of its own)."""
    return {key: _without_prompt(value, prompt) if isinstance(value, Mapping) else value
            for key, value in body.items() if not (key == "prompt" and value == prompt)}


def _left_out_line(project: Project, listing: _Listing, total: int) -> str:
    assets = listing.assets_left_out
    skipped = f" ({plural(assets, 'more asset')} not shown)" if assets else ""
    see = code_span(f"seedflow plan {_file(project.pipeline.path)} --format json")
    return f"Listed {listing.shown:,} of {total:,} changes{skipped}; {see} lists every one " \
           "with its full request."


# -- escaping -----------------------------------------------------------------------------

def code_span(text: str) -> str:
    """``text`` as an inline code span that nothing in it can end early."""
    text = _clip(plain(text), VALUE_CLIP)
    ticks = "`" * (_longest_tick_run(text) + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence_length(lines: list[str]) -> int:
    """A code fence longer than any run of backticks in ``lines`` (at least three)."""
    return max(3, max((_longest_tick_run(line) for line in lines), default=0) + 1)


def _longest_tick_run(text: str) -> int:
    return max((len(run) for run in _TICKS.findall(text)), default=0)


def _html(text: str) -> str:
    return html.escape(_clip(plain(text), VALUE_CLIP), quote=True)


def _shown(text: str) -> str:
    return _clip(plain(text), VALUE_CLIP)


def plain(text: str) -> str:
    """``text`` on one line: control and format characters shown as escapes (``\\n``)."""
    if text.isprintable():
        return text
    return "".join(_escaped(char) for char in text)


def _escaped(char: str) -> str:
    if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
        return char.encode("unicode_escape").decode("ascii")
    return char


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def _json(value: Any) -> str:
    return plain(json.dumps(value, ensure_ascii=False, default=str))


def _file(path: Path) -> str:
    """A pipeline or lock path as given, relative to the current directory when inside it."""
    if path.is_absolute():
        try:
            return path.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return path.as_posix()
    return path.as_posix()
