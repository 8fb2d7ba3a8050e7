"""Matrix expansion with GitHub Actions' documented semantics.

- The cartesian product of the axes, in declaration order (the first axis varies slowest).
- ``exclude`` is applied first; an entry only has to be a *partial* match to remove a
  combination (for mapping values too: ``{product: {id: lamp}}`` matches every lamp).
- ``include`` then extends every original combination whose original axis values it does not
  overwrite (values added by earlier includes may be overwritten); an entry that extends none
  becomes a new combination of its own.

Pure functions, no I/O. :func:`count` gives the exact number of combinations without
expanding, so an oversized matrix is refused before any work is done.
"""

from __future__ import annotations

import itertools
import math
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


def matches(value: Any, pattern: Any) -> bool:
    """``pattern`` equals ``value``, where a mapping pattern needs only a subset of its keys."""
    if isinstance(pattern, Mapping) and isinstance(value, Mapping):
        return all(k in value and matches(value[k], v) for k, v in pattern.items())
    return bool(value == pattern)


def _excluded(combo: Mapping[str, Any], exclude: Sequence[Mapping[str, Any]]) -> bool:
    return any(all(matches(combo[k], v) for k, v in entry.items()) for entry in exclude)


def _product(matrix: Matrix) -> Iterator[Combo]:
    names = matrix.axis_names
    if not names:
        return
    for values in itertools.product(*(vals for _, vals in matrix.axes)):
        yield dict(zip(names, values, strict=True))


def expand(matrix: Matrix) -> list[Combo]:
    """All combinations in order: the filtered product, then include-only combinations."""
    originals = [c for c in _product(matrix) if not _excluded(c, matrix.exclude)]
    axes = set(matrix.axis_names)
    extra: list[Combo] = []
    for entry in matrix.include:
        fixed = {k: v for k, v in entry.items() if k in axes}
        targets = [c for c in originals if all(c[k] == v for k, v in fixed.items())]
        for combo in targets:
            combo.update(entry)
        if not targets:
            extra.append(dict(entry))
    if not originals and not extra:
        return [{}]  # an asset with no matrix is one combination
    return originals + extra


def count(matrix: Matrix) -> int:
    """The number of combinations :func:`expand` would return, computed without expanding it.

    Only the axes that ``exclude``/``include`` entries mention are enumerated; the others
    contribute a plain factor.
    """
    names = matrix.axis_names
    if not names:
        return max(1, len(matrix.include))
    mentioned = {k for e in (*matrix.exclude, *matrix.include) for k in e if k in names}
    free = math.prod(len(vals) for name, vals in matrix.axes if name not in mentioned)
    sub = Matrix(tuple((n, v) for n, v in matrix.axes if n in mentioned), (), matrix.exclude)
    kept = list(_product(sub)) if mentioned else [{}]
    kept = [c for c in kept if not _excluded(c, matrix.exclude)]
    originals = len(kept) * free
    new = sum(1 for entry in matrix.include if not _extends_any(entry, kept, free, mentioned))
    total = originals + new
    return total if total else 1


def _extends_any(entry: Mapping[str, Any], kept: Sequence[Combo], free: int,
                 mentioned: set[str]) -> bool:
    if free == 0:
        return False
    fixed = {k: v for k, v in entry.items() if k in mentioned}
    return any(all(c[k] == v for k, v in fixed.items()) for c in kept)
