"""Identity: a fingerprint is what is sent (plus unsent identity), never where it is written."""

from __future__ import annotations

import json
import re

import pytest
from corekit import Run, WritePipeline, combos_of, fingerprints

from seedflow.plan.fingerprint import canonical_json, fingerprint

BASE = """\
    version: 1
    provider: apikley
    output_dir: out
    vars:
      style: soft studio light
    defaults:
      resolution: 2K
    assets:
      product-shots:
        prompt: "Product photo of {{ product.text }}, {{ style }}"
        matrix:
          product:
            - {id: mug, text: a matte ceramic coffee mug}
            - {id: lamp, text: a brass desk lamp}
          aspect: ["1:1", "16:9"]
          seed: [11, 12]
          exclude:
            - {product: {id: lamp}, aspect: "16:9"}
        output: "products/{{ product.id }}/{{ aspect | slug }}-s{{ seed }}.png"
      hero:
        provider: modellix
        prompt: "{{ scene }}, cinematic wide shot"
        matrix:
          scene: [a lighthouse at dusk, a forest cabin in snow]
        size: 3024x1296
        images: 2
        output: "hero/{{ scene | slug }}-{{ index }}.png"
        modellix: {optimize_prompt_mode: fast}
"""

# the same pipeline with every mapping's keys in another order (top level, asset keys,
# mapping values inside matrix values, include/exclude entries)
REORDERED = """\
    assets:
      product-shots:
        output: "products/{{ product.id }}/{{ aspect | slug }}-s{{ seed }}.png"
        matrix:
          product:
            - {text: a matte ceramic coffee mug, id: mug}
            - {text: a brass desk lamp, id: lamp}
          aspect: ["1:1", "16:9"]
          seed: [11, 12]
          exclude:
            - {aspect: "16:9", product: {id: lamp}}
        prompt: "Product photo of {{ product.text }}, {{ style }}"
      hero:
        modellix: {optimize_prompt_mode: fast}
        output: "hero/{{ scene | slug }}-{{ index }}.png"
        images: 2
        size: 3024x1296
        matrix:
          scene: [a lighthouse at dusk, a forest cabin in snow]
        prompt: "{{ scene }}, cinematic wide shot"
        provider: modellix
    defaults:
      resolution: 2K
    vars:
      style: soft studio light
    output_dir: out
    provider: apikley
    version: 1
"""


def test_the_same_spec_gives_the_same_fingerprints(write_pipeline: WritePipeline) -> None:
    first = fingerprints(write_pipeline(BASE, "a.yaml"))
    again = fingerprints(write_pipeline(BASE, "b.yaml"))
    assert first == again
    assert len(first) == 8 and len(set(first.values())) == 8
    assert all(re.fullmatch(r"[0-9a-f]{32}", fp) for fp in first.values())


def test_fingerprints_are_stable_across_releases(write_pipeline: WritePipeline) -> None:
    """Pinned: a change here would re-plan every locked image as a paid create."""
    combos = {c.address: c for c in combos_of(write_pipeline(BASE))}
    mug = combos["product-shots[product.id=mug, aspect=1:1, seed=11]"]
    assert mug.request == {"model": "bytedance/seedream-v4-text-to-image", "input": {
        "prompt": "Product photo of a matte ceramic coffee mug, soft studio light",
        "image_size": "square_hd", "image_resolution": "2K", "seed": 11}}
    identity = {"provider": "apikley", "model": "bytedance/seedream-v4-text-to-image",
                "request": mug.request}
    import hashlib
    expected = hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:32]
    assert mug.fingerprint == expected


def test_reordering_yaml_keys_changes_nothing(write_pipeline: WritePipeline, run: Run) -> None:
    base = write_pipeline(BASE, "a.yaml")
    reordered = write_pipeline(REORDERED, "b.yaml")
    assert fingerprints(base) == fingerprints(reordered)  # same addresses, same fingerprints
    first = json.loads(run("plan", base, "--format", "json").out)["items"]
    second = json.loads(run("plan", reordered, "--format", "json").out)["items"]
    assert first == second


def test_reordering_keys_of_a_mapping_value_without_an_id_keeps_its_address(
        write_pipeline: WritePipeline) -> None:
    text = """\
        version: 1
        assets:
          a:
            prompt: "{{ c.x }} and {{ c.y }}"
            output: "{{ c.x }}-{{ c.y }}.png"
            matrix:
              c: [{VALUE}]
    """
    one = fingerprints(write_pipeline(text.replace("{VALUE}", "{x: 1, y: 2}"), "a.yaml"))
    two = fingerprints(write_pipeline(text.replace("{VALUE}", "{y: 2, x: 1}"), "b.yaml"))
    assert one == two
    assert list(one) == ["a[c.x=1, c.y=2]"]


def test_reordering_axes_keeps_every_fingerprint(write_pipeline: WritePipeline) -> None:
    swapped = BASE.replace('      aspect: ["1:1", "16:9"]\n          seed: [11, 12]\n',
                           '      seed: [11, 12]\n          aspect: ["1:1", "16:9"]\n')
    assert swapped != BASE
    before = fingerprints(write_pipeline(BASE, "a.yaml"))
    after = fingerprints(write_pipeline(swapped, "b.yaml"))
    assert sorted(before.values()) == sorted(after.values())


