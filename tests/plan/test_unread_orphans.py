"""plan reads in full only the lock entries of its combinations; every other entry is checked
but left in the lockfile, and listed as an orphan as the plan is written. The plan must be the
one a full read gives: the same items in the same order, in text and JSON, with the journal
applied and the same refusals."""

from __future__ import annotations

import hashlib
import io
import json
import tracemalloc
from pathlib import Path

import pytest
from corekit import TWO_PHOTOS as PIPELINE
from corekit import Run, WritePipeline, assert_no_traceback, combos_of, entry_for, image

from seedflow.lock.format import lock_text
from seedflow.lock.journal import drop_event, journal_path, put_event
from seedflow.lock.model import LockedImage, LockEntry, State
from seedflow.plan.diff import Action, PlanItems
from seedflow.plan.markdown import render_markdown
from seedflow.plan.render import plan_json, write_json
from seedflow.project import load_project


def history(n: int, **changes: object) -> LockEntry:
    """An entry of an asset the pipeline no longer has."""
    return LockEntry(
        fingerprint=hashlib.sha256(str(n).encode()).hexdigest()[:32], address=f"old[n={n}]",
        asset="old", provider="apikley", state=State.SUCCEEDED, task_id=f"task-{n}",
        request={"model": "m", "input": {"prompt": f"old {n} \u2028 é", "seed": 10**20 + n}},
        images=(LockedImage(f"out/old/{n}.png", "0" * 64, 3, f"https://cdn/{n}.png"),),
        **changes)  # type: ignore[arg-type]


@pytest.fixture
def project_files(write_pipeline: WritePipeline, tmp_path: Path) -> Path:
    """A pipeline with one combination locked and intact, a lock with five history entries,
    and a journal that drops one of them and adds another."""
    path = write_pipeline(PIPELINE)
    first, _ = combos_of(path)
    (tmp_path / "out" / "a").mkdir(parents=True)
    (tmp_path / "out" / "a" / "1.png").write_bytes(b"png-bytes")
    old = [history(n) for n in range(5)]
    Path("p.lock").write_text(lock_text([entry_for(first, images=[image("out/a/1.png")]),
                                         *old]))
    journal_path(Path("p.lock")).write_text(
        drop_event(old[1].fingerprint) + "\n" + put_event(history(7)) + "\n")
    return path


def test_the_plan_equals_the_plan_of_a_full_read(project_files: Path) -> None:
    streamed = load_project(project_files, spec_only=True)
    full = load_project(project_files)
    assert len(streamed.lock.entries) == 1 and len(streamed.lock.unread) == 5
    assert len(full.lock.entries) == 6

    plan, reference = streamed.plan(), full.plan()

    assert isinstance(plan.items, PlanItems)
    assert plan.summary == reference.summary
    assert plan.summary["orphan"] == 5 and plan.summary["unchanged"] == 1
    assert sorted(i.address for i in plan.of(Action.ORPHAN)) == sorted(
        i.address for i in reference.of(Action.ORPHAN))
    assert "old[n=1]" not in [i.address for i in plan.items]
    assert plan_json(streamed, plan) == plan_json(full, reference)
    assert plan.has_work == reference.has_work


def test_streamed_json_is_the_json_of_a_full_read(project_files: Path) -> None:
    streamed = load_project(project_files, spec_only=True)
    out = io.StringIO()
    write_json(streamed, streamed.plan(), out)
    written = json.loads(out.getvalue())

    full = load_project(project_files)
    expected = json.loads(json.dumps(plan_json(full, full.plan())))
    assert written == expected
    orphans = [i for i in written["items"] if i["action"] == "orphan"]
    assert [o["request"]["input"]["seed"] for o in orphans] == [10**20 + n for n in (0, 2, 3, 4, 7)]


def test_streamed_markdown_is_the_markdown_of_a_full_read(project_files: Path) -> None:
    streamed = load_project(project_files, spec_only=True)
    full = load_project(project_files)
    assert list(render_markdown(streamed, streamed.plan())) == list(
        render_markdown(full, full.plan()))


def test_markdown_counts_a_long_history_without_holding_it(write_pipeline: WritePipeline) -> None:
    # A lock with many entries of a removed asset: the comment lists the first few and counts
    # the rest as they stream past. Memory must not grow with the history (a list of every
    # plan item would take about 3 KiB per entry).
    path = write_pipeline(PIPELINE)

    def render_peak(n: int) -> int:
        Path("p.lock").write_text(lock_text([history(i) for i in range(n)]))
        project = load_project(path, spec_only=True)
        plan = project.plan()
        tracemalloc.start()
        try:
            lines = list(render_markdown(project, plan))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert f"<details><summary><code>old</code> — {n:,} orphaned</summary>" in lines
        assert f"… and {n - 20:,} more (seedflow plan --format json lists every one)" in lines
        return peak

    small, large = render_peak(5_000), render_peak(20_000)
    assert large < small * 1.25 + 2**20, (small, large)


def test_plan_lists_every_orphan_on_the_command_line(project_files: Path, run: Run) -> None:
    result = run("plan", project_files)
    assert result.code == 0, result.text
    listed = [line.split()[-1] for line in result.out.splitlines() if "- orphan" in line]
    assert listed == ["old[n=0]", "old[n=2]", "old[n=3]", "old[n=4]", "old[n=7]"]
    assert "5 orphaned, 1 unchanged" in result.out   # the second combination is new
    data = json.loads(run("plan", project_files, "--format", "json").out)
    assert data["summary"]["orphan"] == 5 and len(data["items"]) == 7


def test_a_bad_orphan_line_is_refused_before_anything_is_written(
        project_files: Path, run: Run) -> None:
    lines = Path("p.lock").read_text().split("\n")[:-1]
    lines[3] = lines[3].replace('"seed":', '"seed":' + "[" * 80 + "1" + "]" * 80 + ',"x":')
    Path("p.lock").write_text("\n".join(lines) + "\n")
    for fmt in ("text", "json"):
        result = run("plan", project_files, "--format", fmt)
        assert result.code == 1
        assert result.out == ""
        assert result.err == ("error: p.lock:4: invalid entry: its JSON nests more than 68 "
                              "levels deep: seedflow did not write this line; restore the "
                              "lockfile from git\n")
        assert_no_traceback(result)


def test_a_duplicated_orphan_is_refused(project_files: Path, run: Run) -> None:
    lines = Path("p.lock").read_text().split("\n")[:-1]
    Path("p.lock").write_text("\n".join([*lines, lines[4]]) + "\n")
    result = run("plan", project_files)
    assert result.code == 1
    assert result.err == (f"error: p.lock:{len(lines) + 1}: fingerprint {history(2).fingerprint}"
                          " appears twice; restore the lockfile from git, or delete the line "
                          "of the older task\n")
