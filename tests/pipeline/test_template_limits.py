"""Templates from pull requests cannot exhaust memory or time, nor leak object addresses
(which would make identity change on every run)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from corekit import Run, WritePipeline, assert_no_traceback, dedent
from limitkit import measured, snapshot

from seedflow import limits
from seedflow.pipeline import templates

TOO_LONG = "the template renders {n} characters; at most 100,000 are allowed"
ADDRESS = ("the template prints a Python object (its text holds a memory address, which "
           "changes every run); print a value instead")


def pipeline(prompt: str) -> str:
    return f"""
        version: 1
        provider: sim
        assets:
          a:
            prompt: "{prompt}"
            output: a.png
    """


@pytest.mark.parametrize(("prompt", "message"), [
    ("{{ range(100000) | join('x' * 9999) }}",
     TOO_LONG.format(n=f"{sum(len(str(i)) for i in range(100000)) + 99999 * 9999:,}")),
    ("{{ 'a' | center(10**7) }}", TOO_LONG.format(n="10,000,000")),
    ("{{ '%0*d' % (10**7, 1) }}", TOO_LONG.format(n="10,000,000")),
    ("{{ 'x'.title | string }}", ADDRESS),
    ("{{ 'x'.title ~ '' }}", ADDRESS),
])
def test_oversized_or_unstable_renders_are_refused(write_pipeline: WritePipeline, run: Run,
                                                   prompt: str, message: str) -> None:
    path = write_pipeline(pipeline(prompt))
    result = run("validate", path)
    assert result.code == 1
    assert result.err.splitlines()[0] == f"p.yaml:5:13: prompt: {message}"
    assert_no_traceback(result)


def test_memory_is_bounded_while_templates_render(write_pipeline: WritePipeline, run: Run,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "RENDER_MEMORY", 256 * 2**20)
    path = write_pipeline(pipeline("{{ range(100000) | join('x' * 9999) }}"))
    result = run("validate", path)
    assert result.code == 1
    assert "p.yaml:5:13: prompt: the template needs too much memory; simplify it" in result.err


def test_rendering_time_is_bounded(write_pipeline: WritePipeline, run: Run,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "RENDER_SECONDS", 1)
    loops = ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}"
             "{% endfor %}")
    path = write_pipeline(pipeline(loops))
    started = time.monotonic()
    result = run("validate", path)
    assert time.monotonic() - started < 10
    assert result.code == 1
    assert result.err.splitlines()[0] == ("p.yaml:5:13: prompt: rendering took longer than 1 s; "
                                          "simplify the template")


def test_render_time_is_one_budget_for_the_whole_pipeline(write_pipeline: WritePipeline,
                                                          run: Run,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Once one template has used up the pipeline's render time, a second slow template must
    # fail at once too, not render with no limit at all (the timer fires only once).
    monkeypatch.setattr(templates, "RENDER_SECONDS", 1)
    loops = ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}"
             "{% endfor %}")
    path = write_pipeline(f"""
        version: 1
        provider: sim
        assets:
          a:
            prompt: "{loops}"
            output: a.png
          b:
            prompt: "{loops} again"
            output: b.png
    """)
    started = time.monotonic()
    result = run("validate", path)
    assert time.monotonic() - started < 20
    assert result.code == 1
    slow = "rendering took longer than 1 s; simplify the template"
    assert result.err.splitlines()[:2] == [f"p.yaml:5:13: prompt: {slow}",
                                           f"p.yaml:8:13: prompt: {slow}"]


def test_limits_are_lifted_after_rendering(write_pipeline: WritePipeline, run: Run) -> None:
    import resource
    import signal

    before = resource.getrlimit(resource.RLIMIT_AS)
    assert run("validate", write_pipeline(pipeline("a cat"))).code == 0
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


REPLACES = " | ".join(["replace('a', 'aaaaaaaaaaaaaaaaaaaa')"] * 8)
TOO_MUCH_MEMORY = "the template needs too much memory; simplify it"


@pytest.mark.parametrize("prompt", ["{{ '' | center(999999999) }}",
                                    "{{ 'a' | " + REPLACES + " | length }}"],
                         ids=["center", "replace-chain"])
def test_filters_on_literals_run_inside_the_render_limits(tmp_path: Path, prompt: str) -> None:
    """Jinja folds filters on literals while it compiles, which is outside the render limits:
    these reached 3.75 and 6 GB. Nothing is evaluated at compile time any more."""
    (tmp_path / "p.yaml").write_text(dedent(pipeline(prompt)), encoding="utf-8")
    before = snapshot(tmp_path)
    for command in ("validate", "plan"):
        result = measured(command, "p.yaml", cwd=tmp_path, render_memory=128 * 2**20)
        assert result.code == 1, result.text
        assert f"p.yaml:5:13: prompt: {TOO_MUCH_MEMORY}" in result.err
        assert "Traceback" not in result.text
        assert result.peak_mb < 128 + 150, f"peak {result.peak_mb:.0f} MB"
        assert result.seconds < 20
    assert snapshot(tmp_path) == before


def test_the_shipped_memory_limit_holds_without_help(tmp_path: Path) -> None:
    """The same attack with the limit as shipped (seedflow.limits.RENDER_MEMORY)."""
    (tmp_path / "p.yaml").write_text(dedent(pipeline("{{ 'a' | " + REPLACES + " }}")),
                                     encoding="utf-8")
    result = measured("validate", "p.yaml", cwd=tmp_path)
    assert result.code == 1, result.text
    assert f"p.yaml:5:13: prompt: {TOO_MUCH_MEMORY}" in result.err
    assert result.peak_mb < (limits.RENDER_MEMORY >> 20) + 150, f"peak {result.peak_mb:.0f} MB"


DEEP = "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"
SUM = "{{ " + " + ".join(["1"] * 3000) + " }}"
IFS = "{% if 1 %}" * 1000 + "x" + "{% endif %}" * 1000


@pytest.mark.parametrize(("prompt", "message"), [
    ("{% macro r() %}{{ r() }}{% endmacro %}{{ r() }}",
     "the template recurses too deeply (a macro that calls itself?); simplify it"),
    (DEEP, "the template nests too deeply (brackets, blocks or operators); simplify it"),
    (SUM, "the template nests too deeply (brackets, blocks or operators); simplify it"),
    (IFS, "the template nests too deeply (brackets, blocks or operators); simplify it"),
    ("{% autoescape '' | center(999999999) %}x{% endautoescape %}",
     "`{% autoescape %}` takes true or false, not an expression"),
    ("{% set ns = namespace(v=3) %}{% for i in range(40) %}{% set ns.v = ns.v * ns.v %}"
     "{% endfor %}{{ ns.v > 1 }}",
     "not allowed in a template (sandboxed): products larger than 2**4096 are not allowed"),
], ids=["recursive-macro", "deep-brackets", "long-sum", "nested-ifs", "autoescape-expression",
        "squaring"])
def test_recursion_and_growth_are_clean_errors(write_pipeline: WritePipeline, run: Run,
                                               prompt: str, message: str) -> None:
    path = write_pipeline(pipeline(prompt))
    started = time.monotonic()
    for command in ("validate", "plan"):
        result = run(command, path)
        assert result.code == 1, result.text
        assert f"p.yaml:5:13: prompt: {message}" in result.err
        assert_no_traceback(result)
    assert time.monotonic() - started < 10


def test_constant_expressions_still_render(write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline(pipeline("{{ 'a' | center(5) }}|{{ 6 * 7 }}|{{ 'x' ~ 'y' | upper }}"
                                   "{% autoescape false %}<{% endautoescape %}"))
    result = run("plan", path, "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["items"][0]["request"]["input"]["prompt"] == "  a  |42|xY<"
