"""Matrix expansion with GitHub Actions' documented semantics.

- The cartesian product of the axes, in declaration order (the first axis varies slowest).
- ``exclude`` is applied first; an entry only has to be a *partial* match to remove a
  combination (for mapping values too: ``{product: {id: lamp}}`` matches every lamp).
- ``include`` then extends every original combination whose original axis values it does not
  overwrite (values added by earlier includes may be overwritten); an entry that extends none
  becomes a new combination of its own. An include value for an axis matches as an exclude
  value does, partially for mappings: ``{product: {id: mug}, colour: red}`` adds ``colour`` to
  every mug combination and keeps each one's whole ``product`` value.

Pure functions, no I/O. :func:`count` gives the exact number of combinations without
expanding, so an oversized matrix is refused before any work is done.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Combo = dict[str, Any]


@dataclass(frozen=True)
class Matrix:
    axes: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    include: tuple[Mapping[str, Any], ...] = ()
    exclude: tuple[Mapping[str, Any], ...] = ()

    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.axes)


def same(value: Any, other: Any) -> bool:
    """Equal and of the same type, as GitHub compares: ``1``, ``1.0`` and ``true`` differ."""
    if isinstance(value, Mapping) and isinstance(other, Mapping):
        return value.keys() == other.keys() and all(same(value[k], other[k]) for k in value)
    if isinstance(value, list) and isinstance(other, list):
        return len(value) == len(other) and all(map(same, value, other))
    return type(value) is type(other) and bool(value == other)


def matches(value: Any, pattern: Any) -> bool:
    """``pattern`` equals ``value``, where a mapping pattern needs only a subset of its keys."""
    if isinstance(pattern, Mapping) and isinstance(value, Mapping):
        return all(k in value and matches(value[k], v) for k, v in pattern.items())
    return same(value, pattern)


def _excluded(combo: Mapping[str, Any], exclude: Sequence[Mapping[str, Any]]) -> bool:
    return any(all(matches(combo[k], v) for k, v in entry.items()) for entry in exclude)


def _product(matrix: Matrix) -> Iterator[Combo]:
    names = matrix.axis_names
    if not names:
        return iter(())
    # each tuple holds one value per axis: zip need not check (strict=True costs a third more)
    rows = itertools.product(*(vals for _, vals in matrix.axes))
    return map(dict, map(zip, itertools.repeat(names), rows))


def expand(matrix: Matrix) -> list[Combo]:
    """All combinations in order: the filtered product, then include-only combinations."""
    originals = ([c for c in _product(matrix) if not _excluded(c, matrix.exclude)]
                 if matrix.exclude else list(_product(matrix)))
    axes = set(matrix.axis_names)
    extra: list[Combo] = []
    for entry in matrix.include:
        fixed = {k: v for k, v in entry.items() if k in axes}
        added = {k: v for k, v in entry.items() if k not in axes}
        targets = [c for c in originals if all(matches(c[k], v) for k, v in fixed.items())]
        for combo in targets:
            combo.update(added)  # original axis values stay whole, even where `fixed` is partial
        if not targets:
            extra.append(dict(entry))
    if not originals and not extra:
        return [{}]  # an asset with no matrix is one combination
    return originals + extra


def keys(matrix: Matrix) -> frozenset[str]:
    """Every key a combination :func:`expand` gives may have: the axes and the include keys."""
    return frozenset(matrix.axis_names).union(*matrix.include)


def count(matrix: Matrix) -> int:
    """The number of combinations :func:`expand` would return, computed without expanding it.

    One pass over the axes counts the combinations that survive ``exclude``, keeping only the
    number of partial combinations per set of exclude entries they still match: the cost
    depends on the axis values and entries, not on the size of the product (enumerating even
    just the axes the entries mention would take hours on a matrix that mentions many axes).
    """
    names = matrix.axis_names
    if not names:
        return max(1, len(matrix.include))
    originals = _kept(matrix, {})
    new = sum(1 for entry in matrix.include
              if not _kept(matrix, {k: v for k, v in entry.items() if k in names}))
    total = originals + new
    return total if total else 1


def _kept(matrix: Matrix, fixed: Mapping[str, Any]) -> int:
    """How many combinations whose axes match ``fixed`` (where it names them, partially for
    mappings, as :func:`matches` does) no exclude hits."""
    exclude = matrix.exclude
    where = {name: i for i, name in enumerate(matrix.axis_names)}
    last = [max((where[k] for k in entry if k in where), default=-1) for entry in exclude]
    if -1 in last:
        return 0  # an entry naming no axis matches every combination
    # frozenset of the exclude entries a partial combination still matches → how many such
    states: dict[frozenset[int], int] = {frozenset(range(len(exclude))): 1}
    for axis, (name, values) in enumerate(matrix.axes):
        domain = [v for v in values if matches(v, fixed[name])] if name in fixed else values
        named = frozenset(i for i, entry in enumerate(exclude) if name in entry)
        ending = frozenset(i for i in named if last[i] == axis)
        # values that keep the same entries alive behave alike: count them together
        groups: dict[frozenset[int], int] = {}
        for value in domain:
            hit = frozenset(i for i in named if matches(value, exclude[i][name]))
            groups[hit] = groups.get(hit, 0) + 1
        following: dict[frozenset[int], int] = {}
        for alive, n in states.items():
            for hit, times in groups.items():
                still = (alive - named) | (alive & hit)
                if still & ending:
                    continue  # an entry matched on every axis it names: excluded
                following[still] = following.get(still, 0) + n * times
        states = following
        if not states:
            return 0
    return sum(states.values())
