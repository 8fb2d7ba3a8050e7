"""Provider request schemas, derived from the provider OpenAPI specs.

``schemas/openapi/<provider>.yaml`` (OpenAPI 3.0.3) is the source; ``seedflow schemas`` derives
one JSON Schema (draft 2020-12) per request body from it and writes it beside the specs, where
git tracks it and editors can use it. Naming: ``<spec stem>.request.schema.json`` when the spec
has one request body, ``<spec stem>.<operationId>.request.schema.json`` when it has several.

Derivation inlines every local ``$ref`` (a recursive one is an error) and turns OpenAPI-only
keywords into JSON Schema: ``nullable: true`` adds ``"null"`` to ``type`` (as OpenAPI 3.0.3
says, only where ``type`` is given, and an ``enum`` still has to list ``null`` to allow it),
``example`` becomes ``examples``, boolean ``exclusiveMinimum``/``exclusiveMaximum`` become
numeric, ``discriminator``/``xml``/``externalDocs``/``x-*`` are dropped. Properties that must
not travel in that direction are dropped: ``readOnly`` ones from requests, ``writeOnly`` ones
from responses.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote

import yaml

from seedflow.errors import SeedflowError

Schema = dict[str, Any]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_DROPPED = frozenset({"discriminator", "xml", "externalDocs", "nullable", "example"})
_SUBSCHEMA = frozenset({"items", "not", "additionalProperties"})
_SUBSCHEMA_LIST = frozenset({"allOf", "anyOf", "oneOf"})


class _Operation(NamedTuple):
    """One operation of an OpenAPI document."""

    method: str
    path: str
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        """The operationId, or ``METHOD path`` when there is none."""
        return str(self.spec.get("operationId") or f"{self.method.upper()} {self.path}")


@dataclass(frozen=True)
class _Context:
    doc: dict[str, Any]
    source: str
    skip: str
    refs: tuple[str, ...] = ()


def schema_dir() -> Path:
    """The ``schemas/`` folder: the source checkout's, else the copy installed in the package."""
    package = Path(__file__).parent.parent
    checkout = package.parent / "schemas"
    if (checkout / "openapi").is_dir():
        return checkout
    return package / "_schemas"


@functools.cache
def request_schema(provider: str) -> Schema:
    """The derived JSON Schema of ``provider``'s create request (shared: do not mutate)."""
    path = schema_dir() / f"{provider}.request.schema.json"
    if not path.is_file():
        raise ValueError(f"no request schema for provider {provider!r} (looked for {path})")
    result: Schema = json.loads(path.read_text(encoding="utf-8"))
    return result


@functools.cache
def response_schema(provider: str, operation: str, status: str = "200") -> Schema:
    """The JSON Schema of ``provider``'s ``operation`` response body with HTTP ``status``.

    Derived in memory from the OpenAPI spec (shared: do not mutate); ``operation`` is an
    operationId, e.g. ``createTask`` or ``getTask``.
    """
    path = schema_dir() / "openapi" / f"{provider}.yaml"
    doc = load_openapi(path)
    op = next((op for op in _operations(doc) if op.name == operation), None)
    if op is None:
        raise ValueError(f"{path.name} has no operation {operation!r}")
    ctx = _Context(doc, f"openapi/{path.name}", skip="writeOnly")
    if status not in op.spec["responses"]:
        raise ValueError(f"{path.name}: {operation} documents no {status} response")
    response = _resolve(op.spec["responses"][status], ctx)
    return {"$schema": DIALECT, **_convert(_json_body(response, ctx), ctx)}


def load_openapi(path: Path) -> dict[str, Any]:
    """Read an OpenAPI document from a YAML file."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SeedflowError(f"cannot read the OpenAPI spec {path}: {exc}") from exc
    if not isinstance(doc, dict) or "paths" not in doc:
        raise SeedflowError(f"{path} is not an OpenAPI document (no `paths`)")
    return doc


def derive(openapi: dict[str, Any], stem: str) -> dict[str, Schema]:
    """One JSON Schema per request body of ``openapi`` (read from ``<stem>.yaml``), by file name."""
    ops = [op for op in _operations(openapi) if "requestBody" in op.spec]
    derived: dict[str, Schema] = {}
    for op in ops:
        name = _file_name(stem, op, several=len(ops) > 1)
        derived[name] = _request_document(openapi, stem, op, name)
    return derived


def dump(schema: Schema) -> str:
    """A schema as deterministic JSON text: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _operations(doc: dict[str, Any]) -> Iterator[_Operation]:
    """Every operation of ``doc``, in document order."""
    for path, item in doc["paths"].items():
        for method in _METHODS:
            if method in item:
                yield _Operation(method, path, item[method])


