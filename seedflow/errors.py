"""The error contract.

Every failure a user can cause or fix is a :class:`SeedflowError`: the CLI prints its message
(one actionable paragraph, no traceback) and exits 1. Anything else is a bug: the CLI logs the
traceback to a file and says where it is (exit 3).
"""

from __future__ import annotations

from dataclasses import dataclass


class SeedflowError(Exception):
    """An expected failure with a message meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, order=True)
class Location:
    """A place in a file, 1-based, as editors show it."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class SpecError(SeedflowError):
    """One problem in a pipeline file, tied to the YAML node that caused it."""

    def __init__(self, location: Location | None, message: str) -> None:
        self.location = location
        self.detail = message
        prefix = f"{location}: " if location else ""
        super().__init__(prefix + message)


class SpecErrors(SeedflowError):
    """All the problems found in one pipeline file (validation reports them together)."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = sorted(errors, key=_error_sort_key)
        super().__init__("\n".join(e.message for e in self.errors))


def _error_sort_key(error: SpecError) -> tuple[bool, str, int, int, str]:
    """By place in the file; a problem without a place (``... and 7 more``) last."""
    loc = error.location
    if loc is None:
        return (True, "", 0, 0, error.detail)
    return (False, loc.file, loc.line, loc.column, error.detail)


class LockError(SeedflowError):
    """The lockfile cannot be trusted as it is (corrupt, conflicted, newer format, locked)."""


class Interrupted(SeedflowError):
    """A run stopped by ^C (SIGINT) or SIGTERM after it recorded what it had done; the message
    says what happens next. ``exit_code`` is 130 or 143, as shells report those signals."""

    def __init__(self, message: str, *, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
