"""``plan`` at 1k / 10k / 100k combinations, against an empty lock and a fully locked one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.fixtures import lock_everything, plan_pipeline
from bench.measure import Run, median_of, run_seedflow


@dataclass(frozen=True)
class PlanFigure:
    size: int
    locked: bool
    run: Run


def plan_figures(scratch: Path, sizes: list[int], repeats: int) -> list[PlanFigure]:
    figures = []
    for size in sizes:
        folder = scratch / f"plan-{size}"
        folder.mkdir(parents=True, exist_ok=True)
        pipeline = plan_pipeline(folder, size)
        args = ["plan", str(pipeline), "--format", "json"]
        figures.append(PlanFigure(size, False, _best(args, repeats)))
        lock_everything(pipeline)
        figures.append(PlanFigure(size, True, _best(args, repeats)))
    return figures


def _best(args: list[str], repeats: int) -> Run:
    runs = [run_seedflow(args) for _ in range(repeats)]
    for run in runs:
        if run.code != 0:
            raise RuntimeError(f"plan failed: {run.stderr[-2000:]}")
    return median_of(runs)
