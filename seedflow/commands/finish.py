"""What a read-only command built, left for the process's end to reclaim.

Freeing a 100,000-combination plan object by object takes about 0.08 s; the OS takes the memory
back at once. So ``plan`` hands its objects to :func:`keep_until_exit` and the console entry
point ends the process with ``os._exit`` once the output is flushed (mypy ends the same way).
Only for commands with nothing left to finalize: no open lock, no temporary file.
"""

from __future__ import annotations

_KEPT: list[object] = []


def keep_until_exit(*objects: object) -> None:
    """Hold ``objects`` until the process ends (or until the next command in this process)."""
    _KEPT.extend(objects)


def kept() -> bool:
    """Whether the process holds objects it should not spend time freeing."""
    return bool(_KEPT)


def release() -> None:
    """Let them go (a new command starts: in tests, many run in one process)."""
    _KEPT.clear()
