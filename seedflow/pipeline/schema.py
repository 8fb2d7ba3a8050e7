"""The pipeline file's JSON Schema, as data.

Written to ``schemas/pipeline.schema.json`` by ``seedflow schemas`` (and checked by
``--check``) so editors can complete and check pipelines
(``# yaml-language-server: $schema=../schemas/pipeline.schema.json``). Provider names come from
the provider registry, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any

from seedflow.providers import PROTOCOLS, PROVIDERS
from seedflow.providers.native import ASPECTS, MAX_SEED, RESOLUTIONS

NAME_PATTERN = "^[A-Za-z][A-Za-z0-9_-]*$"
AXIS_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$"
RESERVED_AXES = ("include", "exclude", "index", "asset")


def _neutral() -> dict[str, Any]:
    return {
        "aspect": {"enum": list(ASPECTS), "description": "Aspect ratio of the image."},
        "resolution": {"enum": list(RESOLUTIONS), "description": "Pixel scale: 1K, 2K or 4K."},
        "size": {"type": "string", "pattern": "^[1-9][0-9]*x[1-9][0-9]*$",
                 "description": "Exact pixel size WIDTHxHEIGHT (Modellix only)."},
        "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED,
                 "description": "Part of the image's identity; sent where the provider takes one."},
        "images": {"type": "integer", "minimum": 1, "maximum": 15,
                   "description": "Images per task (Apikley up to 6, Modellix up to 15)."},
    }


def _extras() -> dict[str, Any]:
    return {p: {"type": "object", "description": f"Native {p} request fields, checked against "
                f"schemas/{p}.request.schema.json."} for p in PROTOCOLS}


def _matrix() -> dict[str, Any]:
    entry = {"type": "object", "minProperties": 1,
             "propertyNames": {"pattern": AXIS_PATTERN}}
    return {
        "type": "object",
        "description": "Axes (lists of values); include/exclude as GitHub Actions defines them.",
        "properties": {"include": {"type": "array", "items": entry},
                       "exclude": {"type": "array", "items": entry}},
        "propertyNames": {"pattern": AXIS_PATTERN},
        "additionalProperties": {"title": "a matrix axis", "type": "array", "minItems": 1,
                                 "items": {"type": ["string", "number", "boolean", "object"]}},
    }


def pipeline_schema() -> dict[str, Any]:
    provider = {"enum": sorted(PROVIDERS), "description": "Who generates the images."}
    asset = {
        "title": "an asset",
        "type": "object",
        "required": ["prompt", "output"],
        "additionalProperties": False,
        "properties": {
            "description": {"type": "string"},
            "provider": provider,
            "prompt": {"type": "string", "minLength": 1,
                       "description": "Jinja2 template (sandboxed) of the prompt."},
            "output": {"type": "string", "minLength": 1,
                       "description": "Jinja2 template of the output path inside output_dir; "
                                      "must use {{ index }} when images > 1."},
            "matrix": _matrix(),
            **_neutral(),
            **_extras(),
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:seedflow:schemas:pipeline.schema.json",
        "title": "seedflow pipeline",
        "type": "object",
        "required": ["version", "assets"],
        "additionalProperties": False,
        "properties": {
            "version": {"const": 1, "description": "Pipeline format version."},
            "provider": provider,
            "output_dir": {"type": "string", "minLength": 1,
                           "description": "Root of every output, relative to this file."},
            "store": {"type": "string", "minLength": 1,
                      "description": "Where images live for good: a folder relative to this "
                                     "file (inside the repository), file://, s3://bucket/prefix, "
                                     "gs://bucket/prefix or az://container/prefix. "
                                     "--store and SEEDFLOW_STORE override it. See docs/store.md."},
            "vars": {"type": "object", "description": "Constants for templates."},
            "defaults": {"type": "object", "additionalProperties": False,
                         "properties": {**_neutral(), **_extras()}},
            "limits": {"type": "object", "additionalProperties": False, "properties": {
                "max_combinations": {"type": "integer", "minimum": 1,
                                     "description": "Refuse an asset expanding past this."}}},
            "prices": {"type": "object", "description": "Price of one image per provider, in "
                       "`unit` (default credits); used for plan estimates and budgets.",
                       "additionalProperties": False,
                       "properties": {"unit": {"type": "string", "minLength": 1},
                                      **{name: {"type": "number", "minimum": 0}
                                         for name in sorted(PROVIDERS)}}},
            "budget": {"type": "object", "additionalProperties": False, "properties": {
                "max_images": {"type": "integer", "minimum": 0},
                "max_cost": {"type": "number", "minimum": 0}}},
            "assets": {"type": "object", "minProperties": 1,
                       "propertyNames": {"pattern": NAME_PATTERN},
                       "additionalProperties": asset},
        },
    }
