"""Compare page model → HTML: changed combinations before / after side by side, then the
added ones, then the removed ones (the same cards, boxes and full-size views as the gallery;
every text escaped)."""

from __future__ import annotations

from collections.abc import Sequence

from seedflow.gallery.build import Tile
from seedflow.gallery.compare import Change, ComparePage, Pair, counts, pairs_of, word_diff
from seedflow.gallery.html import Viewer, box_style, card, esc, shell

HEADINGS = {Change.CHANGED: "Changed", Change.ADDED: "Added", Change.REMOVED: "Removed"}
EXPLAINED = {
    Change.CHANGED: "the same combination with another request or new images: before → after",
    Change.ADDED: "in the working lock, not at the ref",
    Change.REMOVED: "at the ref, no longer in the working lock",
}


def render_compare(page: ComparePage) -> str:
    viewer = Viewer()
    body = header(page)
    for change in Change:
        pairs = pairs_of(page, change)
        if pairs:
            body += section(change, pairs, viewer)
    if not page.pairs:
        body.append('<p class="nothing">No image changed.</p>')
    return shell(f"{page.title} vs {page.ref}", body + viewer.render())


def header(page: ComparePage) -> list[str]:
    numbers = "".join(f'<span class="count-{c.value}"><strong>{n}</strong> {c.value}</span>'
                      for c, n in counts(page))
    lines = ['<header class="page">',
             f"<h1>{esc(page.title)}: <code>{esc(page.ref)}</code> → working tree</h1>",
             f'<p class="muted">lock <code>{esc(page.lock)}</code> at <code>{esc(page.ref)}'
             f"</code> ({esc(page.commit[:12])}) against the working lock · click an image for "
             "the full size</p>",
             f'<p class="counts">{numbers}<span class="muted"><strong>{page.unchanged}</strong>'
             " unchanged (not shown)</span></p>"]
    if not page.lock_at_ref:
        lines.append(f'<p class="muted">{esc(page.ref)} has no <code>{esc(page.lock)}</code>: '
                     "every image counts as added.</p>")
    lines.append("</header>")
    return lines


def section(change: Change, pairs: Sequence[Pair], viewer: Viewer) -> list[str]:
    lines = [f'<section class="asset compare-{change.value}" id="{change.value}">',
             '<div class="asset-head">', f"<h2>{HEADINGS[change]} ({len(pairs)})</h2>",
             f'<span class="muted">{esc(EXPLAINED[change])}</span></div>']
    if change == Change.CHANGED:
        lines += ['<div class="pairs">', *(pair(p, viewer) for p in pairs), "</div>"]
    else:
        lines += wall([t for p in pairs for t in (p.after or p.before)], viewer)
    lines.append("</section>")
    return lines


def wall(tiles: Sequence[Tile], viewer: Viewer) -> list[str]:
    """Added or removed images, a band per asset, each labelled by its matrix values."""
    lines = [f'<div class="wall" style="{box_style(tiles)}">']
    asset = None
    for tile in tiles:
        name, _, values = tile.address.partition("[")
        if name != asset:
            asset = name
            lines.append(f'<div class="band">{esc(name)}</div>')
        lines.append(card(tile, values.removesuffix("]") or name, viewer))
    return [*lines, "</div>"]


def pair(model: Pair, viewer: Viewer) -> str:
    """One changed combination: what changed, then its images before and after."""
    changes = "".join(f"<li><strong>{esc(what)}</strong>: {edit(old, new)}</li>"
                      for what, old, new in model.edits)
    sides = []
    for name, tiles in (("before", model.before), ("after", model.after)):
        cards = "".join(card(t, name, viewer) for t in tiles)
        sides.append(f'<div class="side {name}"><h4>{name}</h4>'
                     f'<div class="wall" style="{box_style(tiles)}; --min: 120px">{cards}'
                     "</div></div>")
    return (f'<article class="pair" data-address="{esc(model.address)}">'
            f'<code class="address">{esc(model.address)}</code>'
            f'<ul class="changes">{changes}</ul><div class="sides">{"".join(sides)}</div>'
            "</article>")


def edit(old: str, new: str) -> str:
    """A changed value: the words removed struck through, the words added highlighted."""
    tags = {"=": "{}", "-": "<del>{}</del>", "+": "<ins>{}</ins>"}
    return " ".join(tags[op].format(esc(text)) for op, text in word_diff(old, new))
