"""``plan`` at 1k / 10k / 100k combinations against an empty lock and a fully locked one (every
output on disk, the stat cache apply leaves), and against a lock of 1,000,000 entries the
pipeline no longer refers to (issue #13).

With ``base`` (a checkout of an earlier commit, e.g. ``git worktree add /tmp/base bbe23c0``),
every row is also measured with that checkout's ``seedflow`` on the same files, interleaved in
the same invocation, so each before/after ratio comes from one run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from bench.fixtures import lock_everything, plan_pipeline, unrelated_lock
from bench.measure import Run, median_of, run_seedflow

UNRELATED = 1_000_000


@dataclass(frozen=True)
class PlanFigure:
    size: int
    lock: str             # "empty", "fully locked" or "fully locked + 1,000,000 unrelated"
    run: Run
    base: Run | None = None

    @property
    def locked(self) -> bool:
        return self.lock == "fully locked"


def plan_figures(scratch: Path, sizes: list[int], repeats: int, *, base: Path | None = None,
                 unrelated: int = UNRELATED) -> list[PlanFigure]:
    figures = []
    for size in sizes:
        folder = scratch / f"plan-{size}"
        folder.mkdir(parents=True, exist_ok=True)
        pipeline = plan_pipeline(folder, size)
        args = ["plan", str(pipeline), "--format", "json"]
        figures.append(PlanFigure(size, "empty", *_measure(args, repeats, base)))
        lock_everything(pipeline)
        figures.append(PlanFigure(size, "fully locked", *_measure(args, repeats, base)))
    if unrelated:
        figures.append(unrelated_figure(scratch, unrelated, repeats, base))
    return figures


def unrelated_figure(scratch: Path, count: int, repeats: int, base: Path | None) -> PlanFigure:
    """1,000 locked combinations (outputs on disk) in a lock that also holds ``count`` entries
    of earlier specs: what the unrelated history costs a plan."""
    folder = scratch / "plan-unrelated"
    folder.mkdir(parents=True, exist_ok=True)
    pipeline = plan_pipeline(folder, 1_000)
    unrelated_lock(pipeline, count)
    args = ["plan", str(pipeline), "--format", "json"]
    return PlanFigure(1_000, f"fully locked + {count:,} unrelated", *_measure(args, repeats, base))


def _measure(args: list[str], repeats: int, base: Path | None) -> tuple[Run, Run | None]:
    """Medians of ``repeats`` runs of this checkout and, interleaved, of ``base``."""
    ours: list[Run] = []
    theirs: list[Run] = []
    for _ in range(repeats):
        ours.append(_checked(run_seedflow(args)))
        if base is not None:
            theirs.append(_checked(run_seedflow(args, env={"PYTHONPATH": str(base)})))
    return median_of(ours), median_of(theirs) if theirs else None


def _checked(run: Run) -> Run:
    """The run, without the plan it printed (hundreds of MB at a million orphans)."""
    if run.code != 0:
        raise RuntimeError(f"plan failed: {run.stderr[-2000:]}")
    return replace(run, stdout="")
