"""Property-based tests (hypothesis): matrix expansion and the identity of combinations.

Matrix expansion, against GitHub Actions' documented semantics (see seedflow/matrix.py):
``count()`` is exactly ``len(expand())``; the originals come first, in declaration order (first
axis slowest) and are exactly the product minus what an exclude entry matches (a partial match,
reaching into mapping values); an include never overwrites an original axis value, extends every
original it matches (a mapping naming part of an original's value matches it, as in exclude;
later entries winning for the keys they add) and otherwise becomes a combination of its own, in
declaration order.

Fingerprints: the same file loaded twice gives the same fingerprints; re-ordering the keys of
any YAML mapping (the top level, assets, an asset's keys, the matrix, mapping values inside the
matrix, defaults, vars, native options) changes none; renaming assets and changing output
templates changes none either (moving outputs must never cost money).
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seedflow.pipeline.load import load_pipeline
from seedflow.pipeline.matrix import Matrix, count, expand, keys, matches
from seedflow.plan.combos import resolve
from seedflow.plan.fingerprint import canonical_json

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])
PIPELINE_SETTINGS = settings(max_examples=40, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])

# -- matrix expansion ------------------------------------------------------------------------

SCALARS = st.one_of(st.integers(0, 3), st.sampled_from(["x", "y", "16:9"]))
MAPPINGS = st.fixed_dictionaries({"id": st.integers(0, 2)},
                                 optional={"k": st.sampled_from(["p", "q"]),
                                           "sub": st.fixed_dictionaries({"z": st.integers(0, 1)})})
VALUES = st.one_of(SCALARS, MAPPINGS)
EXTRA_KEYS = ("e", "f")


def partial(value: Any, draw: Callable[..., Any]) -> Any:
    """A pattern matching ``value``: for a mapping, sometimes only some of its keys."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(sorted(value)), min_size=1, unique=True))
        return {k: partial(value[k], draw) for k in keys}
    return value


@st.composite
def matrices(draw: Callable[..., Any]) -> Matrix:
    names = draw(st.lists(st.sampled_from("abcd"), min_size=1, max_size=4, unique=True))
    axes = {name: draw(st.lists(VALUES, min_size=1, max_size=4)) for name in names}
    exclude = []
    for _ in range(draw(st.integers(0, 3))):
        keys = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        exclude.append({k: partial(draw(st.sampled_from(axes[k])), draw)
                        if draw(st.integers(0, 4)) else draw(VALUES) for k in keys})
    include = []
    for _ in range(draw(st.integers(0, 3))):
        keys = draw(st.lists(st.sampled_from([*names, *EXTRA_KEYS]), min_size=1, unique=True))
        include.append({k: partial(draw(st.sampled_from(axes[k])), draw)
                        if k in axes and draw(st.booleans()) else draw(VALUES) for k in keys})
    return Matrix(axes=tuple((name, tuple(values)) for name, values in axes.items()),
                  include=tuple(include), exclude=tuple(exclude))


def excluded(combo: Mapping[str, Any], exclude: tuple[Mapping[str, Any], ...]) -> bool:
    return any(all(matches(combo[k], v) for k, v in entry.items()) for entry in exclude)


def originals(m: Matrix) -> list[dict[str, Any]]:
    """The product in declaration order (first axis slowest) minus what an exclude matches."""
    names = [name for name, _ in m.axes]
    product = [dict(zip(names, values, strict=True))
               for values in itertools.product(*(values for _, values in m.axes))]
    return [c for c in product if not excluded(c, m.exclude)]


def extends(entry: Mapping[str, Any], combo: Mapping[str, Any], names: list[str]) -> bool:
    """An include entry extends an original if it overwrites none of its axis values (a
    mapping that names part of an original's value does not overwrite it)."""
    return all(matches(combo[k], v) for k, v in entry.items() if k in names)


@PROPERTY_SETTINGS
@given(matrices())
def test_count_is_the_number_of_combinations_expand_gives(m: Matrix) -> None:
    assert count(m) == len(expand(m))


@PROPERTY_SETTINGS
@given(matrices())
def test_keys_holds_every_key_of_every_combination(m: Matrix) -> None:
    combos = expand(m)
    assert set().union(*combos) <= keys(m)
    assert set(m.axis_names) <= keys(m)


@PROPERTY_SETTINGS
@given(matrices())
def test_exclude_removes_exactly_the_matching_combinations_in_declaration_order(
        m: Matrix) -> None:
    names = [name for name, _ in m.axes]
    kept = originals(m)
    combos = expand(m)
    if not combos[len(kept):] and not kept:
        assert combos == [{}]  # everything excluded, nothing included: one empty combination
        return
    # the originals come first, in product order, each with its own axis values untouched:
    # so every original no exclude matches is present, every one an exclude matches is gone
    # (it can come back only as an include-only combination, after the originals), and no
    # include overwrote an original axis value
    assert [{k: c[k] for k in names} for c in combos[:len(kept)]] == kept