def test_renaming_an_asset_or_moving_outputs_changes_no_fingerprint(
        write_pipeline: WritePipeline) -> None:
    before = combos_of(write_pipeline(BASE, "a.yaml"))
    moved = (BASE.replace("product-shots:", "catalog-photos:")
             .replace('output: "products/{{ product.id }}/{{ aspect | slug }}-s{{ seed }}.png"',
                      'output: "shop/{{ seed }}-{{ aspect | slug }}-{{ product.id }}.webp"')
             .replace("output_dir: out", "output_dir: ../elsewhere")
             .replace("-{{ index }}.png", "/{{ index }}.png"))
    after = combos_of(write_pipeline(moved, "b.yaml"))
    assert [c.fingerprint for c in before] == [c.fingerprint for c in after]
    assert [c.outputs for c in before] != [c.outputs for c in after]
    assert after[0].address.startswith("catalog-photos[")


def changed(write_pipeline: WritePipeline, old: str, new: str) -> set[str]:
    """The addresses whose fingerprint changes when ``old`` becomes ``new`` in BASE."""
    assert old in BASE
    before = fingerprints(write_pipeline(BASE, "a.yaml"))
    after = fingerprints(write_pipeline(BASE.replace(old, new), "b.yaml"))
    return {a for a in before if a in after and before[a] != after[a]}


def test_changing_the_prompt_changes_the_fingerprint(write_pipeline: WritePipeline) -> None:
    assert len(changed(write_pipeline, "cinematic wide shot", "cinematic close-up")) == 2
    assert len(changed(write_pipeline, "soft studio light", "hard light")) == 6
    assert changed(write_pipeline, "a brass desk lamp}", "a brass floor lamp}") == {
        "product-shots[product.id=lamp, aspect=1:1, seed=11]",
        "product-shots[product.id=lamp, aspect=1:1, seed=12]"}


def test_changing_aspect_resolution_or_size_changes_the_fingerprint(
        write_pipeline: WritePipeline) -> None:
    before = fingerprints(write_pipeline(BASE, "a.yaml"))
    after = fingerprints(write_pipeline(BASE.replace('aspect: ["1:1", "16:9"]',
                                                     'aspect: ["4:3", "16:9"]'), "b.yaml"))
    old = {a: f for a, f in before.items() if "aspect=1:1" in a}
    new = {a: f for a, f in after.items() if "aspect=4:3" in a}
    assert len(old) == len(new) == 4 and not set(old.values()) & set(new.values())
    assert len(changed(write_pipeline, "resolution: 2K", "resolution: 4K")) == 6
    assert len(changed(write_pipeline, "size: 3024x1296", "size: 2560x1440")) == 2


def test_changing_a_seed_changes_the_fingerprint(write_pipeline: WritePipeline) -> None:
    before = fingerprints(write_pipeline(BASE, "a.yaml"))
    after = fingerprints(write_pipeline(BASE.replace("seed: [11, 12]", "seed: [11, 13]"),
                                        "b.yaml"))
    twelve = {f for a, f in before.items() if "seed=12" in a}
    thirteen = {f for a, f in after.items() if "seed=13" in a}
    assert len(twelve) == len(thirteen) == 3 and not twelve & thirteen
    assert {f for a, f in before.items() if "seed=11" in a} == \
        {f for a, f in after.items() if "seed=11" in a}


MODELLIX_SEEDS = """\
    version: 1
    assets:
      hero:
        provider: modellix
        prompt: "{{ scene }}"
        output: "hero/{{ scene | slug }}-s{{ seed }}.png"
        matrix:
          scene: [dusk, snow]
          seed: [1, 2, 3]
      other:
        provider: modellix
        prompt: "x"
        seed: 5
        output: "other.png"
      apikley-seeds:
        prompt: "y {{ seed }}"
        output: "y-{{ seed }}.png"
        matrix:
          seed: [1, 2]
"""


def test_a_modellix_seed_is_not_sent_but_is_identity(write_pipeline: WritePipeline) -> None:
    combos = combos_of(write_pipeline(MODELLIX_SEEDS))
    hero = [c for c in combos if c.asset == "hero"]
    assert len(hero) == 6
    assert all("seed" not in json.dumps(c.request) for c in hero)
    assert {c.unsent["seed"] for c in hero} == {1, 2, 3}
    assert len({c.fingerprint for c in hero}) == 6  # three seeds = three distinct images
    assert len({canonical_json(c.request) for c in hero}) == 2  # but only two distinct bodies
    (other,) = [c for c in combos if c.asset == "other"]
    assert other.request == {"prompt": "x"} and other.unsent == {"seed": 5}
    apikley = [c for c in combos if c.asset == "apikley-seeds"]
    assert [c.request["input"]["seed"] for c in apikley] == [1, 2]
    assert all(c.unsent == {} for c in apikley)


