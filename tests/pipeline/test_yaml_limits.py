"""Pipelines from pull requests cannot exhaust memory, time or the stack through YAML: alias
expansion ("billion laughs"), nesting, document size and whole numbers have limits
(seedflow.limits), each refused with the place in the file and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from corekit import Run, WritePipeline, assert_no_traceback, dedent
from limitkit import corpus_lines, measured, snapshot

from seedflow.limits import MAX_INT, MAX_PIPELINE_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES
from seedflow.pipeline import yamlpos

LAUGHS = """\
version: 1
provider: sim
vars:
  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
assets:
  a: {prompt: "{{ i | length }}", output: a.png}
"""
TOO_MANY = (f"aliases expand this document past {MAX_YAML_NODES:,} values (*e alone stands "
            "for 66,430); use fewer aliases or write the values out")
TOO_DEEP = (f"the document nests more than {MAX_YAML_DEPTH} levels deep here; flatten it (a "
            "pipeline is a few levels of mappings and lists)")


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_billion_laughs_is_refused_in_bounded_memory(tmp_path: Path, command: str) -> None:
    (tmp_path / "p.yaml").write_text(LAUGHS, encoding="utf-8")
    assert len(LAUGHS) <= 600   # a few hundred bytes that would expand to 387 million values
    before = snapshot(tmp_path)
    result = measured(command, "p.yaml", cwd=tmp_path)
    assert result.code == 1, result.text
    prefix = "error: " if command == "plan" else ""
    assert result.err.splitlines()[0] == f"{prefix}p.yaml:9:14: {TOO_MANY}"
    assert "Traceback" not in result.text
    assert result.peak_mb < 150, f"peak {result.peak_mb:.0f} MB"
    assert result.seconds < 10
    assert snapshot(tmp_path) == before


def nested(depth: int, flow: bool) -> str:
    if flow:
        return "version: 1\nvars:\n  x: " + "[" * depth + "1" + "]" * depth + "\n"
    body = "".join(f"{'  ' * (i + 1)}k{i}:\n" for i in range(depth))
    return f"version: 1\nvars:\n{body}{'  ' * (depth + 1)}v\n"


@pytest.mark.parametrize(("flow", "where"), [(True, "3:68"), (False, "65:127")])
def test_a_500_deep_document_is_refused_not_a_recursion_error(
        write_pipeline: WritePipeline, run: Run, tmp_path: Path, flow: bool,
        where: str) -> None:
    path = write_pipeline(nested(500, flow))
    before = snapshot(tmp_path)
    for command in ("validate", "plan"):
        result = run(command, path)
        assert result.code == 1, result.text
        prefix = "error: " if command == "plan" else ""
        assert result.err.splitlines()[0] == f"{prefix}p.yaml:{where}: {TOO_DEEP}"
        assert_no_traceback(result)
    assert snapshot(tmp_path) == before


def test_nesting_up_to_the_limit_is_fine(write_pipeline: WritePipeline, run: Run) -> None:
    # the top mapping, vars and the innermost value are three levels more
    text = nested(MAX_YAML_DEPTH - 3, flow=True) + "assets:\n  a: {prompt: x, output: a.png}\n"
    assert run("validate", write_pipeline(text)).code == 0


def test_a_recursive_alias_is_refused(write_pipeline: WritePipeline, run: Run) -> None:
    result = run("validate", write_pipeline("""
        version: 1
        vars:
          loop: &loop [a, *loop]
        assets:
          a: {prompt: x, output: a.png}
    """))
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        "p.yaml:3:19: the alias *loop is used inside the node it names, so it never ends; "
        "remove the alias")


def test_a_document_with_too_many_values_is_refused(write_pipeline: WritePipeline, run: Run,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlpos, "MAX_YAML_NODES", 50)
    values = ", ".join(str(i) for i in range(60))
    result = run("validate", write_pipeline(f"version: 1\nvars:\n  x: [{values}]\n"))
    assert result.code == 1
    assert result.err.splitlines()[0] == ("p.yaml:3:169: the document has more than 50 values; "
                                          "split the pipeline into several files")


def test_aliases_within_the_limit_still_work(write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("""
        version: 1
        provider: sim
        defaults: &base {resolution: 2K}
        vars:
          mug: &mug {id: mug, text: a mug}
        assets:
          a:
            <<: *base
            prompt: "{{ product.text }}"
            matrix:
              product: [*mug, {id: lamp, text: a lamp}]
              exclude: [{product: *mug}]
            output: "{{ product.id }}.png"
    """)
    result = run("validate", path)
    assert result.code == 0, result.err
    assert "valid (1 combinations)" in result.out


BIG = f"the whole number {{shown}} has {{digits}} digits, too many: whole numbers in a " \
      f"pipeline are at most {MAX_INT:,} (either sign); quote it if it is a label, not a number"


@pytest.mark.parametrize(("value", "message"), [
    ("9" * 100_000, BIG.format(shown="9" * 24 + "…", digits="100,000")),
    ("-" + "1" * 25, BIG.format(shown="-" + "1" * 23 + "…", digits="25")),
    (str(MAX_INT + 1), BIG.format(shown=str(MAX_INT + 1), digits="19")),
    ("0x" + "f" * 30, BIG.format(shown="0x" + "f" * 22 + "…", digits="37")),
    ("10**100", "assets.a.seed: '10**100' is not a whole number; write a whole number here"),
])
def test_huge_whole_numbers_are_refused(tmp_path: Path, value: str, message: str) -> None:
    (tmp_path / "p.yaml").write_text(dedent(f"""
        version: 1
        provider: sim
        assets:
          a:
            prompt: x
            output: a.png
            seed: {value}
    """), encoding="utf-8")
    before = snapshot(tmp_path)
    result = measured("validate", "p.yaml", cwd=tmp_path)
    assert (result.code, result.out) == (1, ""), result.text
    assert result.err == f"p.yaml:7:11: {message}\n1 of 1 pipeline files are invalid.\n"
    assert result.peak_mb < 150 and result.seconds < 10
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("key", ["images", "limits"])
def test_huge_numbers_elsewhere_point_at_their_line(write_pipeline: WritePipeline, run: Run,
                                                    key: str) -> None:
    big = "1" * 5000
    extra = f"images: {big}" if key == "images" else f"max_combinations: {big}"
    text = (f"version: 1\nlimits: {{{extra if key == 'limits' else 'max_combinations: 5'}}}\n"
            "assets:\n  a:\n    prompt: x\n    output: a.png\n"
            + (f"    {extra}\n" if key == "images" else ""))
    result = run("validate", write_pipeline(text))
    assert result.code == 1
    line = "p.yaml:7:13" if key == "images" else "p.yaml:2:28"
    assert result.err.startswith(f"{line}: the whole number {'1' * 24}… has 5,000 digits")
    assert_no_traceback(result)


def test_whole_numbers_up_to_the_limit_are_kept(write_pipeline: WritePipeline,
                                                run: Run) -> None:
    path = write_pipeline(f"""
        version: 1
        provider: sim
        vars: {{big: {MAX_INT}, small: -{MAX_INT}, hex: 0x7fff_ffff}}
        assets:
          a: {{prompt: "{{{{ big }}}} {{{{ small }}}} {{{{ hex }}}}", output: a.png}}
    """)
    assert run("validate", path).code == 0


SUITE = corpus_lines("yaml-test-suite.jsonl")


@pytest.mark.parametrize("case", SUITE or [pytest.param(None, marks=pytest.mark.skip(
    reason="../shared/corpora is not beside this repository"))],
    ids=[str(c["id"]) for c in SUITE] or ["no-corpus"])
def test_yaml_test_suite_inputs_get_clean_answers(write_pipeline: WritePipeline, run: Run,
                                                  case: dict[str, object]) -> None:
    """Every input of the YAML test suite is either a valid document (then the pipeline's own
    checks answer) or a clean error at a place in the file; never a crash. A syntax error is
    told in plain words (seedflow.pipeline.syntax), never in the parser's."""
    path = write_pipeline(str(case["yaml"]))
    result = run("validate", path)
    assert result.code in (0, 1), result.text
    assert_no_traceback(result)
    if case["error"]:
        assert result.code == 1
        assert result.err.startswith("p.yaml:"), result.err
    for jargon in PARSER_WORDS:
        assert jargon not in result.err, result.err


PARSER_WORDS = ("fix the syntax at this place", "<block", "<scalar>", "<stream", "<document",
                "but found", "but got", "while scanning", "while parsing", "could not find")


def test_a_file_over_the_size_limit_is_not_read(run: Run) -> None:
    Path("p.yaml").write_text("# padding\n" * (MAX_PIPELINE_BYTES // 10 + 1), encoding="utf-8")
    result = run("validate", "p.yaml")
    assert result.code == 1
    assert result.err.splitlines()[0] == "p.yaml:1:1: file is larger than 5 MiB; is it a pipeline?"
