"""Named crash points for tests (the technique FoundationDB and TiKV call failpoints).

``SEEDFLOW_FAILPOINT=NAME`` (or ``NAME:N`` for the N-th time it is reached) makes the process
``kill -9`` itself there, so the crash-recovery tests can stop an apply at an exact step instead
of hoping a timer lands there. Unset, :func:`hit` is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("SEEDFLOW_FAILPOINT", "")
_NAME, _, _NTH = _SPEC.partition(":")
_counts: dict[str, int] = {}

POINTS = ("before-intent", "after-intent", "after-submitted", "mid-download", "after-image",
          "mid-compaction")


def hit(name: str) -> None:
    if name != _NAME:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= int(_NTH or 1):
        os.kill(os.getpid(), signal.SIGKILL)
