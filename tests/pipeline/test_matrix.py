"""Matrix expansion: GitHub Actions' documented include/exclude semantics, and count()."""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import yaml
from corekit import Run, WritePipeline, assert_no_traceback
from hypothesis import given, settings
from hypothesis import strategies as st
from limitkit import CORPORA

from seedflow.pipeline.matrix import Matrix, count, expand, matches


def matrix(axes: Mapping[str, Sequence[Any]], include: Sequence[Mapping[str, Any]] = (),
           exclude: Sequence[Mapping[str, Any]] = ()) -> Matrix:
    return Matrix(tuple((k, tuple(v)) for k, v in axes.items()), tuple(include), tuple(exclude))


# GitHub docs, "Expanding or adding matrix configurations" (jobs.<job_id>.strategy.matrix.include)
FRUIT = matrix(
    {"fruit": ["apple", "pear"], "animal": ["cat", "dog"]},
    include=[{"color": "green"}, {"color": "pink", "animal": "cat"},
             {"fruit": "apple", "shape": "circle"}, {"fruit": "banana"},
             {"fruit": "banana", "animal": "cat"}])
FRUIT_DOCUMENTED = [
    {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
    {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
    {"fruit": "pear", "animal": "cat", "color": "pink"},
    {"fruit": "pear", "animal": "dog", "color": "green"},
    {"fruit": "banana"},
    {"fruit": "banana", "animal": "cat"},
]

# GitHub docs, "Excluding matrix configurations"
OS_VERSION = matrix(
    {"os": ["macos-latest", "windows-latest"], "version": [12, 14, 16],
     "environment": ["staging", "production"]},
    exclude=[{"os": "macos-latest", "version": 12, "environment": "production"},
             {"os": "windows-latest", "version": 16}])
OS_VERSION_EXPECTED = [
    {"os": "macos-latest", "version": 12, "environment": "staging"},
    {"os": "macos-latest", "version": 14, "environment": "staging"},
    {"os": "macos-latest", "version": 14, "environment": "production"},
    {"os": "macos-latest", "version": 16, "environment": "staging"},
    {"os": "macos-latest", "version": 16, "environment": "production"},
    {"os": "windows-latest", "version": 12, "environment": "staging"},
    {"os": "windows-latest", "version": 12, "environment": "production"},
    {"os": "windows-latest", "version": 14, "environment": "staging"},
    {"os": "windows-latest", "version": 14, "environment": "production"},
]

MUG = {"id": "mug", "text": "a matte ceramic coffee mug"}
LAMP = {"id": "lamp", "text": "a brass desk lamp"}


def test_github_include_example_gives_the_six_documented_combinations_in_order() -> None:
    combos = expand(FRUIT)
    assert combos == FRUIT_DOCUMENTED
    assert [list(c) for c in combos[:4]] == [  # axes first, then included keys in order
        ["fruit", "animal", "color", "shape"], ["fruit", "animal", "color", "shape"],
        ["fruit", "animal", "color"], ["fruit", "animal", "color"]]
    assert count(FRUIT) == 6


def test_github_exclude_example_gives_nine() -> None:
    combos = expand(OS_VERSION)
    assert combos == OS_VERSION_EXPECTED
    assert count(OS_VERSION) == len(combos) == 9


def test_product_varies_the_first_axis_slowest() -> None:
    m = matrix({"a": [1, 2], "b": ["x", "y", "z"]})
    assert [(c["a"], c["b"]) for c in expand(m)] == [
        (1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z")]


def test_exclude_with_a_partial_mapping_removes_every_match() -> None:
    m = matrix({"product": [MUG, LAMP], "aspect": ["1:1", "16:9"]},
               exclude=[{"product": {"id": "lamp"}}])
    assert expand(m) == [{"product": MUG, "aspect": "1:1"}, {"product": MUG, "aspect": "16:9"}]
    assert count(m) == 2


def test_exclude_with_a_full_mapping_and_a_second_key() -> None:
    m = matrix({"product": [MUG, LAMP], "aspect": ["1:1", "16:9"]},
               exclude=[{"product": LAMP, "aspect": "16:9"}])
    assert expand(m) == [{"product": MUG, "aspect": "1:1"}, {"product": MUG, "aspect": "16:9"},
                         {"product": LAMP, "aspect": "1:1"}]
    assert count(m) == 3


def test_mapping_pattern_needs_every_key_it_names() -> None:
    assert matches(MUG, {"id": "mug"})
    assert not matches(MUG, {"id": "mug", "colour": "red"})
    assert not matches(MUG, {"id": "lamp"})
    assert not matches("mug", {"id": "mug"})
    assert matches({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}})


def test_exclude_that_matches_nothing_changes_nothing() -> None:
    m = matrix({"a": [1, 2]}, exclude=[{"a": 3}])
    assert expand(m) == [{"a": 1}, {"a": 2}]
    assert count(m) == 2


def test_include_extends_matching_combinations() -> None:
    m = matrix({"a": [1, 2], "b": ["x", "y"]}, include=[{"a": 1, "extra": "E"}])
    assert expand(m) == [{"a": 1, "b": "x", "extra": "E"}, {"a": 1, "b": "y", "extra": "E"},
                         {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    assert count(m) == 4


def test_include_that_would_overwrite_an_original_value_adds_a_combination() -> None:
    m = matrix({"a": [1, 2]}, include=[{"a": 3, "extra": "E"}])
    assert expand(m) == [{"a": 1}, {"a": 2}, {"a": 3, "extra": "E"}]
    assert count(m) == 3


def test_include_may_overwrite_values_added_by_an_earlier_include() -> None:
    m = matrix({"a": [1, 2]}, include=[{"colour": "green"}, {"a": 2, "colour": "pink"}])
    assert expand(m) == [{"a": 1, "colour": "green"}, {"a": 2, "colour": "pink"}]
    assert count(m) == 2


def test_include_is_applied_after_exclude() -> None:
    m = matrix({"a": [1, 2]}, include=[{"a": 2, "extra": "E"}], exclude=[{"a": 2}])
    assert expand(m) == [{"a": 1}, {"a": 2, "extra": "E"}]  # a new combination, not an extension
    assert count(m) == 2


def test_include_with_a_partial_mapping_extends_every_match_and_keeps_its_value() -> None:
    m = matrix({"product": [MUG, LAMP], "aspect": ["1:1", "16:9"]},
               include=[{"product": {"id": "mug"}, "colour": "red"}])
    assert expand(m) == [{"product": MUG, "aspect": "1:1", "colour": "red"},
                         {"product": MUG, "aspect": "16:9", "colour": "red"},
                         {"product": LAMP, "aspect": "1:1"}, {"product": LAMP, "aspect": "16:9"}]
    assert all(c["product"] is MUG for c in expand(m)[:2])  # the original value, not the pattern
    assert count(m) == 4


def test_include_with_a_partial_mapping_and_a_second_axis() -> None:
    m = matrix({"product": [MUG, LAMP], "aspect": ["1:1", "16:9"]},
               include=[{"product": {"id": "lamp"}, "aspect": "16:9", "note": "wide lamp"}])
    assert expand(m)[3] == {"product": LAMP, "aspect": "16:9", "note": "wide lamp"}
    assert [c.get("note") for c in expand(m)] == [None, None, None, "wide lamp"]
    assert count(m) == 4


def test_include_with_a_mapping_that_matches_nothing_adds_it_as_it_is() -> None:
    m = matrix({"product": [MUG, LAMP]},
               include=[{"product": {"id": "mug", "colour": "red"}, "note": "n"},
                        {"product": {"id": "vase"}, "note": "v"}])
    assert expand(m) == [{"product": MUG}, {"product": LAMP},
                         {"product": {"id": "mug", "colour": "red"}, "note": "n"},
                         {"product": {"id": "vase"}, "note": "v"}]
    assert count(m) == 4


def test_include_partial_mapping_matches_nested_mappings() -> None:
    deep = {"id": "mug", "finish": {"colour": "white", "glaze": "matte"}}
    m = matrix({"product": [deep, LAMP]},
               include=[{"product": {"finish": {"glaze": "matte"}}, "light": "soft"}])
    assert expand(m) == [{"product": deep, "light": "soft"}, {"product": LAMP}]


def test_no_axes() -> None:
    assert expand(Matrix()) == [{}]
    assert count(Matrix()) == 1
    only_include = matrix({}, include=[{"a": 1}, {"a": 2}])
    assert expand(only_include) == [{"a": 1}, {"a": 2}]
    assert count(only_include) == 2


def test_excluding_everything_leaves_the_single_empty_combination() -> None:
    m = matrix({"a": [1, 2]}, exclude=[{"a": 1}, {"a": 2}])
    assert expand(m) == [{}]
    assert count(m) == 1


# --- an independent reading of GitHub's documentation, for property tests -------------------

def reference(m: Matrix) -> list[dict[str, Any]]:
    names = [n for n, _ in m.axes]
    product = [dict(zip(names, vals, strict=True))
               for vals in itertools.product(*(v for _, v in m.axes))] if names else []

    def partial(value: Any, pattern: Any) -> bool:
        if isinstance(value, dict) and isinstance(pattern, dict):
            return all(k in value and partial(value[k], p) for k, p in pattern.items())
        return type(value) is type(pattern) and value == pattern

    def excluded(combo: dict[str, Any]) -> bool:  # "only has to be a partial match"
        return any(all(partial(combo[k], v) for k, v in e.items()) for e in m.exclude)

    originals = [c for c in product if not excluded(c)]
    result = [dict(c) for c in originals]
    added: list[dict[str, Any]] = []
    for entry in m.include:
        # "added to each of the matrix combinations if none of the key:value pairs overwrite
        # any of the original matrix values" (values added by includes may be overwritten);
        # seedflow: a mapping value that names part of an original one does not overwrite it
        hits = [i for i, o in enumerate(originals)
                if all(k not in o or partial(o[k], v) for k, v in entry.items())]
        for i in hits:
            result[i].update({k: v for k, v in entry.items() if k not in originals[i]})
        if not hits:
            added.append(dict(entry))
    return (result + added) or [{}]


AXIS_NAMES = ("a", "b", "c", "d")
# scalars, and mapping values like `{id: mug, text: ...}` (exclude may name part of them)
VALUES = st.one_of(st.integers(0, 3), st.fixed_dictionaries(
    {"id": st.integers(0, 2)}, optional={"k": st.integers(0, 1)}))
PATTERNS = st.one_of(VALUES, st.fixed_dictionaries({}, optional={"k": st.integers(0, 1)}))


@st.composite
def matrices(draw: st.DrawFn) -> Matrix:
    names = draw(st.lists(st.sampled_from(AXIS_NAMES), min_size=0, max_size=4, unique=True))
    axes = {n: draw(st.lists(VALUES, min_size=1, max_size=4, unique_by=repr)) for n in names}
    include_keys = st.sampled_from((*names, "x", "y")) if names else st.sampled_from(("x", "y"))
    include = draw(st.lists(st.dictionaries(include_keys, PATTERNS, min_size=1, max_size=3),
                            max_size=4))  # values, and mappings naming part of a value
    exclude = []
    if names:
        exclude = draw(st.lists(st.dictionaries(st.sampled_from(names), PATTERNS, min_size=1,
                                                max_size=3), max_size=8))
    return matrix(axes, include, exclude)


@settings(max_examples=300, deadline=None)
@given(matrices())
def test_count_equals_len_expand(m: Matrix) -> None:
    assert count(m) == len(expand(m))


@settings(max_examples=300, deadline=None)
@given(matrices())
def test_expand_follows_the_documented_semantics(m: Matrix) -> None:
    assert expand(m) == reference(m)


@pytest.mark.parametrize("m", [FRUIT, OS_VERSION], ids=["fruit", "os"])
def test_count_equals_len_expand_on_documented_examples(m: Matrix) -> None:
    assert count(m) == len(expand(m)) == len(reference(m))


# --- GitHub Actions vectors (../shared/corpora/matrix, provenance in its SOURCES.md) --------

def corpus_matrix(name: str, job: str) -> dict[str, Any]:
    path = CORPORA / "matrix" / name
    if not path.exists():
        pytest.skip("../shared/corpora is not beside this repository")
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    return dict(workflow["jobs"][job]["strategy"]["matrix"])


def from_workflow(raw: Mapping[str, Any]) -> Matrix:
    axes = {k: v for k, v in raw.items() if k not in ("include", "exclude")}
    return matrix(axes, raw.get("include", []), raw.get("exclude", []))


def without(value: Any, key: str) -> Any:
    """``value`` with ``key`` removed from every mapping in it."""
    if isinstance(value, dict):
        return {k: without(v, key) for k, v in value.items() if k != key}
    if isinstance(value, list):
        return [without(v, key) for v in value]
    return value


def test_runner_server_partial_include_vector() -> None:
    """runner.server's matrix-partial-test: include entries that name part of a mapping value
    extend that combination, whose value stays whole, and a partial exclude removes the other.
    The vector also matches lists by prefix (`sq: [a]` matches `[a, b, c]`); seedflow compares
    lists exactly (docs/design.md), so the `sq` parts of the patterns are left out here."""
    raw = corpus_matrix("runner.server__testworkflows_matrix-partial-test_matrix-partial-test.yml",
                        "test")
    patterns = {"include": without(raw["include"], "sq"), "exclude": without(raw["exclude"], "sq")}
    combos = expand(from_workflow({**raw, **patterns}))
    # the workflow's own check: prop1..3 and sq intact, and prop4, prop5, prop6 all set
    assert combos == [{"_": raw["_"][0], "prop4": "test", "prop5": "test", "prop6": "test"}]
    assert count(from_workflow({**raw, **patterns})) == 1


def test_act_include_exclude_vector() -> None:
    """nektos/act's matrix-include-exclude: 8 - 1 excluded + 1 included (a new os) = 8 jobs."""
    raw = corpus_matrix("act__pkg_runner_testdata_matrix-include-exclude_push.yml", "build")
    m = from_workflow(raw)
    combos = expand(m)
    assert len(combos) == count(m) == 8
    assert {"os": "macos-latest", "node": 4} not in combos
    assert combos[-1] == {"os": "ubuntu-16.04", "node": 10}


# --- counting without expanding --------------------------------------------------------------

def ten(n: int) -> dict[str, list[int]]:
    return {f"axis{i}": list(range(10)) for i in range(n)}


def timed_count(m: Matrix) -> tuple[int, float]:
    start = time.perf_counter()
    total = count(m)
    return total, time.perf_counter() - start


@pytest.mark.timeout(20)
def test_count_of_a_million_combinations_is_instant() -> None:
    total, elapsed = timed_count(matrix(ten(6)))
    assert total == 1_000_000
    assert elapsed < 0.05


@pytest.mark.timeout(20)
def test_count_of_a_trillion_combinations_never_expands() -> None:
    total, elapsed = timed_count(matrix(ten(12), exclude=[{"axis0": 1, "axis5": 2}],
                                        include=[{"axis3": 99, "note": "new"}]))
    assert total == 10**12 - 10**10 + 1
    assert elapsed < 0.5


@pytest.mark.timeout(20)
def test_count_stays_fast_when_include_and_exclude_mention_every_axis() -> None:
    """Counting must not enumerate the axes that include/exclude mention either."""
    axes = ten(9)
    include = [{name: 1, "tag": name} for name in axes]
    exclude = [{name: 0} for name in axes]
    total, elapsed = timed_count(matrix(axes, include, exclude))
    assert total == 9**9
    assert elapsed < 1.0


def test_count_with_excludes_on_many_axes_is_exact() -> None:
    axes = {"a": [0, 1, 2], "b": [0, 1, 2], "c": [0, 1], "d": [0, 1, 2, 3]}
    exclude = [{"a": 0, "b": 1}, {"b": 1, "c": 0}, {"a": 2, "d": 3}, {"c": 1, "d": 0, "a": 1}]
    include = [{"a": 0, "b": 1, "z": 1}, {"a": 1, "b": 1, "c": 1, "z": 2}, {"d": 5}]
    m = matrix(axes, include, exclude)
    assert count(m) == len(expand(m)) == len(reference(m))


# --- the limit, through `seedflow validate` ---------------------------------------------------

MILLION = """\
    version: 1
    assets:
      big:
        prompt: "{{ a }} {{ b }} {{ c }} {{ d }} {{ e }} {{ f }}"
        output: "{{ a }}/{{ b }}/{{ c }}/{{ d }}/{{ e }}/{{ f }}.png"
        matrix:
          a: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
          b: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
          c: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
          d: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
          e: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
          f: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
"""


@pytest.mark.timeout(20)
def test_validate_refuses_a_matrix_past_the_limit_with_its_count(
        write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline(MILLION)
    start = time.perf_counter()
    result = run("validate", path)
    assert time.perf_counter() - start < 2
    assert result.code == 1
    assert result.out == ""
    assert result.err == (
        "p.yaml:7:7: asset `big` expands to 1,000,000 combinations, more than the limit of "
        "10,000; shrink the matrix or raise `limits.max_combinations` (or --max-combinations)\n"
        "1 of 1 pipeline files are invalid.\n")
    assert_no_traceback(result)


def test_the_limit_is_configurable_in_the_file_and_on_the_command_line(
        write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("""\
        version: 1
        limits: {max_combinations: 3}
        assets:
          a:
            prompt: "{{ n }}"
            output: "{{ n }}.png"
            matrix:
              n: [1, 2, 3, 4]
    """)
    result = run("validate", path)
    assert result.code == 1
    assert result.err.startswith(
        "p.yaml:8:7: asset `a` expands to 4 combinations, more than the limit of 3;")
    assert run("validate", path, "--max-combinations", "4").code == 0
    assert "more than the limit of 2;" in run("validate", path, "--max-combinations", "2").err
    plan = run("plan", path)
    assert plan.code == 1
    assert "expands to 4 combinations, more than the limit of 3" in plan.err


def test_a_matrix_at_the_limit_is_accepted(write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline("""\
        version: 1
        limits: {max_combinations: 4}
        assets:
          a:
            prompt: "{{ n }}"
            output: "{{ n }}.png"
            matrix:
              n: [1, 2, 3, 4]
    """)
    result = run("validate", path)
    assert (result.code, result.out, result.err) == (0, "p.yaml: valid (4 combinations)\n", "")
