"""Page model → one self-contained HTML file (inline CSS, no scripts, no external resources).

Images dominate: every thumbnail sits in a box of one size per asset (letterboxed, so mixed
aspect ratios make even rows), walls fill the window's width and wrap instead of scrolling
sideways, a card's label holds only the values that vary, the details (prompt, task, file)
open on demand (``<details>``), and a click shows the full image in a CSS ``:target`` overlay.

Every piece of text from the pipeline, the lock or the filesystem goes through :func:`esc`
(prompts and addresses come from pull requests); hrefs are URL-quoted by thumbs.py and escaped
here. The output depends only on the page model, so rebuilding an unchanged gallery gives the
same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from seedflow import __version__
from seedflow.gallery.build import LEGEND, Grid, Mark, Page, Section, Status, Tile

BADGES = {Mark.NEW: "+ new", Mark.ORPHAN: "− orphan"}
PLAN_WORDS = {"create": "to create", "resume": "to resume", "restore": "to restore",
              "relink": "to relink", "orphan": "orphaned", "unchanged": "unchanged"}

CSS = """
:root { color-scheme: light; --ink: #1d2430; --muted: #5d6778; --line: #d9dee7;
  --paper: #f3f4f6; --card: #fff; --well: #e7e9ee; --new: #15803d; --orphan: #b45309;
  --bad: #b91c1c; --before: #9a3412; --after: #166534; }
* { box-sizing: border-box; }
body { margin: 0; padding: 20px 28px 48px; background: var(--paper); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header.page { margin-bottom: 20px; }
h1 { font-size: 22px; margin: 0 0 2px; }
h2 { font-size: 18px; margin: 0; }
h3 { font-size: 13px; margin: 14px 0 6px; color: var(--muted); font-weight: 600; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  overflow-wrap: anywhere; }
a { color: inherit; }
.muted { color: var(--muted); }
nav.toc { margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 6px 14px; }
.plan { margin: 12px 0 0; padding: 10px 14px; background: var(--card);
  border: 1px solid var(--line); border-radius: 8px; display: inline-block; }
.legend { list-style: none; margin: 6px 0 0; padding: 0; display: flex; flex-wrap: wrap;
  gap: 6px 18px; }
section.asset { margin: 0 0 32px; }
.asset-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 14px;
  border-bottom: 1px solid var(--line); padding-bottom: 6px; margin-bottom: 10px; }
.asset-head .layout { font-size: 12.5px; }
.wall { display: grid; gap: 12px;
  grid-template-columns: repeat(auto-fill, minmax(min(100%, var(--min, 160px)), 1fr)); }
.band { grid-column: 1 / -1; display: flex; flex-wrap: wrap; align-items: baseline;
  gap: 0 10px; margin-top: 6px; font-weight: 600; }
.band:first-child { margin-top: 0; }
.band .note, .label .note { font-weight: 400; color: var(--muted); overflow-wrap: anywhere; }
figure.card { margin: 0; min-width: 0; position: relative; scroll-margin-top: 30vh; }
.box { display: block; aspect-ratio: var(--ratio, 1); background: var(--well);
  border-radius: 6px; overflow: hidden; position: relative; }
a.box:hover, a.box:focus-visible { outline: 3px solid #2563eb; outline-offset: 1px; }
.box img { display: block; width: 100%; height: 100%; object-fit: contain; }
.slot { aspect-ratio: var(--ratio, 1); border: 1px dashed var(--line); border-radius: 6px;
  display: flex; align-items: center; justify-content: center; color: #9aa3b2;
  font-size: 11.5px; }
.placeholder { display: flex; flex-direction: column; align-items: center;
  justify-content: center; gap: 4px; padding: 10px; height: 100%; text-align: center;
  color: var(--muted); font-size: 12px; line-height: 1.3; overflow: hidden;
  background: repeating-linear-gradient(-45deg, #f1f3f6 0 10px, #e6e9ee 10px 20px); }
.placeholder strong { color: var(--ink); font-size: 13px; }
.status-failed .placeholder strong, .status-broken .placeholder strong { color: var(--bad); }
figure.card.mark-new .box { outline: 3px dashed var(--new); outline-offset: -3px; }
figure.card.mark-orphan .box { outline: 3px dashed var(--orphan); outline-offset: -3px; }
.badge { position: absolute; top: 6px; left: 6px; z-index: 1; padding: 1px 8px;
  border-radius: 999px; font: 600 12px/1.5 system-ui, sans-serif; color: #fff; }
.legend .badge { position: static; }
.badge.mark-new { background: var(--new); }
.badge.mark-orphan { background: var(--orphan); }
figcaption { display: flex; align-items: flex-start; gap: 6px; padding: 4px 2px 0;
  font-size: 12.5px; }
.label { flex: 1; min-width: 0; overflow-wrap: anywhere; }
.warning { color: var(--bad); font-weight: 600; }
details.info { flex: none; font-size: 12px; }
details.info > summary { list-style: none; cursor: pointer; color: var(--muted);
  padding: 0 4px; border-radius: 4px; }
details.info > summary::-webkit-details-marker { display: none; }
details.info > summary:hover { color: var(--ink); background: var(--well); }
details.info[open] { flex-basis: 100%; order: 2; }
figcaption:has(details[open]) { flex-wrap: wrap; }
dl.meta { margin: 4px 0 0; padding: 6px 8px 8px; background: var(--card);
  border: 1px solid var(--line); border-radius: 6px; font-size: 12px; }
dl.meta dt { margin-top: 4px; color: var(--muted); font-size: 10.5px; font-weight: 600;
  text-transform: uppercase; letter-spacing: .04em; }
dl.meta dt:first-child { margin-top: 0; }
dl.meta dd { margin: 0; min-width: 0; overflow-wrap: anywhere; color: var(--ink); }
dl.meta code { font-size: 11px; }
.lightbox { display: none; position: fixed; inset: 0; z-index: 10;
  background: rgba(12, 14, 18, .97); color: #e5e7eb; }
.lightbox:target { display: flex; flex-direction: column; align-items: center;
  justify-content: center; gap: 10px; padding: 44px 64px 16px; }
.lightbox .backdrop { position: absolute; inset: 0; }
.lightbox img { position: relative; max-width: 100%; max-height: calc(100vh - 130px);
  object-fit: contain; background: #222; }
.lightbox p { position: relative; margin: 0; max-width: 1100px; text-align: center;
  overflow-wrap: anywhere; font-size: 13px; }
.lightbox .facts { color: #9ca3af; font-size: 12px; }
.lightbox .nav { position: absolute; color: #fff; text-decoration: none; font-size: 28px;
  line-height: 1; padding: 10px 14px; border-radius: 8px; }
.lightbox .nav:hover { background: rgba(255, 255, 255, .12); }
.lightbox .close { top: 4px; right: 8px; }
.lightbox .prev { left: 8px; top: 50%; }
.lightbox .next { right: 8px; top: 50%; }
.counts { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 6px 0 0; }
.pairs { display: grid; gap: 14px;
  grid-template-columns: repeat(auto-fill, minmax(min(100%, 520px), 1fr)); }
.pair { margin: 0; padding: 10px 12px 12px; background: var(--card); min-width: 0;
  border: 1px solid var(--line); border-radius: 8px; }
.pair > .address { font-weight: 600; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.side { min-width: 0; }
.side .wall { grid-template-columns: repeat(auto-fit, minmax(min(100%, 120px), 1fr)); }
.side > h4 { margin: 0 0 6px; font-size: 11.5px; text-transform: uppercase;
  letter-spacing: .05em; }
.side.before > h4 { color: var(--before); }
.side.after > h4 { color: var(--after); }
.changes { margin: 6px 0 10px; padding: 0; list-style: none; font-size: 12.5px;
  overflow-wrap: anywhere; }
.changes del { color: var(--before); background: #fde8e1; }
.changes ins { color: var(--after); background: #dcfce7; text-decoration: none; }
footer { margin-top: 32px; font-size: 12px; color: var(--muted); }
"""


MIN_BOX = 160
"""The narrowest a square thumbnail box gets, CSS pixels (wider boxes: more, same area)."""


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def shell(title: str, body: Iterable[str]) -> str:
    """The whole HTML document: no scripts, nothing loaded from outside the folder."""
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             '<meta name="referrer" content="no-referrer">',
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
             "img-src 'self' data: file:; style-src 'unsafe-inline'\">",
             f"<title>{esc(title)} — seedflow gallery</title>",
             f"<style>{CSS}</style>", "</head>", "<body>", *body,
             f'<footer>Generated by seedflow {esc(__version__)} · <code>seedflow gallery'
             f"</code></footer>", "</body>", "</html>", ""]
    return "\n".join(parts)


class Viewer:
    """The full-size views: one ``:target`` overlay per shown image (CSS only, no script),
    with links to the previous and next image and back to the card."""

    def __init__(self) -> None:
        self.tiles: list[Tile] = []

    def add(self, model: Tile) -> int:
        """The number of ``model``'s card (``t<n>``) and view (``v<n>``)."""
        self.tiles.append(model)
        return len(self.tiles)

    def render(self) -> list[str]:
        return [self._view(n, t) for n, t in enumerate(self.tiles, 1) if t.media is not None]

    def _view(self, number: int, model: Tile) -> str:
        assert model.media is not None
        shown = [n for n, t in enumerate(self.tiles, 1) if t.media is not None]
        place = shown.index(number)
        links = [f'<a class="nav close" href="#t{number}" title="close">×</a>']
        if place > 0:
            links.append(f'<a class="nav prev" href="#v{shown[place - 1]}" title="previous">‹</a>')
        if place + 1 < len(shown):
            links.append(f'<a class="nav next" href="#v{shown[place + 1]}" title="next">›</a>')
        full = esc(model.media.full)
        return (f'<div class="lightbox" id="v{number}" role="dialog" '
                f'aria-label="{esc(model.address)}">'
                f'<a class="backdrop" href="#t{number}" aria-label="close"></a>'
                f'<img src="{full}" alt="{esc(model.address)}" loading="lazy">'
                f"<p><code>{esc(model.address)}{esc(_index(model))}</code> · "
                f'<a href="{full}">open the file</a></p>'
                f"<p>{esc(model.prompt)}</p>"
                f'<p class="facts">{esc(_facts(model))}</p>{"".join(links)}</div>')


def _facts(model: Tile) -> str:
    parts = [model.provider, f"task {model.task_id}" if model.task_id else "",
             model.date or "", model.output]
    return " · ".join(part for part in parts if part)


def render(page: Page) -> str:
    viewer = Viewer()
    body = header(page)
    for number, section in enumerate(page.sections, 1):
        body += asset_section(section, number, viewer)
    if page.orphans:
        body += orphan_section(page.orphans, viewer)
    return shell(page.title, body + viewer.render())


def header(page: Page) -> list[str]:
    tiles = list(page.tiles())
    shown = sum(1 for t in tiles if t.media is not None)
    lines = ['<header class="page">', f"<h1>{esc(page.title)}</h1>",
             f'<p class="muted summary">{_counts(shown, len(tiles) - shown)} · click an image '
             "for the full size, “details” for its prompt, task and file</p>"]
    if len(page.sections) > 1:
        links = " ".join(f'<a href="#asset-{n}">{esc(s.asset)}</a>'
                         for n, s in enumerate(page.sections, 1))
        lines.append(f'<nav class="toc">{links}</nav>')
    if page.plan_mode:
        lines += plan_box(page)
    lines.append("</header>")
    return lines


def _counts(shown: int, placeholders: int) -> str:
    images = f"{shown} image{'' if shown == 1 else 's'}"
    return f"{images} · {placeholders} not shown (placeholders)" if placeholders else images


def plan_box(page: Page) -> list[str]:
    counts = ", ".join(f"{n} {esc(PLAN_WORDS.get(action, action))}"
                       for action, n in page.plan_summary if n)
    legend = "".join(f'<li><span class="badge mark-{mark.value}">{esc(BADGES[mark])}</span> '
                     f"{esc(text)}</li>" for mark, text in LEGEND
                     if mark == Mark.NEW or page.orphans)
    return ['<div class="plan">', f"<strong>Plan:</strong> {counts or 'nothing'}",
            f'<ul class="legend">{legend}<li><span class="muted">striped box</span> '
            "not generated yet (or not on disk)</li></ul>", "</div>"]


def asset_section(section: Section, number: int, viewer: Viewer) -> list[str]:
    details = " · ".join(part for part in _layout(section) if part)
    lines = [f'<section class="asset" id="asset-{number}" data-asset="{esc(section.asset)}">',
             '<div class="asset-head">', f"<h2>{esc(section.asset)}</h2>",
             f'<span class="muted">{esc(", ".join(section.providers))}</span>',
             f'<span class="muted layout">{details}</span>' if details else "", "</div>",
             f'<div class="wall" style="{box_style(section_tiles(section))}">']
    lines += wall(section, viewer)
    lines += ["</div>", "</section>"]
    return [line for line in lines if line]


def _layout(section: Section) -> Iterable[str]:
    if section.row_axis:
        yield f"rows: {esc(section.row_axis)}"
    inner = [a for a in (section.col_axis, *section.split_axes) if a]
    if inner:
        yield "in each row: " + " × ".join(esc(a) for a in inner)
    for follower, leader in section.folded:
        yield f"{esc(follower)} follows {esc(leader)}"
    if section.fixed:
        yield ", ".join(f"{esc(a)}={esc(v)}" for a, v in section.fixed)


def section_tiles(section: Section) -> list[Tile]:
    return [t for g in section.grids for row in g.cells for c in row for t in c.tiles]


def box_style(tiles: Sequence[Tile]) -> str:
    """Every thumbnail box of a wall has one size: the images' aspect when they share one
    (within limits), else square; wider boxes get wider columns."""
    aspects = {t.aspect[0] / t.aspect[1] for t in tiles if t.aspect[1] > 0}
    ratio = min(max(aspects.pop(), 0.6), 2.4) if len(aspects) == 1 else 1.0
    return f"--ratio: {ratio:.3f}; --min: {round(MIN_BOX * ratio ** 0.5)}px"


def wall(section: Section, viewer: Viewer) -> list[str]:
    """Row by row: a heading (the row value), then the cells of every column, each column
    once per sub-grid (``1:1 · seed=11``, ``1:1 · seed=12``, ``4:3 · seed=11`` …), so columns
    line up from row to row; a column no row uses is left out, a cell the matrix lacks is a
    faint slot."""
    lines: list[str] = []
    first = section.grids[0]
    slots = [(g, c) for c in range(len(first.cols)) for g in section.grids
             if any(row[c].tiles for row in g.cells)]
    for r, row_label in enumerate(first.rows):
        if section.row_axis:
            note = first.row_notes[r] if first.row_notes else ""
            lines.append(f'<div class="band">{esc(row_label)}'
                         + (f' <span class="note">{esc(note)}</span>' if note else "")
                         + "</div>")
        for model, c in slots:
            lines += cell(model, r, c, section, viewer)
    return lines


def cell(model: Grid, r: int, c: int, section: Section, viewer: Viewer) -> list[str]:
    tiles = model.cells[r][c].tiles if r < len(model.cells) else ()
    label = _cell_label(model, c, section)
    if not tiles:
        return [f'<div class="slot" title="{esc(label)}: not in the matrix">not in the matrix'
                "</div>"]
    return [card(t, label, viewer) for t in tiles]


def _cell_label(model: Grid, c: int, section: Section) -> str:
    parts = []
    if section.col_axis:
        note = model.col_notes[c] if model.col_notes else ""
        parts.append(model.cols[c] + (f" ({note})" if note else ""))
    if model.title:
        parts.append(model.title)
    return " · ".join(parts)


def card(model: Tile, label: str, viewer: Viewer) -> str:
    """One even thumbnail box, a short label (the values that vary), details on demand."""
    number = viewer.add(model)
    classes = ["card", f"status-{model.status.value}"]
    if model.mark:
        classes.append(f"mark-{model.mark.value}")
    badge = (f'<span class="badge mark-{model.mark.value}">{esc(BADGES[model.mark])}</span>'
             if model.mark else "")
    index = f"{model.index}/{model.images}" if model.images > 1 else ""
    text = " · ".join(p for p in (label, index) if p) or model.address
    warning = ('<span class="warning" title="see the details">⚠ </span>'
               if model.media is not None and model.note else "")
    return (f'<figure class="{" ".join(classes)}" id="t{number}" '
            f'data-address="{esc(model.address)}">{badge}{picture(model, number)}'
            f'<figcaption><span class="label">{warning}{esc(text)}</span>'
            f"{info(model)}</figcaption></figure>")


def picture(model: Tile, number: int) -> str:
    media = model.media
    if media is None:
        headline = _headline(model)
        note = f"<span>{esc(model.note)}</span>" if model.note and model.note != headline else ""
        return (f'<div class="box"><div class="placeholder"><strong>{esc(headline)}</strong>'
                f"{note}</div></div>")
    return (f'<a class="box" href="#v{number}" title="{esc(model.address)} (full size)">'
            f'<img class="thumb" src="{esc(media.thumb)}" width="{media.width}" '
            f'height="{media.height}" alt="{esc(model.address)}" decoding="async"></a>')


def _headline(model: Tile) -> str:
    if model.status in (Status.PENDING, Status.UNCERTAIN, Status.RUNNING):
        return "not generated yet"
    if model.status == Status.FAILED:
        return "generation failed"
    if model.status == Status.BROKEN:
        return "cannot show image"
    return "image missing"


def _index(model: Tile) -> str:
    return f" · image {model.index} of {model.images}" if model.images > 1 else ""


def info(model: Tile) -> str:
    """The details of one image, folded away until asked for."""
    rows = [("address", f'<code class="address">{esc(model.address)}{esc(_index(model))}</code>'),
            ("prompt", f'<span class="prompt">{esc(model.prompt)}</span>')]
    if model.note and model.media is not None:   # a placeholder shows its note itself
        rows.append(("note", f'<span class="warning">{esc(model.note)}</span>'))
    rows += list(_meta(model))
    meta = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in rows)
    return (f'<details class="info"><summary title="prompt, task, file">details</summary>'
            f'<dl class="meta">{meta}</dl></details>')


def _meta(model: Tile) -> Iterable[tuple[str, str]]:
    yield "provider", esc(model.provider)
    yield "task", f'<code class="task">{esc(model.task_id)}</code>' if model.task_id else "—"
    yield "date", esc(model.date or "—")
    if model.output:
        yield "file", f"<code>{esc(model.output)}</code>"


def orphan_section(tiles: Sequence[Tile], viewer: Viewer) -> list[str]:
    cards = "".join(card(t, t.address, viewer) for t in tiles)
    return ['<section class="asset orphans" id="orphans">', '<div class="asset-head">',
            "<h2>No longer in the pipeline</h2>",
            '<span class="muted">locked images whose combination was removed from the spec'
            '</span></div>', f'<div class="wall" style="{box_style(tiles)}">{cards}</div>',
            "</section>"]