@PROPERTY_SETTINGS
@given(matrices())
def test_include_extends_matching_originals_and_adds_the_others_in_order(m: Matrix) -> None:
    names = [name for name, _ in m.axes]
    kept = originals(m)
    combos = expand(m)
    if not kept and not m.include:
        return
    for original, combo in zip(kept, combos, strict=False):
        expected = dict(original)
        for entry in m.include:
            if extends(entry, original, names):
                expected.update({k: v for k, v in entry.items() if k not in names})
        assert combo == expected
    standalone = [dict(e) for e in m.include if not any(extends(e, c, names) for c in kept)]
    assert combos[len(kept):] == standalone


@PROPERTY_SETTINGS
@given(matrices())
def test_expansion_is_deterministic_and_leaves_the_matrix_alone(m: Matrix) -> None:
    before = json.dumps([m.axes, m.include, m.exclude], sort_keys=True)
    first = expand(m)
    assert expand(m) == first
    assert json.dumps([m.axes, m.include, m.exclude], sort_keys=True) == before


# -- fingerprints ----------------------------------------------------------------------------

PROVIDERS = ("apikley", "modellix", "sim", "sim:modellix")
ASSET_NAMES = ("alpha", "beta", "gamma")


@st.composite
def specs(draw: Callable[..., Any]) -> dict[str, Any]:
    """A valid pipeline as data: mapping values inside the matrix, neutral parameters at every
    layer, native options, include and exclude."""
    spec: dict[str, Any] = {
        "version": 1,
        "provider": draw(st.sampled_from(PROVIDERS)),
        "output_dir": "out",
        "vars": {"style": draw(st.sampled_from(["soft light", "hard light"])),
                 "mood": "calm", "palette": {"main": "teal", "accent": "amber"}},
    }
    defaults: dict[str, Any] = {}
    if draw(st.booleans()):
        defaults["resolution"] = draw(st.sampled_from(["1K", "2K", "4K"]))
    if draw(st.booleans()):
        defaults["seed"] = draw(st.integers(0, 99))
    if draw(st.booleans()):
        defaults["modellix"] = {"optimize_prompt_mode": "fast"}
    if draw(st.booleans()):
        defaults["apikley"] = {"nsfw_checker": draw(st.booleans())}
    if defaults:
        spec["defaults"] = defaults
    assets = {}
    for name in draw(st.lists(st.sampled_from(ASSET_NAMES), min_size=1, unique=True)):
        asset: dict[str, Any] = {}
        if draw(st.booleans()):
            asset["provider"] = draw(st.sampled_from(PROVIDERS))
        matrix: dict[str, Any] = {}
        holes: list[str] = []
        if draw(st.booleans()):
            things = draw(st.lists(st.sampled_from(["mug", "lamp", "vase", "chair"]),
                                   min_size=1, max_size=3, unique=True))
            matrix["thing"] = [{"id": t, "text": f"a {t}", "tags": {"a": i, "b": t}}
                               for i, t in enumerate(things)]
            holes.append("thing.id")
            if len(things) > 1 and draw(st.booleans()):
                matrix["exclude"] = [{"thing": {"id": things[0]}}]
            if draw(st.booleans()):
                matrix["include"] = [{"thing": matrix["thing"][-1], "note": "last"}]
        if draw(st.booleans()):
            matrix["n"] = draw(st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True))
            holes.append("n")
        if draw(st.booleans()):
            matrix["seed"] = draw(st.lists(st.integers(0, 99), min_size=1, max_size=2,
                                           unique=True))
            holes.append("seed")
        if draw(st.booleans()):
            matrix["aspect"] = draw(st.lists(st.sampled_from(["1:1", "16:9", "3:4"]),
                                             min_size=1, max_size=2, unique=True))
            holes.append("aspect | slug")
        if matrix:
            asset["matrix"] = matrix
        images = draw(st.integers(1, 2))
        if images > 1:
            asset["images"] = images
        if draw(st.booleans()):
            asset["resolution"] = draw(st.sampled_from(["1K", "2K"]))
        prompt_holes = [h for h in holes if h != "aspect | slug"]
        asset["prompt"] = ("{{ style }}, {{ palette.main }}: " + name + " "
                           + " ".join(f"{{{{ {h} }}}}" for h in prompt_holes))
        asset["output"] = (f"{name}/" + "-".join(["x", *(f"{{{{ {h} }}}}" for h in holes)])
                           + ("-{{ index }}" if images > 1 else "") + ".png")
        assets[name] = asset
    spec["assets"] = assets
    return spec


