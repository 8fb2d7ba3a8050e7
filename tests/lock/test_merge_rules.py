"""The merge rules of seedflow/lock/merge.py, on hand-made entries (pure: no files)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from reviewkit import entry

from seedflow.lock.merge import pick, three_way, union
from seedflow.lock.model import LockEntry, State

FP = "a" * 32


def kept(*versions: LockEntry) -> LockEntry:
    """The version pick() keeps, checked to be the same in every order."""
    winner, _ = pick(versions)
    assert pick(reversed(versions))[0] == winner
    return winner


def test_one_task_keeps_its_furthest_stage() -> None:
    submitted = entry(FP, "submitted", task="t1", images=0)
    partial = entry(FP, "submitted", task="t1", images=1)
    succeeded = entry(FP, "succeeded", task="t1", images=2)
    failed = entry(FP, "failed", task="t1", images=0, completed="2026-01-01T00:02:00Z")

    assert kept(submitted, partial) is partial
    assert kept(submitted, failed) is failed       # failure seen after submission is news
    assert kept(partial, succeeded) is succeeded
    assert kept(failed, succeeded) is succeeded    # the images were paid for


def test_across_tasks_a_success_wins() -> None:
    succeeded = entry(FP, "succeeded", task="t1")
    for other in (entry(FP, "submitted", task="t2", attempts=3),
                  entry(FP, "failed", task="t2", attempts=3), entry(FP, "uncertain", attempts=3)):
        assert kept(succeeded, other) is succeeded


def test_two_successes_keep_the_later_and_warn() -> None:
    early = entry(FP, "succeeded", task="t1", completed="2026-01-01T00:01:00Z",
                  address="hero[x=1]")
    late = entry(FP, "succeeded", task="t2", completed="2026-01-02T00:00:00Z",
                 address="hero[x=1]")

    winner, warning = pick([late, early])

    assert winner is late
    assert warning == (
        "hero[x=1]: generated twice, by different tasks (t1 and t2); kept t2, completed later. "
        "The other task's images are no longer recorded: `seedflow verify` lists any file on disk "
        "that is one of them, and `seedflow apply` restores the kept image for free")
    assert pick([early, late]) == (late, warning)


def test_unfinished_tasks_later_attempt_then_the_cheapest_to_keep() -> None:
    failed1 = entry(FP, "failed", task="t1", attempts=1)
    submitted1 = entry(FP, "submitted", task="t2", attempts=1)
    uncertain1 = entry(FP, "uncertain", attempts=1)
    failed2 = entry(FP, "failed", task="t3", attempts=2)
    uncertain2 = entry(FP, "uncertain", attempts=2)

    assert kept(failed1, submitted1) is submitted1   # collect t2 for free, do not pay again
    assert kept(failed1, uncertain1) is uncertain1   # may have been charged: apply asks first
    assert kept(uncertain1, submitted1) is submitted1
    assert kept(submitted1, failed2) is failed2      # a retry comes after its failure
    assert kept(failed1, uncertain2) is uncertain2


def test_identical_versions_are_one() -> None:
    version = entry(FP)
    assert pick([version, entry(FP)]) == (version, None)


def test_union_of_disjoint_fragments_is_their_union() -> None:
    a = {fp: entry(fp) for fp in ("1" * 32, "2" * 32)}
    b = {fp: entry(fp, task="t2") for fp in ("3" * 32,)}

    merged = union([a, b])

    assert merged.entries == {**a, **b}
    assert merged.warnings == ()


def test_union_keeps_what_it_folds_into_and_prefers_inputs_on_ties() -> None:
    old = entry(FP, path="old")
    relinked = entry(FP, path="new")  # same task, stage, images and times: a tie
    other = entry("b" * 32)

    merged = union([{FP: relinked}], into={FP: old, other.fingerprint: other})

    assert merged.entries == {FP: relinked, other.fingerprint: other}
    assert union([{FP: relinked}], into=merged.entries).entries == merged.entries


def test_three_way_takes_each_sides_changes() -> None:
    base = {"1" * 32: entry("1" * 32), "2" * 32: entry("2" * 32, "submitted", images=0),
            "3" * 32: entry("3" * 32)}
    ours = {**base, "4" * 32: entry("4" * 32)}                       # added
    ours.pop("3" * 32)                                                 # pruned
    theirs = {**base, "2" * 32: entry("2" * 32, "succeeded"),        # finished
              "5" * 32: entry("5" * 32)}                               # added

    merged = three_way(base, ours, theirs)

    assert merged.entries == {"1" * 32: base["1" * 32], "2" * 32: theirs["2" * 32],
                              "4" * 32: ours["4" * 32], "5" * 32: theirs["5" * 32]}
    assert merged.warnings == ()


def test_three_way_keeps_a_pruned_entry_the_other_side_changed() -> None:
    base = {FP: entry(FP, "submitted", images=0, address="hero[x=1]")}
    finished = entry(FP, "succeeded", address="hero[x=1]")

    merged = three_way(base, {}, {FP: finished})

    assert merged.entries == {FP: finished}
    assert merged.warnings == ("hero[x=1]: removed on one side but changed on the other; kept "
                               "the changed entry (prune it again if it is an orphan)",)


def test_three_way_both_changed_picks_by_the_rules() -> None:
    base = {FP: entry(FP, "submitted", task="t1", images=0)}
    ours = {FP: entry(FP, "submitted", task="t1", images=1)}
    theirs = {FP: entry(FP, "succeeded", task="t1", images=2)}

    assert three_way(base, ours, theirs).entries == theirs
    assert three_way(base, theirs, ours).entries == theirs


def test_three_way_with_no_base_and_both_sides_equal() -> None:
    side = {FP: entry(FP)}
    assert three_way({}, side, dict(side)) == three_way(side, side, side)
    assert three_way({}, side, side).entries == side


# -- properties: any set of versions ---------------------------------------------------------

TIMES = st.sampled_from([None, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"])


@st.composite
def versions(draw: st.DrawFn) -> LockEntry:
    state = draw(st.sampled_from(State))
    return entry(draw(st.sampled_from(["1" * 32, "2" * 32, "3" * 32])), state,
                 task=draw(st.sampled_from(["t1", "t2", "t3"])),
                 attempts=draw(st.integers(1, 3)), images=draw(st.integers(0, 2)),
                 submitted=draw(TIMES), completed=draw(TIMES) or ("2026-01-01T00:00:00Z"
                                                                  if state == State.SUCCEEDED
                                                                  else None),
                 path=draw(st.sampled_from(["p", "q"])))


LOCKS = st.lists(st.lists(versions(), max_size=4).map(lambda es: {e.fingerprint: e for e in es}),
                 min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(LOCKS, st.randoms())
def test_union_is_order_independent_and_idempotent(locks: list[dict[str, LockEntry]],
                                                    rnd: object) -> None:
    merged = union(locks).entries
    shuffled = list(locks)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]

    assert union(shuffled).entries == merged
    assert union(locks, into=merged).entries == merged       # merging again changes nothing
    assert union([merged, *locks]).entries == merged
    assert set(merged) == set().union(*locks)                  # nothing is ever dropped


@settings(max_examples=300, deadline=None)
@given(LOCKS.filter(lambda ls: len(ls) >= 3))
def test_three_way_is_symmetric_and_stable(locks: list[dict[str, LockEntry]]) -> None:
    base, ours, theirs = locks[:3]

    assert three_way(base, ours, theirs).entries == three_way(base, theirs, ours).entries
    assert three_way(base, ours, ours).entries == ours
    assert three_way(base, base, theirs).entries == theirs