def test_the_seed_note_is_printed_once_per_asset(write_pipeline: WritePipeline,
                                                 run: Run) -> None:
    path = write_pipeline(MODELLIX_SEEDS)
    result = run("plan", path)
    assert result.code == 0
    notes = [line for line in result.out.splitlines() if line.startswith("Note:")]
    assert notes == [
        "Note: asset `hero`: modellix has no seed field for Seedream 4.0, so seeds are not "
        "sent; they still make 6 distinct combinations (images may differ only by chance).",
        "Note: asset `other`: modellix has no seed field for Seedream 4.0, so seeds are not "
        "sent; they still make 1 distinct combinations (images may differ only by chance)."]
    data = json.loads(run("plan", path, "--format", "json").out)
    assert len(data["notes"]) == 2
    markdown = run("plan", path, "--format", "markdown").out
    assert markdown.count("> Note: asset `hero`") == 1


def test_no_seed_note_without_unsent_seeds(write_pipeline: WritePipeline, run: Run) -> None:
    path = write_pipeline(BASE)
    result = run("plan", path)
    assert "Note:" not in result.out
    assert json.loads(run("plan", path, "--format", "json").out)["notes"] == []


def test_callback_url_is_not_identity() -> None:
    body = {"model": "m", "input": {"prompt": "p"}}
    plain = fingerprint("apikley", "m", body, {})
    assert fingerprint("apikley", "m", {**body, "callBackUrl": "https://a.example/cb"}, {}) == \
        plain
    assert fingerprint("apikley", "m", {**body, "callBackUrl": "https://b.example/cb"}, {}) == \
        plain
    assert fingerprint("apikley", "m", {**body, "other": 1}, {}) != plain


def test_fingerprint_covers_provider_model_body_and_unsent() -> None:
    body = {"prompt": "p", "size": "2048x2048"}
    base = fingerprint("modellix", "m", body, {})
    assert fingerprint("sim:modellix", "m", body, {}) != base
    assert fingerprint("modellix", "m2", body, {}) != base
    assert fingerprint("modellix", "m", {**body, "size": "2304x1728"}, {}) != base
    assert fingerprint("modellix", "m", body, {"seed": 1}) != base
    assert fingerprint("modellix", "m", body, {"seed": 1}) != \
        fingerprint("modellix", "m", body, {"seed": 2})
    assert fingerprint("modellix", "m", dict(reversed(body.items())), {}) == base


def test_switching_sim_to_a_paid_provider_changes_identity(
        write_pipeline: WritePipeline) -> None:
    sim = fingerprints(write_pipeline(BASE.replace("provider: apikley", "provider: sim"),
                                      "a.yaml"))
    paid = fingerprints(write_pipeline(BASE, "b.yaml"))
    product = [a for a in sim if a.startswith("product-shots")]
    assert all(sim[a] != paid[a] for a in product)
    assert all(sim[a] == paid[a] for a in sim if a.startswith("hero"))  # modellix either way


def test_defaults_asset_keys_and_matrix_values_are_layered(write_pipeline: WritePipeline,
                                                           ) -> None:
    path = write_pipeline("""\
        version: 1
        defaults: {aspect: "1:1", resolution: 1K, seed: 1}
        assets:
          a:
            prompt: "p {{ n }}"
            output: "{{ n }}.png"
            resolution: 2K
            matrix:
              n: [1, 2]
              include:
                - {n: 2, resolution: 4K}
    """)
    requests = [c.request["input"] for c in combos_of(path)]
    assert requests == [
        {"prompt": "p 1", "image_size": "square_hd", "image_resolution": "2K", "seed": 1},
        {"prompt": "p 2", "image_size": "square_hd", "image_resolution": "4K", "seed": 1}]


@pytest.mark.parametrize("provider", ["apikley", "modellix", "sim", "sim:modellix"])
def test_shape_fingerprints_equal_the_direct_computation(write_pipeline: WritePipeline,
                                                         provider: str) -> None:
    """Fingerprints are computed per request shape (prompt spliced into cached canonical
    text); they must equal hashing each finished request directly, byte for byte."""
    from seedflow.plan.fingerprint import fingerprint
    from seedflow.providers import PROVIDERS

    text = """
        version: 1
        provider: PROVIDER
        vars: {tricky: 'quotes " backslash \\ unicode é 猫 </script>'}
        assets:
          a:
            prompt: "{{ thing }} {{ tricky }}"
            matrix:
              thing: [mug, "lamp 💡", "tab\\there"]
              aspect: ["1:1", "16:9"]
              seed: [1, 2]
            images: 2
            output: "{{ thing | slug }}/{{ aspect | slug }}-{{ seed }}-{{ index }}.png"
    """
    path = write_pipeline(text.replace("PROVIDER", provider))
    combos = combos_of(path)
    assert len(combos) == 12
    for combo in combos:
        model = PROVIDERS[combo.provider].mapping.model
        assert combo.fingerprint == fingerprint(combo.provider, model, combo.request,
                                                combo.unsent), combo.address
