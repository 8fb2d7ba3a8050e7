"""Pipeline → combinations: one provider task each, with its request, identity and outputs.

Pure: no I/O. Templates are rendered in the sandbox, neutral parameters mapped to the native
request and checked, outputs confined to ``output_dir``, addresses and output paths checked for
collisions. Every problem points at the YAML node that caused it; a file's problems are
reported together.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec

from seedflow.errors import SpecError, SpecErrors
from seedflow.outputs import IMAGE_SUFFIXES, OutputRoot, path_problem
from seedflow.pipeline.matrix import count, expand
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
    prompts = _Memo(asset.prompt)
    root = _Paths(OutputRoot(pipeline.folder, pipeline.output_dir).prefix,
                  asset.output.fast_renderer())
    labels: dict[tuple[str, int], list[str]] = {}
    texts: dict[str, str] = {}   # prompt → its JSON text (prompts repeat across a matrix)
    needs_index = "index" in asset.output.names
    for values in expand(asset.matrix):
        params, request = shapes.of(values)
        context = {**pipeline.vars, **params, **values, "asset": asset.name}
        try:
            prompt = prompts.render(context)
        except TemplateProblem as exc:
            errors.add((*asset.path, "prompt"), f"prompt: {exc}")
            _outputs(root, asset, context, params.get("images", 1), errors)  # its problems too
            continue
        problems = list(request.problems) or shapes.prompt_problems(prompt, params)
        for problem in problems:
            errors.add(_problem_path(asset, values, problem), problem.message)
        images = params.get("images", 1)
        if images > 1 and not needs_index:
            errors.add((*asset.path, "output"), f"output: {images} images per task need "
                       "`{{ index }}` in the output template, or they would overwrite each other")
            continue
        outputs = _outputs(root, asset, context, images, errors)
        if problems or outputs is None:
            continue
        yield Combination(   # asset, address, provider, vars, request, fingerprint, ...
            asset.name, address(asset.name, values, labels), asset.provider.name, values,
            request.body(prompt), request.fingerprint_quoted(
                texts.get(prompt) or texts.setdefault(prompt, quoted(prompt))),
            outputs, request.unsent)


class _Shapes:
    """The request shapes of one asset, keyed by the identities of its parameter values (matrix
    values are shared objects), and the problems of each distinct prompt."""

    def __init__(self, asset: Asset) -> None:
        self.asset = asset
        self.shapes: dict[tuple[tuple[str, int], ...], Shape] = {}
        self.prompts: dict[int, list[Problem]] = {}
        self.params: dict[tuple[tuple[str, int], ...], tuple[dict[str, Any], Shape]] = {}

    def of(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], Shape]:
        """The parameters (:func:`overlay`) of a combination's values, and their shape: both
        depend only on its neutral values, kept by identity and order."""
        key = tuple([(name, id(value)) for name, value in values.items() if name in _NEUTRAL])
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

    def prompt_problems(self, prompt: str, params: Mapping[str, Any]) -> list[Problem]:
        found = self.prompts.get(id(prompt))
        if found is None:
            _, problems = self.asset.provider.mapping.build(prompt, params, self.asset.extras)
            found = self.prompts[id(prompt)] = [p for p in problems if p.param == "prompt"]
        return found


class _Memo:
    """Renders a template once per distinct set of the values it reads.

    Matrix values are shared objects, so their identities make a cheap, exact cache key.
    """

    def __init__(self, template: Template) -> None:
        self.template = template
        self.names = tuple(sorted(template.names))
        self.cache: dict[tuple[int, ...], str] = {}

    def render(self, context: Mapping[str, Any]) -> str:
        key = tuple([id(context.get(name, _Memo)) for name in self.names])
        text = self.cache.get(key)
        if text is None:
            text = self.cache[key] = self.template.render(context)
        return text


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

    def __init__(self, root: str, render_fast: Callable[[Mapping[str, Any]], str | None] = (
            lambda context: None)) -> None:
        self.head = "" if root == "." else root + "/"
        self.render_fast = render_fast   # the output template's Template.fast_renderer
        self.folders: dict[str, str | None] = {}
        self.names: dict[str, bool] = {}

    def stored(self, rendered: str) -> str | None:
        """The stored path (output_dir's prefix + the normal path), or None for a path that
        :func:`path_problem` refuses."""
        folder, _, name = rendered.rpartition("/")
        if folder and self._name_ok(name):
            normal = self._folder(folder)
            if normal is not None:
                return self.head + (name if normal == "." else f"{normal}/{name}")
        if path_problem(rendered):
            return None
        return self.head + posixpath.normpath(rendered)

    def _folder(self, folder: str) -> str | None:
        """``normpath(folder)`` when no path in it can be refused for its folder part."""
        if folder not in self.folders:
            parts = folder.split("/")
            fine = ("\x00" not in folder and "\\" not in folder and not folder.startswith("/")
                    and not (len(folder) > 1 and folder[1] == ":") and ".." not in parts
                    and not any(part.startswith(".") and part != "." for part in parts))
            self.folders[folder] = posixpath.normpath(folder) if fine else None
        return self.folders[folder]

    def _name_ok(self, name: str) -> bool:
        if name not in self.names:
            self.names[name] = ("\x00" not in name and "\\" not in name
                                and not name.startswith(".")
                                and name.lower().endswith(IMAGE_SUFFIXES))
        return self.names[name]


def address(asset: str, values: Mapping[str, Any],
            memo: dict[tuple[str, int], list[str]] | None = None) -> str:
    """``product-shots[product.id=mug, aspect=1:1, seed=11]`` — readable, unique per asset.

    ``memo`` caches each (axis, value object)'s label; matrix values are shared objects.
    """
    if not values:
        return asset
    parts = []
    for key, value in values.items():
        if memo is None:
            parts += _address_parts(key, value)
            continue
        label = memo.get((key, id(value)))
        if label is None:
            label = memo[(key, id(value))] = _address_parts(key, value)
        parts += label
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
