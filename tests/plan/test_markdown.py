"""``plan --format markdown`` (seedflow/plan/markdown.py): the plan as a pull-request comment.

Whole blocks are compared. Hostile pipelines and locks are also rendered with a CommonMark
renderer (markdown-it, which rich already brings) to check that their text stays text: no
tag, no mention, no early end of a code block or of a ``<details>``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from corekit import Run, WritePipeline, combos_of, entry_for, image, write_lock
from markdown_it import MarkdownIt
from msgspec.structs import replace

from seedflow.plan import markdown

PIPELINE = """\
    version: 1
    assets:
      mug:
        prompt: "a mug, take {{ seed }}"
        resolution: 2K
        output: "mug/{{ seed }}.png"
        matrix:
          seed: [1, 2]
      hero:
        provider: modellix
        prompt: "a lighthouse"
        aspect: "16:9"
        output: "hero/{{ seed }}.png"
        matrix:
          seed: [7]
"""
HEAD = [
    "### seedflow plan: `p.yaml` · lock `p.lock`",
    "",
    "**Plan:** 2 to create (paid), 0 to resume, 0 to restore, 1 to relink, 1 orphaned, "
    "0 unchanged.",
    "",
    "**Cost:** 2 images, estimated 5 credits plus 1 on modellix at an unknown price (set "
    "`prices.<provider>`).",
    "",
    "> Note: asset `hero`: modellix has no seed field for Seedream 4.0, so seeds are not sent; "
    "they still make 1 distinct combinations (images may differ only by chance).",
    "",
]
MUG = [
    "<details><summary><code>mug</code> — 1 to create, 1 to relink</summary>",
    "",
    "```diff",
    "+ create   mug[seed=1]",
    "      mug/1.png",
    "      prompt: a mug, take 1",
    '      apikley request: {"model": "bytedance/seedream-v4-text-to-image", "input": '
    '{"image_resolution": "2K", "seed": 1}}',
    "→ relink   mug[seed=2]",
    "      old/2.png → mug/2.png",
    "```",
    "",
    "</details>",
    "",
]
HERO = [
    "<details><summary><code>hero</code> — 1 to create</summary>",
    "",
    "```diff",
    "+ create   hero[seed=7]",
    "      hero/7.png",
    "      prompt: a lighthouse",
    '      modellix request: {"size": "2560x1440"}',
    '      not sent (identity only): {"seed": 7}',
    "```",
    "",
    "</details>",
    "",
]
GONE = [
    "<details><summary><code>gone</code> — 1 orphaned</summary>",
    "",
    "```diff",
    "- orphan   gone[n=9]",
    "      gone/9.png",
    "```",
    "",
    "</details>",
    "",
]


@pytest.fixture
def small(write_pipeline: WritePipeline, tmp_path: Path) -> Path:
    """Two creates, ``mug[seed=2]`` generated at ``old/2.png`` (a relink), ``gone`` orphaned."""
    path = write_pipeline(PIPELINE)
    combos = {c.address: c for c in combos_of(path)}
    (tmp_path / "old").mkdir()
    (tmp_path / "old/2.png").write_bytes(b"png-bytes")
    moved = entry_for(combos["mug[seed=2]"], images=[image("old/2.png")])
    orphan = replace(moved, fingerprint="0" * 32, address="gone[n=9]", asset="gone",
                     images=(image("gone/9.png"),))
    write_lock(tmp_path / "p.lock", [moved, orphan])
    return path


def test_per_asset_blocks_with_prompts_requests_and_relinks(small: Path, run: Run) -> None:
    result = run("plan", small, "--format", "markdown")
    assert (result.code, result.err) == (0, "")
    assert result.out == "\n".join([*HEAD, *MUG, *HERO, *GONE]) + "\n"


def test_the_header_names_the_pipeline_and_a_new_lock_relative_to_here(
        write_pipeline: WritePipeline, tmp_path: Path, run: Run) -> None:
    write_pipeline(PIPELINE, name="pipelines/catalog.yaml")
    result = run("plan", tmp_path / "pipelines/catalog.yaml", "--format", "markdown")
    assert result.out.splitlines()[0] == (
        "### seedflow plan: `pipelines/catalog.yaml` · lock `pipelines/catalog.lock` (new)")


def test_nothing_to_do(write_pipeline: WritePipeline, tmp_path: Path, run: Run) -> None:
    path = write_pipeline(PIPELINE.split("      hero:")[0].replace("[1, 2]", "[1]"))
    (combo,) = combos_of(path)
    (tmp_path / "mug").mkdir()
    (tmp_path / "mug/1.png").write_bytes(b"png-bytes")
    write_lock(tmp_path / "p.lock", [entry_for(combo, images=[image("mug/1.png")])])
    assert run("plan", path, "--format", "markdown").out == "\n".join([
        "### seedflow plan: `p.yaml` · lock `p.lock`",
        "",
        "**Plan:** 0 to create, 0 to resume, 0 to restore, 0 to relink, 0 orphaned, "
        "1 unchanged.",
        "",
        "No changes. Every combination is generated and its files are in place.",
    ]) + "\n"


def many(write_pipeline: WritePipeline, n: int, prompt: str = "shot {{ n }}") -> Path:
    numbers = ", ".join(str(i) for i in range(n))
    return write_pipeline(f"""\
        version: 1
        assets:
          shots:
            prompt: "{prompt}"
            output: "s/{{{{ n }}}}.png"
            matrix:
              n: [{numbers}]
    """)


def test_counts_have_thousands_separators_and_long_lists_are_cut(
        write_pipeline: WritePipeline, run: Run) -> None:
    path = many(write_pipeline, 1234)
    lines = run("plan", path, "--format", "markdown").out.splitlines()
    assert lines[2:5] == [
        "**Plan:** 1,234 to create (paid), 0 to resume, 0 to restore, 0 to relink, 0 orphaned, "
        "0 unchanged.",
        "",
        "**Cost:** 1,234 images, estimated 6,170 credits.",
    ]
    assert lines[6] == "<details><summary><code>shots</code> — 1,234 to create</summary>"
    assert [line for line in lines if line.startswith("+ create")] == [
        f"+ create   shots[n={n}]" for n in range(markdown.ITEMS_PER_ASSET)]
    assert lines[-6:] == [
        "… and 1,214 more (seedflow plan --format json lists every one)",
        "```",
        "",
        "</details>",
        "",
        "Listed 20 of 1,234 changes; `seedflow plan p.yaml --format json` lists every one "
        "with its full request.",
    ]
    text = run("plan", path).out.splitlines()
    assert text[-2:] == [
        "Plan: 1,234 to create (paid), 0 to resume, 0 to restore, 0 to relink, 0 orphaned, "
        "0 unchanged.",
        "Cost: 1,234 images, estimated 6,170 credits.",
    ]


def test_a_large_plan_stays_within_a_github_comment(write_pipeline: WritePipeline,
                                                    run: Run) -> None:
    """Eight assets of 30 creates with 4,900-character prompts: 1.2 MB if all were listed."""
    numbers = ", ".join(str(i) for i in range(30))
    assets = "".join(f"""\
  a{k}:
    prompt: "{{{{ 'word ' * 980 }}}}{{{{ n }}}} a{k}"
    output: "a{k}/{{{{ n }}}}.png"
    matrix:
      n: [{numbers}]
