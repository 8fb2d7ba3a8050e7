"""Plans you can review, then apply exactly (Terraform's `plan -out` / `apply PLANFILE`), and
--target by an asset's name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from reviewkit import Write, apply

from seedflow.cli import main
from seedflow.lock.read import read_lock
from seedflow.sim import SimConfig, Simulator

LOCK = Path("pipelines/p.lock")


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """One simulator for the whole test, so its counters tell what was paid."""
    simulator = Simulator(SimConfig(latency=0.05))
    simulator.start()
    monkeypatch.setenv("SEEDFLOW_SIM_URL", simulator.base_url)
    yield simulator
    simulator.stop()


def saved_plan(pipeline: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Path:
    assert main(["plan", str(pipeline), "--out", "plan.json", *args]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "Saved this plan to plan.json: `seedflow apply --plan plan.json` carries out exactly "
        "this, and refuses if the pipeline, the lock or the files change first.")
    return Path("plan.json")


def test_the_reviewed_plan_is_what_runs(write: Write, sim: Simulator,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write(things=("cup", "lamp"), seeds=(1,))
    plan = saved_plan(pipeline, capsys)
    data = json.loads(plan.read_text())
    assert data["format_version"] == 1 and len(data["work"]) == 2

    assert main(["apply", "--plan", str(plan)]) == 0   # no question: it was reviewed

    assert sim.counters.creates == 2
    assert len(read_lock(LOCK).entries) == 2
    capsys.readouterr()
    assert main(["apply", "--plan", str(plan)]) == 1   # now stale: the lock changed
    assert capsys.readouterr().err.startswith(
        "error: plan.json is stale: the lock changed since the plan was saved")
    assert sim.counters.creates == 2


def test_a_changed_pipeline_refuses_the_saved_plan_and_pays_nothing(
        write: Write, sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write(things=("cup",), seeds=(1,))
    plan = saved_plan(pipeline, capsys)
    write(things=("cup", "vase"), seeds=(1,))      # someone pushed after the review

    assert main(["apply", "--plan", str(plan)]) == 1

    assert capsys.readouterr().err == (
        "error: plan.json is stale: the pipeline changed since the plan was saved, so it is not "
        "what was reviewed. Make and review a new one (`seedflow plan pipelines/p.yaml --out "
        "plan.json`); nothing was done\n")
    assert sim.counters.create_requests == 0 and not LOCK.exists()


def test_a_file_that_changed_on_disk_makes_the_work_differ(
        write: Write, sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write(things=("cup",), seeds=(1, 2))
    apply(pipeline, "--yes")
    plan = saved_plan(pipeline, capsys)            # nothing to do
    Path("assets/shots/cup-1.png").unlink()        # now a restore would be needed

    assert main(["apply", "--plan", str(plan)]) == 1

    assert "the work differs from the saved plan (now also restore shots[thing=cup, seed=1])" \
        in capsys.readouterr().err
    assert not Path("assets/shots/cup-1.png").exists()


@pytest.mark.parametrize("content", ["not json", '{"kind": "other"}',
                                     '{"kind": "seedflow-plan", "format_version": 9}'])
def test_a_damaged_plan_file_is_a_clear_error(write: Write, content: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    write()
    Path("plan.json").write_text(content)
    assert main(["apply", "--plan", "plan.json"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: plan.json: ") and err.endswith(
        "; make it again with `seedflow plan PIPELINE --out FILE`\n")


def test_an_assets_name_selects_all_of_it_in_plan_and_apply(
        write: Write, sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write(things=("cup",), seeds=(1,), extra=(
        '  hero:\n    prompt: "a {{ scene }}"\n    matrix:\n      scene: [dusk, dawn]\n'
        '    output: "hero/{{ scene }}.png"\n'))
    assert main(["plan", str(pipeline), "--target", "hero"]) == 0
    shown = capsys.readouterr().out
    assert "hero[scene=dusk]" in shown and "hero[scene=dawn]" in shown and "shots[" not in shown

    assert main(["apply", str(pipeline), "--yes", "--target", "hero"]) == 0

    assert sorted(e.address for e in read_lock(LOCK).entries.values()) == [
        "hero[scene=dawn]", "hero[scene=dusk]"]
