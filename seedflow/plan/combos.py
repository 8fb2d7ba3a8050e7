"""Pipeline → combinations: one provider task each, with its request, identity and outputs.

Pure: no I/O. Templates are rendered in the sandbox, neutral parameters mapped to the native
request and checked, outputs confined to ``output_dir``, addresses and output paths checked for
collisions. Every problem points at the YAML node that caused it; a file's problems are
reported together.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from seedflow.errors import SpecError, SpecErrors
from seedflow.outputs import IMAGE_SUFFIXES, OutputRoot, path_problem
from seedflow.pipeline.matrix import count, expand, keys
from seedflow.pipeline.model import Asset, Pipeline
from seedflow.pipeline.templates import Template, TemplateProblem, render_limits
from seedflow.pipeline.yamlpos import PathKey
from seedflow.plan.shapes import Shape, quoted, shape
from seedflow.providers.native import NEUTRAL, Problem, overlay

MAX_ERRORS = 50
_NEUTRAL = frozenset(NEUTRAL)


class Combination(msgspec.Struct, frozen=True, gc=False):
    """One provider task of an asset. A frozen msgspec Struct: built in C, 12× faster than a
    frozen dataclass (a 100,000-combination plan builds 100,000 of them)."""

    asset: str
    address: str
    provider: str
    vars: Mapping[str, Any]          # the matrix values of this combination
    request: Mapping[str, Any]       # the native request body
    fingerprint: str
    outputs: tuple[str, ...]         # relative to the pipeline's folder, POSIX separators
    unsent: Mapping[str, Any]        # identity the provider cannot take (e.g. a Modellix seed)


class _Errors:
    """Collects problems, one per place and message, up to a readable number."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.positions = pipeline.positions
        self.seen: dict[tuple[PathKey, str], SpecError] = {}
        self.dropped = 0

    def add(self, path: PathKey, message: str) -> None:
        key = (path, message)
        if key in self.seen:
            return
        if len(self.seen) >= MAX_ERRORS:
            self.dropped += 1
            return
        self.seen[key] = SpecError(self.positions.at(path), message)

    def raise_if_any(self) -> None:
        errors = list(self.seen.values())
        if self.dropped:
            errors.append(SpecError(None, f"... and {self.dropped} more problems like these"))
        if errors:
            raise SpecErrors(errors)


def resolve(pipeline: Pipeline, *, max_combinations: int | None = None) -> list[Combination]:
    """Every combination of every asset, in pipeline order, or SpecErrors."""
    errors = _Errors(pipeline)
    limit = max_combinations or pipeline.max_combinations
    combos: list[Combination] = []
    with render_limits():
        for asset in pipeline.assets:
            _expand_asset(pipeline, asset, limit, combos, errors)
    errors.raise_if_any()
    _check_collisions(pipeline, combos, errors)
    errors.raise_if_any()
    return combos


def _expand_asset(pipeline: Pipeline, asset: Asset, limit: int, combos: list[Combination],
                  errors: _Errors) -> None:
    total = count(asset.matrix)
    if total > limit:
        errors.add((*asset.path, "matrix"),
                   f"asset `{asset.name}` expands to {total:,} combinations, more than the "
                   f"limit of {limit:,}; shrink the matrix or raise `limits.max_combinations`"
                   " (or --max-combinations)")
        return
    combos.extend(_asset_combos(pipeline, asset, errors))


