"""Identity of a combination: what is sent, never where the result is written.

The fingerprint hashes the canonical native request (provider, model, body without the
callback URL) plus any identity that is not sent (a seed the provider cannot take). Output
paths are deliberately absent: renaming an asset or moving its outputs must never cost money.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from seedflow.lock.model import FINGERPRINT_HEX_LENGTH

NOT_IDENTITY = ("callBackUrl",)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def identity_text(provider: str, model: str, request: Mapping[str, Any],
                  unsent: Mapping[str, Any]) -> str:
    """The canonical JSON that a fingerprint hashes."""
    body = {k: v for k, v in request.items() if k not in NOT_IDENTITY}
    identity = {"provider": provider, "model": model, "request": body}
    if unsent:
        identity["unsent"] = dict(unsent)
    return canonical_json(identity)


def digest(text: str) -> str:
    """A fingerprint of ``text``: as many hex digits as the lockfile format expects."""
    return hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_HEX_LENGTH]


def fingerprint(provider: str, model: str, request: Mapping[str, Any],
                unsent: Mapping[str, Any]) -> str:
    """A 128-bit hex digest, stable across runs, machines and YAML key order."""
    return digest(identity_text(provider, model, request, unsent))
