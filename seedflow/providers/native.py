"""What every provider mapping shares: neutral parameters and native-request validation.

A mapping turns provider-neutral parameters (``aspect``, ``resolution``, ``size``, ``seed``,
``images``) into one provider's native request body, then checks that body against the JSON
Schema derived from the provider's OpenAPI spec (``seedflow schemas``) plus the rules a schema
cannot state. Problems name the neutral parameter (or native extra) that caused them, so the
pipeline loader can point at the YAML node the user has to change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import fastjsonschema
import jsonschema

ASPECTS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9")
RESOLUTIONS = ("1K", "2K", "4K")
NEUTRAL = ("aspect", "resolution", "size", "seed", "images")
SIZE_RE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request; ``param`` is a neutral name, ``prompt`` or ``extra:KEY``."""

    param: str
    message: str


class RequestMapping(Protocol):
    """One protocol's native request: built from neutral parameters, and read back.

    The read-back methods take a body from a lockfile as well as one :meth:`build` made, and a
    lockfile comes from a pull request: they accept any JSON and answer None when the body does
    not say.
    """

    protocol: str
    model: str
    sends_seed: bool

    def build(self, prompt: str, params: Mapping[str, Any],
              extras: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]: ...

    def prompt_of(self, body: Mapping[str, Any]) -> str | None:
        """The prompt a native body sends."""
        ...

    def aspect_of(self, body: Mapping[str, Any]) -> tuple[int, int] | None:
        """The width:height of the images a native body asks for."""
        ...

    def unsent_note(self, provider: str) -> str | None:
        """What plan says, once per asset, about identity this protocol cannot send (a seed),
        as a clause that starts with the provider's name; None when it sends all of it."""
        ...


def overlay(lower: Mapping[str, Any], upper: Mapping[str, Any]) -> dict[str, Any]:
    """Neutral parameters of a more specific layer over a less specific one.

    ``size`` and ``aspect``/``resolution`` say the same thing two ways, so setting one in a
    layer (asset over defaults, matrix over asset) replaces the other from the layers below.
    """
    result = {k: v for k, v in lower.items() if k in NEUTRAL}
    if "size" in upper:
        result.pop("aspect", None)
        result.pop("resolution", None)
    if "aspect" in upper or "resolution" in upper:
        result.pop("size", None)
    result.update((k, v) for k, v in upper.items() if k in NEUTRAL)
    return result


def check_neutral(params: Mapping[str, Any]) -> list[Problem]:
    """Checks that hold whatever the provider: value types and ranges of neutral parameters."""
    problems = []
    for name, value in params.items():
        message = _neutral_problem(name, value)
        if message:
            problems.append(Problem(name, message))
    if "size" in params and ("aspect" in params or "resolution" in params):
        problems.append(Problem("size", "set either `size` or `aspect`/`resolution`, not both"))
    return problems


def _neutral_problem(name: str, value: Any) -> str | None:
    if name == "aspect" and sexagesimal(value):
        return sexagesimal(value)
    if name == "aspect" and value not in ASPECTS:
        return f"aspect {value!r} is not supported; use one of {', '.join(ASPECTS)}"
    if name == "resolution" and value not in RESOLUTIONS:
        return f"resolution {value!r} is not supported; use one of {', '.join(RESOLUTIONS)}"
    if name == "size" and not (isinstance(value, str) and SIZE_RE.match(value)):
        return f"size {value!r} must be WIDTHxHEIGHT in pixels, e.g. 2048x2048"
    if name == "seed" and not _is_int(value, 0, MAX_SEED):
        return f"seed {value!r} must be a whole number from 0 to {MAX_SEED}"
    if name == "images" and not _is_int(value, 1, 15):
        return f"images {value!r} must be a whole number from 1 to 15"
    return None


def sexagesimal(value: Any) -> str | None:
    """YAML 1.1 reads an unquoted ``16:9`` as the base-60 number 969: say so, and how to fix."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 60:
        return None
    ratio = f"{value // 60}:{value % 60}"
    return f"aspect {value} is a number: YAML reads an unquoted {ratio} as base 60; quote it: " \
           f"\"{ratio}\""


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def parse_size(size: str) -> tuple[int, int]:
    width, height = size.split("x")
    return int(width), int(height)


class SchemaCheck:
    """Validates native bodies against a derived schema: a compiled fast path, and jsonschema's
    complete messages (2020-12) only when the fast path finds something wrong."""

    def __init__(self, protocol: str, schema: Mapping[str, Any], sources: Mapping[str, str],
                 extra_prefix: str) -> None:
        self._protocol = protocol
        fast_schema = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
        # use_default=False: the fast path must never fill defaults into the body (identity).
        self._fast: Callable[[Any], Any] = fastjsonschema.compile(fast_schema, use_default=False)
        self._full = jsonschema.Draft202012Validator(schema)
        self._sources = sources
        self._extra_prefix = extra_prefix

    def __call__(self, body: Mapping[str, Any]) -> list[Problem]:
        try:
            self._fast(body)
            return []
        except fastjsonschema.JsonSchemaException:
            return [self._problem(e) for e in self._full.iter_errors(body)]

    def _problem(self, error: jsonschema.ValidationError) -> Problem:
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "additionalProperties":
            schema = error.schema if isinstance(error.schema, dict) else {}
            known = schema.get("properties", {})
            instance = error.instance if isinstance(error.instance, dict) else {}
            unknown = sorted(k for k in instance if k not in known)
            return Problem(f"extra:{unknown[0]}" if unknown else "extra:",
                           f"{self._protocol} does not accept `{', '.join(unknown)}` "
                           f"(it accepts: {', '.join(known)})")
        param = self._sources.get(path)
        if param is None and path.startswith(self._extra_prefix):
            param = "extra:" + path[len(self._extra_prefix):]
        where = f" (request field `{path}`)" if path else ""
        message = error.message
        if error.validator in ("maxLength", "minLength") and isinstance(error.instance, str):
            # jsonschema's message quotes the whole value: a 20,000-character wall of prompt
            bound = "at most" if error.validator == "maxLength" else "at least"
            message = (f"it is {len(error.instance):,} characters long, and {bound} "
                       f"{error.validator_value:,} are accepted")
        return Problem(param or "prompt", f"{self._protocol} refuses it: {message}{where}")


@cache
def schema_check(protocol: str, sources: tuple[tuple[str, str], ...],
                 extra_prefix: str) -> SchemaCheck:
    from seedflow.providers.schemas import request_schema

    return SchemaCheck(protocol, request_schema(protocol), dict(sources), extra_prefix)
