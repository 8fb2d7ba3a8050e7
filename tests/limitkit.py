"""Helpers for the limit tests: seedflow in a child process whose peak memory and time are
measured, and snapshots of a folder to show that a refused run changed nothing.

The child runs under a parent of its own (``_MEASURE``), so ``RUSAGE_CHILDREN`` counts that one
child and no other process the test session started. The child's address space is capped
(``AS_CAP``): should a limit regress, the run fails fast instead of swapping the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

AS_CAP = 3 * 2**30

_MEASURE = """
import json, resource, subprocess, sys, time
cap = int(sys.argv[1])
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
started = time.monotonic()
proc = subprocess.run(sys.argv[2:], capture_output=True, text=True, preexec_fn=limit)
print(json.dumps({"code": proc.returncode, "out": proc.stdout, "err": proc.stderr,
                  "seconds": time.monotonic() - started,
                  "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""

# seedflow's CLI, optionally with smaller render limits (argv[1]: bytes, argv[2]: seconds;
# 0: as shipped)
_SEEDFLOW = """
import os, sys
from seedflow.pipeline import templates
if int(sys.argv[1]):
    templates.RENDER_MEMORY = int(sys.argv[1])
if int(sys.argv[2]):
    templates.RENDER_SECONDS = int(sys.argv[2])
from seedflow.cli import main
code = main(sys.argv[3:])
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
"""


@dataclass(frozen=True)
class Measured:
    code: int
    out: str
    err: str
    seconds: float
    peak_mb: float

    @property
    def text(self) -> str:
        return self.out + self.err


def measured(*args: str | Path, cwd: Path, render_memory: int = 0, render_seconds: int = 0,
             timeout: float = 120) -> Measured:
    """``seedflow ARGS`` in a child process (environment inherited): what it printed, its exit
    code, wall time and peak resident memory."""
    child = [sys.executable, "-c", _SEEDFLOW, str(render_memory), str(render_seconds),
             *map(str, args)]
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(AS_CAP), *child],
                          capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=dict(os.environ), check=True)
    return Measured(**json.loads(proc.stdout))


def snapshot(root: Path) -> dict[str, tuple[int, int] | None]:
    """Every path under ``root``: files with (size, mtime in ns), folders by name only."""
    tree: dict[str, tuple[int, int] | None] = {}
    for path in root.rglob("*"):
        stat = path.lstat()
        tree[str(path.relative_to(root))] = (None if path.is_dir()
                                             else (stat.st_size, stat.st_mtime_ns))
    return tree


CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
"""The public corpora beside the repository (provenance in their SOURCES.md); tests that read
them skip only their corpus-driven cases when the folder is absent."""


def corpus_lines(name: str) -> list[dict[str, object]]:
    """The JSON lines of ``CORPORA/name`` (a first line without an ``id`` is provenance)."""
    path = CORPORA / name
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [row for row in rows if "id" in row]
