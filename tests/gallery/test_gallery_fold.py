"""Folding dependent axes: an axis whose value follows from another's is a label, not a
grid dimension (no half-empty grid of "not in the matrix" cells)."""

from __future__ import annotations

import re

from galleryutil import WritePipeline, load, plan_of

from seedflow.gallery.build import Axis, build_page, dependent_axes, determines
from seedflow.gallery.html import render

SEASONS = """
assets:
  hero:
    prompt: "{{ scene }}, {{ season }}, {{ tone }}"
    matrix:
      season: [autumn, winter]
      tone: [warm, cold]
      include:
        - {season: autumn, scene: a lakeside cabin}
        - {season: winter, scene: a snowy table}
    output: "hero/{{ season }}-{{ tone }}.png"
"""


def combos(*rows: dict[str, str]) -> list[dict[str, str]]:
    return list(rows)


def axes(**values: tuple[str, ...]) -> list[Axis]:
    return [Axis(name, v) for name, v in values.items()]


def test_determines_is_a_functional_dependency() -> None:
    rows = combos({"season": "autumn", "scene": "cabin", "tone": "warm"},
                  {"season": "autumn", "scene": "cabin", "tone": "cold"},
                  {"season": "winter", "scene": "snow", "tone": "warm"})
    assert determines("season", "scene", rows)
    assert determines("scene", "season", rows)
    assert not determines("season", "tone", rows)
    assert not determines("tone", "scene", rows)


def test_dependent_axes_folds_followers_into_the_first_leader() -> None:
    rows = combos({"season": "autumn", "scene": "cabin", "tone": "warm"},
                  {"season": "autumn", "scene": "cabin", "tone": "cold"},
                  {"season": "winter", "scene": "snow", "tone": "warm"},
                  {"season": "winter", "scene": "snow", "tone": "cold"})
    found = axes(season=("autumn", "winter"), tone=("warm", "cold"), scene=("cabin", "snow"))
    assert dependent_axes(found, rows) == {"scene": "season"}
    # an axis the user asks for is never folded: then the other one follows it
    assert dependent_axes(found, rows, keep=["scene"]) == {"season": "scene"}


def test_independent_and_single_valued_axes_are_not_folded() -> None:
    rows = combos({"product": "mug", "aspect": "1:1", "tone": "warm"},
                  {"product": "mug", "aspect": "4:3", "tone": "warm"},
                  {"product": "lamp", "aspect": "1:1", "tone": "warm"})
    found = axes(product=("mug", "lamp"), aspect=("1:1", "4:3"), tone=("warm",))
    assert dependent_axes(found, rows) == {}


def test_a_folded_axis_becomes_a_row_note(write_pipeline: WritePipeline) -> None:
    project = load(write_pipeline(SEASONS))
    (section,) = build_page(project.pipeline, plan_of(project)).sections
    assert section.folded == (("scene", "season"),)
    assert (section.row_axis, section.col_axis, section.split_axes) == ("season", "tone", ())
    (grid,) = section.grids
    assert grid.rows == ("autumn", "winter") and grid.cols == ("warm", "cold")
    assert grid.row_notes == ("scene=a lakeside cabin", "scene=a snowy table")
    # every cell holds its combination: nothing is "not in the matrix"
    assert all(len(cell.tiles) == 1 for row in grid.cells for cell in row)
    html = render(build_page(project.pipeline, plan_of(project)))
    assert "not in the matrix" not in html and "scene follows season" in html
    assert '<span class="note">scene=a lakeside cabin</span>' in html


def test_asking_for_the_dependent_axis_folds_the_other(write_pipeline: WritePipeline) -> None:
    project = load(write_pipeline(SEASONS))
    (section,) = build_page(project.pipeline, plan_of(project), rows="scene").sections
    assert section.folded == (("season", "scene"),)
    assert (section.row_axis, section.col_axis) == ("scene", "tone")
    assert section.grids[0].row_notes == ("season=autumn", "season=winter")


def test_a_folded_split_axis_is_noted_in_the_grid_title(write_pipeline: WritePipeline) -> None:
    project = load(write_pipeline("""
assets:
  shots:
    prompt: "{{ product }} {{ aspect }} {{ seed }} {{ lens }}"
    matrix:
      product: [mug, lamp]
      aspect: ["1:1", "4:3"]
      seed: [1, 2]
      include:
        - {seed: 1, lens: 50mm}
        - {seed: 2, lens: 85mm}
    output: "{{ product }}/{{ aspect | slug }}-{{ seed }}.png"
"""))
    (section,) = build_page(project.pipeline, plan_of(project)).sections
    assert section.folded == (("lens", "seed"),)
    assert [g.title for g in section.grids] == ["seed=1 (lens=50mm)", "seed=2 (lens=85mm)"]


def test_excluded_cells_keep_the_columns_aligned(write_pipeline: WritePipeline) -> None:
    project = load(write_pipeline("""
assets:
  shots:
    prompt: "{{ product }} {{ aspect }} {{ seed }}"
    matrix:
      product: [mug, lamp]
      aspect: ["1:1", "3:4"]
      seed: [1, 2]
      exclude:
        - {product: lamp, aspect: "3:4"}
    output: "{{ product }}/{{ aspect | slug }}-{{ seed }}.png"
"""))
    html = render(build_page(project.pipeline, plan_of(project)))
    labels = re.findall(r'<span class="label">([^<]*)</span>', html)
    cells = ["1:1 · seed=1", "1:1 · seed=2", "3:4 · seed=1", "3:4 · seed=2"]
    assert labels == cells + cells[:2]     # mug: all four; lamp: the 1:1 ones
    assert re.findall(r'<div class="slot" title="([^"]*)">', html) == [
        "3:4 · seed=1: not in the matrix", "3:4 · seed=2: not in the matrix"]
