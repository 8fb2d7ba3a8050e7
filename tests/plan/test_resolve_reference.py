"""resolve() against a reference that computes every combination from scratch.

resolve keeps much of its work (shapes, prompts, output path pieces, address labels) by the
identity of the matrix values and reads template names straight from a combination's layers
(values, parameters, vars) instead of merging them. The reference does none of that: for each
combination it merges the whole context, renders both templates, builds and checks the request,
hashes it and judges the output path whole. On pipelines whose names come from every layer
(a matrix value over a var, a var where an include-only combination has no such axis, a neutral
parameter from the defaults, from the matrix or from an include, in either order), both must
give the same combinations, or both refuse the pipeline.
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from corekit import WritePipeline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seedflow.errors import SpecErrors
from seedflow.outputs import OutputRoot, path_problem
from seedflow.pipeline.load import load_pipeline
from seedflow.pipeline.matrix import Matrix, expand
from seedflow.pipeline.model import Asset, Pipeline
from seedflow.pipeline.templates import Template, TemplateProblem, render_limits
from seedflow.plan.combos import (
    Combination,
    _Addresses,
    _asset_combos,
    _Errors,
    _Shapes,
    address,
    resolve,
)
from seedflow.plan.fingerprint import fingerprint
from seedflow.providers import PROVIDERS
from seedflow.providers.native import overlay

PRODUCTS = [{"id": "mug", "text": "a mug"}, {"id": "lamp", "text": "a lamp, brass"},
            {"text": "a vase", "k": 1}, {"text": "a cup", "sub": {"z": 1}}]
AXES: dict[str, list[Any]] = {
    "product": PRODUCTS, "colour": ["red", "teal, dark", "1"], "n": [1, 2, True],
    "aspect": ["1:1", "16:9"], "seed": [1, 2], "resolution": ["1K", "2K"],
    "size": ["2048x2048", "2304x1728"]}
EXTRA = {"note": ["n1", "n2"], "asset": ["x", "y"]}   # keys only an include entry adds
PROMPTS = ["{{ product.text }} in {{ colour }}, {{ style }}",
           "{{ asset }}: {{ colour }} {{ n }} {{ seed }}",
           "{{ resolution }} {{ aspect }} {{ note }} {{ product.text }}",
           "{{ colour ~ '!' }} {% if seed %}{{ seed }}{% endif %}",   # sandboxed
           "plain"]
OUTPUTS = ["{{ product.text | slug }}/{{ colour | slug }}/{{ aspect | slug }}-s{{ seed }}-{{ n }}"
           "-{{ resolution }}-{{ note }}.png",
           "o/{{ asset }}/{{ style }}/{{ colour }}/{{ n }}{{ seed }}{{ aspect }}{{ resolution }}"
           "{{ note }}{{ product.id }}.png",
           "%/{{ note | upper }}{{ colour | slug }}/{{ product.text | slug }}{{ n }}{{ seed }}"
           "{{ aspect | slug }}{{ resolution | lower }}-{{ index }}.png",
           "x/{{ colour | slug }}/../{{ n }}.png"]
LAYERED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def pipelines(draw: Callable[..., Any]) -> dict[str, Any]:
    names = draw(st.permutations(list(AXES)))[:draw(st.integers(1, 5))]
    matrix: dict[str, Any] = {name: draw(st.lists(st.sampled_from(AXES[name]), min_size=1,
                                                  max_size=3, unique_by=repr))
                              for name in names}
    include = []
    for _ in range(draw(st.integers(0, 3))):
        keys = draw(st.lists(st.sampled_from([*AXES, *EXTRA]), min_size=1, max_size=3,
                             unique=True))
        include.append({key: draw(st.sampled_from({**AXES, **EXTRA}[key])) for key in keys})
    if include:
        matrix["include"] = include
    output = draw(st.sampled_from(OUTPUTS))
    asset: dict[str, Any] = {"prompt": draw(st.sampled_from(PROMPTS)), "output": output,
                             "matrix": matrix}
    if "index" in output and draw(st.booleans()):
        asset["images"] = 2
    return {"version": 1, "provider": draw(st.sampled_from(["apikley", "sim", "modellix"])),
            "output_dir": "out",
            "vars": {"style": "soft", "colour": "from-vars", "note": "vars-note", "n": 0,
                     "product": {"id": "vp", "text": "vars product"}, "seed": 7,
                     "aspect": "4:3", "resolution": "vars-resolution"},
            "defaults": {"resolution": "2K"}, "assets": {"grid": asset}}


def reference(pipeline: Pipeline) -> list[Combination] | None:
    """Every combination, each computed whole; None where resolve must refuse one of them."""
    combos = []
    root = OutputRoot(pipeline.folder, pipeline.output_dir).prefix
    head = "" if root == "." else root + "/"
    for asset in pipeline.assets:
        mapping = asset.provider.mapping
        for values in expand(asset.matrix):
            params = overlay(asset.params, values)
            context = {**pipeline.vars, **params, **values, "asset": asset.name}
            images = params.get("images", 1)
            try:
                prompt = asset.prompt.render(context)
                rendered = [asset.output.render({**context, "index": i})
                            for i in range(1, images + 1)]
            except TemplateProblem:
                return None
            body, problems = mapping.build(prompt, params, asset.extras)
            if problems or any(path_problem(path) for path in rendered):
                return None
            unsent = {"seed": params["seed"]} if "seed" in params and not mapping.sends_seed \
                else {}
            combos.append(Combination(
                asset.name, address(asset.name, values), asset.provider.name, values, body,
                fingerprint(asset.provider.name, mapping.model, body, unsent),
                tuple(head + posixpath.normpath(path) for path in rendered), unsent))
    return combos


def collide(combos: list[Combination]) -> bool:
    outputs = [out for combo in combos for out in combo.outputs]
    return (len({c.address for c in combos}) < len(combos) or len(set(outputs)) < len(outputs)
            or len({c.fingerprint for c in combos}) < len(combos))


@LAYERED
@given(pipelines())
def test_resolve_gives_what_the_reference_computes_whole(spec: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        pipeline = load_pipeline(path)
        expected = reference(pipeline)
        if expected is None or collide(expected):
            with pytest.raises(SpecErrors):
                resolve(pipeline)
        if expected is None:
            return
        errors = _Errors(pipeline)
        with render_limits():
            combos = [c for asset in pipeline.assets
                      for c in _asset_combos(pipeline, asset, errors)]
    assert not errors.seen
    assert [list(c.request.items()) for c in combos] == \
        [list(c.request.items()) for c in expected]
    assert combos == expected
    if not collide(expected):
        assert resolve(pipeline) == expected


def test_address_labels_are_kept_per_axis() -> None:
    """The same object under two axes (small ints are shared), mapping values labelled by id,
    by their scalar keys (sorted), or by nothing at all: as :func:`address` gives them."""
    one, nested = 1, {"sub": {"z": 1}}
    rows = [{"n": one, "seed": one}, {"seed": one, "n": one}, {"p": {"id": "a,b"}},
            {"p": {"k": 2, "b": " x"}, "n": one}, {"p": nested}, {"p": nested, "n": True}, {}]
    addresses = _Addresses("grid")
    for values in rows * 2:
        assert addresses.of(values) == address("grid", values)
    assert addresses.of(rows[4]) == "grid[]"
    assert addresses.of(rows[1]) == "grid[seed=1, n=1]"


LAYERS = """
    version: 1
    provider: modellix
    vars: {resolution: from-vars, colour: vars-colour}
    defaults: {resolution: 2K}
    assets:
      grid:
        prompt: "{{ resolution }} {{ asset }} {{ colour }}"
        matrix: &matrix
          n: [1, 2]
          colour: [red]
          include:
            - {n: 1, size: 2048x2048, asset: x}
            - {n: 3}
        output: "{{ asset }}/{{ n }}-{{ colour }}.png"
      values:
        prompt: "{{ n }} {{ colour }}"
        matrix: *matrix
        output: "{{ n }}-{{ colour }}.png"
