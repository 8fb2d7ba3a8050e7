"""Templates come from pull requests: no files, no environment, no Python internals, no
unbounded work; and the fast path renders exactly what the sandbox renders."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pytest
from corekit import CANARY_NAME, CANARY_VALUE, Run, WritePipeline, assert_no_traceback
from hypothesis import given, settings
from hypothesis import strategies as st

from seedflow.pipeline import templates
from seedflow.pipeline.templates import Template, TemplateProblem, _render_fast

SANDBOXED = "not allowed in a template (sandboxed): "
NO_LOADER = "template error: no loader for this environment specified"
AVAILABLE = "; variables available here: asset, s, x"

# template → what the error says after "prompt: "
ATTACKS = {
    "{{ ''.__class__.__mro__ }}":
        SANDBOXED + "access to attribute '__class__' of 'str' object is unsafe.",
    "{{ cycler.__init__.__globals__ }}":
        SANDBOXED + "access to attribute '__init__' of 'type' object is unsafe.",
    "{{ joiner.__init__.__globals__.os.environ }}":
        SANDBOXED + "access to attribute '__init__' of 'type' object is unsafe.",
    "{{ self.__dict__ }}":
        SANDBOXED + "access to attribute '__dict__' of 'TemplateReference' object is unsafe.",
    "{{ self._TemplateReference__context }}":
        SANDBOXED + "access to attribute '_TemplateReference__context' of 'TemplateReference' "
                    "object is unsafe.",
    "{{ x.__class__.__base__.__subclasses__() }}":
        SANDBOXED + "access to attribute '__class__' of 'list' object is unsafe.",
    "{{ s | attr('__class__') }}":
        SANDBOXED + "access to attribute '__class__' of 'str' object is unsafe.",
    "{{ '{0.__class__}'.format(1) }}":
        SANDBOXED + "access to attribute '__class__' of 'int' object is unsafe.",
    "{% import 'os' as os %}": NO_LOADER,
    "{% from 'os' import environ %}{{ environ }}": NO_LOADER,
    "{% include '/etc/passwd' %}": NO_LOADER,
    "{% include 'secret.txt' %}": NO_LOADER,
    "{% extends '/etc/passwd' %}": NO_LOADER,
    "{{ config }}": "'config' is undefined" + AVAILABLE,
    "{{ environ }}": "'environ' is undefined" + AVAILABLE,
    "{{ request }}": "'request' is undefined" + AVAILABLE,
    "{{ lipsum() }}": "'lipsum' is undefined" + AVAILABLE,
    "{{ x | random }}": "template syntax error: No filter named 'random'.",
    "{{ 'a' * 1000000 }}": SANDBOXED + "repetition longer than 10000 is not allowed",
    "{{ [1] * 10001 }}": SANDBOXED + "repetition longer than 10000 is not allowed",
    "{{ (x * 6000) | length }}": SANDBOXED + "repetition longer than 10000 is not allowed",
    "{{ 2 ** 100 }}": SANDBOXED + "exponents above 64 are not allowed",
    "{{ ((9 ** 64) ** 64) ** 64 }}": SANDBOXED + "powers larger than 2**4096 are not allowed",
    "{{ range(10**9) | list }}":
        "template error: Range too big. The sandbox blocks ranges larger than MAX_RANGE "
        "(100000).",
    "{% for i in range(10**7) %}x{% endfor %}":
        "template error: Range too big. The sandbox blocks ranges larger than MAX_RANGE "
        "(100000).",
    "{{ x.pop() }}": SANDBOXED + "access to attribute 'pop' of 'list' object is unsafe.",
    "{{ x.append(3) }}": SANDBOXED + "access to attribute 'append' of 'list' object is unsafe.",
    "{% set y = x %}{{ y.clear() }}":
        SANDBOXED + "access to attribute 'clear' of 'list' object is unsafe.",
    "{{ {}.update(a=1) }}": SANDBOXED + "access to attribute 'update' of 'dict' object is unsafe.",
    # printing a method would put a memory address in the prompt (an identity that changes
    # on every run): refused
    "{{ s.title }}": "template error: `title` is a function or method, not a value; use a "
                     "filter (`name | title`) or a key that exists",
    "{{ cycler }}": "template error: `Cycler` is a function or method, not a value; use a "
                    "filter (`name | title`) or a key that exists",
}


def pipeline(template: str, key: str = "prompt") -> str:
    other = "output: a.png" if key == "prompt" else "prompt: a photo"
    quoted = template.replace("\\", "\\\\").replace('"', '\\"')
    return f"""\
version: 1
vars:
  x: [1, 2]
  s: abc
assets:
  a:
    {key}: "{quoted}"
    {other}
