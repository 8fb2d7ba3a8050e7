"""The one rule for what a developer's shell may not carry into a test: any seedflow setting,
provider key, colour switch or cloud credential would change what the tests observe."""

from __future__ import annotations

from collections.abc import Mapping

PREFIXES = ("SEEDFLOW_", "APIKLEY_", "MODELLIX_", "AWS_", "GOOGLE_", "AZURE_")
NAMES = ("NO_COLOR", "FORCE_COLOR")


def foreign(name: str) -> bool:
    return name.startswith(PREFIXES) or name in NAMES


def scrubbed(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the variables :func:`foreign` names (for subprocesses)."""
    return {k: v for k, v in environ.items() if not foreign(k)}
