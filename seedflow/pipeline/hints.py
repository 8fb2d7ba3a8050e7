"""What to do about a key in the wrong place or a near-miss value, derived from the schema.

The pipeline schema says, for each place in a file, which keys it takes. A key that a place does
not take but another does (``output:`` indented into ``matrix:``) was most likely put at the
wrong level; a word close to an allowed one (``apikly``) was most likely a typo. Both hints come
from the schema (and so from the provider registry), never from a list kept by hand.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any

from seedflow.pipeline.schema import pipeline_schema

Place = tuple[str, ...]   # a place in a pipeline: keys, with "*" for any name, "#" for any item
_ANY, _ITEM = "*", "#"


def close_to(word: str, allowed: Sequence[str]) -> str | None:
    """The allowed word closest to ``word`` (ignoring case), if one is close enough."""
    lowered = {str(a).lower(): str(a) for a in allowed}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1)
    return lowered[found[0]] if found else None


def belongs_elsewhere(path: Sequence[str | int], key: str) -> str | None:
    """``"`output` belongs in `assets.a`, not in `assets.a.matrix`"`` when ``key``, written at
    ``path``, is not a key of that place but is a key of others (the closest named first)."""
    here = _place(path)
    homes = [p for p in _places().get(key, ()) if p != here]
    if not homes or (here is not None and key in _keys_at(here)):
        return None
    homes.sort(key=lambda home: (-_shared_prefix(home, here or ()), len(home)))
    named = " or ".join(_in(_concrete(home, path)) for home in homes[:2])
    return f"`{key}` belongs {named}, not {_in('.'.join(str(p) for p in path))}"


def _in(dotted: str) -> str:
    return f"in `{dotted}`" if dotted else "at the top level"


def _concrete(home: Place, path: Sequence[str | int]) -> str:
    """``("assets", "*")`` seen from ``("assets", "a", "matrix")`` is ``assets.a``."""
    parts = []
    for i, part in enumerate(home):
        if part == _ANY:
            same_so_far = i < len(path) and tuple(map(str, path[:i])) == home[:i]
            parts.append(str(path[i]) if same_so_far else "<name>")
        else:
            parts.append(part)
    return ".".join(parts)


def _shared_prefix(one: Place, other: Place) -> int:
    n = 0
    for a, b in zip(one, other, strict=False):
        if a != b:
            break
        n += 1
    return n


def _place(path: Sequence[str | int]) -> Place | None:
    """The schema place of ``path`` (``assets.a.matrix`` → ``("assets", "*", "matrix")``)."""
    schema: Mapping[str, Any] = _schema()
    place: list[str] = []
    for part in path:
        step = _step(schema, part)
        if step is None:
            return None
        schema, name = step
        place.append(name)
    return tuple(place)


def _step(schema: Mapping[str, Any], part: str | int) -> tuple[Mapping[str, Any], str] | None:
    if isinstance(part, int):
        items = schema.get("items")
        return (items, _ITEM) if isinstance(items, Mapping) else None
    properties = schema.get("properties", {})
    if part in properties:
        return properties[part], part
    extra = schema.get("additionalProperties")
    return (extra, _ANY) if isinstance(extra, Mapping) else None


@cache
def _schema() -> Mapping[str, Any]:
    return pipeline_schema()


def what_is_here(path: Sequence[str | int]) -> str | None:
    """The schema's name (``title``) for what a key written at ``path`` is read as, where the
    place takes any name (``assets.a.matrix.output`` is read as "a matrix axis")."""
    schema: Mapping[str, Any] = _schema()
    for part in path:
        step = _step(schema, part)
        if step is None:
            return None
        schema, _ = step
    title = schema.get("title")
    return str(title) if title else None


@cache
def _places() -> dict[str, tuple[Place, ...]]:
    """Each key name → every place that takes it by name."""
    found: dict[str, list[Place]] = {}
    for place, schema in _walk(_schema(), ()):
        for key in schema.get("properties", {}):
            found.setdefault(key, []).append(place)
    return {key: tuple(places) for key, places in found.items()}


def _keys_at(place: Place) -> frozenset[str]:
    return _keys_by_place().get(place, frozenset())


@cache
def _keys_by_place() -> dict[Place, frozenset[str]]:
    return {place: frozenset(schema.get("properties", {}))
            for place, schema in _walk(_schema(), ())}


def _walk(schema: Mapping[str, Any], place: Place) -> Iterator[tuple[Place, Mapping[str, Any]]]:
    yield place, schema
    for key, child in schema.get("properties", {}).items():
        if isinstance(child, Mapping):
            yield from _walk(child, (*place, key))
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        yield from _walk(extra, (*place, _ANY))
    items = schema.get("items")
    if isinstance(items, Mapping):
        yield from _walk(items, (*place, _ITEM))
