"""Every bad pipeline gets file:line:column, what is wrong, what to do, and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from corekit import Run, WritePipeline, assert_no_traceback, dedent

# name → (pipeline text, the one error validate prints for it)
CASES: dict[str, tuple[str, str]] = {
    "broken-yaml": ("""
        version: 1
        assets:
          a:
            prompt: "x {{ y }}
            output: a.png
        """, "p.yaml:4:13: invalid YAML: the quoted text that starts here is never closed; "
             "close it with the same quote (a quote inside it is written '' in '…' and \\\" in "
             "\"…\")"),
    "broken-yaml-flow": ("""
        version: 1
        assets:
          a: [1, 2
          b: 3
        """, "p.yaml:4:4: invalid YAML: inside the list `[` that starts at line 3, column 6, "
             "entries are separated by `,` and it ends with `]`; found `:` here instead (quote "
             "a text that contains `:`, `,`, `[`, `]`, `{` or `}`)"),
    "bad-indentation": ("""
        version: 1
          assets: {}
        """, "p.yaml:2:9: invalid YAML: a `:` where no key can start: if this line is a key, "
             "indent it exactly like the keys above it; if the `:` is part of a text, quote the "
             "whole value (\"Photo: a mug\")"),
    "duplicate-key": ("""
        version: 1
        assets:
          a:
            prompt: x
            output: a.png
            prompt: y
        """, "p.yaml:6:5: duplicate key 'prompt': each key may appear once in a mapping"),
    "unknown-asset-key": ("""
        version: 1
        assets:
          a:
            prompt: x
            output: a.png
            imagse: 2
        """, "p.yaml:6:5: unknown key `imagse` in assets.a (did you mean `images`?)"),
    "unknown-top-level-key": ("""
        version: 1
        defualts: {resolution: 2K}
        assets:
          a: {prompt: x, output: a.png}
        """, "p.yaml:2:1: unknown key `defualts` in the top level (did you mean `defaults`?)"),
    "unknown-key-nothing-close": ("""
        version: 1
        assets:
          a:
            prompt: x
            output: a.png
            zzz: 1
        """, "p.yaml:6:5: unknown key `zzz` in assets.a (allowed: description, provider, "
             "prompt, output, matrix, aspect, resolution, size, seed, images, apikley, "
             "modellix)"),
    "missing-required": ("""
        version: 1
        assets:
          a:
            prompt: x
        """, "p.yaml:4:5: assets.a: 'output' is a required property; add it"),
    "wrong-type": ("""
        version: 1
        assets:
          a:
            prompt: x
            output: a.png
            images: two
        """, "p.yaml:6:13: assets.a.images: 'two' is not a whole number; write a whole number "
             "here"),
    "matrix-not-a-list": ("""
        version: 1
        assets:
          a:
            prompt: "{{ n }}"
            output: "{{ n }}.png"
            matrix:
              n: 3
        """, "p.yaml:7:10: assets.a.matrix.n: 3 is not a list; write a list here"),
    "version-2": ("""
        version: 2
        assets:
          a: {prompt: x, output: a.png}
        """, "p.yaml:1:10: version: 2 is not supported; this seedflow reads version 1"),
    "unknown-provider": ("""
        version: 1
        provider: dalle
        assets:
          a: {prompt: x, output: a.png}
        """, "p.yaml:2:11: provider: 'dalle' is not allowed; use one of: apikley, modellix, "
             "sim, sim:modellix"),
    "bad-aspect-in-matrix": ("""
        version: 1
        assets:
          a:
            prompt: "x"
            output: "{{ aspect | slug }}.png"
            matrix:
              aspect:
                - "1:1"
                - "5:4"
                - "16:9"
        """, "p.yaml:9:11: aspect '5:4' is not supported; use one of 1:1, 4:3, 3:4, 3:2, 2:3, "
             "16:9, 9:16, 21:9"),
    "bad-seed-in-include": ("""
        version: 1
        assets:
          a:
            prompt: "x {{ n }}"
            output: "{{ n }}-{{ seed }}.png"
            seed: 1
            matrix:
              n: [1, 2]
              include:
                - {n: 3, seed: -5}
        """, "p.yaml:10:24: seed -5 must be a whole number from 0 to 2147483647"),
    "apikley-images-7": ("""
        version: 1
        assets:
          a:
            prompt: x
            output: "a-{{ index }}.png"
            images: 7
        """, "p.yaml:6:13: apikley refuses it: 7 is greater than the maximum of 6 (request "
             "field `input.max_images`)"),
    "apikley-size": ("""
        version: 1
        assets:
          a:
            prompt: x
            output: a.png
            size: 2048x2048
        """, "p.yaml:6:11: Apikley takes no pixel size: use `aspect` (1:1, 4:3, 16:9, ...) and "
             "`resolution` (1K, 2K, 4K)"),
    "modellix-size-too-small": ("""
        version: 1
        assets:
          a:
            provider: modellix
            prompt: x
            output: a.png
            size: 640x480
        """, "p.yaml:7:11: size 640x480 has 307,200 pixels; Modellix accepts 921,600 to "
             "16,777,216 (e.g. 1280x720 up to 4096x4096)"),
    "modellix-size-too-large": ("""
        version: 1
        provider: modellix
        assets:
          a:
            prompt: x
            output: a.png
            size: 8192x4096
        """, "p.yaml:7:11: size 8192x4096 has 33,554,432 pixels; Modellix accepts 921,600 to "
             "16,777,216 (e.g. 1280x720 up to 4096x4096)"),
    "size-and-aspect": ("""
        version: 1
        assets:
          a:
            provider: modellix
            prompt: x
            output: a.png
            size: 2048x2048
            aspect: "1:1"
        """, "p.yaml:7:11: set either `size` or `aspect`/`resolution`, not both"),
    "unknown-native-extra": ("""
        version: 1
        assets:
          a:
            prompt: x
            output: a.png
            apikley: {foo: 1}
        """, "p.yaml:6:20: apikley does not accept `foo` (it accepts: image_resolution, "
             "image_size, max_images, nsfw_checker, prompt, seed)"),
    "native-extra-bad-value": ("""
        version: 1
        assets:
          a:
            provider: modellix
            prompt: x
            output: a.png
            modellix:
              optimize_prompt_mode: turbo
        """, "p.yaml:8:29: modellix refuses it: 'turbo' is not one of ['standard', 'fast'] "
             "(request field `optimize_prompt_mode`)"),
    "native-extra-overlaps-neutral": ("""
        version: 1
        assets:
          a:
            prompt: x
            output: a.png
            apikley: {max_images: 2}
        """, "p.yaml:6:27: `max_images` is set from `images`; set that instead"),
    "extras-for-the-wrong-protocol": ("""
        version: 1
        assets:
          a:
            prompt: x
            output: a.png
            modellix: {optimize_prompt_mode: fast}
        """, "p.yaml:6:5: `modellix` options given, but asset `a` uses provider `apikley` "
             "(apikley protocol); remove them or change the provider"),
    "undefined-variable": ("""
        version: 1
        vars: {style: soft light}
        assets:
          a:
            prompt: "a photo, {{ colour }}, {{ style }}"
            output: "a-{{ seed }}.png"
            matrix:
              seed: [1, 2]
        """, "p.yaml:5:13: prompt: 'colour' is undefined; variables available here: asset, "
             "seed, style"),
    "undefined-attribute": ("""
        version: 1
        assets:
          a:
            prompt: "{{ product.text }}"
            output: "{{ product.name }}.png"
            matrix:
              product: [{id: mug, text: a mug}]
        """, "p.yaml:5:13: output: 'dict object' has no attribute 'name'; variables available "
             "here: asset, index, product"),
    "template-syntax-error": ("""
        version: 1
        assets:
          a:
            prompt: "{{ colour "
            output: a.png
        """, "p.yaml:4:13: prompt: template syntax error: unexpected end of template, expected "
             "'end of print statement'."),
    "template-syntax-error-in-output": ("""
        version: 1
        assets:
          a:
            prompt: x
            output: "{% if %}a.png"
        """, "p.yaml:5:13: output: template syntax error: Expected an expression, got 'end of "
             "statement block'"),
    "images-without-index": ("""
        version: 1
        assets:
          a:
            prompt: x
            output: a.png
            images: 2
        """, "p.yaml:5:13: output: 2 images per task need `{{ index }}` in the output template, "
             "or they would overwrite each other"),
    "exclude-names-a-non-axis": ("""
        version: 1
        assets:
          a:
            prompt: "x {{ seed }}"
            output: "a{{ seed }}.png"
            matrix:
              seed: [1, 2]
              exclude:
                - {sed: 1}
        """, "p.yaml:9:12: exclude names `sed`, which is not a matrix axis (axes: seed)"),
    "reserved-axis-index": ("""
        version: 1
        assets:
          a:
            prompt: "x {{ seed }}"
            output: "a{{ seed }}.png"
            matrix:
              seed: [1, 2]
              index: [1, 2]
        """, "p.yaml:8:7: `index` is reserved; name this axis something else"),
    "reserved-axis-asset": ("""
        version: 1
        assets:
          a:
            prompt: "x {{ seed }}"
            output: "a{{ seed }}.png"
            matrix:
              asset: [1, 2]
              seed: [1, 2]
        """, "p.yaml:7:7: `asset` is reserved; name this axis something else"),
    "bad-axis-name": ("""
        version: 1
        assets:
          a:
            prompt: "x"
            output: "a.png"
            matrix:
              n: [1]
              my-axis: [1, 2]
        """, "p.yaml:8:7: assets.a.matrix: invalid name `my-axis`: a matrix axis is a "
             "template variable, so use letters, digits and `_`, not starting with a digit "
             "(e.g. `my_axis`)"),
    "bad-asset-name": ("""
        version: 1
        assets:
          a: {prompt: x, output: a.png}
          9b: {prompt: x, output: b.png}
        """, "p.yaml:4:3: assets: invalid name `9b`: start with a letter, then use letters, "
             "digits, `-` and `_`"),
    "output-collision": ("""
        version: 1
        assets:
          a:
            prompt: "x {{ seed }}"
            output: "a.png"
            matrix:
              seed: [1, 2]
        """, "p.yaml:5:13: output path a.png is written by both a[seed=1] and a[seed=2]; make "
             "the output template use the axes that differ"),
    "output-collision-across-assets": ("""
        version: 1
        assets:
          a:
            prompt: "first"
            output: "same.png"
          b:
            prompt: "second"
            output: "same.png"
        """, "p.yaml:8:13: output path same.png is written by both a and b; make the output "
             "template use the axes that differ"),
    "identical-requests": ("""
        version: 1
        assets:
          a:
            prompt: "the same prompt"
            output: "a-{{ variant }}.png"
            matrix:
              variant: [one, two]
        """, "p.yaml:5:13: a[variant=two] and a[variant=one] send the identical request, so "
             "they would be the same image; change the prompt, a parameter or the seed"),
    "not-a-mapping": ("""
        - just
        - a list
        """, "p.yaml:1:1: a pipeline must be a YAML mapping with `version: 1` and `assets:`; "
             "see `seedflow init` for a starter"),
}


@pytest.mark.parametrize("text, message", CASES.values(), ids=CASES.keys())
def test_validate_points_at_the_problem(write_pipeline: WritePipeline, run: Run, text: str,
                                        message: str, tmp_path: Path) -> None:
    path = write_pipeline(text)
    result = run("validate", path)
    assert result.code == 1
    assert result.out == ""
    assert result.err == f"{message}\n1 of 1 pipeline files are invalid.\n"
    assert_no_traceback(result)
    assert [p.name for p in tmp_path.iterdir()] == ["p.yaml"]  # nothing written


@pytest.mark.parametrize("text, message", CASES.values(), ids=CASES.keys())
def test_plan_reports_the_same_problem(write_pipeline: WritePipeline, run: Run, text: str,
                                       message: str, tmp_path: Path) -> None:
    path = write_pipeline(text)
    result = run("plan", path, "--detailed-exitcode")
    assert result.code == 1
    assert result.out == ""
    assert result.err == f"error: {message}\n"
    assert_no_traceback(result)
    assert not (tmp_path / "p.lock").exists()


def test_missing_file(run: Run) -> None:
    result = run("validate", "missing.yaml")
    assert (result.code, result.out) == (1, "")
    assert result.err == ("missing.yaml: no such file; check the path\n"
                          "1 of 1 pipeline files are invalid.\n")
    plan = run("plan", "missing.yaml")
    assert (plan.code, plan.err) == (1, "error: missing.yaml: no such file; check the path\n")


def test_a_folder_instead_of_a_file_is_a_usage_error(run: Run, tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    result = run("validate", "pipelines")
    assert result.code == 2
    assert result.err.endswith("Error: Invalid value for 'PIPELINES...': File 'pipelines' is a "
                               "directory.\n")


def test_not_utf8(run: Run, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_bytes(b"version: 1\nassets: \xff\n")
    result = run("validate", "p.yaml")
    assert result.code == 1
    assert result.err.startswith("p.yaml:1:1: not UTF-8 text (invalid start byte)\n")


def test_empty_file(write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("# nothing here\n")
    result = run("validate", path)
    assert result.code == 1
    assert result.err.startswith("p.yaml:1:1: a pipeline must be a YAML mapping")


def test_several_errors_of_one_file_are_reported_together(write_pipeline: WritePipeline,
                                                          run: Run) -> None:
    path = write_pipeline("""
        version: 1
        assets:
          a:
            prompt: x
            output: a.png
            colour: red
          b:
            prompt: x
            output: b.png
            images: many
            resolutoin: 2K
    """)
    result = run("validate", path)
    assert result.code == 1
    assert result.err == (
        "p.yaml:6:5: unknown key `colour` in assets.a (allowed: description, provider, prompt, "
        "output, matrix, aspect, resolution, size, seed, images, apikley, modellix)\n"
        "p.yaml:10:13: assets.b.images: 'many' is not a whole number; write a whole number here\n"
        "p.yaml:11:5: unknown key `resolutoin` in assets.b (did you mean `resolution`?)\n"
        "1 of 1 pipeline files are invalid.\n")


def test_several_combination_errors_are_reported_together(write_pipeline: WritePipeline,
                                                          run: Run) -> None:
    path = write_pipeline("""
        version: 1
        assets:
          a:
            prompt: "{{ nope }}"
            output: a.png
          b:
            provider: modellix
            prompt: "x {{ n }}"
            output: "b{{ n }}.png"
            matrix:
              n: [1, 2]
            size: 10x10
          c:
            prompt: "x"
            output: "/abs.png"
    """)
    result = run("validate", path)
    assert result.code == 1
    assert result.err == (
        "p.yaml:4:13: prompt: 'nope' is undefined; variables available here: asset\n"
        "p.yaml:12:11: size 10x10 has 100 pixels; Modellix accepts 921,600 to 16,777,216 "
        "(e.g. 1280x720 up to 4096x4096)\n"
        "p.yaml:15:13: output renders '/abs.png': an absolute path; outputs must be relative to "
        "output_dir\n"
        "1 of 1 pipeline files are invalid.\n")


def test_one_problem_repeated_by_many_combinations_is_reported_once(
        write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("""
        version: 1
        assets:
          a:
            prompt: "{{ nope }} {{ n }}"
            output: "{{ n }}.png"
            matrix:
              n: [1, 2, 3, 4, 5]
    """)
    result = run("validate", path)
    assert result.err.count("'nope' is undefined") == 1


GOOD = """
    version: 1
    assets:
      a:
        prompt: "x {{ n }}"
        output: "{{ n }}.png"
        matrix:
          n: [1, 2, 3]
"""
BAD = """
    version: 1
    assets:
      a:
        prompt: x
        output: a.png
        images: 0
"""


def test_validate_checks_several_files(write_pipeline: WritePipeline, run: Run) -> None:
    good = write_pipeline(GOOD, "good.yaml")
    other = write_pipeline(GOOD.replace("[1, 2, 3]", "[1]"), "sub/other.yaml")
    bad = write_pipeline(BAD, "bad.yaml")
    result = run("validate", good, bad, other)
    assert result.code == 1
    assert result.out == ("good.yaml: valid (3 combinations)\n"
                          "sub/other.yaml: valid (1 combinations)\n")
    assert result.err == ("bad.yaml:6:13: assets.a.images: 0 is less than the minimum of 1\n"
                          "1 of 3 pipeline files are invalid.\n")
    both_bad = run("validate", bad, "missing.yaml")
    assert both_bad.code == 1
    assert both_bad.err.endswith("2 of 2 pipeline files are invalid.\n")
    all_good = run("validate", good, other)
    assert (all_good.code, all_good.err) == (0, "")
    assert all_good.out == ("good.yaml: valid (3 combinations)\n"
                            "sub/other.yaml: valid (1 combinations)\n")


def test_positions_survive_comments_anchors_and_flow_style(write_pipeline: WritePipeline,
                                                           run: Run) -> None:
    path = write_pipeline("""
        # a comment
        version: 1
        defaults: &base
          resolution: 2K
        assets:
          a:
            <<: *base
            prompt: >-
              a folded
              prompt
            output: a.png
            aspect: "7:5"
    """)
    result = run("validate", path)
    assert result.code == 1
    assert result.err.startswith("p.yaml:12:13: assets.a.aspect: '7:5' is not allowed; use one "
                                 "of: 1:1, 4:3, 3:4, 3:2, 2:3, 16:9, 9:16, 21:9\n")


def test_dedent_helper_keeps_line_numbers() -> None:
    assert dedent("""
        version: 1
        assets: {}
    """).splitlines()[0] == "version: 1"
