"""Where a fully locked 100,000-combination plan spends its CPU, phase by phase, for this
checkout and (``--base``) an earlier one, in the same invocation:

    git worktree add /tmp/base bbe23c0
    python -m bench.plan_levers --base /tmp/base

Each phase is timed in a fresh child process (process CPU time, median of ``--repeats``), with
the cyclic garbage collector as the plan command leaves it: paused where the checkout pauses it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.fixtures import lock_everything, plan_pipeline

PHASES = ("resolve", "read lock", "plan", "json")

# Runs in the child, against whichever seedflow PYTHONPATH selects.
_CHILD = r"""
import gc, io, json, sys, time
from pathlib import Path
from seedflow.pipeline.load import load_pipeline
from seedflow.plan.combos import resolve
from seedflow.lock.read import read_lock
from seedflow.plan.render import write_json
import seedflow.project as project
path = Path(sys.argv[1])
paused = hasattr(project, "gc_paused")   # this checkout pauses the collector during a plan
if paused:
    gc.disable()
clock = time.process_time
times = {}
start = clock(); combos = resolve(load_pipeline(path)); times["resolve"] = clock() - start
wanted = {c.fingerprint for c in combos}
start = clock()
if paused:
    lock = read_lock(path.with_suffix(".lock"), only=wanted, keep_unread=False)
else:
    lock = read_lock(path.with_suffix(".lock"))
times["read lock"] = clock() - start
loaded = (project.load_project(path, spec_only=True) if paused
          else project.load_project(path))
start = clock(); plan = loaded.plan(); times["plan"] = clock() - start
start = clock(); write_json(loaded, plan, io.StringIO()); times["json"] = clock() - start
print(json.dumps(times))
"""


def phases(pipeline: Path, checkout: Path | None, repeats: int) -> dict[str, float]:
    runs = []
    for _ in range(repeats):
        env = {**os.environ, **({"PYTHONPATH": str(checkout)} if checkout else {})}
        # run from the pipeline's folder: "-c" puts the current directory first on sys.path
        out = subprocess.run([sys.executable, "-c", _CHILD, str(pipeline)], env=env,
                             cwd=pipeline.parent, capture_output=True, text=True,
                             check=True).stdout
        runs.append(json.loads(out))
    return {phase: statistics.median(run[phase] for run in runs) for phase in PHASES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plan_levers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, metavar="CHECKOUT")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="seedflow-levers-") as tmp:
        pipeline = plan_pipeline(Path(tmp), 100_000)
        lock_everything(pipeline)
        ours = phases(pipeline, None, args.repeats)
        base = phases(pipeline, args.base, args.repeats) if args.base else None
    print("| phase (100,000 combinations, fully locked) | CPU | before | ratio |")
    print("|---|---:|---:|---:|")
    for phase in PHASES:
        before = f"{base[phase]:.2f} s | **{ours[phase] / base[phase]:.2f}×**" if base else "|"
        print(f"| {phase} | {ours[phase]:.2f} s | {before} |")
    command = "python -m bench.plan_levers" + (f" --base {args.base}" if args.base else "")
    print(f"\nMedians of {args.repeats} child processes each; `{command}`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
