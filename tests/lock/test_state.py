"""One state type: lock entries' states are State members whose values are the lockfile's
strings, and the rules about states are the enum's properties."""

from __future__ import annotations

import json

import pytest

from seedflow.lock.model import LockEntry, State, entry_from_json


def entry(state: State | str, task_id: str | None = "t-1") -> LockEntry:
    return LockEntry(fingerprint="f" * 32, address="a[n=1]", asset="a", provider="sim",
                     state=state, request={"prompt": "p"}, task_id=task_id)  # type: ignore[arg-type]


def test_values_are_the_lockfile_strings_in_order() -> None:
    assert [state.value for state in State] == ["uncertain", "submitted", "succeeded", "failed"]
    assert State.SUCCEEDED == "succeeded" and f"{State.FAILED}" == "failed"
    assert json.dumps({"state": State.SUBMITTED}) == '{"state": "submitted"}'


def test_rules() -> None:
    assert {s for s in State if s.unfinished} == {State.UNCERTAIN, State.SUBMITTED}
    assert {s for s in State if s.has_task_id} == {State.SUBMITTED, State.SUCCEEDED}


def test_merge_ranks() -> None:
    """lock/merge.py rules 4a (stages of one task) and 4c (unfinished tasks, equal attempts)."""
    assert sorted(State, key=lambda s: s.stage_in_task) == [
        State.UNCERTAIN, State.SUBMITTED, State.FAILED, State.SUCCEEDED]
    assert sorted(State, key=lambda s: s.rank_across_tasks) == [
        State.FAILED, State.UNCERTAIN, State.SUBMITTED, State.SUCCEEDED]


def test_entries_always_hold_a_member() -> None:
    parsed = entry_from_json(json.loads(entry(State.SUCCEEDED).line()))
    assert parsed.state is State.SUCCEEDED
    assert entry("failed").state is State.FAILED
    assert entry(State.UNCERTAIN, None).evolve(state="submitted").state is State.SUBMITTED
    with pytest.raises(ValueError):
        entry("done")
