"""Where an object lives in a store: ``sha256/ab/cdef…`` under the store's prefix.

The first two hex digits fan objects out into 256 "folders", so no listing (and no local
directory) grows past 1/256 of the store; the algorithm name in the key leaves room for another
hash later without mixing the two. The probe that checks a store is writable uses its own
prefix, outside the objects.
"""

from __future__ import annotations

import re

ALGORITHM = "sha256"
FANOUT = 2
PROBE_PREFIX = ".seedflow-probe"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def is_sha256(value: str) -> bool:
    return bool(_SHA256.match(value))


def key(sha256: str) -> str:
    """The object key of content with this sha256 (64 lowercase hex digits, else ValueError)."""
    if not _SHA256.match(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256[:80]!r}")
    return f"{ALGORITHM}/{sha256[:FANOUT]}/{sha256[FANOUT:]}"


def fanout_prefix(sha256: str) -> str:
    """The listing prefix that holds this object's key."""
    return f"{ALGORITHM}/{sha256[:FANOUT]}/"


def sha_of_key(object_key: str) -> str | None:
    """The sha256 an object key stands for, or None for anything else (probes, strangers)."""
    parts = object_key.split("/")
    if len(parts) != 3 or parts[0] != ALGORITHM:
        return None
    digest = parts[1] + parts[2]
    return digest if len(parts[1]) == FANOUT and _SHA256.match(digest) else None