"""


@pytest.fixture
def secrets(tmp_path: Path) -> list[str]:
    """Things no template may reveal: the env canary, a local file, /etc/passwd."""
    (tmp_path / "secret.txt").write_text("local-secret-7a1b\n")
    found = [CANARY_VALUE, "local-secret-7a1b"]
    with contextlib.suppress(OSError):
        found += [line for line in Path("/etc/passwd").read_text().splitlines()[:3] if line]
    assert os.environ[CANARY_NAME] == CANARY_VALUE
    return found


def assert_nothing_leaks(output: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in output
    assert "<function" not in output and "<built-in" not in output and "0x7" not in output


@pytest.mark.parametrize("template, message", ATTACKS.items(), ids=range(len(ATTACKS)))
def test_attack_is_refused_at_the_prompt_line(write_pipeline: WritePipeline, run: Run,
                                              secrets: list[str], template: str,
                                              message: str) -> None:
    path = write_pipeline(pipeline(template))
    result = run("validate", path)
    assert result.code == 1
    assert result.out == ""
    assert result.err == f"p.yaml:7:13: prompt: {message}\n1 of 1 pipeline files are invalid.\n"
    assert_no_traceback(result)
    assert_nothing_leaks(result.text, secrets)
    plan = run("plan", path, "--format", "json")
    assert plan.code == 1 and plan.out == ""
    assert_nothing_leaks(plan.text, secrets)


@pytest.mark.parametrize("template", ["{{ ''.__class__ }}.png", "{% include 'secret.txt' %}",
                                      "{{ environ }}.png"])
def test_attack_in_the_output_template(write_pipeline: WritePipeline, run: Run,
                                       secrets: list[str], template: str) -> None:
    path = write_pipeline(pipeline(template, key="output"))
    result = run("validate", path)
    assert result.code == 1
    assert result.err.startswith("p.yaml:7:13: output: ")
    assert_no_traceback(result)
    assert_nothing_leaks(result.text, secrets)


def test_error_in_a_block_scalar_points_at_the_template(write_pipeline: WritePipeline,
                                                        run: Run) -> None:
    path = write_pipeline("""\
        version: 1
        assets:
          a:
            output: a.png
            prompt: |
              A long prompt
              with {{ ''.__class__ }} inside
    """)
    result = run("validate", path)
    assert result.code == 1
    assert result.err.startswith(
        "p.yaml:5:13: prompt: " + SANDBOXED + "access to attribute '__class__' of 'str' object")


def test_the_environment_is_not_in_the_context() -> None:
    template = Template("{{ x }}")
    for name in ("os", "environ", "config", "request", "self_", "__builtins__", "open",
                 "import", "getattr", CANARY_NAME):
        with pytest.raises(TemplateProblem):
            Template("{{ " + name + " }}").render({"x": 1})
    assert template.render({"x": 1}) == "1"


def test_mutating_a_shared_value_is_refused_so_combinations_stay_independent() -> None:
    values = {"x": [1, 2]}
    with pytest.raises(TemplateProblem):
        Template("{{ x.append(3) }}").render(values)
    assert values == {"x": [1, 2]}


# --- the fast path renders exactly what the sandbox renders --------------------------------

SIMPLE = ["{{ a.b | slug }}", "x {{ a.b }} y", "{{ a.b | lower }}-{{ n | upper }}",
          "{{ n }}", "{{ a.items }}/{{ a.keys | slug }}", "p/{{ a.b | slug }}-s{{ n }}.png",
          "{{ deep.one.two }}"]

KEYS = st.sampled_from(["b", "items", "keys", "values", "get", "copy", "id"])
LEAVES = st.one_of(st.text(max_size=20), st.integers(-10**6, 10**6),
                   st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none())


def forced_jinja(template: str) -> str:
    """The same template with a no-op expression the fast path does not take."""
    return template.replace(" }}", " if true else '' }}")


COMPILED = [(source, Template(source), Template(forced_jinja(source))) for source in SIMPLE]


@pytest.mark.parametrize("source", SIMPLE)
def test_simple_templates_take_the_fast_path(source: str) -> None:
    assert Template(source)._fast is not None
    assert Template(forced_jinja(source))._fast is None
    assert Template("{{ a.b | slug | trim }}")._fast is None


@settings(max_examples=150, deadline=None)
@given(a=st.dictionaries(KEYS, LEAVES, min_size=0, max_size=4), n=LEAVES,
       deep=st.dictionaries(st.just("one"), st.dictionaries(st.just("two"), LEAVES)))
def test_fast_and_sandboxed_paths_render_identically(a: dict[str, Any], n: Any,
                                                     deep: dict[str, Any]) -> None:
    context = {"a": a, "n": n, "deep": deep}
    for source, template, jinja in COMPILED:
        outcomes = []
        for render in (template.render, template._render_sandboxed, jinja.render):
            try:
                outcomes.append(("ok", render(context)))
            except TemplateProblem as exc:
                outcomes.append(("error", str(exc)))
        assert outcomes[0] == outcomes[1], source
        assert outcomes[0][0] == outcomes[2][0], source
        if outcomes[0][0] == "ok":
            assert outcomes[0] == outcomes[2], source


@settings(max_examples=100, deadline=None)
@given(contexts=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
                         max_size=12),
       values=st.lists(st.dictionaries(KEYS, LEAVES, max_size=3), min_size=3, max_size=3),
       leaves=st.lists(LEAVES, min_size=3, max_size=3))
def test_a_fast_renderer_renders_what_render_does(contexts: list[tuple[int, int, int]],
                                                  values: list[dict[str, Any]],
                                                  leaves: list[Any]) -> None:
    """Shared value objects in one context after another (as a matrix gives them): the fast
    renderer's kept texts give what render gives, or None where render leaves the fast path."""
    for source, template, _ in COMPILED:
        fast = template.fast_renderer()
        for a, n, deep in contexts:
            context = {"a": values[a], "n": leaves[n], "deep": {"one": values[deep]}}
            text = fast(context)
            if text is not None:
                assert text == template.render(context), source
            else:
                assert _render_fast(template._fast, context) is None, source
    assert Template(forced_jinja(SIMPLE[0])).fast_renderer()({"a": {"b": "x"}}) is None


