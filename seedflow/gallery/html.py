"""Page model → one self-contained HTML file (inline CSS, no scripts, no external resources).

Every piece of text from the pipeline, the lock or the filesystem goes through :func:`esc`
(prompts and addresses come from pull requests); hrefs are URL-quoted by thumbs.py and escaped
here. The output depends only on the page model, so rebuilding an unchanged gallery gives the
same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from seedflow import __version__
from seedflow.gallery.build import LEGEND, Cell, Grid, Mark, Page, Section, Status, Tile

BADGES = {Mark.NEW: "+ new", Mark.ORPHAN: "− orphan"}
PLAN_WORDS = {"create": "to create (paid)", "resume": "to resume", "restore": "to restore",
              "relink": "to relink", "orphan": "orphaned", "unchanged": "unchanged"}

CSS = """
:root { color-scheme: light; --ink: #1d2430; --muted: #5d6778; --line: #d9dee7;
  --paper: #f6f7f9; --card: #fff; --new: #15803d; --orphan: #b45309; --bad: #b91c1c; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; background: var(--paper); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header.page { margin-bottom: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0; }
h3 { font-size: 14px; margin: 18px 0 8px; color: var(--muted); font-weight: 600; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.muted { color: var(--muted); }
nav.toc { margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 6px 14px; }
nav.toc a { color: var(--ink); }
.plan { margin: 12px 0 0; padding: 10px 14px; background: var(--card);
  border: 1px solid var(--line); border-radius: 8px; display: inline-block; }
.legend { list-style: none; margin: 6px 0 0; padding: 0; display: flex; flex-wrap: wrap;
  gap: 6px 18px; }
section.asset { margin: 0 0 36px; }
.asset-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 14px;
  border-bottom: 1px solid var(--line); padding-bottom: 6px; margin-bottom: 8px; }
.scroll { overflow-x: auto; }
table.grid { border-collapse: separate; border-spacing: 10px; margin: 0 -10px; }
table.grid th { font-weight: 600; text-align: left; vertical-align: bottom; white-space: nowrap;
  color: var(--muted); }
table.grid th[scope=row] { vertical-align: top; padding-top: 8px; max-width: 160px;
  white-space: normal; overflow-wrap: anywhere; }
table.grid td.cell { vertical-align: top; width: 260px; min-width: 220px; }
td.cell.empty { background: repeating-linear-gradient(45deg, transparent 0 8px,
  #e9ecf1 8px 9px); border-radius: 8px; color: var(--muted); text-align: center;
  vertical-align: middle; font-size: 12px; }
.axis-name { font-weight: 400; }
figure.tile { margin: 0 0 10px; background: var(--card); border: 1px solid var(--line);
  border-radius: 8px; overflow: hidden; position: relative; }
figure.tile:last-child { margin-bottom: 0; }
.stack { display: flex; gap: 10px; align-items: flex-start; }
.stack figure.tile { width: 240px; flex: none; margin: 0; }
.wall { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
.wall figure.tile { width: 260px; margin: 0; }
figure.tile.mark-new { outline: 3px dashed var(--new); outline-offset: -1px; }
figure.tile.mark-orphan { outline: 3px dashed var(--orphan); outline-offset: -1px; }
.frame { display: block; background: #e9ecf1; line-height: 0; }
.frame img { display: block; width: 100%; height: auto; }
.placeholder { display: flex; flex-direction: column; align-items: center;
  justify-content: center; gap: 4px; padding: 12px; text-align: center; color: var(--muted);
  background: repeating-linear-gradient(-45deg, #f1f3f6 0 10px, #e8ebf0 10px 20px);
  line-height: 1.3; min-height: 90px; max-height: 420px; }
.placeholder strong { color: var(--ink); font-size: 13px; }
.status-failed .placeholder strong, .status-broken .placeholder strong { color: var(--bad); }
.badge { position: absolute; top: 8px; left: 8px; padding: 2px 8px; border-radius: 999px;
  font: 600 12px/1.5 system-ui, sans-serif; color: #fff; }
.legend .badge { position: static; }
.badge.mark-new { background: var(--new); }
.badge.mark-orphan { background: var(--orphan); }
figcaption { padding: 8px 10px 10px; }
figcaption .address { display: block; overflow-wrap: anywhere; font-weight: 600; }
figcaption .prompt { margin: 4px 0 6px; overflow-wrap: anywhere; font-size: 13px;
  display: -webkit-box; -webkit-line-clamp: 4; -webkit-box-orient: vertical; overflow: hidden; }
dl.meta { display: grid; grid-template-columns: auto 1fr; gap: 0 8px; margin: 0;
  font-size: 11.5px; color: var(--muted); }
dl.meta dt { font-weight: 600; }
figcaption .warning { margin: 0 0 6px; color: var(--bad); font-size: 12px; font-weight: 600; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
footer { margin-top: 32px; font-size: 12px; color: var(--muted); }
"""


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def render(page: Page) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             '<meta name="referrer" content="no-referrer">',
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
             "img-src 'self' data: file:; style-src 'unsafe-inline'\">",
             f"<title>{esc(page.title)} — seedflow gallery</title>",
             f"<style>{CSS}</style>", "</head>", "<body>", *header(page)]
    for number, section in enumerate(page.sections, 1):
        parts += asset_section(section, number)
    if page.orphans:
        parts += orphan_section(page.orphans)
    parts += [f'<footer>Generated by seedflow {esc(__version__)} · <code>seedflow gallery'
              f"</code></footer>", "</body>", "</html>", ""]
    return "\n".join(parts)


def header(page: Page) -> list[str]:
    tiles = list(page.tiles())
    shown = sum(1 for t in tiles if t.media is not None)
    lines = ['<header class="page">', f"<h1>{esc(page.title)}</h1>",
             f'<p class="muted summary">{_counts(shown, len(tiles) - shown)}</p>']
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


def asset_section(section: Section, number: int) -> list[str]:
    layout = [f"rows: {esc(section.row_axis)}" if section.row_axis else "",
              f"columns: {esc(section.col_axis)}" if section.col_axis else "",
              "one grid per " + ", ".join(esc(a) for a in section.split_axes)
              if section.split_axes else "",
              ", ".join(f"{esc(a)}={esc(v)}" for a, v in section.fixed)]
    details = " · ".join(part for part in layout if part)
    lines = [f'<section class="asset" id="asset-{number}" data-asset="{esc(section.asset)}">',
             '<div class="asset-head">', f"<h2>{esc(section.asset)}</h2>",
             f'<span class="muted">{esc(", ".join(section.providers))}</span>',
             f'<span class="muted layout">{details}</span>' if details else "", "</div>"]
    for grid_model in section.grids:
        lines += grid(grid_model, section)
    lines.append("</section>")
    return [line for line in lines if line]


def grid(model: Grid, section: Section) -> list[str]:
    lines = [f"<h3>{esc(model.title)}</h3>"] if model.title else []
    lines += ['<div class="scroll">', '<table class="grid">']
    if section.col_axis:
        corner = _corner(section)
        heads = "".join(f'<th scope="col">{esc(c)}</th>' for c in model.cols)
        lines.append(f"<thead><tr>{corner}{heads}</tr></thead>")
    lines.append("<tbody>")
    for label, row in zip(model.rows, model.cells, strict=True):
        head = f'<th scope="row">{esc(label)}</th>' if section.row_axis else ""
        lines.append(f"<tr>{head}{''.join(cell(c) for c in row)}</tr>")
    lines += ["</tbody>", "</table>", "</div>"]
    return lines


def _corner(section: Section) -> str:
    if not section.row_axis:
        return ""
    return (f'<th class="axis-name"><span class="muted">{esc(section.row_axis)} ↓ · '
            f"{esc(section.col_axis)} →</span></th>")


def cell(model: Cell) -> str:
    if not model.tiles:
        return '<td class="cell empty">not in the matrix</td>'
    tiles = "".join(tile(t) for t in model.tiles)
    if len(model.tiles) > 1:   # several images of one task: side by side
        return f'<td class="cell"><div class="stack">{tiles}</div></td>'
    return f'<td class="cell">{tiles}</td>'


def tile(model: Tile) -> str:
    classes = ["tile", f"status-{model.status.value}"]
    if model.mark:
        classes.append(f"mark-{model.mark.value}")
    badge = (f'<span class="badge mark-{model.mark.value}">{esc(BADGES[model.mark])}</span>'
             if model.mark else "")
    return (f'<figure class="{" ".join(classes)}" data-address="{esc(model.address)}">'
            f"{badge}{picture(model)}{caption(model)}</figure>")


def picture(model: Tile) -> str:
    media = model.media
    if media is None:
        width, height = model.aspect
        headline = _headline(model)
        note = f"<span>{esc(model.note)}</span>" if model.note and model.note != headline else ""
        return (f'<div class="placeholder" style="aspect-ratio: {width} / {height}">'
                f"<strong>{esc(headline)}</strong>{note}</div>")
    return (f'<a class="frame" href="{esc(media.full)}"><img src="{esc(media.thumb)}" '
            f'width="{media.width}" height="{media.height}" alt="{esc(model.address)}" '
            'decoding="async"></a>')


def _headline(model: Tile) -> str:
    if model.status in (Status.PENDING, Status.UNCERTAIN, Status.RUNNING):
        return "not generated yet"
    if model.status == Status.FAILED:
        return "generation failed"
    if model.status == Status.BROKEN:
        return "cannot show image"
    return "image missing"


def caption(model: Tile) -> str:
    index = f" · image {model.index} of {model.images}" if model.images > 1 else ""
    meta = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in _meta(model))
    warning = (f'<p class="warning">⚠ {esc(model.note)}</p>'
               if model.media is not None and model.note else "")
    return (f'<figcaption><code class="address">{esc(model.address)}{esc(index)}</code>'
            f'<p class="prompt" title="{esc(model.prompt)}">{esc(model.prompt)}</p>{warning}'
            f'<dl class="meta">{meta}</dl></figcaption>')


def _meta(model: Tile) -> Iterable[tuple[str, str]]:
    yield "provider", esc(model.provider)
    yield "task", f'<code class="task">{esc(model.task_id)}</code>' if model.task_id else "—"
    yield "date", esc(model.date or "—")
    if model.output:
        yield "file", f"<code>{esc(model.output)}</code>"


def orphan_section(tiles: Iterable[Tile]) -> list[str]:
    return ['<section class="asset orphans" id="orphans">', '<div class="asset-head">',
            "<h2>No longer in the pipeline</h2>",
            '<span class="muted">locked images whose combination was removed from the spec'
            "</span></div>", f'<div class="wall">{"".join(tile(t) for t in tiles)}</div>',
            "</section>"]