def _asset_combos(pipeline: Pipeline, asset: Asset, errors: _Errors) -> Iterator[Combination]:
    shapes = _Shapes(asset)
    prompts = _Prompts(pipeline, asset)
    root = _Paths(OutputRoot(pipeline.folder, pipeline.output_dir).prefix, asset.output,
                  from_values=_reads_values_only(asset.output, asset))
    addresses = _Addresses(asset.name)
    needs_index = "index" in asset.output.names
    name, provider = asset.name, asset.provider.name
    for values in expand(asset.matrix):
        params, request = shapes.of(values)
        try:
            prompt = prompts.of(values, params)
        except TemplateProblem as exc:
            errors.add((*asset.path, "prompt"), f"prompt: {exc}")
            context = _context(pipeline, asset, params, values)
            _outputs(root, asset, context, params.get("images", 1), errors)  # its problems too
            continue
        problems = request.problems or prompts.problems(prompt, params)
        for problem in problems:
            errors.add(_problem_path(asset, values, problem), problem.message)
        images = params.get("images", 1)
        if images > 1 and not needs_index:
            errors.add((*asset.path, "output"), f"output: {images} images per task need "
                       "`{{ index }}` in the output template, or they would overwrite each other")
            continue
        outputs = (images == 1 and root.only(values)) or _outputs(
            root, asset, _context(pipeline, asset, params, values), images, errors)
        if problems or outputs is None:
            continue
        yield Combination(   # asset, address, provider, vars, request, fingerprint, ...
            name, addresses.of(values), provider, values,
            request.body(prompt.text), request.fingerprint_encoded(prompt.quoted),
            outputs, request.unsent)


def _context(pipeline: Pipeline, asset: Asset, params: Mapping[str, Any],
             values: Mapping[str, Any]) -> dict[str, Any]:
    """What a combination's templates see. Built only to render one (most names are read
    straight from the layers it merges)."""
    return {**pipeline.vars, **params, **values, "asset": asset.name}


def _reads_values_only(template: Template, asset: Asset) -> bool:
    """Whether every name ``template`` reads is a matrix key, so that a combination's values
    give what its context would (where they hold them all)."""
    return template.names <= keys(asset.matrix) - {"asset", "index"}


class _Shapes:
    """The request shapes of one asset, keyed by the identities of its parameter values (matrix
    values are shared objects)."""

    def __init__(self, asset: Asset) -> None:
        self.asset = asset
        matrix_keys = keys(asset.matrix)
        self.neutral = tuple(name for name in NEUTRAL if name in matrix_keys)
        # an include entry may add neutral keys in another order, which the parameters keep
        self.reordered = any(_NEUTRAL & entry.keys() for entry in asset.matrix.include)
        self.shapes: dict[tuple[tuple[str, int], ...], Shape] = {}
        self.params: dict[tuple[object, ...], tuple[dict[str, Any], Shape]] = {}

    def of(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], Shape]:
        """The parameters (:func:`overlay`) of a combination's values, and their shape: both
        depend only on its neutral values, kept by identity and order."""
        key: tuple[object, ...] = tuple([id(values.get(name, _Shapes)) for name in self.neutral])
        if self.reordered:
            key += tuple(values)
        found = self.params.get(key)
        if found is None:
            params = overlay(self.asset.params, values)
            found = self.params[key] = (params, self.get(params))
        return found

    def get(self, params: Mapping[str, Any]) -> Shape:
        key = tuple((name, id(value)) for name, value in params.items())
        found = self.shapes.get(key)
        if found is None:
            found = self.shapes[key] = shape(self.asset.provider, params, self.asset.extras)
        return found


