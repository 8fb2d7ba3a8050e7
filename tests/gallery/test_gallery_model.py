"""The gallery's page model (pure): axes, grids, placeholders, plan marks, and its HTML."""

from __future__ import annotations

import re

import pytest
from galleryutil import WritePipeline, generated, load, plan_of, with_entries

from seedflow.errors import SeedflowError
from seedflow.gallery.build import (
    STATUS_OF_STATE,
    Grid,
    Mark,
    Media,
    Page,
    Status,
    Tile,
    aspect_of,
    attach_media,
    build_page,
    label,
    prompt_of,
)
from seedflow.gallery.html import render
from seedflow.lock.model import State
from seedflow.plan.diff import Action

PRODUCTS = """
assets:
  shots:
    prompt: "Photo of {{ product.text }}"
    matrix:
      product:
        - {id: mug, text: a mug}
        - {id: lamp, text: a lamp}
      aspect: ["1:1", "16:9", "3:4"]
      seed: [11, 12]
      exclude:
        - {product: {id: lamp}, aspect: "3:4"}
    output: "{{ product.id }}/{{ aspect | slug }}-{{ seed }}.png"
"""


def labels(grid: Grid) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return grid.rows, grid.cols


def test_default_axes_first_two_varying_axes_rest_split_into_grids(
        write_pipeline: WritePipeline) -> None:
    project = load(write_pipeline(PRODUCTS))
    page = build_page(project.pipeline, plan_of(project))
    (section,) = page.sections
    assert (section.row_axis, section.col_axis, section.split_axes) == ("product", "aspect",
                                                                        ("seed",))
    assert [g.title for g in section.grids] == ["seed=11", "seed=12"]
    for grid in section.grids:
        assert labels(grid) == (("mug", "lamp"), ("1:1", "16:9", "3:4"))
        assert [len(row) for row in grid.cells] == [3, 3]
        # the excluded combination is an empty cell, every other cell holds one tile
        assert [[len(c.tiles) for c in row] for row in grid.cells] == [[1, 1, 1], [1, 1, 0]]
        mug_wide = grid.cells[0][1].tiles[0]
        assert mug_wide.address.startswith("shots[product.id=mug, aspect=16:9, seed=")
        assert mug_wide.aspect == (16, 9)


def test_rows_and_cols_options(write_pipeline: WritePipeline) -> None:
    project = load(write_pipeline(PRODUCTS))
    plan = plan_of(project)
    (section,) = build_page(project.pipeline, plan, rows="seed", cols="product").sections
    assert (section.row_axis, section.col_axis, section.split_axes) == ("seed", "product",
                                                                        ("aspect",))
    assert [g.title for g in section.grids] == ["aspect=1:1", "aspect=16:9", "aspect=3:4"]
    assert labels(section.grids[0]) == (("11", "12"), ("mug", "lamp"))
    # only --rows: the columns are the first other axis with several values
    (section,) = build_page(project.pipeline, plan, rows="aspect").sections
    assert (section.row_axis, section.col_axis) == ("aspect", "product")
    (section,) = build_page(project.pipeline, plan, cols="product").sections
    assert (section.row_axis, section.col_axis) == ("aspect", "product")


@pytest.mark.parametrize(("rows", "cols", "message"), [
    ("prodcut", None, "--rows `prodcut`: no asset has a matrix axis"),
    (None, "colour", "--cols `colour`: no asset has a matrix axis"),
    ("seed", "seed", "--rows and --cols are both `seed`"),
])
def test_bad_axis_options_are_errors(write_pipeline: WritePipeline, rows: str | None,
                                     cols: str | None, message: str) -> None:
    project = load(write_pipeline(PRODUCTS))
    with pytest.raises(SeedflowError, match=re.escape(message)):
        build_page(project.pipeline, plan_of(project), rows=rows, cols=cols)


def test_an_axis_only_some_assets_have_falls_back_to_defaults_elsewhere(
        write_pipeline: WritePipeline) -> None:
    project = load(write_pipeline(PRODUCTS + """
  hero:
    prompt: "{{ scene }}, wide"
    matrix:
      scene: [dusk, snow]
      tone: [warm]
    output: "hero/{{ scene }}.png"
"""))
    shots, hero = build_page(project.pipeline, plan_of(project), rows="seed").sections
    assert (shots.row_axis, shots.col_axis) == ("seed", "product")
    assert (hero.row_axis, hero.col_axis, hero.fixed) == ("scene", None, (("tone", "warm"),))
    (grid,) = hero.grids
    assert labels(grid) == (("dusk", "snow"), ("",))


