"""Every neutral-parameter combination the mapping tables allow yields a request the provider's
derived JSON Schema (checked here with jsonschema, draft 2020-12) accepts, and the rules a
schema cannot state hold too."""

from __future__ import annotations

import itertools
from typing import Any

import jsonschema
import pytest

from seedflow.providers.apikley.request import IMAGE_SIZES, MAX_IMAGES, ApikleyMapping
from seedflow.providers.modellix.request import ModellixMapping, size_for, size_problems
from seedflow.providers.native import ASPECTS, RESOLUTIONS, parse_size
from seedflow.providers.schemas import request_schema

PROMPT = "A matte ceramic mug on linen"


def _options(images: range) -> list[dict[str, Any]]:
    combos = []
    for aspect, resolution, count, seed in itertools.product(
            (None, *ASPECTS), (None, *RESOLUTIONS), images, (None, 0, 2**31 - 1)):
        params = {"aspect": aspect, "resolution": resolution, "images": count, "seed": seed}
        combos.append({k: v for k, v in params.items() if v is not None})
    return combos


def _validator(provider: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(request_schema(provider),
                                           format_checker=jsonschema.FormatChecker())


def test_every_apikley_combination_validates() -> None:
    validator = _validator("apikley")
    options = _options(range(1, MAX_IMAGES + 1))
    for params in options:
        body, problems = ApikleyMapping().build(PROMPT, params, {"nsfw_checker": True})
        assert problems == [], params
        assert list(validator.iter_errors(body)) == [], params
        assert body["input"].get("image_size") == IMAGE_SIZES.get(params.get("aspect", ""))
    assert len(options) == 9 * 4 * 6 * 3  # aspect or none × resolution or none × images × seed


def test_every_modellix_combination_validates() -> None:
    validator = _validator("modellix")
    options = _options(range(1, 16))
    for params in options:
        body, problems = ModellixMapping().build(PROMPT, params, {"optimize_prompt_mode": "fast"})
        assert problems == [], params
        assert list(validator.iter_errors(body)) == [], params
        assert "seed" not in body
        if "size" in body:
            assert size_problems(body["size"]) == []


@pytest.mark.parametrize(("aspect", "resolution"), list(itertools.product(ASPECTS, RESOLUTIONS)))
def test_modellix_sizes_keep_the_aspect_ratio(aspect: str, resolution: str) -> None:
    width, height = parse_size(size_for(aspect, resolution))
    wanted = int(aspect.split(":")[0]) / int(aspect.split(":")[1])
    assert abs(width / height - wanted) / wanted < 0.01
    if resolution == "4K":
        assert max(width, height) == 4096


def test_the_schemas_refuse_what_the_mapping_refuses() -> None:
    """The mapping's own refusals are backed by the provider schema, not only by our code."""
    apikley = _validator("apikley")
    too_many = {"model": "bytedance/seedream-v4-text-to-image",
                "input": {"prompt": PROMPT, "max_images": MAX_IMAGES + 1}}
    assert not apikley.is_valid(too_many)
    modellix = _validator("modellix")
    assert not modellix.is_valid({"prompt": PROMPT, "seed": 1})
    assert not modellix.is_valid({"prompt": PROMPT, "sequential_image_generation_max_images": 16})