@pytest.mark.parametrize("source", [
    "plain.png", "{{ n }}{{ a.b }}", "%s {{ n }} %% {{ a.b | slug }}/", "a/{{ n }}/b/c/{{ n }}"])
def test_a_fast_renderer_joins_the_literal_text_around_its_holes(source: str) -> None:
    """Literal text kept with the hole before it (or the first hole after it), adjacent holes,
    a template with no hole: as render gives it, and again from the texts kept."""
    template = Template(source)
    fast = template.fast_renderer()
    for context in [{"n": 1, "a": {"b": "B c"}}, {"n": "x", "a": {"b": 2}}] * 2:
        assert fast(context) == template.render(context)


def test_a_fast_renderer_renders_past_the_texts_it_keeps(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setattr(templates, "_HOLE_TEXTS", 2)
    template = Template("out/{{ n }}-{{ a.b | slug }}.png")
    fast = template.fast_renderer()
    contexts = [{"n": i, "a": {"b": f"B {i}"}} for i in range(5)]
    for context in contexts * 2:
        assert fast(context) == template.render(context)
    assert fast({"a": {"b": "x"}}) is None


@pytest.mark.parametrize("value, expected", [
    ("16:9", "16x9"), ("A Forest Cabin!", "a-forest-cabin"), ("Crème brûlée", "creme-brulee"),
    ("  --  ", "x"), (21, "21"), ("a/b\\c", "a-b-c"), ("../../etc", "etc")])
def test_slug_on_both_paths(value: Any, expected: str) -> None:
    context = {"a": {"b": value}}
    assert Template("{{ a.b | slug }}").render(context) == expected
    assert Template("{{ a.b | slug | trim }}").render(context) == expected


def test_a_dict_key_named_like_a_method_is_the_key_on_both_paths() -> None:
    context = {"p": {"items": "cups", "values": "honest"}}
    assert Template("{{ p.items }} {{ p.values }}").render(context) == "cups honest"
    assert Template("{{ p.items | trim }} {{ p.values | trim }}").render(context) == \
        "cups honest"


def test_fast_and_sandbox_paths_give_the_same_fingerprints(write_pipeline: WritePipeline,
                                                           ) -> None:
    from corekit import fingerprints

    text = """\
        version: 1
        assets:
          a:
            prompt: "{PROMPT}"
            output: "{{ product.id }}-{{ aspect | slug }}.png"
            matrix:
              product:
                - {id: mug, text: A Matte Mug, items: three}
                - {id: lamp, text: Brass Lamp!, items: one}
              aspect: ["1:1", "16:9"]
    """
    fast = write_pipeline(text.replace(
        "{PROMPT}", "{{ product.text | slug }} {{ product.items }} {{ aspect }}"), "fast.yaml")
    slow = write_pipeline(text.replace(
        "{PROMPT}", "{{ product.text | slug | trim }} {{ product.items | trim }} "
                    "{{ aspect | trim }}"), "slow.yaml")
    assert fingerprints(fast) == fingerprints(slow)
    assert len(set(fingerprints(fast).values())) == 4
