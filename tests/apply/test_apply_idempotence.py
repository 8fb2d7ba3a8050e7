"""Apply generates only what the lock lacks: re-runs, new seeds, moved outputs, lost files."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from applykit import Project, Run, events

from seedflow.outputs import file_sha256
from seedflow.sim import Simulator

PROVIDERS = ["apikley", "modellix", "sim", "sim:modellix"]


def plan_summary(seedflow: Run, project: Project) -> dict[str, int]:
    result = seedflow("plan", str(project.pipeline), "--format", "json", "--check-hashes")
    assert result.code == 0, result.text
    summary: dict[str, int] = json.loads(result.out)["summary"]
    return summary


@pytest.mark.parametrize("provider", PROVIDERS)
def test_second_apply_creates_nothing(provider: str, sim: Simulator, env: Callable[..., object],
                                      project: Project, seedflow: Run) -> None:
    env(sim)
    addresses = project.write(provider=provider, images=2 if "modellix" in provider else 1)

    first = seedflow("apply", str(project.pipeline), "--yes")
    assert first.code == 0, first.text
    assert sim.counters.creates == len(addresses)
    project.assert_intact(addresses)
    before = sim.counters

    second = seedflow("apply", str(project.pipeline), "--yes")

    assert second.code == 0, second.text
    assert "Nothing to do" in second.out
    after = sim.counters
    assert (after.create_requests, after.polls, after.downloads) == \
        (before.create_requests, before.polls, before.downloads)
    assert plan_summary(seedflow, project)["unchanged"] == len(addresses)


def test_new_seed_creates_only_the_new_combinations(sim: Simulator, env: Callable[..., object],
                                                    project: Project, seedflow: Run) -> None:
    env(sim)
    old = project.write(seeds=(1, 2))
    assert seedflow("apply", str(project.pipeline), "--yes").code == 0
    assert sim.counters.creates == len(old)
    locked = {a: e.task_id for a, e in project.entries().items()}

    new = project.write(seeds=(1, 2, 3))
    added = sorted(set(new) - set(old))
    assert len(added) == 2
    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 0, result.text
    assert sim.counters.creates == len(old) + len(added)
    assert sorted(events(result.err, "submitted")) == added
    project.assert_intact(new)
    entries = project.entries()
    assert {a: entries[a].task_id for a in old} == locked  # the old ones were not touched


def test_moving_outputs_relinks_without_creating(sim: Simulator, env: Callable[..., object],
                                                 project: Project, seedflow: Run) -> None:
    env(sim)
    addresses = project.write(folder="shots")
    assert seedflow("apply", str(project.pipeline), "--yes").code == 0
    hashes = {a: e.images[0].sha256 for a, e in project.entries().items()}
    before = sim.counters

    project.write(folder="renamed")
    result = seedflow("apply", str(project.pipeline), "--yes")

    assert result.code == 0, result.text
    after = sim.counters
    assert after.create_requests == before.create_requests
    assert after.downloads == before.downloads  # copied, not downloaded
    assert sorted(events(result.err, "relinked")) == sorted(addresses)
    project.assert_intact(addresses)
    for address, entry in project.entries().items():
        (image,) = entry.images
        assert image.path.startswith("out/renamed/"), image.path
        assert image.sha256 == hashes[address]
        assert file_sha256(project.root / image.path) == hashes[address]
    assert plan_summary(seedflow, project) == {
        "create": 0, "resume": 0, "restore": 0, "relink": 0, "orphan": 0,
        "unchanged": len(addresses), "modified": 0}


@pytest.mark.parametrize("damage", ["delete", "corrupt"])
def test_lost_or_damaged_file_is_restored_for_free(damage: str, sim: Simulator,
                                                   env: Callable[..., object], project: Project,
                                                   seedflow: Run) -> None:
    env(sim)
    addresses = project.write()
    assert seedflow("apply", str(project.pipeline), "--yes").code == 0
    entry = project.entries()[addresses[1]]
    path = project.root / entry.images[0].path
    if damage == "delete":
        path.unlink()
    else:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF  # same size: only the hash can tell
        path.write_bytes(bytes(data))
    before = sim.counters
    if damage != "delete":   # a changed file may be someone's edit: never reverted silently
        kept = seedflow("apply", str(project.pipeline), "--yes")
        assert kept.code == 0 and kept.out.splitlines()[1] == (
            "Drift: 1 generated image changed on disk (apply leaves them; `apply --force` "
            "restores the generated ones).")
        assert path.read_bytes() == bytes(data)

    result = seedflow("apply", str(project.pipeline), "--yes",
                      *(["--force"] if damage != "delete" else []))

    assert result.code == 0, result.text
    after = sim.counters
    assert after.create_requests == before.create_requests
    assert after.downloads == before.downloads + 1
    assert events(result.err, "restored") == [addresses[1]]
    project.assert_intact(addresses)
    assert file_sha256(path) == entry.images[0].sha256
