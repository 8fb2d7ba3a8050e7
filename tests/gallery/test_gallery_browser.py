"""End to end: apply on the embedded simulator, build the gallery, open it in headless Chromium
and measure what a reviewer sees: even boxes, the width used, details and the full-size view."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from galleryutil import committed_project
from PIL import Image

from seedflow.cli import main
from seedflow.commands.gallery import gallery

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

PIPELINE = """\
version: 1
provider: sim
output_dir: assets
defaults:
  resolution: 1K
assets:
  product-shots:
    prompt: "Product photo of {{ product.text }}, soft studio light"
    matrix:
      product:
        - {id: mug, text: a matte ceramic coffee mug}
        - {id: lamp, text: a brass desk lamp}
      aspect: ["1:1", "16:9", "9:16"]
    output: "products/{{ product.id }}/{{ aspect | slug }}.png"
"""
ADDED = "        - {id: fern, text: a potted fern <script>alert(1)</script>}\n"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin"),
]

FACTS = """() => {
  const box = e => { const r = e.getBoundingClientRect();
                     return [Math.round(r.x), Math.round(r.y), Math.round(r.width),
                             Math.round(r.height)]; };
  return {
    thumbs: Array.from(document.querySelectorAll('img.thumb'))
      .map(i => [i.complete, i.naturalWidth]),
    scripts: document.scripts.length,
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    walls: Array.from(document.querySelectorAll('.wall')).map(box),
    boxes: Array.from(document.querySelectorAll('section.asset .box')).map(box),
    bands: Array.from(document.querySelectorAll('.band')).map(b => b.textContent),
    labels: Array.from(document.querySelectorAll('figure.card .label'))
      .map(l => l.textContent),
    placeholders: Array.from(document.querySelectorAll('.placeholder'))
      .map(p => p.closest('figure').dataset.address + ' | ' + p.textContent),
    newBadges: document.querySelectorAll('figure .badge.mark-new').length,
    legend: document.querySelector('.legend') !== null,
    slots: document.querySelectorAll('.slot').length,
  };
}"""


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium; started after seedflow ran (Playwright's sync API runs an event
    loop, and apply runs its own)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def open_page(browser: Any, index: Path, width: int, errors: list[str]) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.on("console", lambda msg: errors.append(msg.text))
    page.on("requestfailed", lambda request: errors.append(request.url))
    page.goto(index.resolve().as_uri(), wait_until="load")
    return page


def visible(page: Any, selector: str) -> bool:
    return bool(page.locator(selector).is_visible())


def test_gallery_in_a_real_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SEEDFLOW_SIM_LATENCY", "0.1")
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "catalog.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    assert main(["apply", "--yes", str(path)]) == 0
    entries = (tmp_path / "catalog.lock").read_text(encoding="utf-8").splitlines()[1:]
    tasks = [line.split('"task_id":"', 1)[1].split('"', 1)[0] for line in entries]
    assert len(tasks) == 6
    # one more matrix value: three combinations planned, not generated
    text = PIPELINE.replace("a brass desk lamp}\n", "a brass desk lamp}\n" + ADDED)
    path.write_text(text, encoding="utf-8")
    capsys.readouterr()

    out = tmp_path / "gallery"
    assert gallery(path, out=out, rows=None, cols=None, plan_mode=True, lock_path=None) == 0
    index = Path(capsys.readouterr().out.strip())
    assert index == out / "index.html"
    with chromium() as browser:
        check_gallery(browser, index, tasks, tmp_path / "gallery.png")


def check_gallery(browser: Any, index: Path, tasks: list[str], shot: Path) -> None:
    errors: list[str] = []
    page = open_page(browser, index, 1400, errors)
    facts: dict[str, Any] = page.evaluate(FACTS)
    assert len(facts["thumbs"]) == 6
    assert all(done and width > 0 for done, width in facts["thumbs"])
    assert facts["scripts"] == 0
    # the width is used: the wall spans the page, and nothing scrolls sideways
    assert facts["scrollWidth"] <= facts["clientWidth"] == 1400
    (wall,) = facts["walls"]
    assert wall[2] >= 0.9 * facts["clientWidth"]
    # even thumbnails: 1:1, 16:9 and 9:16 images (and placeholders) in boxes of one size
    assert len(facts["boxes"]) == 9
    assert len({(w, h) for _, _, w, h in facts["boxes"]}) == 1
    rows = sorted({y for _, y, _, _ in facts["boxes"]})
    assert len(rows) == 3   # one line per product, three boxes each, aligned
    assert facts["bands"] == ["mug", "lamp", "fern"]
    # short labels: only the values that vary within the row
    assert facts["labels"] == ["1:1", "16:9", "9:16"] * 3
    assert facts["placeholders"] == [
        f"product-shots[product.id=fern, aspect={a}] | not generated yet"
        for a in ("1:1", "16:9", "9:16")]
    assert facts["newBadges"] == 3 and facts["legend"] and facts["slots"] == 0

    # details on demand: hidden, then shown on a click, ids and paths wrapped inside the card
    first = page.locator("figure.card").first
    meta = first.locator("dl.meta")
    assert not meta.is_visible()
    first.locator("summary").click()
    assert meta.is_visible()
    shown = meta.inner_text()
    assert tasks[0] in shown or any(task in shown for task in tasks)
    assert "Product photo of a matte ceramic coffee mug" in shown
    card_box, meta_box = first.bounding_box(), meta.bounding_box()
    assert meta_box["x"] + meta_box["width"] <= card_box["x"] + card_box["width"] + 1
    fern = page.locator("figure.card", has_text="1:1").nth(2)
    fern.locator("summary").click()
    # the prompt from the "pull request" is shown as text, never run
    assert "a potted fern <script>alert(1)</script>" in fern.locator("dl.meta").inner_text()

    # the full-size view opens on a click, steps to the next image, and closes
    assert not visible(page, "#v1")
    page.locator("#t1 a.box").click()
    assert page.evaluate("location.hash") == "#v1" and visible(page, "#v1")
    page.wait_for_function("() => document.querySelector('#v1 img').complete")
    full = page.evaluate("() => { const i = document.querySelector('#v1 img'); const r = "
                         "i.getBoundingClientRect(); return [i.naturalWidth, r.width, "
                         "document.querySelector('#t1 img.thumb').naturalWidth]; }")
    # the full image (not the thumbnail), at its own size when it fits the window
    assert full[0] > full[2] and round(full[1]) == full[0]
    page.locator("#v1 a.next").click()
    assert visible(page, "#v2") and not visible(page, "#v1")
    page.locator("#v2 a.close").click()
    assert page.evaluate("location.hash") == "#t2"
    assert page.locator(".lightbox:visible").count() == 0
    assert errors == []

    # a narrow window: fewer columns, still no sideways scrolling
    narrow = open_page(browser, index, 700, errors)
    facts = narrow.evaluate(FACTS)
    assert facts["scrollWidth"] <= facts["clientWidth"]
    assert len({(w, h) for _, _, w, h in facts["boxes"]}) == 1
    page.screenshot(path=str(shot), full_page=True)
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.width == 1400 and image.height > 600
        image.verify()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_compare_in_a_real_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEEDFLOW_SIM_LATENCY", "0.02")
    monkeypatch.setenv("SEEDFLOW_POLL_INTERVAL", "0.02")
    path = committed_project(tmp_path / "repo")
    out = tmp_path / "cmp"
    assert main(["gallery", str(path), "-o", str(out), "--compare", "main"]) == 0
    with chromium() as browser:
        check_compare(browser, out / "index.html")


def check_compare(browser: Any, index: Path) -> None:
    errors: list[str] = []
    page = open_page(browser, index, 1400, errors)
    facts: dict[str, Any] = page.evaluate("""() => ({
      scripts: document.scripts.length,
      scrollWidth: document.documentElement.scrollWidth,
      thumbs: Array.from(document.querySelectorAll('img.thumb'))
        .map(i => [i.complete, i.naturalWidth]),
      pairs: Array.from(document.querySelectorAll('article.pair')).map(p => {
        const side = s => { const i = p.querySelector('.side.' + s + ' img.thumb');
          if (!i) return null;
          const r = i.closest('.box').getBoundingClientRect();
          return {src: i.getAttribute('src'), x: r.x, y: r.y, w: r.width, h: r.height,
                  loaded: i.complete && i.naturalWidth > 0}; };
        return {address: p.dataset.address, before: side('before'), after: side('after'),
                changes: p.querySelector('.changes').textContent}; }),
      added: document.querySelectorAll('#added figure.card').length,
      removed: document.querySelectorAll('#removed figure.card').length,
    })""")
    assert facts["scripts"] == 0 and facts["scrollWidth"] <= 1400
    assert all(done and width > 0 for done, width in facts["thumbs"])
    assert sorted(p["address"] for p in facts["pairs"]) == sorted(
        f"shots[product.id=mug, aspect={a}]" for a in ("1:1", "16:9", "9:16"))
    for pair in facts["pairs"]:
        before, after = pair["before"], pair["after"]
        assert before["loaded"] and after["loaded"] and before["src"] != after["src"]
        # side by side: one line, before on the left, boxes of one size
        assert before["y"] == after["y"] and before["x"] + before["w"] <= after["x"]
        assert (before["w"], before["h"]) == (after["w"], after["h"]) and before["w"] >= 150
        assert "sage green" in pair["changes"] and "terracotta" in pair["changes"]
    # the words that changed are marked as removed and added
    assert page.locator("article.pair del").first.inner_text() == "sage green,"
    assert page.locator("article.pair ins").first.inner_text() == "terracotta,"
    assert (facts["added"], facts["removed"]) == (3, 1)
    # the before image opens full size too
    page.locator("article.pair .side.before a.box").first.click()
    target = page.evaluate("location.hash")
    assert visible(page, target) and visible(page, f"{target} img")
    page.locator(f"{target} a.close").click()
    assert page.locator(".lightbox:visible").count() == 0
    assert errors == []
