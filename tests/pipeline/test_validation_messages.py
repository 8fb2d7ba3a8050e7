"""What `seedflow validate` says about a broken pipeline (issue #14): every template error of a
file at once, YAML syntax errors in plain words, "did you mean" for names, keys written at the
wrong level, and YAML merge keys (`<<:`) overridden by keys written beside them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from corekit import Run, WritePipeline, assert_no_traceback, combos_of
from limitkit import snapshot

from seedflow.pipeline import templates
from seedflow.plan.combos import MAX_ERRORS
from seedflow.providers import PROVIDERS

INVALID = "1 of 1 pipeline files are invalid.\n"


def validate_err(run: Run, path: Path) -> str:
    """What validate printed for an invalid file; it changed nothing on disk."""
    before = snapshot(Path.cwd())
    result = run("validate", path)
    assert (result.code, result.out) == (1, ""), result.text
    assert_no_traceback(result)
    assert snapshot(Path.cwd()) == before
    assert result.err.endswith(INVALID)
    return result.err.removesuffix(INVALID)


# --- every template error of a file, once per template and cause ----------------------------

def test_every_template_error_of_a_file_is_reported_in_one_run(
        write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("""
        version: 1
        provider: sim
        assets:
          a:
            prompt: "{{ foo }} and {{ bar }}"
            output: "{{ baz }}/{{ n }}.png"
            matrix:
              n: [1, 2, 3]
          b:
            prompt: "{{ product.colour }}"
            output: "b-{{ product.id }}.png"
            matrix:
              product: [{id: mug}, {id: lamp}]
          c:
            prompt: "{{ x | nofilter }}"
            output: "{% if %}.png"
          d:
            prompt: fine
            output: d.png
    """)
    assert validate_err(run, path) == (
        "p.yaml:5:13: prompt: 'foo' is undefined; 'bar' is undefined; variables available "
        "here: asset, n\n"
        "p.yaml:6:13: output: 'baz' is undefined; variables available here: asset, index, n\n"
        "p.yaml:10:13: prompt: 'dict object' has no attribute 'colour'; variables available "
        "here: asset, product\n"
        "p.yaml:15:13: prompt: template syntax error: No filter named 'nofilter'.\n"
        "p.yaml:16:13: output: template syntax error: Expected an expression, got 'end of "
        "statement block'\n")


@pytest.mark.parametrize("command", [("plan",), ("apply", "--yes")])
def test_plan_and_apply_report_every_template_error_as_validate_does(
        write_pipeline: WritePipeline, run: Run, command: tuple[str, ...]) -> None:
    # one asset's template does not compile, another's does not render: both are reported
    path = write_pipeline("""
        version: 1
        provider: sim
        assets:
          a:
            prompt: "{{ x | nofilter }}"
            output: a.png
          b:
            prompt: "{{ colour }}"
            output: b.png
    """)
    expected = ("p.yaml:5:13: prompt: template syntax error: No filter named 'nofilter'.\n"
                "p.yaml:8:13: prompt: 'colour' is undefined; variables available here: asset\n")
    assert validate_err(run, path) == expected
    before = snapshot(Path.cwd())
    result = run(*command, path)
    assert result.code == 1 and result.out == "", result.text
    assert result.err == f"error: {expected}"
    assert snapshot(Path.cwd()) == before


def test_undefined_names_are_found_past_loops_arithmetic_and_calls(
        write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("""
        version: 1
        assets:
          a:
            prompt: "{% for x in items %}{{ x }}{% endfor %} {{ z + 1 }} {{ f() }} {{ a.b.c }}"
            output: a.png
    """)
    assert validate_err(run, path) == (
        "p.yaml:4:13: prompt: 'items' is undefined; 'z' is undefined; 'f' is undefined; "
        "'a' is undefined; variables available here: asset\n")


def test_a_name_guarded_by_is_defined_or_default_is_not_reported(
        write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("""
        version: 1
        assets:
          a:
            prompt: "{% if tone is defined %}{{ tone }}{% endif %}{{ mood | default('x') }}{{ no }}"
            output: a.png
    """)
    assert validate_err(run, path) == (
        "p.yaml:4:13: prompt: 'no' is undefined; variables available here: asset\n")


def test_one_template_lists_at_most_ten_undefined_names(
        write_pipeline: WritePipeline, run: Run) -> None:
    holes = " ".join(f"{{{{ v{i} }}}}" for i in range(13))
    path = write_pipeline(f"""
        version: 1
        assets:
          a: {{prompt: "{holes}", output: a.png}}
    """)
    names = "; ".join(f"'v{i}' is undefined" for i in range(10))
    assert validate_err(run, path) == (
        f"p.yaml:3:15: prompt: {names}; and 3 more; variables available here: asset\n")


SLOW = "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}"


def test_the_search_for_more_undefined_names_is_bounded_in_time(
        write_pipeline: WritePipeline, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first undefined name stops the render at once; the search for more, which goes on
    past it, stops after its own short limit and reports what it found."""
    monkeypatch.setattr(templates, "UNDEFINED_SEARCH_SECONDS", 0.2)
    path = write_pipeline(f"""
        version: 1
        assets:
          a: {{prompt: "{{{{ nope }}}}{SLOW}{{{{ never_reached }}}}", output: a.png}}
    """)
    assert validate_err(run, path) == (
        "p.yaml:3:15: prompt: 'nope' is undefined; variables available here: asset\n")


