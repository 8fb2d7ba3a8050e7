"""JSON Schema of one lockfile line (written to ``schemas/lock.schema.json``).

A lockfile is JSON Lines: line 1 matches ``$defs.header``, every other line ``$defs.entry``.
"""

from __future__ import annotations

from typing import Any

from seedflow.lock.model import FINGERPRINT_HEX_LENGTH, FORMAT_VERSION, HEADER_KEY, State

_TEXT = {"type": "string", "minLength": 1}
_TIME = {"type": ["string", "null"], "description": "UTC, ISO 8601 (YYYY-MM-DDTHH:MM:SSZ)"}


def lock_schema() -> dict[str, Any]:
    image = {
        "type": "object", "additionalProperties": False,
        "required": ["path", "sha256", "size", "url"],
        "properties": {
            "path": {**_TEXT, "description": "Relative to the pipeline's folder, '/'-separated."},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "size": {"type": "integer", "minimum": 0, "description": "Bytes."},
            "url": {**_TEXT, "description": "Where it was downloaded from (expires upstream)."},
        },
    }
    entry = {
        "type": "object", "additionalProperties": False,
        "required": ["fingerprint", "address", "asset", "provider", "state", "request", "images"],
        "properties": {
            "fingerprint": {"type": "string", "pattern": f"^[0-9a-f]{{{FINGERPRINT_HEX_LENGTH}}}$"},
            "address": _TEXT, "asset": _TEXT, "provider": _TEXT,
            "state": {"enum": [state.value for state in State]},
            "task_id": {"type": ["string", "null"]},
            "submitted_at": _TIME, "completed_at": _TIME,
            "attempts": {"type": "integer", "minimum": 1,
                         "description": "Paid creates made for this combination so far."},
            "request": {"type": "object", "description": "The native request body sent."},
            "unsent": {"type": "object", "description": "Identity not sent (e.g. a seed)."},
            "result_urls": {"type": "array", "items": {"type": "string"}},
            "images": {"type": "array", "items": image},
            "error": {"type": "string"},
        },
    }
    header = {
        "type": "object", "required": [HEADER_KEY],
        "properties": {HEADER_KEY: {"const": FORMAT_VERSION}, "generated_by": {"type": "string"},
                       "note": {"type": "string"}},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:seedflow:schemas:lock.schema.json",
        "title": "seedflow lockfile line",
        "description": "A lockfile is JSON Lines: the first line is a header, every other line "
                       "one task entry. See docs/lockfile.md.",
        "oneOf": [{"$ref": "#/$defs/header"}, {"$ref": "#/$defs/entry"}],
        "$defs": {"header": header, "entry": entry, "image": image},
    }
