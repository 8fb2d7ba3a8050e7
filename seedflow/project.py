"""Loading what every command starts from: pipeline → combinations → lock → plan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seedflow.lock.store import Lock, read_lock
from seedflow.outputs import hash_check, presence_check
from seedflow.pipeline.load import load_pipeline
from seedflow.pipeline.model import Pipeline
from seedflow.plan.combos import Combination, resolve
from seedflow.plan.diff import Plan, make_plan


@dataclass(frozen=True)
class Project:
    pipeline: Pipeline
    combinations: list[Combination]
    lock: Lock

    def plan(self, *, check_hashes: bool = False) -> Plan:
        folder, root = self.pipeline.folder, self.pipeline.output_dir
        check = hash_check(folder, root) if check_hashes else presence_check(folder, root)
        return make_plan(self.combinations, self.lock.entries, check)


def load_project(path: Path, *, lock_path: Path | None = None,
                 max_combinations: int | None = None) -> Project:
    pipeline = load_pipeline(path)
    combinations = resolve(pipeline, max_combinations=max_combinations)
    lock = read_lock(lock_path or pipeline.default_lock)
    return Project(pipeline, combinations, lock)