def test_a_search_that_spends_the_pipelines_render_time_is_a_timeout(
        write_pipeline: WritePipeline, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "RENDER_SECONDS", 0.3)
    path = write_pipeline(f"""
        version: 1
        assets:
          a: {{prompt: "{{{{ nope }}}}{SLOW}", output: a.png}}
    """)
    assert validate_err(run, path) == (
        "p.yaml:3:15: prompt: rendering took longer than 0.3 s; simplify the template\n")


def test_a_cause_met_by_every_combination_is_reported_once(
        write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("""
        version: 1
        assets:
          a:
            prompt: "{{ nope }} {{ n }} {{ m }}"
            output: "{{ n }}/{{ m }}/{{ gone }}.png"
            matrix:
              n: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
              m: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """)
    assert validate_err(run, path) == (
        "p.yaml:4:13: prompt: 'nope' is undefined; variables available here: asset, m, n\n"
        "p.yaml:5:13: output: 'gone' is undefined; variables available here: asset, index, "
        "m, n\n")


def test_problems_past_the_cap_are_counted_last(write_pipeline: WritePipeline,
                                                run: Run) -> None:
    values = ", ".join(str(i) for i in range(MAX_ERRORS + 7))
    path = write_pipeline(f"""
        version: 1
        assets:
          a:
            prompt: "{{{{ n }}}}"
            output: "/{{{{ n }}}}.png"
            matrix:
              n: [{values}]
    """)
    lines = validate_err(run, path).splitlines()
    assert len(lines) == MAX_ERRORS + 1
    assert lines[0] == ("p.yaml:5:13: output renders '/0.png': an absolute path; outputs must "
                        "be relative to output_dir")
    assert lines[-1] == "... and 7 more problems like these"


# --- YAML syntax errors in plain words ------------------------------------------------------

INDENT = ("this line is indented differently from the lines above it: the keys of one mapping "
          "(and the `- ` items of one list) start in the same column, and a mapping and a "
          "list cannot share one level; fix its indentation (spaces only)")
COLON = ("a `:` where no key can start: if this line is a key, indent it exactly like the keys "
         "above it; if the `:` is part of a text, quote the whole value (\"Photo: a mug\")")
QUOTE = ("the quoted text that starts here is never closed; close it with the same quote (a "
         "quote inside it is written '' in '…' and \\\" in \"…\")")

SYNTAX: dict[str, tuple[str, str]] = {
    "tab": ("version: 1\nassets:\n  a:\n\tprompt: x\n",
            "4:1: a tab character: YAML indents with spaces only; replace the tab with spaces"),
    "indented-less": ("version: 1\nassets:\n  a:\n    prompt: x\n   output: a.png\n",
                      f"5:4: {INDENT}"),
    "indented-more": ("version: 1\n  assets: {}\n", f"2:9: {COLON}"),
    "colon-in-text": ("version: 1\nassets:\n  a:\n    prompt: Photo: a mug\n",
                      f"4:18: {COLON}"),
    "unclosed-quote": ('version: 1\nassets:\n  a:\n    prompt: "x\n    output: a.png\n',
                       f"4:13: {QUOTE}"),
    "unclosed-list": ("version: 1\nvars:\n  a: [1, 2\n",
                      "3:6: the file ends inside the list `[` that starts here; close it with "
                      "`]`"),
    "unclosed-mapping": ("version: 1\nvars: {a: 1\nassets: {}\n",
                         "3:7: inside the mapping `{` that starts at line 2, column 7, entries "
                         "are separated by `,` and it ends with `}`; found `:` here instead "
                         "(quote a text that contains `:`, `,`, `[`, `]`, `{` or `}`)"),
    "key-without-colon": ("version: 1\nassets:\n  a:\n    prompt: x\n    output\n",
                          "5:5: this line is neither `key: value` nor a list item (`- `) at its "
                          "indentation: add the `:` after the key, indent it under the key "
                          "above if it continues that value, or quote it"),
    "list-item-after-key": ("version: 1\nvars: - a\n",
                            "2:7: a list item (`- `) where no list can start: put the items on "
                            "their own lines, indented under their key, or write the list as "
                            "[a, b]"),
    "two-documents": ("version: 1\n---\nversion: 1\n",
                      "2:1: a second YAML document starts here (`---`); a pipeline is one "
                      "document: remove this line and what follows, or move it to a file of "
                      "its own"),
    "undefined-alias": ("version: 1\nvars: {a: *nowhere}\n",
                        "2:11: the alias *nowhere names no anchor: define `&nowhere` on a value "
                        "above it, or quote the text if `*` is meant as text"),
    "duplicate-anchor": ("version: 1\nvars: {a: &x 1, b: &x 2}\n",
                         "2:20: this anchor's name is already used at line 2, column 11; give "
                         "each anchor its own name"),
    "unknown-escape": ('version: 1\nvars: {a: "C:\\dir"}\n',
                       "2:15: unknown escape `\\d` in a \"…\" text: write \\\\ for a backslash, "
                       "or use '…' quotes, in which a backslash is an ordinary character"),
    "control-character": ("version: 1\nvars: {a: \"x\x07\"}\n",
                          "2:13: the character U+0007 is not allowed in a YAML file; remove it "
                          "(inside a \"…\" text it can be written as the escape \\u0007)"),
    "reserved-character": ("version: 1\nvars: {a: @x}\n",
                           "2:11: `@` cannot start a value in YAML (`@` and `` ` `` are "
                           "reserved, `%` starts a directive, `|` and `>` a block text); quote "
                           "the value (\"…\")"),
    "tag-handle": ("version: 1\nvars: {a: !e!x 1}\n",
                   "2:11: `!` starts a YAML tag here, which a pipeline does not use; quote the "
                   "text (\"!…\")"),
    "short-hex-escape": ('version: 1\nvars: {a: "\\x4"}\n',
                         "2:14: this escape needs 2 hexadecimal digits (\\x41, \\u00e9, "
                         "\\U0001F600): complete it, write \\\\ for a backslash, or use '…' "
                         "quotes"),
}


@pytest.mark.parametrize("case", list(SYNTAX))
def test_yaml_syntax_errors_are_explained_in_plain_words(run: Run, case: str) -> None:
    text, message = SYNTAX[case]
    Path("p.yaml").write_text(text, encoding="utf-8")
    where, what = message.split(": ", 1)
    assert validate_err(run, Path("p.yaml")) == f"p.yaml:{where}: invalid YAML: {what}\n"


@pytest.mark.parametrize(("value", "message"), [
    ("!!int", "'' is not a !!int value; fix it or remove the tag"),
    ("!!bool maybe", "'maybe' is not a !!bool value; fix it or remove the tag"),
])
def test_a_tagged_value_that_is_not_of_its_type_is_an_error(run: Run, value: str,
                                                             message: str) -> None:
    Path("p.yaml").write_text(f"version: 1\nvars: {{a: {value} }}\n", encoding="utf-8")
    assert validate_err(run, Path("p.yaml")) == f"p.yaml:2:11: invalid YAML value: {message}\n"


# --- "did you mean", and keys at the wrong level ------------------------------------------

def test_a_misspelt_provider_gets_the_closest_registered_name(
        write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("""
        version: 1
        provider: Sim
        assets:
          a:
            provider: apikly
            prompt: x
            output: a.png
          b:
            provider: dalle
            prompt: x
            output: b.png
    """)
    names = ", ".join(sorted(PROVIDERS))   # the registry's names, not a list kept by hand
    assert validate_err(run, path) == (
        f"p.yaml:2:11: provider: 'Sim' is not allowed; use one of: {names} (did you mean "
        "`sim`?)\n"
        f"p.yaml:5:15: assets.a.provider: 'apikly' is not allowed; use one of: {names} (did "
        "you mean `apikley`?)\n"
        f"p.yaml:9:15: assets.b.provider: 'dalle' is not allowed; use one of: {names}\n")


def test_a_key_one_level_too_deep_is_told_where_it_belongs(
        write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("""
        version: 1
        assets:
          a:
            prompt: "{{ n }}"
            matrix:
              n: [1, 2]
              output: "{{ n }}.png"
    """)
    assert validate_err(run, path) == (
        "p.yaml:4:5: assets.a: 'output' is a required property; add it\n"
        "p.yaml:7:7: assets.a.matrix.output: `output` belongs in `assets.a`, not in "
        "`assets.a.matrix`; move it there (where it is now, it reads as a matrix axis, and "
        "'{{ n }}.png' is not a list)\n")


def test_keys_at_the_wrong_level_are_told_where_they_belong(
        write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("""
        version: 1
        resolution: 2K
        max_combinations: 5
        assets:
          prompt: x
          a:
            prompt: x
            output: a.png
            include: [{n: 1}]
            defaults: {}
            matrix:
              seed: 5
    """)
    assert validate_err(run, path) == (
        "p.yaml:2:1: unknown key `resolution` in the top level (`resolution` belongs in "
        "`defaults` or in `assets.<name>`, not at the top level; move it there)\n"
        "p.yaml:3:1: unknown key `max_combinations` in the top level (`max_combinations` "
        "belongs in `limits`, not at the top level; move it there)\n"
        "p.yaml:5:3: assets.prompt: `prompt` belongs in `assets.<name>`, not in `assets`; move "
        "it there (where it is now, it reads as an asset, and 'x' is not a mapping)\n"
        "p.yaml:9:5: unknown key `include` in assets.a (`include` belongs in "
        "`assets.a.matrix`, not in `assets.a`; move it there)\n"
        "p.yaml:10:5: unknown key `defaults` in assets.a (`defaults` belongs at the top level, "
        "not in `assets.a`; move it there)\n"
        # a matrix axis named after a parameter is an axis as meant: only its value is wrong
        "p.yaml:12:13: assets.a.matrix.seed: 5 is not a list; write a list here\n")


def test_a_typo_that_is_no_key_anywhere_still_gets_did_you_mean(
        write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("""
        version: 1
        assets:
          a: {prompt: x, output: a.png, promt: y, aspect: "16;9"}
    """)
    assert validate_err(run, path) == (
        "p.yaml:3:33: unknown key `promt` in assets.a (did you mean `prompt`?)\n"
        "p.yaml:3:51: assets.a.aspect: '16;9' is not allowed; use one of: 1:1, 4:3, 3:4, "
        "3:2, 2:3, 16:9, 9:16, 21:9 (did you mean `16:9`?)\n")


# --- matrix include with a partial mapping, through the CLI ---------------------------------

def test_include_with_a_partial_mapping_extends_the_matching_combinations(
        write_pipeline: WritePipeline) -> None:
    path = write_pipeline("""
        version: 1
        provider: sim
        assets:
          shots:
            prompt: "{{ product.text }}, {{ colour | default('plain') }}"
            output: "{{ product.id }}-{{ aspect | slug }}.png"
            matrix:
              product:
                - {id: mug, text: a mug}
                - {id: lamp, text: a lamp}
              aspect: ["1:1", "16:9"]
              include:
                - {product: {id: mug}, colour: red}
    """)
    combos = combos_of(path)
    assert [(c.address, c.request["input"]["prompt"]) for c in combos] == [
        ("shots[product.id=mug, aspect=1:1, colour=red]", "a mug, red"),
        ("shots[product.id=mug, aspect=16:9, colour=red]", "a mug, red"),
        ("shots[product.id=lamp, aspect=1:1]", "a lamp, plain"),
        ("shots[product.id=lamp, aspect=16:9]", "a lamp, plain"),
    ]


# --- YAML merge keys ----------------------------------------------------------------------

def test_a_key_written_beside_a_merge_overrides_the_merged_one(
        write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("""
        version: 1
        provider: sim
        vars:
          base: &base {style: studio, light: soft}
          warm: &warm
            <<: *base
            light: warm
          both:
            <<: [*warm, {light: harsh, lens: wide}]
            lens: macro
        assets:
          a:
            prompt: "{{ base.light }} {{ warm.light }} {{ both.light }} {{ both.lens }} {{
              both.style }}"
            output: a.png
    """)
    result = run("plan", path, "--format", "json")
    assert result.code == 0, result.err
    # earlier merged mappings win over later ones, keys written in the mapping over both
    request = json.loads(result.out)["items"][0]["request"]
    assert request["input"]["prompt"] == "soft warm warm macro studio"


def test_an_anchored_mapping_with_a_merge_can_be_used_again(
        write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("""
        version: 1
        provider: sim
        defaults: &d
          <<: {resolution: 1K}
          resolution: 2K
        vars: {again: *d}
        assets:
          a: {prompt: "{{ again.resolution }}", output: a.png}
    """)
    assert [c.request["input"]["prompt"] for c in combos_of(path)] == ["2K"]


@pytest.mark.parametrize(("text", "message"), [
    ("version: 1\nassets:\n  a:\n    prompt: x\n    output: a.png\n    prompt: y\n",
     "p.yaml:6:5: duplicate key 'prompt': each key may appear once in a mapping"),
    ("version: 1\nx: &x {a: 1, a: 2}\n",
     "p.yaml:2:14: duplicate key 'a': each key may appear once in a mapping"),
    ("version: 1\nvars:\n  b: &b {a: 1}\n  c:\n    <<: *b\n    a: 2\n    a: 3\n",
     "p.yaml:7:5: duplicate key 'a': each key may appear once in a mapping"),
    ("version: 1\nvars:\n  c:\n    <<: [1, 2]\n",
     "p.yaml:4:9: `<<` merges a mapping into this one: write `<<: *anchor` or `<<: [*one, "
     "*two]` naming mappings"),
])
def test_true_duplicates_and_bad_merges_are_still_errors(run: Run, text: str,
                                                         message: str) -> None:
    Path("p.yaml").write_text(text, encoding="utf-8")
    assert validate_err(run, Path("p.yaml")) == f"{message}\n"
