"""End to end: apply on the embedded simulator, build the gallery, open it in headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
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
      aspect: ["1:1", "16:9"]
    output: "products/{{ product.id }}/{{ aspect | slug }}.png"
"""
ADDED = "        - {id: fern, text: a potted fern <script>alert(1)</script>}\n"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin"),
]


def test_gallery_in_a_real_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("SEEDFLOW_SIM_LATENCY", "0.1")
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "catalog.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    assert main(["apply", "--yes", str(path)]) == 0
    entries = (tmp_path / "catalog.lock").read_text(encoding="utf-8").splitlines()[1:]
    tasks = [line.split('"task_id":"', 1)[1].split('"', 1)[0] for line in entries]
    addresses = [line.split('"address":"', 1)[1].split('"', 1)[0] for line in entries]
    assert len(tasks) == 4
    # one more matrix value: two combinations planned, not generated
    text = PIPELINE.replace("a brass desk lamp}\n", "a brass desk lamp}\n" + ADDED)
    path.write_text(text, encoding="utf-8")
    capsys.readouterr()

    out = tmp_path / "gallery"
    assert gallery(path, out=out, rows=None, cols=None, plan_mode=True, lock_path=None) == 0
    index = Path(capsys.readouterr().out.strip())
    assert index == out / "index.html"

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            page.on("console", lambda msg: errors.append(msg.text))
            page.on("requestfailed", lambda request: errors.append(request.url))
            page.goto(index.resolve().as_uri(), wait_until="load")
            facts: dict[str, Any] = page.evaluate("""() => ({
              images: Array.from(document.images).map(i => [i.complete, i.naturalWidth]),
              scripts: document.scripts.length,
              rows: document.querySelectorAll('table.grid tbody tr').length,
              cols: document.querySelectorAll('table.grid thead th[scope=col]').length,
              cells: document.querySelectorAll('table.grid td.cell').length,
              rowLabels: Array.from(document.querySelectorAll('th[scope=row]'))
                .map(t => t.textContent),
              placeholders: Array.from(document.querySelectorAll('.placeholder'))
                .map(p => p.closest('figure').dataset.address + ' | ' + p.textContent),
              newBadges: document.querySelectorAll('figure .badge.mark-new').length,
              legend: document.querySelector('.legend') !== null,
              captions: Array.from(document.querySelectorAll('figure.tile figcaption'))
                .map(c => c.textContent),
              links: Array.from(document.querySelectorAll('a.frame')).map(a => a.href),
            })""")
            assert len(facts["images"]) == 4
            assert all(done and width > 0 for done, width in facts["images"])
            assert facts["scripts"] == 0
            assert (facts["rows"], facts["cols"], facts["cells"]) == (3, 2, 6)
            assert facts["rowLabels"] == ["mug", "lamp", "fern"]
            assert facts["placeholders"] == [
                "product-shots[product.id=fern, aspect=1:1] | not generated yet",
                "product-shots[product.id=fern, aspect=16:9] | not generated yet"]
            assert facts["newBadges"] == 2 and facts["legend"]
            for caption in facts["captions"]:
                assert caption.startswith("product-shots[product.id=")
            for address, task in zip(addresses, tasks, strict=True):
                # every generated image is captioned with its address and task id
                assert sum(address in c and task in c for c in facts["captions"]) == 1
            # the prompt from the "pull request" is shown as text, never run
            assert any("a potted fern <script>alert(1)</script>" in c for c in facts["captions"])
            assert all(link.startswith("file://") and "/gallery/images/" in link
                       for link in facts["links"])
            assert errors == []
            shot = tmp_path / "gallery.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.width == 1200 and image.height > 600
        image.verify()