def reorder(data: Any, rng: random.Random) -> Any:
    """The same data with the keys of every mapping, at every depth, in a random order."""
    if isinstance(data, dict):
        keys = list(data)
        rng.shuffle(keys)
        return {k: reorder(data[k], rng) for k in keys}
    if isinstance(data, list):
        return [reorder(item, rng) for item in data]
    return data


def fingerprints(spec: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(asset, matrix values) → fingerprint, for a pipeline written from ``spec``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.yaml"
        path.write_text(yaml.safe_dump(dict(spec), sort_keys=False), encoding="utf-8")
        combos = resolve(load_pipeline(path))
    table = {(c.asset, canonical_json(c.vars)): c.fingerprint for c in combos}
    assert len(table) == len(combos)
    return table


def ordered_fingerprints(spec: Mapping[str, Any]) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.yaml"
        path.write_text(yaml.safe_dump(dict(spec), sort_keys=False), encoding="utf-8")
        return [c.fingerprint for c in resolve(load_pipeline(path))]


@PIPELINE_SETTINGS
@given(specs())
def test_the_same_file_gives_the_same_fingerprints(spec: dict[str, Any]) -> None:
    assert ordered_fingerprints(spec) == ordered_fingerprints(spec)


@PIPELINE_SETTINGS
@given(specs(), st.randoms(use_true_random=False))
def test_reordering_yaml_keys_at_any_level_changes_no_fingerprint(spec: dict[str, Any],
                                                                  rng: random.Random) -> None:
    shuffled = reorder(spec, rng)
    assert fingerprints(shuffled) == fingerprints(spec)


@PIPELINE_SETTINGS
@given(specs(), st.randoms(use_true_random=False))
def test_renaming_assets_and_moving_outputs_changes_no_fingerprint(spec: dict[str, Any],
                                                                   rng: random.Random) -> None:
    renamed = {f"{name}-renamed": asset for name, asset in spec["assets"].items()}
    for asset in renamed.values():
        # another folder, another file name order; still one file per combination
        asset["output"] = "moved/" + asset["output"].replace("-x", "-y", 1)
    moved = {**spec, "assets": renamed, "output_dir": "elsewhere"}
    after = {(asset.removesuffix("-renamed"), values): fp
             for (asset, values), fp in fingerprints(reorder(moved, rng)).items()}
    assert after == fingerprints(spec)


def test_fingerprints_do_not_depend_on_the_process_hash_seed(tmp_path: Path) -> None:
    """Identity must not follow set or dict iteration order that varies between processes."""
    spec = textwrap.dedent("""\
        version: 1
        provider: modellix
        output_dir: out
        vars: {style: soft, palette: {main: teal, accent: amber}}
        defaults: {resolution: 2K, seed: 5, modellix: {optimize_prompt_mode: fast}}
        assets:
          shots:
            prompt: "{{ style }} {{ palette.main }} {{ thing.text }} {{ n }}"
            matrix:
              thing:
                - {id: mug, text: a mug, tags: {b: 2, a: 1}}
                - {id: lamp, text: a lamp, tags: {a: 1, b: 2}}
              n: [1, 2]
              seed: [3, 4]
              aspect: ["1:1", "16:9"]
              exclude: [{thing: {id: lamp}, n: 2}]
              include: [{thing: {id: mug, text: a mug, tags: {a: 1, b: 2}}, note: x}]
            images: 2
            output: "s/{{ thing.id }}-{{ n }}-{{ seed }}-{{ aspect | slug }}-{{ index }}.png"
          other:
            provider: apikley
            prompt: "{{ style }} {{ thing }}"
            matrix: {thing: [a, b, c]}
            output: "o/{{ thing }}.png"
        """)
    (tmp_path / "p.yaml").write_text(spec, encoding="utf-8")
    program = ("import sys; from pathlib import Path; from seedflow.plan.combos import resolve; "
               "from seedflow.pipeline.load import load_pipeline; "
               "print([c.fingerprint for c in resolve(load_pipeline(Path(sys.argv[1])))])")
    outputs = set()
    for seed in ("1", "2", "3"):
        run = subprocess.run([sys.executable, "-c", program, str(tmp_path / "p.yaml")],
                             env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True,
                             text=True, check=True)
        outputs.add(run.stdout)
    assert len(outputs) == 1
    # 16 products minus 4 excluded lamps with n=2 (the include extends the mugs), plus 3
    assert len(ast.literal_eval(outputs.pop())) == 16 - 4 + 3