def test_asset_without_matrix_is_one_cell(write_pipeline: WritePipeline) -> None:
    project = load(write_pipeline("""
assets:
  logo:
    prompt: "a logo"
    output: "logo.png"
"""))
    (section,) = build_page(project.pipeline, plan_of(project)).sections
    assert (section.row_axis, section.col_axis) == (None, None)
    (grid,) = section.grids
    assert len(grid.cells) == 1 and len(grid.cells[0][0].tiles) == 1
    assert "<thead>" not in render(build_page(project.pipeline, plan_of(project)))


def test_mapping_values_are_labelled_by_id_or_name() -> None:
    assert label({"id": "mug", "text": "a mug"}) == "mug"
    assert label({"name": "Lamp", "text": "a lamp"}) == "Lamp"
    assert label({"colour": "red", "size": 3, "tags": ["a"]}) == "colour=red, size=3"
    assert (label(True), label(None), label(1.5)) == ("true", "null", "1.5")


def test_several_images_per_task_stack_in_one_cell(write_pipeline: WritePipeline) -> None:
    project = load(write_pipeline("""
assets:
  hero:
    provider: sim:modellix
    prompt: "{{ scene }}"
    size: 3024x1296
    images: 2
    matrix:
      scene: [dusk, snow]
    output: "hero/{{ scene }}-{{ index }}.png"
"""))
    project = with_entries(project, [generated(project, project.combinations[0])])
    (section,) = build_page(project.pipeline, plan_of(project)).sections
    dusk, snow = (row[0] for row in section.grids[0].cells)
    assert [(t.index, t.status) for t in dusk.tiles] == [(1, Status.READY), (2, Status.READY)]
    assert [(t.index, t.status) for t in snow.tiles] == [(1, Status.PENDING),
                                                         (2, Status.PENDING)]
    assert dusk.tiles[0].aspect == (3024, 1296)
    assert dusk.tiles[1].source == "out/hero/dusk-2.png"
    assert "image 2 of 2" in render(build_page(project.pipeline, plan_of(project)))


def test_statuses_and_placeholders(write_pipeline: WritePipeline) -> None:
    project = load(write_pipeline(PRODUCTS))
    combos = {c.address: c for c in project.combinations}
    done = generated(project, combos["shots[product.id=mug, aspect=1:1, seed=11]"])
    gone = generated(project, combos["shots[product.id=mug, aspect=16:9, seed=11]"],
                     write=False)
    failed = generated(project, combos["shots[product.id=mug, aspect=3:4, seed=11]"],
                       state="failed")
    running = generated(project, combos["shots[product.id=lamp, aspect=1:1, seed=11]"],
                        state="submitted")
    project = with_entries(project, [done, gone, failed, running])
    page = build_page(project.pipeline, plan_of(project))
    row_mug, row_lamp = page.sections[0].grids[0].cells
    ok, missing, bad = (cell.tiles[0] for cell in row_mug)
    assert (ok.status, ok.source, ok.task_id, ok.date) == (
        Status.READY, "out/mug/1x1-11.png", done.task_id, "2026-01-02 03:05 UTC")
    assert (missing.status, missing.source) == (Status.MISSING, None)
    assert bad.status == Status.FAILED and "content policy" in (bad.note or "")
    assert row_lamp[0].tiles[0].status == Status.RUNNING
    assert row_lamp[1].tiles[0].status == Status.PENDING
    html = render(attach_media(page, {"out/mug/1x1-11.png": Media("t.jpg", "i.png", 32, 18)}))
    assert html.count('class="placeholder"') == 10 - 1   # 10 combinations, 1 on disk
    assert html.count("<img class=\"thumb\"") == 1
    assert "not generated yet" in html and "generation failed" in html
    assert "image missing" in html


def test_plan_mode_marks_creates_and_lists_orphans(write_pipeline: WritePipeline) -> None:
    path = write_pipeline(PRODUCTS)
    project = load(path)
    entries = [generated(project, c) for c in project.combinations
               if "product.id=mug" in c.address]
    # an entry of a combination that is no longer in the pipeline
    path.write_text(path.read_text().replace("seed: [11, 12]", "seed: [11]"))
    project = with_entries(load(path), entries)
    plan = plan_of(project)
    assert plan.summary["orphan"] == 3 and plan.summary["create"] == 2

    plain = build_page(project.pipeline, plan)
    assert all(t.mark is None for t in plain.tiles()) and not plain.orphans
    assert "+ new" not in render(plain)

    page = build_page(project.pipeline, plan, plan_mode=True)
    marks = {t.address: t.mark for t in page.tiles()}
    for item in plan.items:
        expected = {Action.CREATE: Mark.NEW, Action.ORPHAN: Mark.ORPHAN}.get(item.action)
        assert marks[item.address] == expected
    assert [t.address for t in page.orphans] == [
        "shots[product.id=mug, aspect=1:1, seed=12]",
        "shots[product.id=mug, aspect=16:9, seed=12]",
        "shots[product.id=mug, aspect=3:4, seed=12]"]
    html = render(page)
    assert html.count('<span class="badge mark-new">+ new</span>') == 2 + 1   # 2 tiles + legend
    assert 'class="legend"' in html and "No longer in the pipeline" in html
    assert "2 to create, 3 orphaned" in html and "(paid)" not in html