class _Prompt:
    """A rendered prompt, its :func:`quoted` JSON (UTF-8) for the fingerprint, and its problems
    (judged once, when a combination first needs them)."""

    __slots__ = ("problems", "quoted", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.quoted = quoted(text).encode()
        self.problems: list[Problem] | None = None


class _Prompts:
    """An asset's prompt, rendered once per distinct set of the values its template reads.

    Matrix values are shared objects, so their identities make a cheap, exact cache key. Each
    name is read from the layers of the combination's context (:func:`_context`) without
    merging them: its values, then (a neutral name) its parameters. Where neither holds it, it
    reads the same in every combination (from the pipeline's vars, or nothing), as does a name
    that no combination's values or parameters can hold.
    """

    def __init__(self, pipeline: Pipeline, asset: Asset) -> None:
        self.pipeline = pipeline
        self.asset = asset
        varying = sorted((asset.prompt.names - {"asset"}) & (keys(asset.matrix) | _NEUTRAL))
        self.plain = tuple(name for name in varying if name not in _NEUTRAL)
        self.neutral = tuple(name for name in varying if name in _NEUTRAL)
        self.cache: dict[tuple[int, ...], _Prompt] = {}

    def of(self, values: Mapping[str, Any], params: Mapping[str, Any]) -> _Prompt:
        key = tuple([id(values.get(name, _Prompts)) for name in self.plain])
        if self.neutral:
            key += tuple([id(values.get(name, params.get(name, _Prompts)))
                          for name in self.neutral])
        found = self.cache.get(key)
        if found is None:
            context = _context(self.pipeline, self.asset, params, values)
            found = self.cache[key] = _Prompt(self.asset.prompt.render(context))
        return found

    def problems(self, prompt: _Prompt, params: Mapping[str, Any]) -> list[Problem]:
        """The prompt's own problems (a request schema judges it apart from the other fields)."""
        if prompt.problems is None:
            _, problems = self.asset.provider.mapping.build(prompt.text, params, self.asset.extras)
            prompt.problems = [p for p in problems if p.param == "prompt"]
        return prompt.problems


def _problem_path(asset: Asset, values: Mapping[str, Any], problem: Problem) -> PathKey:
    if problem.param == "prompt":
        return (*asset.path, "prompt")
    if problem.param.startswith("extra:"):
        key = problem.param.removeprefix("extra:")
        return asset.extra_paths.get(key, (*asset.path, asset.provider.protocol))
    if problem.param in values:
        return asset.value_path(problem.param, values[problem.param])
    return asset.param_paths.get(problem.param, asset.path)


def _outputs(root: _Paths, asset: Asset, context: Mapping[str, Any], images: int,
             errors: _Errors) -> tuple[str, ...] | None:
    paths = []
    template = asset.output
    reads_index = "index" in template.names
    for index in range(1, images + 1):
        try:
            # a template that does not read the index renders fast without a copy of the
            # context; the sandbox (its messages list the variables) gets the index as always
            rendered = (not reads_index and root.render_fast(context)) \
                or template.render({**context, "index": index})
        except TemplateProblem as exc:
            errors.add((*asset.path, "output"), f"output: {exc}")
            return None
        stored = root.stored(rendered)
        if stored is None:
            errors.add((*asset.path, "output"),
                       f"output renders {rendered!r}: {path_problem(rendered)}")
            return None
        paths.append(stored)
    return tuple(paths)


class _Paths:
    """Rendered outputs → stored paths: :func:`path_problem` and ``normpath``, decided once per
    folder and once per file name (100,000 outputs come from a few thousand folders and a few
    dozen names). A path either shortcut does not clear is judged whole, as before."""

    def __init__(self, root: str, template: Template | None = None, *,
                 from_values: bool = False) -> None:
        self.head = "" if root == "." else root + "/"
        self.render_fast = (template.fast_renderer() if template is not None
                            else lambda context: None)
        self.from_values = from_values   # the template reads matrix keys only
        self.folders: dict[str, str | None] = {}   # folder → the stored path's start, or None
        self.names: dict[str, bool] = {}

    def only(self, values: Mapping[str, Any]) -> tuple[str] | None:
        """The one output of a combination, rendered fast from its values alone; None where
        that cannot be done (or the path is refused: the general way says why)."""
        if not self.from_values:
            return None
        rendered = self.render_fast(values)
        stored = None if rendered is None else self.stored(rendered)
        return None if stored is None else (stored,)

    def stored(self, rendered: str) -> str | None:
        """The stored path (output_dir's prefix + the normal path), or None for a path that
        :func:`path_problem` refuses."""
        folder, _, name = rendered.rpartition("/")
        if folder:
            try:
                start = self.folders[folder]
            except KeyError:
                start = self.folders[folder] = self._start(folder)
            fine = self.names.get(name)
            if fine is None:
                fine = self.names[name] = _name_ok(name)
            if start is not None and fine:
                return start + name
        if path_problem(rendered):
            return None
        return self.head + posixpath.normpath(rendered)

    def _start(self, folder: str) -> str | None:
        """What a stored path in ``folder`` starts with, when no path in it can be refused for
        its folder part."""
        parts = folder.split("/")
        if ("\x00" in folder or "\\" in folder or folder.startswith("/")
                or (len(folder) > 1 and folder[1] == ":") or ".." in parts
                or any(part.startswith(".") and part != "." for part in parts)):
            return None
        normal = posixpath.normpath(folder)
        return self.head if normal == "." else f"{self.head}{normal}/"


def _name_ok(name: str) -> bool:
    return ("\x00" not in name and "\\" not in name and not name.startswith(".")
            and name.lower().endswith(IMAGE_SUFFIXES))


class _Addresses:
    """:func:`address` of each combination of an asset, from labels kept per axis and value
    object (matrix values are shared objects), each followed by the ``, `` that joins them."""

    def __init__(self, asset: str) -> None:
        self.asset = asset
        self.labels: dict[str, dict[int, str]] = {}

    def of(self, values: Mapping[str, Any]) -> str:
        if not values:
            return self.asset
        labels = self.labels
        try:
            text = "".join([labels[key][id(value)] for key, value in values.items()])
        except KeyError:   # a value not met yet
            text = "".join([self._label(key, value) for key, value in values.items()])
        return f"{self.asset}[{text[:-2]}]"

    def _label(self, key: str, value: Any) -> str:
        known = self.labels.setdefault(key, {})
        label = known.get(id(value))
        if label is None:
            label = known[id(value)] = "".join(part + ", " for part in _address_parts(key, value))
        return label


def address(asset: str, values: Mapping[str, Any]) -> str:
    """``product-shots[product.id=mug, aspect=1:1, seed=11]`` — readable, unique per asset."""
    if not values:
        return asset
    parts = [part for key, value in values.items() for part in _address_parts(key, value)]
    return f"{asset}[{', '.join(parts)}]"


def _address_parts(key: str, value: Any) -> list[str]:
    if isinstance(value, Mapping):
        for label in ("id", "name"):
            if label in value:
                return [f"{key}.{label}={_scalar(value[label])}"]
        # sorted: reordering a mapping's keys in the YAML must not rename its combinations
        return [f"{key}.{k}={_scalar(v)}" for k, v in sorted(value.items(), key=_by_key)
                if not isinstance(v, Mapping | list)]
    return [f"{key}={_scalar(value)}"]


def _by_key(item: tuple[Any, Any]) -> str:
    return str(item[0])


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if any(c in text for c in ",=[]") or text != text.strip():
        return repr(text)
    return text


def _check_collisions(pipeline: Pipeline, combos: list[Combination], errors: _Errors) -> None:
    if _all_distinct(combos):
        return
    assets = {a.name: a for a in pipeline.assets}
    by_path: dict[str, str] = {}
    by_address: dict[str, Combination] = {}
    by_fingerprint: dict[str, str] = {}
    for combo in combos:   # (an asset's key path is built only for a problem found)
        if combo.address in by_address:
            errors.add((*assets[combo.asset].path, "matrix"),
                       f"two combinations share the address {combo.address}; give mapping "
                       "values a distinct `id`")
        by_address[combo.address] = combo
        other = by_fingerprint.setdefault(combo.fingerprint, combo.address)
        if other != combo.address:
            errors.add((*assets[combo.asset].path, "output"),
                       f"{combo.address} and {other} send the identical request, so they "
                       "would be the same image; change the prompt, a parameter or the seed")
        for out in combo.outputs:
            first = by_path.setdefault(out, combo.address)
            if first != combo.address:
                errors.add((*assets[combo.asset].path, "output"),
                           f"output path {out} is written by both {first} and "
                           f"{combo.address}; make the output template use the axes that differ")


def _all_distinct(combos: list[Combination]) -> bool:
    """No two combinations share an address, a fingerprint or an output path (nor does one
    write a path twice): then there is no collision to look for, one by one."""
    count = len(combos)
    outputs = [out for combo in combos for out in combo.outputs]
    return (len({combo.address for combo in combos}) == count
            and len({combo.fingerprint for combo in combos}) == count
            and len(set(outputs)) == len(outputs))