"""


def test_each_name_is_read_from_the_layer_that_holds_it(write_pipeline: WritePipeline) -> None:
    """A size from an include takes the resolution away (the var shows through), `asset` is
    the asset's name even where an include sets it, a var fills an axis that an include-only
    combination lacks (also where the output renders from the values alone otherwise)."""
    pipeline = load_pipeline(write_pipeline(LAYERS))
    combos = resolve(pipeline)
    assert [c.request["prompt"] for c in combos] == [
        "from-vars grid red", "2K grid red", "2K grid vars-colour",
        "1 red", "2 red", "3 vars-colour"]
    assert [c.outputs for c in combos] == [
        ("grid/1-red.png",), ("grid/2-red.png",), ("grid/3-vars-colour.png",),
        ("1-red.png",), ("2-red.png",), ("3-vars-colour.png",)]
    assert combos == reference(pipeline)


def test_parameters_keep_the_order_the_values_give_them() -> None:
    """Includes that add neutral keys in another order: each combination's parameters are
    :func:`overlay`'s, in its order, whichever combination met the same values first."""
    seed, aspect = 3, "16:9"
    matrix = Matrix(axes=(("n", (1, 2)),), include=(
        {"n": 1, "seed": seed}, {"n": 1, "aspect": aspect},
        {"n": 2, "aspect": aspect}, {"n": 2, "seed": seed}))
    asset = Asset("grid", PROVIDERS["apikley"], Template("p"), Template("{{ n }}.png"),
                  {"resolution": "2K"}, {}, {}, {}, matrix)
    shapes = _Shapes(asset)
    for values in expand(matrix):
        params, shape = shapes.of(values)
        assert list(params.items()) == list(overlay(asset.params, values).items())
        assert shape == shapes.get(overlay(asset.params, values))
    assert [list(shapes.of(values)[0]) for values in expand(matrix)] == [
        ["resolution", "seed", "aspect"], ["resolution", "aspect", "seed"]]
