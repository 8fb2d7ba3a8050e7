"""Deterministic sharding: ``--shard K/N`` takes the combinations whose fingerprint falls in
share K of N, so N CI jobs split a catalog with no coordination and no overlap."""

from __future__ import annotations

import glob
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from seedflow.errors import SeedflowError

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    match = _SHARD.match(text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise SeedflowError(f"invalid --shard {text!r}: write K/N with 1 <= K <= N, e.g. 2/4")
    return int(match[1]), int(match[2])


def in_shard(fingerprint: str, shard: tuple[int, int]) -> bool:
    k, n = shard
    return share_of(fingerprint, n) == k


def share_of(fingerprint: str, n: int) -> int:
    """The K (1..N) whose share of N holds ``fingerprint``."""
    return int(fingerprint[:12], 16) % n + 1


def shard_sizes(fingerprints: Iterable[str], n: int) -> tuple[int, ...]:
    """How many of ``fingerprints`` each share K of N holds (K = 1 first)."""
    counts = Counter(share_of(fingerprint, n) for fingerprint in fingerprints)
    return tuple(counts[k] for k in range(1, n + 1))


def fragment_path(lock_path: Path, shard: tuple[int, int]) -> Path:
    """``catalog.lock`` → ``catalog.shard-2-of-4.lock`` (still ``*.lock`` for the merge driver)."""
    k, n = shard
    return lock_path.with_name(f"{lock_path.stem}.shard-{k}-of-{n}{lock_path.suffix}")


def fragment_pattern(lock_path: Path) -> str:
    """The glob matching every fragment of ``lock_path`` (``catalog.shard-*-of-*.lock``)."""
    return f"{glob.escape(lock_path.stem)}.shard-*-of-*{glob.escape(lock_path.suffix)}"


def fragment_share(lock_path: Path, fragment: Path) -> tuple[int, int] | None:
    """The K/N a fragment of ``lock_path`` was written for, or None if it is not one."""
    match = re.fullmatch(rf"{re.escape(lock_path.stem)}\.shard-(\d+)-of-(\d+)"
                         rf"{re.escape(lock_path.suffix)}", fragment.name)
    return (int(match[1]), int(match[2])) if match else None