MALICIOUS = """
assets:
  "evil":
    prompt: "{{ thing.text }} <script>alert(1)</script>"
    matrix:
      thing:
        - {id: "<img src=x onerror=alert(2)>", text: "\\"><svg onload=alert(3)>"}
      aspect: ["1:1"]
    output: "evil.png"
"""


def test_html_escapes_prompts_addresses_and_labels(write_pipeline: WritePipeline) -> None:
    project = load(write_pipeline(MALICIOUS))
    html = render(build_page(project.pipeline, plan_of(project), plan_mode=True))
    body = html.split("</style>", 1)[1]
    assert "<script" not in html and "<svg" not in body and "<img" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;img src=x onerror=alert(2)&gt;" in body
    assert "&quot;&gt;&lt;svg onload=alert(3)&gt;" in body
    # attributes are quoted and escaped too (data-address, title, alt)
    assert re.search(r'data-address="[^"<>]*&lt;img src=x onerror=alert\(2\)&gt;[^"<>]*"', body)


def test_media_hrefs_are_escaped_and_unreadable_files_become_placeholders(
        write_pipeline: WritePipeline) -> None:
    project = load(write_pipeline(PRODUCTS))
    entries = [generated(project, c, write=False) for c in project.combinations[:2]]
    project = with_entries(project, entries)
    for entry in entries:   # presence check: the files are there
        for image in entry.images:
            target = project.pipeline.folder / image.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"x" * image.size)
    page = build_page(project.pipeline, plan_of(project))
    first, second = (entry.images[0].path for entry in entries)
    shown = attach_media(page, {first: Media('t/"a".jpg', "i/<b>.png", 320, 180),
                                second: "not a readable image"})
    tiles = {t.source: t for t in shown.tiles()}
    broken = next(t for t in shown.tiles() if t.address == entries[1].address)
    assert tiles[first].media is not None
    assert broken.status == Status.BROKEN and "not a readable image" in (broken.note or "")
    html = render(shown)
    assert 'src="t/&quot;a&quot;.jpg"' in html and 'href="i/&lt;b&gt;.png"' in html
    assert 'width="320" height="180"' in html and "cannot show image" in html


def test_request_details() -> None:
    assert prompt_of({"model": "m", "input": {"prompt": "apikley"}}) == "apikley"
    assert prompt_of({"model": "m", "prompt": "modellix"}) == "modellix"
    assert prompt_of({}) == ""
    assert aspect_of({"input": {"image_size": "portrait_16_9"}}) == (9, 16)
    assert aspect_of({"input": {"image_size": "landscape_21_9"}}) == (21, 9)
    assert aspect_of({"input": {"image_size": "square_hd"}}) == (1, 1)
    assert aspect_of({"size": "2048x1536"}) == (2048, 1536)
    assert aspect_of({"size": 7}) == (1, 1)


def test_request_details_are_read_by_the_providers_mapping() -> None:
    both = {"model": "m", "input": {"prompt": "inside", "image_size": "landscape_4_3"},
            "prompt": "outside", "size": "1000x3000"}
    assert (prompt_of(both, "apikley"), aspect_of(both, "apikley")) == ("inside", (4, 3))
    assert (prompt_of(both, "sim:modellix"), aspect_of(both, "sim:modellix")) == (
        "outside", (1000, 3000))
    assert (prompt_of({"prompt": "x"}, "sim"), aspect_of({"size": "9x16"}, "sim")) == ("", (1, 1))
    # a lock entry (from a pull request) may name any provider: every mapping is asked in turn
    assert (prompt_of(both, "dall-e"), aspect_of(both, "dall-e")) == ("inside", (4, 3))
    assert (prompt_of({}, "dall-e"), aspect_of({}, "dall-e")) == ("", (1, 1))


def test_page_is_deterministic(write_pipeline: WritePipeline) -> None:
    project = load(write_pipeline(PRODUCTS))
    first = render(build_page(project.pipeline, plan_of(project), plan_mode=True))
    again = load(project.pipeline.path)
    assert render(build_page(again.pipeline, plan_of(again), plan_mode=True)) == first


def test_page_tiles_walks_everything() -> None:
    tile = Tile("a", "p", "sim", None, None, "out/a.png", 1, 1, (1, 1), Status.PENDING)
    page = Page("x.yaml", False, (), orphans=(tile,))
    assert list(page.tiles()) == [tile]


def test_every_lock_state_has_a_status() -> None:
    assert set(STATUS_OF_STATE) == set(State)
