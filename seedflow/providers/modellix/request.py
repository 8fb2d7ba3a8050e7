"""Neutral parameters → Modellix's ``seedream-4.0-t2i`` body (pure).

Modellix takes a pixel ``size``. ``aspect``/``resolution`` map onto BytePlus' recommended 2K
sizes for Seedream 4.0; 1K halves them (every 1K size is still above Modellix' 921,600-pixel
floor) and 4K scales the long side to 4096, rounded to multiples of 16. Seedream 4.0 on Modellix
has no ``seed`` field: a seed stays part of a combination's identity but is not sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from seedflow.providers.native import Problem, check_neutral, parse_size, schema_check

MODEL = "bytedance/seedream-4.0-t2i"
MIN_PIXELS, MAX_PIXELS = 921_600, 16_777_216
SIZES_2K = {
    "1:1": (2048, 2048), "4:3": (2304, 1728), "3:4": (1728, 2304), "16:9": (2560, 1440),
    "9:16": (1440, 2560), "3:2": (2496, 1664), "2:3": (1664, 2496), "21:9": (3024, 1296),
}
_SOURCES = (("prompt", "prompt"), ("size", "size"),
            ("sequential_image_generation_max_images", "images"))
_DERIVED = {"prompt": "prompt", "size": "size/aspect/resolution",
            "sequential_image_generation": "images",
            "sequential_image_generation_max_images": "images"}
_PIXELS = re.compile(r"^(\d+)\s*[x*]\s*(\d+)$")


def size_for(aspect: str, resolution: str) -> str:
    width, height = SIZES_2K[aspect]
    if resolution == "1K":
        width, height = width // 2, height // 2
    elif resolution == "4K":
        scale = 4096 / max(width, height)
        width, height = (round(width * scale / 16) * 16, round(height * scale / 16) * 16)
    return f"{width}x{height}"


def size_problems(size: str) -> list[Problem]:
    """The rules Modellix states but a JSON Schema cannot: pixel count and aspect range."""
    width, height = parse_size(size)
    if not MIN_PIXELS <= width * height <= MAX_PIXELS:
        return [Problem("size", f"size {size} has {width * height:,} pixels; Modellix accepts "
                        f"{MIN_PIXELS:,} to {MAX_PIXELS:,} (e.g. 1280x720 up to 4096x4096)")]
    if not 1 / 16 <= width / height <= 16:
        return [Problem("size", f"size {size} has aspect ratio {width / height:.3g}; "
                        "Modellix accepts 1/16 to 16")]
    return []


class ModellixMapping:
    protocol = "modellix"
    model = MODEL
    sends_seed = False

    def build(self, prompt: str, params: Mapping[str, Any],
              extras: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
        problems = check_neutral(params)
        if problems:
            return {}, problems
        body: dict[str, Any] = {"prompt": prompt}
        size = _size(params)
        if size:
            body["size"] = size
            problems += size_problems(size)
        images = params.get("images", 1)
        if images > 1:
            body["sequential_image_generation"] = "auto"
            body["sequential_image_generation_max_images"] = images
        problems += [Problem(f"extra:{k}", f"`{k}` is set from `{_DERIVED[k]}`; set that instead")
                     for k in extras if k in _DERIVED]
        body.update(extras)
        return body, problems or schema_check("modellix", _SOURCES, "")(body)

    def prompt_of(self, body: Mapping[str, Any]) -> str | None:
        prompt = body.get("prompt")
        return prompt if isinstance(prompt, str) else None

    def aspect_of(self, body: Mapping[str, Any]) -> tuple[int, int] | None:
        """``2048x1536`` (or ``2048*1536``) → (2048, 1536); None without a usable ``size``."""
        size = body.get("size")
        match = _PIXELS.match(size) if isinstance(size, str) else None
        if match is None or int(match[1]) == 0 or int(match[2]) == 0:
            return None
        return int(match[1]), int(match[2])

    def unsent_note(self, provider: str) -> str | None:
        return f"{provider} has no seed field for Seedream 4.0, so seeds are not sent"


def _size(params: Mapping[str, Any]) -> str | None:
    if "size" in params:
        return str(params["size"])
    if "aspect" in params or "resolution" in params:
        return size_for(params.get("aspect", "1:1"), params.get("resolution", "2K"))
    return None
