"""Reading a pipeline file: YAML → schema check → immutable :class:`Pipeline`.

Every problem is a :class:`SpecError` at the file, line and column of the node to change; a
file's problems are reported together (:class:`SpecErrors`). Nothing here touches the disk
beyond reading the one file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from seedflow.errors import Location, SpecError, SpecErrors
from seedflow.limits import MAX_PIPELINE_BYTES
from seedflow.pipeline.hints import belongs_elsewhere, close_to, what_is_here
from seedflow.pipeline.matrix import Matrix
from seedflow.pipeline.model import DEFAULT_MAX_COMBINATIONS, Asset, Budget, Pipeline, PriceTable
from seedflow.pipeline.schema import AXIS_PATTERN, NAME_PATTERN, RESERVED_AXES, pipeline_schema
from seedflow.pipeline.templates import Template, TemplateProblem
from seedflow.pipeline.yamlpos import PathKey, Positions, load_yaml
from seedflow.providers import DEFAULT_PROVIDER, PROTOCOLS, PROVIDERS
from seedflow.providers.native import NEUTRAL, overlay, sexagesimal


class PipelineErrors(SpecErrors):
    """Problems found once the file's shape is right (a template that does not compile, an
    output_dir outside the project, ...). ``rest`` is the pipeline of the assets that did build,
    so that validate can report their problems (templates that fail to render) in the same
    run: every template error of a file at once."""

    def __init__(self, errors: list[SpecError], rest: Pipeline) -> None:
        super().__init__(errors)
        self.rest = rest


def load_pipeline(path: Path) -> Pipeline:
    """Load and check one pipeline file, or raise SpecErrors listing everything wrong."""
    text = _read(path)
    data, positions = load_yaml(text, str(path))
    if not isinstance(data, dict):
        raise SpecError(Location(str(path), 1, 1), "a pipeline must be a YAML mapping with "
                        "`version: 1` and `assets:`; see `seedflow init` for a starter")
    errors = _schema_errors(data, positions)
    if errors:
        raise SpecErrors(errors)
    return _build(path, data, positions)


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_PIPELINE_BYTES:
            raise SpecError(Location(str(path), 1, 1), "file is larger than 5 MiB; is it a "
                            "pipeline?")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(None, f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise SpecError(None, f"{path}: is a folder; name a pipeline .yaml file") from None
    except UnicodeDecodeError as exc:
        raise SpecError(Location(str(path), 1, 1), f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise SpecError(None, f"{path}: cannot read it ({exc.strerror})") from None


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(pipeline_schema())


def _schema_errors(data: Any, positions: Positions) -> list[SpecError]:
    errors = []
    for error in _validator().iter_errors(data):
        errors.extend(_explain(error, positions))
    return errors


def _explain(error: jsonschema.ValidationError, positions: Positions) -> list[SpecError]:
    path: PathKey = tuple(error.absolute_path)
    where = _dotted(path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = list(schema.get("properties", {}))
        return [_unknown_key(positions, path, key, allowed)
                for key in error.instance if key not in allowed]
    if "propertyNames" in error.schema_path:  # a key that breaks a naming rule
        rule = _NAME_RULES.get(str(error.validator_value), error.message)
        name = str(error.instance)
        return [SpecError(positions.at((*path, name), key=True),
                          f"{where}: invalid name `{name}`: {rule}")]
    if error.validator == "required":
        return [SpecError(positions.at(path), f"{where}: {error.message}; add it")]
    if error.validator in ("anyOf", "oneOf") and error.context:
        error = error.context[0]
    message = _message(error)
    moved = _misplaced(path, message)
    if moved:
        return [SpecError(positions.at(path, key=True), f"{where}: {moved}")]
    return [SpecError(positions.at(path), f"{where}: {message}")]


def _unknown_key(positions: Positions, path: PathKey, key: str,
                 allowed: list[str]) -> SpecError:
    elsewhere = belongs_elsewhere(path, str(key))
    hint = close_to(str(key), allowed)
    suggestion = (f"{elsewhere}; move it there" if elsewhere
                  else f"did you mean `{hint}`?" if hint else f"allowed: {', '.join(allowed)}")
    return SpecError(positions.at((*path, key), key=True),
                     f"unknown key `{key}` in {_dotted(path)} ({suggestion})")


def _misplaced(path: PathKey, message: str) -> str | None:
    """Where the key at ``path`` belongs, when the place it is in takes any name (a matrix
    axis, an asset) and the value does not fit, but the name is a key of another place
    (``output`` written inside ``matrix``). A matrix axis named after a parameter (``seed``)
    is an axis as meant, so its own message stands."""
    if not path or not isinstance(path[-1], str) or path[-1] in NEUTRAL:
        return None
    what = what_is_here(path)
    elsewhere = belongs_elsewhere(path[:-1], path[-1]) if what else None
    if elsewhere is None:
        return None
    problem = message.split("; ")[0]
    return f"{elsewhere}; move it there (where it is now, it reads as {what}, and {problem})"


_NAME_RULES = {
    AXIS_PATTERN: "a matrix axis is a template variable, so use letters, digits and `_`, not "
                  "starting with a digit (e.g. `my_axis`)",
    NAME_PATTERN: "start with a letter, then use letters, digits, `-` and `_`",
}
_TYPE_WORDS = {"integer": "a whole number", "number": "a number", "string": "text",
               "boolean": "true or false", "array": "a list", "object": "a mapping"}


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "type":
        wanted = error.validator_value
        names = [wanted] if isinstance(wanted, str) else list(wanted)  # type: ignore[arg-type]
        words = " or ".join(_TYPE_WORDS.get(str(n), str(n)) for n in names)
        return f"{error.instance!r} is not {words}; write {words} here"
    if error.validator == "enum" and error.path and error.path[-1] == "aspect" \
            and sexagesimal(error.instance):
        return str(sexagesimal(error.instance))
    if error.validator == "enum":
        choices = [str(v) for v in error.validator_value]  # type: ignore[union-attr]
        hint = close_to(error.instance, choices) if isinstance(error.instance, str) else None
        guess = f" (did you mean `{hint}`?)" if hint else ""
        return f"{error.instance!r} is not allowed; use one of: {', '.join(choices)}{guess}"
    if error.validator == "const":
        return (f"{error.instance!r} is not supported; this seedflow reads version "
                f"{error.validator_value}")
    return error.message


def _dotted(path: PathKey) -> str:
    return ".".join(str(p) for p in path) or "the top level"


def _build(path: Path, data: dict[str, Any], positions: Positions) -> Pipeline:
    folder = path.parent
    output_dir = Path(os.path.normpath(Path(folder, data.get("output_dir", ".")).absolute()))
    defaults = data.get("defaults", {})
    default_provider = data.get("provider", DEFAULT_PROVIDER)
    errors: list[SpecError] = _output_dir_errors(data.get("output_dir", "."), output_dir,
                                                 folder, positions)
    errors += _store_errors(data.get("store"), folder, positions)
    assets = []
    for name, raw in data["assets"].items():
        try:
            assets.append(_asset(name, raw, defaults, default_provider, positions))
        except SpecErrors as exc:
            errors.extend(exc.errors)
    limits = data.get("limits", {})
    pipeline = Pipeline(path=path, folder=folder, output_dir=output_dir,
                        vars=data.get("vars", {}), assets=tuple(assets), positions=positions,
                        max_combinations=limits.get("max_combinations",
                                                    DEFAULT_MAX_COMBINATIONS),
                        budget=Budget(**data.get("budget", {})), prices=_prices(data),
                        store=data.get("store"))
    if errors:
        raise PipelineErrors(errors, pipeline)
    return pipeline


def _output_dir_errors(raw: str, output_dir: Path, folder: Path,
                       positions: Positions) -> list[SpecError]:
    """A pipeline from a pull request must not aim apply at any folder it likes: output_dir is
    relative, and inside a git work tree it stays inside that work tree, neither in its
    ``.git`` nor around it (the repository's root holds ``.git``)."""
    where = positions.at(("output_dir",))
    if Path(raw).is_absolute():
        return [SpecError(where, f"output_dir {raw!r} is absolute; write it relative to the "
                          "pipeline's folder (e.g. ../assets)")]
    root = git_root(folder.absolute())
    real = Path(os.path.realpath(output_dir))
    if root is not None and not real.is_relative_to(os.path.realpath(root)):
        return [SpecError(where, f"output_dir {raw!r} resolves to {real}, outside the git "
                          f"repository {root}; outputs must stay inside the project")]
    git = Path(os.path.realpath(root / ".git")) if root is not None else None
    if git is not None and (real.is_relative_to(git) or git.is_relative_to(real)):
        what = "is" if real == git else "is inside" if real.is_relative_to(git) else "contains"
        return [SpecError(where, f"output_dir {raw!r} {what} the repository's .git ({git}); "
                          "give outputs a folder of their own (e.g. ../assets)")]
    return []


_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")   # as in seedflow.store.url


def _store_errors(raw: str | None, folder: Path, positions: Positions) -> list[SpecError]:
    """A local store named by a pipeline follows output_dir's rule: relative, and inside the
    git work tree (a pull request must not make apply write elsewhere on the machine). A store
    anywhere else is the runner's choice: ``--store`` or ``SEEDFLOW_STORE``.

    The value is read as seedflow.store.url reads it (stripped, the scheme case-insensitive,
    a leading ``~`` expanded), so that no spelling of a path outside gets past this check.
    """
    if raw is None:
        return []
    text = raw.strip()
    scheme = _URL_SCHEME.match(text)
    if scheme and scheme.group(1).lower() != "file":
        return []
    where = positions.at(("store",))
    if scheme or text.startswith("~") or Path(text).is_absolute():
        return [SpecError(where, f"store {raw!r}: a pipeline may name a local store only as a "
                          "folder relative to its own folder (e.g. ../.seedflow-store); set "
                          "another location with --store or SEEDFLOW_STORE")]
    root = git_root(folder.absolute())
    real = Path(os.path.realpath(Path(folder, text)))
    if root is not None and not real.is_relative_to(os.path.realpath(root)):
        return [SpecError(where, f"store {raw!r} resolves to {real}, outside the git "
                          f"repository {root}; a pipeline's local store must stay inside the "
                          "project (or use --store / SEEDFLOW_STORE)")]
    return []


def git_root(folder: Path) -> Path | None:
    """The work tree holding ``folder``, if it is in one."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _prices(data: Mapping[str, Any]) -> PriceTable:
    raw = dict(data.get("prices", {}))
    unit = raw.pop("unit", "credits")
    return PriceTable(unit=unit, per_image={k: float(v) for k, v in raw.items()})


def _asset(name: str, raw: Mapping[str, Any], defaults: Mapping[str, Any],
           default_provider: str, positions: Positions) -> Asset:
    base: PathKey = ("assets", name)
    provider = PROVIDERS[raw.get("provider", default_provider)]
    errors = [SpecError(positions.at((*base, p), key=True),
                        f"`{p}` options given, but asset `{name}` uses provider "
                        f"`{provider.name}` ({provider.protocol} protocol); remove them or "
                        "change the provider")
              for p in PROTOCOLS if p in raw and p != provider.protocol]
    templates = {}
    for key in ("prompt", "output"):
        try:
            templates[key] = Template(raw[key])
        except TemplateProblem as exc:
            errors.append(SpecError(positions.at((*base, key)), f"{key}: {exc}"))
    matrix = _matrix(raw.get("matrix", {}), (*base, "matrix"), positions, errors)
    if errors:
        raise SpecErrors(errors)
    params = overlay(defaults, raw)
    _, param_paths = _layered(defaults, raw, NEUTRAL, base)
    extras, extra_paths = _layered(defaults.get(provider.protocol, {}),
                                   raw.get(provider.protocol, {}), None,
                                   (*base, provider.protocol),
                                   ("defaults", provider.protocol))
    return Asset(name=name, provider=provider, prompt=templates["prompt"],
                 output=templates["output"], params=params, param_paths=param_paths,
                 extras=extras, extra_paths=extra_paths, matrix=matrix)


def _layered(lower: Mapping[str, Any], upper: Mapping[str, Any], keys: tuple[str, ...] | None,
             upper_path: PathKey, lower_path: PathKey = ("defaults",),
             ) -> tuple[dict[str, Any], dict[str, PathKey]]:
    values: dict[str, Any] = {}
    paths: dict[str, PathKey] = {}
    for layer, where in ((lower, lower_path), (upper, upper_path)):
        for key, value in layer.items():
            if keys is None or key in keys:
                values[key], paths[key] = value, (*where, key)
    return values, paths


def _matrix(raw: Mapping[str, Any], path: PathKey, positions: Positions,
            errors: list[SpecError]) -> Matrix:
    axes = tuple((k, tuple(v)) for k, v in raw.items() if k not in ("include", "exclude"))
    names = {k for k, _ in axes}
    for key in names & set(RESERVED_AXES):
        errors.append(SpecError(positions.at((*path, key), key=True),
                                f"`{key}` is reserved; name this axis something else"))
    for i, entry in enumerate(raw.get("exclude", [])):
        for key in entry:
            if key not in names:
                errors.append(SpecError(
                    positions.at((*path, "exclude", i, key), key=True),
                    f"exclude names `{key}`, which is not a matrix axis "
                    f"(axes: {', '.join(sorted(names)) or 'none'})"))
    return Matrix(axes=axes, include=tuple(raw.get("include", [])),
                  exclude=tuple(raw.get("exclude", [])))
