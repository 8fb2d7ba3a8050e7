"""Run one seedflow command in a child process; report wall time, CPU time and peak memory.

Each measurement is a fresh ``python -m seedflow ...`` process, so the figures are what a user
sees, interpreter start-up and imports included.
"""

from __future__ import annotations

import compileall
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu: float          # user + system seconds of the child
    peak_mb: float      # peak resident set size of the child
    stdout: str
    stderr: str
    code: int


def run_seedflow(args: list[str], *, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> Run:
    """One child process (``python bench/measure.py ARGS``), measured from inside and out."""
    before = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, check=False)
    seconds = time.perf_counter() - before
    stats = proc.stderr.rstrip().rsplit("\n", 1)[-1].split()
    cpu, peak_kb = float(stats[1]), float(stats[2])
    stderr = proc.stderr.rstrip().rsplit("\n", 1)[0] if "\n" in proc.stderr.rstrip() else ""
    return Run(seconds, cpu, peak_kb / 1024, proc.stdout, stderr, proc.returncode)


def compile_bytecode(packages: list[Path]) -> None:
    """Compile each package's bytecode, as installing it does: a checkout run with
    PYTHONDONTWRITEBYTECODE (CI often sets it) would otherwise compile every module of seedflow
    in every measured run (about 40 ms each)."""
    for package in packages:
        compileall.compile_dir(package, quiet=1)


def median_of(runs: list[Run]) -> Run:
    """The run with the median wall time (so its other figures belong to one real run)."""
    ordered = sorted(runs, key=lambda r: r.seconds)
    return ordered[len(ordered) // 2]


def medians(values: list[float]) -> float:
    return statistics.median(values)


def _child() -> None:
    from seedflow.cli import main

    code = main(sys.argv[1:])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    sys.stdout.flush()
    print(f"\nBENCH {usage.ru_utime + usage.ru_stime:.4f} {_peak_kb(usage)}", file=sys.stderr)
    sys.exit(code)


def _peak_kb(usage: resource.struct_rusage) -> int:
    """This process's own peak resident size. Linux carries ``ru_maxrss`` over an exec from the
    process that forked it, so a benchmark process grown large (it keeps what earlier children
    printed) would lend every later child its own size; ``VmHWM`` belongs to the new image."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return usage.ru_maxrss


if __name__ == "__main__":
    _child()
