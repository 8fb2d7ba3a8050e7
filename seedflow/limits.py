"""Hard limits on the untrusted files seedflow reads: pipelines, templates and lockfiles.

Pipelines and lockfiles arrive in pull requests and are read in CI next to real keys, so a
file of a few hundred bytes must not be able to take gigabytes, hours or the Python stack.
Each limit is refused with a clear error (exit 1, the file, line and column, what to do);
docs/security.md ("Limits") lists where each is enforced and the test that holds it.
"""

from __future__ import annotations

import re

# -- pipeline files (seedflow.pipeline.load, seedflow.pipeline.yamlpos) ----------------------

MAX_PIPELINE_BYTES = 5 * 2**20
"""Largest pipeline file read."""

MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and lists in a pipeline (a real one nests about 8 deep)."""

MAX_YAML_NODES = 200_000
"""Most values (scalars, lists, mappings) in one pipeline, each alias counted again at every
place it is used: a "billion laughs" document of 500 bytes expands to billions."""

MAX_INT = 2**63 - 1
"""Largest whole number (either sign) in a pipeline, and so in a request and a lock entry."""

MAX_INT_DIGITS = len(str(MAX_INT))
"""Digits of the largest whole number: longer ones are refused before conversion (Python's
own guard stops at 4,300 digits with a message about sys.set_int_max_str_digits)."""

# -- templates (seedflow.pipeline.templates) ------------------------------------------------

MAX_REPEAT = 10_000
"""Longest result of ``*`` on text or lists."""

MAX_POWER_BITS = 4096
"""Largest whole number ``**`` or ``*`` may produce, in bits."""

MAX_TEXT = 100_000
"""Longest rendered text (prompts are at most 10,000 characters); also the largest result of
a filter that can grow text (center, indent, replace), checked before it is built."""

RENDER_MEMORY = 2**30
"""Extra address space a pipeline's templates may use while they render."""

RENDER_SECONDS = 60
"""Time all of a pipeline's templates may take to render."""

UNDEFINED_SEARCH_SECONDS = 1.0
"""Time the extra render that lists every undefined name of a failed template may take (out of
RENDER_SECONDS, not on top of it); past it, the names found so far are reported."""

UNDEFINED_SEARCHES = 16
"""Extra renders of that kind per template; past them, a render error names the first
undefined name only."""

# -- lockfiles (seedflow.lock.format) -------------------------------------------------------

MAX_LOCK_LINE = 2**20
"""Longest lockfile line, in characters (an entry seedflow writes is a few kilobytes)."""

MAX_JSON_DEPTH = MAX_YAML_DEPTH + 4
"""Deepest nesting of a lock entry's JSON (its request is a pipeline's values, plus the
entry's own levels)."""


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds half of a UTF-16 pair (U+D800 to U+DFFF): what a ``\\ud800``
    escape decodes to in YAML or JSON, which is not a character and cannot be encoded."""
    return _SURROGATE.search(text) is not None


_SURROGATE = re.compile("[\ud800-\udfff]")