""" for k in range(8))
    path = write_pipeline("version: 1\nassets:\n" + assets)
    out = run("plan", path, "--format", "markdown").out
    assert len(out) < 65_536
    rendered = _render(out)
    assert rendered.tags["details"] == rendered.closed["details"] >= 1
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("… and ")] == [
        "… and 10 more (seedflow plan --format json lists every one)",    # a0: the first 20
        "… and 23 more (seedflow plan --format json lists every one)",    # a1: what still fits
    ]
    assert lines[-1] == ("Listed 27 of 240 changes (6 more assets not shown); `seedflow plan "
                         "p.yaml --format json` lists every one with its full request.")
    prompt_line = next(line for line in lines if "prompt: " in line)
    assert prompt_line.endswith("word word … (2,904 more characters)")


HOSTILE = "x```\n</details>\n\n<img src=x onerror=alert(1)> @octocat **b** [l](http://e) \u202e`"


def test_hostile_text_stays_inside_its_block(write_pipeline: WritePipeline, tmp_path: Path,
                                             run: Run) -> None:
    path = write_pipeline("""\
        version: 1
        assets:
          a:
            prompt: "{{ t }}"
            output: "{{ t | slug }}.png"
            matrix:
              t: [""" + _yaml_string(HOSTILE) + """]
    """)
    (combo,) = combos_of(path)
    (tmp_path / "keep.png").write_bytes(b"png-bytes")
    orphan = replace(entry_for(combo, images=[image("keep.png")]), fingerprint="0" * 32,
                     asset="<b>@octocat</b>", address="@octocat[n=1]\n```")
    write_lock(tmp_path / "p.lock", [orphan])

    out = run("plan", path, "--format", "markdown").out
    blocks = out.split("\n\n<details>")
    assert blocks[1:] == [
        "<summary><code>a</code> — 1 to create</summary>\n\n"
        "````diff\n"
        "+ create   a[t='x```\\n</details>\\n\\n<img src=x onerror=alert(1)> @octocat **b** "
        "[l](http://e) \\u202e`']\n"
        "      x-details-img-src-x-onerror-alert-1-octocat-b-l-http-e.png\n"
        "      prompt: x```\n"
        "              </details>\n"
        "              \n"
        "              <img src=x onerror=alert(1)> @octocat **b** [l](http://e) \\u202e`\n"
        '      apikley request: {"model": "bytedance/seedream-v4-text-to-image", "input": {}}\n'
        "````\n\n</details>",
        "<summary><code>&lt;b&gt;@octocat&lt;/b&gt;</code> — 1 orphaned</summary>\n\n"
        "````diff\n"
        "- orphan   @octocat[n=1]\\n```\n"
        "      keep.png\n"
        "````\n\n</details>\n\n",
    ]
    rendered = _render(out)
    assert rendered.tags["details"] == rendered.closed["details"] == 2
    assert set(rendered.tags) == {"h3", "code", "p", "strong", "details", "summary", "pre"}
    assert all("octocat" not in text for text in rendered.outside_code)


def _yaml_string(text: str) -> str:
    """``text`` as a double-quoted YAML scalar."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("\u202e", "\\u202E") + '"'


