"""Two sharded applies plus `lock merge` give the lock one full apply gives, and the simulator
sees each combination created exactly once."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from applykit import Project, Run

from seedflow.lock.model import LockEntry
from seedflow.lock.read import read_lock
from seedflow.sim import Simulator


def content(entries: dict[str, LockEntry]) -> dict[str, tuple[str, str, str, tuple[str, ...]]]:
    """What must agree between runs (task ids, times and simulator images naturally differ)."""
    return {fp: (e.address, e.state, str(sorted(e.request.items())),
                 tuple(i.path for i in e.images)) for fp, e in entries.items()}


def test_two_shards_and_a_merge_equal_one_full_apply(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project, seedflow: Run,
        tmp_path: Path) -> None:
    env(sim)
    addresses = project.write(things=("mug", "lamp", "vase", "bowl"), seeds=(1, 2, 3))
    full = tmp_path / "full"
    shutil.copytree(project.root, full)

    for shard in ("1/2", "2/2"):
        result = seedflow("apply", str(project.pipeline), "--yes", "--shard", shard)
        assert result.code == 0, result.text
    fragments = sorted(project.root.glob("p.shard-*-of-2.lock"))
    assert len(fragments) == 2 and all(f.stat().st_size for f in fragments)
    unmerged = seedflow("apply", str(project.pipeline), "--yes")   # would pay for them again
    assert unmerged.code == 1 and "Merge first: `seedflow lock merge" in unmerged.err
    merged = seedflow("lock", "merge", str(project.lock), *map(str, fragments))
    assert merged.code == 0
    assert merged.out.splitlines()[-1].startswith("Folded shard fragments:")
    for fragment in fragments:
        fragment.unlink()
    assert sim.counters.creates == len(addresses)  # each combination created exactly once

    assert seedflow("apply", str(full / "p.yaml"), "--yes").code == 0
    sharded = content({e.fingerprint: e for e in project.entries().values()})
    whole = content({e.fingerprint: e for e in Project(full).entries().values()})
    assert sharded == whole and len(whole) == len(addresses)
    project.assert_intact(addresses)
    assert seedflow("plan", str(project.pipeline), "--detailed-exitcode").code == 0


def test_a_shard_of_another_split_is_refused_beside_unmerged_fragments(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project,
        seedflow: Run) -> None:
    """Shares of a 2-way and a 3-way split overlap: running 1/3 beside 1-of-2's fragment
    would pay again for combinations that fragment records."""
    env(sim)
    project.write()
    assert seedflow("apply", str(project.pipeline), "--yes", "--shard", "1/2").code == 0
    creates = sim.counters.creates

    same_split = seedflow("apply", str(project.pipeline), "--yes", "--shard", "2/2")
    other_split = seedflow("apply", str(project.pipeline), "--yes", "--shard", "1/3")

    assert same_split.code == 0, same_split.text
    assert other_split.code == 1
    assert other_split.err.startswith(f"error: {project.root / 'p.shard-1-of-2.lock'}")
    second = read_lock(project.root / "p.shard-2-of-2.lock").entries
    assert sim.counters.creates == creates + len(second)     # the 1/3 run paid for nothing