def _file_name(stem: str, op: _Operation, several: bool) -> str:
    if not several:
        return f"{stem}.request.schema.json"
    if "operationId" not in op.spec:
        raise SeedflowError(f"openapi/{stem}.yaml: {op.name} needs an operationId, which names "
                            "its derived schema when a spec has several request bodies")
    return f"{stem}.{op.spec['operationId']}.request.schema.json"


def _request_document(doc: dict[str, Any], stem: str, op: _Operation, name: str) -> Schema:
    source = f"openapi/{stem}.yaml"
    ctx = _Context(doc, source, skip="readOnly")
    schema = _convert(_json_body(_resolve(op.spec["requestBody"], ctx), ctx), ctx)
    note = (f"Generated by `seedflow schemas` from schemas/{source}, request body of {op.name} "
            f"({op.method.upper()} {op.path}). Do not edit by hand: edit the OpenAPI spec and "
            "run `seedflow schemas`.")
    original = schema.get("description")
    return {
        **schema,
        "$schema": DIALECT,
        "$id": f"urn:seedflow:schemas:{name}",
        "title": f"{doc['info']['title']}: {op.name} request",
        "description": f"{note}\n\n{original}" if original else note,
    }


def _json_body(body: dict[str, Any], ctx: _Context) -> Schema:
    try:
        schema: Schema = body["content"]["application/json"]["schema"]
    except KeyError as exc:
        raise SeedflowError(f"{ctx.source}: a body has no application/json schema") from exc
    return schema


def _resolve(node: dict[str, Any], ctx: _Context) -> dict[str, Any]:
    """``node``, or what its ``$ref`` points at (not converted: for non-schema objects)."""
    return _pointer(node["$ref"], ctx) if "$ref" in node else node


def _pointer(ref: str, ctx: _Context) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise SeedflowError(f"{ctx.source}: only local $ref (#/...) are supported, got {ref!r}")
    target: Any = ctx.doc
    for token in ref[2:].split("/"):
        key = unquote(token).replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or key not in target:
            raise SeedflowError(f"{ctx.source}: $ref {ref!r} points at nothing")
        target = target[key]
    if not isinstance(target, dict):
        raise SeedflowError(f"{ctx.source}: $ref {ref!r} does not point at an object")
    return target


def _convert(node: Any, ctx: _Context) -> Any:
    """An OpenAPI schema object as a JSON Schema, ``$ref`` inlined (booleans pass through)."""
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _inline(node["$ref"], ctx)
    out = {key: _keyword(key, value, ctx) for key, value in node.items()
           if key not in _DROPPED and not key.startswith("x-")}
    if node.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if "example" in node:
        out["examples"] = [copy.deepcopy(node["example"])]
    _numeric_exclusive(out, "exclusiveMinimum", "minimum")
    _numeric_exclusive(out, "exclusiveMaximum", "maximum")
    _drop_skipped_properties(out, ctx.skip)
    return out


def _inline(ref: str, ctx: _Context) -> Any:
    if ref in ctx.refs:
        chain = " -> ".join((*ctx.refs[ctx.refs.index(ref):], ref))
        raise SeedflowError(f"{ctx.source}: recursive $ref cannot be inlined: {chain}")
    return _convert(_pointer(ref, ctx), replace(ctx, refs=(*ctx.refs, ref)))


def _keyword(key: str, value: Any, ctx: _Context) -> Any:
    if key == "properties":
        return {name: _convert(sub, ctx) for name, sub in value.items()}
    if key in _SUBSCHEMA:
        return _convert(value, ctx)
    if key in _SUBSCHEMA_LIST:
        return [_convert(sub, ctx) for sub in value]
    return copy.deepcopy(value)


def _numeric_exclusive(out: Schema, exclusive: str, bound: str) -> None:
    """OpenAPI 3.0's ``exclusiveMinimum: true`` + ``minimum: n`` as ``exclusiveMinimum: n``."""
    flag = out.get(exclusive)
    if isinstance(flag, bool):
        del out[exclusive]
        if flag and bound in out:
            out[exclusive] = out.pop(bound)


def _drop_skipped_properties(out: Schema, skip: str) -> None:
    """Remove properties marked ``skip`` (readOnly or writeOnly) from properties and required."""
    props = out.get("properties", {})
    skipped = {name for name, sub in props.items() if isinstance(sub, dict) and sub.get(skip)}
    if not skipped:
        return
    out["properties"] = {name: sub for name, sub in props.items() if name not in skipped}
    required = [name for name in out.get("required", []) if name not in skipped]
    if required:
        out["required"] = required
    else:
        out.pop("required", None)
