"""The simulator's images: real PNGs showing the prompt and parameters of the request."""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class ImageSpec:
    """Everything one image shows; equal specs render to identical bytes."""

    width: int
    height: int
    prompt: str
    facts: tuple[str, ...]
    """Parameter lines, printed in a band at the bottom."""
    colour_key: str
    """Hashed into the background colour (the canonical request)."""
    index: int
    """1-based position within the task's images."""


def fit(ratio_w: int, ratio_h: int, max_side: int) -> tuple[int, int]:
    """Pixel size with aspect ``ratio_w:ratio_h`` whose longest side is ``max_side``."""
    scale = max_side / max(ratio_w, ratio_h)
    return max(1, round(ratio_w * scale)), max(1, round(ratio_h * scale))


def ratio_label(width: int, height: int) -> str:
    """``2560x1440`` → ``16:9``."""
    div = math.gcd(width, height)
    return f"{width // div}:{height // div}"


@lru_cache(maxsize=1024)
def render_png(spec: ImageSpec) -> bytes:
    """The PNG bytes of ``spec`` (deterministic; cached)."""
    w, h = spec.width, spec.height
    image = _gradient(*_palette(spec.colour_key, spec.index), (w, h))
    draw = ImageDraw.Draw(image)
    size = max(10, min(28, round(math.sqrt(w * h) / 20)))
    margin = max(4, w // 32)
    band_top = _draw_facts(draw, spec.facts, max(9, size * 3 // 4), margin, (w, h))
    font = _font(size)
    step = size + size // 4
    room = max(1, (band_top - 2 * margin) // step)
    lines = _wrap(spec.prompt or "(no prompt)", font, w - 2 * margin, room + 1)
    if len(lines) > room:
        lines = [*lines[:room - 1], lines[room - 1].rstrip() + " …"]
    for row, line in enumerate(lines):
        draw.text((margin, margin + row * step), line, font=font, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _palette(key: str, index: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    digest = hashlib.sha256(key.encode()).digest()
    hue = (digest[0] / 255 + 0.08 * (index - 1)) % 1.0
    sat = 0.45 + digest[1] / 255 * 0.3
    value = 0.45 + digest[2] / 255 * 0.2
    return _rgb(hue, sat, value), _rgb(hue, sat, value * 0.55)


def _gradient(top: tuple[int, int, int], bottom: tuple[int, int, int],
              size: tuple[int, int]) -> Image.Image:
    """A vertical gradient from ``top`` to ``bottom`` (built as one column, then stretched)."""
    height = size[1]
    mask = Image.linear_gradient("L").resize((1, height))
    column = Image.composite(Image.new("RGB", (1, height), bottom),
                             Image.new("RGB", (1, height), top), mask)
    return column.resize(size, Image.Resampling.NEAREST)


def _rgb(hue: float, sat: float, value: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue, sat, value)
    return round(r * 255), round(g * 255), round(b * 255)


@lru_cache(maxsize=32)
def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


def _draw_facts(draw: ImageDraw.ImageDraw, facts: tuple[str, ...], font_size: int, margin: int,
                size: tuple[int, int]) -> int:
    """Draw the parameter band at the bottom; return its top edge."""
    w, h = size
    font = _font(font_size)
    step = font_size + font_size // 4
    top = max(0, h - margin - step * len(facts))
    draw.rectangle((0, top - margin // 2, w, h), fill=(0, 0, 0))
    for row, line in enumerate(facts):
        draw.text((margin, top + row * step), line, font=font, fill=(220, 220, 220))
    return top


def _wrap(text: str, font: Font, width: int, limit: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels (over-long words are cut): the first ``limit``
    lines (a prompt may be 10,000 characters; the image shows a few lines of it)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while len(lines) < limit and len(word) > 1 and font.getlength(word) > width:
            cut = _longest_prefix(word, font, width)
            lines.append(word[:cut])
            word = word[cut:]
        line = word
        if len(lines) >= limit:
            return lines[:limit]
    return [*lines, line][:limit] if line else lines[:limit]


def _longest_prefix(word: str, font: Font, width: int) -> int:
    """The longest cut (at least 1, less than the word) whose prefix fits ``width``; prefix
    widths only grow with the prefix, so a binary search finds it."""
    low, high = 1, len(word) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(word[:middle]) <= width:
            low = middle
        else:
            high = middle - 1
    return low
