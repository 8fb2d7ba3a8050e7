"""Neutral parameters → Apikley's ``createTask`` body (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from seedflow.providers.native import Problem, check_neutral, schema_check

MODEL = "bytedance/seedream-v4-text-to-image"
MAX_IMAGES = 6
IMAGE_SIZES = {
    "1:1": "square_hd", "4:3": "landscape_4_3", "3:4": "portrait_4_3",
    "3:2": "landscape_3_2", "2:3": "portrait_3_2", "16:9": "landscape_16_9",
    "9:16": "portrait_16_9", "21:9": "landscape_21_9",
}
_FIELDS = {"aspect": "image_size", "resolution": "image_resolution", "images": "max_images",
           "seed": "seed"}
_SOURCES = (("input.prompt", "prompt"), *((f"input.{v}", k) for k, v in _FIELDS.items()))
_NAMED_SIZE = re.compile(r"^(landscape|portrait)_(\d+)_(\d+)$")


class ApikleyMapping:
    protocol = "apikley"
    model = MODEL
    sends_seed = True

    def build(self, prompt: str, params: Mapping[str, Any],
              extras: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
        problems = check_neutral(params)
        if "size" in params:
            problems.append(Problem("size", "Apikley takes no pixel size: use `aspect` "
                                    "(1:1, 4:3, 16:9, ...) and `resolution` (1K, 2K, 4K)"))
        if problems:
            return {}, problems
        native: dict[str, Any] = {"prompt": prompt}
        for name, field in _FIELDS.items():
            if name in params:
                value = params[name]
                native[field] = IMAGE_SIZES[value] if name == "aspect" else value
        problems += _overlaps(extras)
        native.update(extras)
        body = {"model": MODEL, "input": native}
        return body, problems or schema_check("apikley", _SOURCES, "input.")(body)

    def prompt_of(self, body: Mapping[str, Any]) -> str | None:
        prompt = _input(body).get("prompt")
        return prompt if isinstance(prompt, str) else None

    def aspect_of(self, body: Mapping[str, Any]) -> tuple[int, int] | None:
        """``landscape_16_9`` → (16, 9), ``portrait_16_9`` → (9, 16); None for ``square_hd``
        (1:1) and anything else."""
        size = _input(body).get("image_size")
        match = _NAMED_SIZE.match(size) if isinstance(size, str) else None
        if match is None:
            return None
        long, short = int(match[2]), int(match[3])
        return (long, short) if match[1] == "landscape" else (short, long)

    def unsent_note(self, provider: str) -> str | None:
        return None  # every neutral parameter has a field, the seed included


def _input(body: Mapping[str, Any]) -> Mapping[str, Any]:
    native = body.get("input")
    return native if isinstance(native, Mapping) else {}


def _overlaps(extras: Mapping[str, Any]) -> list[Problem]:
    derived = {v: k for k, v in _FIELDS.items()} | {"prompt": "prompt"}
    return [Problem(f"extra:{key}", f"`{key}` is set from `{derived[key]}`; set that instead")
            for key in extras if key in derived]