class _Rendered(HTMLParser):
    """The tags of rendered HTML, and its text outside ``<code>`` and ``<pre>``."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.closed: dict[str, int] = {}
        self.outside_code: list[str] = []
        self._inside = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self._inside += tag in ("code", "pre")

    def handle_endtag(self, tag: str) -> None:
        self.closed[tag] = self.closed.get(tag, 0) + 1
        self._inside -= tag in ("code", "pre")

    def handle_data(self, data: str) -> None:
        if not self._inside:
            self.outside_code.append(data)


def _render(text: str) -> _Rendered:
    parser = _Rendered()
    parser.feed(MarkdownIt("commonmark").render(text))
    return parser


def test_an_at_risk_restore_is_flagged_above_the_list(write_pipeline: WritePipeline,
                                                      tmp_path: Path, run: Run) -> None:
    path = write_pipeline(PIPELINE.split("      hero:")[0].replace("[1, 2]", "[1]"))
    (combo,) = combos_of(path)
    old = (datetime.now(UTC) - timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_lock(tmp_path / "p.lock", [entry_for(combo, images=[image("mug/1.png")],
                                               completed_at=old)])
    lines = run("plan", path, "--format", "markdown").out.splitlines()
    assert lines[4:] == [
        "> **At risk:** 1 restore will probably fail: the result URLs have expired (each one's "
        "note below says why).",
        "",
        "<details><summary><code>mug</code> — 1 to restore</summary>",
        "",
        "```diff",
        "↻ restore  mug[seed=1]",
        "      mug/1.png  (download)",
        "      note: at risk: its result URL is 30 hours old and apikley keeps results for about "
        "24 hours, so the download will probably fail; restore it from a store (`store:`, see "
        "docs/store.md) or pay for it again with `apply --recreate-expired`",
        "```",
        "",
        "</details>",
        "",
    ]


def test_images_only_in_the_store_are_a_note(write_pipeline: WritePipeline, run: Run,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEEDFLOW_SIM_LATENCY", "0.02")
    monkeypatch.setenv("SEEDFLOW_POLL_INTERVAL", "0.02")
    path = write_pipeline(PIPELINE.split("      hero:")[0].replace(
        "version: 1\n", "version: 1\n    provider: sim\n"))
    assert run("apply", path, "--store", "store").code == 0
    Path("mug/1.png").unlink()
    out = run("plan", path, "--store", "store", "--format", "markdown").out
    assert out == "\n".join([
        "### seedflow plan: `p.yaml` · lock `p.lock`",
        "",
        "**Plan:** 0 to create, 0 to resume, 0 to restore, 0 to relink, 0 orphaned, "
        "2 unchanged.",
        "",
        "> Note: 1 image is in the store but not on this disk: `seedflow pull p.yaml`.",
        "",
        "No changes. Every combination is generated and its files are in place or in the store.",
    ]) + "\n"
