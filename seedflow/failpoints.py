"""Named crash points for tests (the technique FoundationDB and TiKV call failpoints).

``SEEDFLOW_FAILPOINT=NAME`` (or ``NAME:N`` for the N-th time it is reached) makes the process
``kill -9`` itself there, so the crash-recovery tests can stop an apply at an exact step instead
of hoping a timer lands there. Unset, :func:`hit` is one dictionary lookup.

Points: ``before-intent``, ``after-intent``, ``after-submitted``, ``after-image`` (executor),
``mid-download`` (download, after the first chunk is in the temp file) and ``mid-compaction``
(lock writer, between replacing the lockfile and emptying the journal).
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("SEEDFLOW_FAILPOINT", "")
_NAME, _, _NTH = _SPEC.partition(":")
_counts: dict[str, int] = {}


def hit(name: str) -> None:
    if name != _NAME:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= int(_NTH or 1):
        os.kill(os.getpid(), signal.SIGKILL)
