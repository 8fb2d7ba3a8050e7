"""``seedflow lock merge`` (fragments and lockfiles into one) and the git merge driver."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from reviewkit import Write, apply, entry

from seedflow.cli import cli, main
from seedflow.commands.lock import merge, merge_driver
from seedflow.errors import LockError, SeedflowError
from seedflow.lock.format import lock_text, parse_lock
from seedflow.lock.model import LockEntry
from seedflow.lock.read import read_lock
from seedflow.lock.writer import LockWriter

A = {fp: entry(fp, task=f"t{fp[0]}") for fp in ("1" * 32, "2" * 32)}
B = {fp: entry(fp, task=f"t{fp[0]}") for fp in ("3" * 32, "4" * 32)}


def write_lock(path: str, entries: dict[str, LockEntry]) -> Path:
    target = Path(path)
    target.write_text(lock_text(entries.values()), encoding="utf-8")
    return target


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".lck", ".journal", ".tmp"))


# -- lock merge -------------------------------------------------------------------------------

def test_merge_of_two_fragments_is_their_union(workdir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    a, b = write_lock("a.lock", A), write_lock("b.lock", B)

    assert merge(Path("out.lock"), [a, b]) == 0

    text = Path("out.lock").read_text()
    assert text == lock_text({**A, **B}.values())      # canonical form
    assert read_lock(Path("out.lock")).entries == {**A, **B}
    assert capsys.readouterr().out == "Merged 2 lockfiles into out.lock: 4 entries (4 added, " \
        "0 updated).\n"
    assert leftovers(workdir) == []


def test_merge_is_idempotent_and_order_independent(workdir: Path) -> None:
    conflicting = {**B, "1" * 32: entry("1" * 32, task="other", completed="2026-02-01T00:00:00Z")}
    a, b = write_lock("a.lock", A), write_lock("b.lock", conflicting)
    assert merge(Path("out.lock"), [a, b]) == 0
    first = Path("out.lock").read_bytes()

    assert merge(Path("out.lock"), [a, b]) == 0               # again: nothing changes
    assert Path("out.lock").read_bytes() == first
    assert merge(Path("out.lock"), [b, a, Path("out.lock")]) == 0
    assert Path("out.lock").read_bytes() == first
    assert merge(Path("other.lock"), [b, a]) == 0              # another order, another file
    assert Path("other.lock").read_bytes() == first


def test_merge_folds_into_an_existing_lock(workdir: Path) -> None:
    out = write_lock("out.lock", A)
    newer = {"1" * 32: entry("1" * 32, task="t1", images=2)}   # the same task, one more image
    fragment = write_lock("frag.lock", {**B, **newer})

    assert merge(out, [fragment]) == 0

    assert read_lock(out).entries == {**A, **B, **newer}


def test_sharded_applies_merge_into_a_complete_lock(write: Write,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write(things=("cup", "lamp", "vase"))
    apply(pipeline, "--shard", "1/2")
    apply(pipeline, "--shard", "2/2")
    fragments = sorted(Path("pipelines").glob("p.shard-*.lock"))
    assert [f.name for f in fragments] == ["p.shard-1-of-2.lock", "p.shard-2-of-2.lock"]

    capsys.readouterr()
    assert main(["plan", str(pipeline)]) == 1   # unmerged: plan would offer to pay again
    assert "record paid tasks that pipelines/p.lock does not have yet" in capsys.readouterr().err

    assert main(["lock", "merge", "pipelines/p.lock", *map(str, fragments),
                 "--remove-fragments"]) == 0

    assert capsys.readouterr().out.splitlines()[-1] == (
        "Folded and removed shard fragments: pipelines/p.shard-1-of-2.lock, "
        "pipelines/p.shard-2-of-2.lock.")
    assert len(read_lock(Path("pipelines/p.lock")).entries) == 6
    assert not list(Path("pipelines").glob("p.shard-*.lock"))
    assert main(["plan", str(pipeline), "--detailed-exitcode"]) == 0   # nothing left to do


@pytest.mark.parametrize("bad, message", [
    ("<<<<<<< HEAD\n", "bad.lock:2: the lockfile has git merge conflict markers"),
    (None, "bad.lock:1: lockfile format 2 was written by a newer seedflow"),
])
def test_merge_refuses_conflicted_or_newer_input(workdir: Path, bad: str | None,
                                                 message: str) -> None:
    good = write_lock("good.lock", A)
    lines = lock_text(B.values()).splitlines(keepends=True)
    if bad is None:
        lines[0] = lines[0].replace('"seedflow_lock":1', '"seedflow_lock":2')
    else:
        lines.insert(1, bad)
    Path("bad.lock").write_text("".join(lines))
    out = write_lock("out.lock", A)
    before = out.read_bytes()

    with pytest.raises(LockError, match=message):
        merge(out, [good, Path("bad.lock")])

    assert out.read_bytes() == before
    assert leftovers(workdir) == []


def test_merge_refuses_a_conflicted_out(workdir: Path) -> None:
    Path("out.lock").write_text(lock_text(A.values()) + "=======\n")

    with pytest.raises(LockError, match=r"out\.lock:4: has git conflict markers, and OUT is "
                                        r"merged into .*docs/ci\.md"):
        merge(Path("out.lock"), [write_lock("b.lock", B)])


def test_merge_waits_for_no_apply(workdir: Path) -> None:
    out = write_lock("out.lock", A)
    with LockWriter(out), pytest.raises(LockError, match=r"out\.lock is in use by pid"):
        merge(out, [write_lock("b.lock", B)])
    assert read_lock(out).entries == A


def test_merge_refuses_a_missing_input(workdir: Path) -> None:
    with pytest.raises(SeedflowError, match=r"nope\.lock: no such lockfile"):
        merge(Path("out.lock"), [Path("nope.lock")])
    assert not Path("out.lock").exists()


# -- merge driver -----------------------------------------------------------------------------

def test_driver_writes_the_three_way_merge_to_ours(workdir: Path) -> None:
    base = write_lock("base.lock", A)
    ours = write_lock("ours.lock", {**A, "3" * 32: B["3" * 32]})
    theirs = write_lock("theirs.lock", {"1" * 32: A["1" * 32], "4" * 32: B["4" * 32]})  # pruned 2

    assert merge_driver(base, ours, theirs) == 0

    assert ours.read_text() == lock_text([A["1" * 32], B["3" * 32], B["4" * 32]])


def test_driver_takes_an_empty_base(workdir: Path) -> None:
    Path("base.lock").write_text("")  # what git passes when both branches created the file
    ours, theirs = write_lock("ours.lock", A), write_lock("theirs.lock", B)

    assert merge_driver(Path("base.lock"), ours, theirs) == 0

    assert parse_lock(ours.read_text(), "ours") == {**A, **B}


def test_driver_fails_when_a_side_is_not_a_lockfile(workdir: Path) -> None:
    base, ours = write_lock("base.lock", A), write_lock("ours.lock", A)
    Path("theirs.lock").write_text("hello\n")
    before = ours.read_bytes()

    with pytest.raises(LockError, match=r"pipelines/p.lock \(theirs\):1: not a seedflow "):
        merge_driver(base, ours, Path("theirs.lock"), "pipelines/p.lock")

    assert ours.read_bytes() == before


def test_module_entry_exit_codes(workdir: Path) -> None:
    base, ours = write_lock("base.lock", A), write_lock("ours.lock", A)
    Path("theirs.lock").write_text(lock_text(B.values()) + ">>>>>>> theirs\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "seedflow.commands.lock", *args],
                              capture_output=True, text=True, timeout=60)

    failed = run("merge-driver", str(base), str(ours), "theirs.lock")
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: theirs.lock (theirs):4: the lockfile has git merge "
                                    "conflict markers")
    assert run("merge-driver", "only-one").returncode == 2
    assert run("merge", "out.lock", "base.lock").returncode == 0


# -- a real git repository ----------------------------------------------------------------------

GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.test",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.test",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=check,
                          env={**os.environ, **GIT_ENV}, timeout=120)


DRIVERS = {
    "module": [sys.executable, "-m", "seedflow.commands.lock", "merge-driver"],
    "cli": [sys.executable, "-m", "seedflow", "lock", "merge-driver"],
}


@pytest.fixture(params=sorted(DRIVERS))
def repo(request: pytest.FixtureRequest, write: Write, workdir: Path) -> Path:
    """A git repository with the driver configured and a pipeline of three things, of which
    only the cup is applied and committed on ``main``."""
    if request.param == "cli" and "lock" not in cli.commands:
        pytest.skip("`seedflow lock` is not wired into the CLI yet")
    git("init", "-q", "-b", "main")
    Path(".gitignore").write_text("assets/\n*.lck\n*.journal\n*.lock.stat\n")
    Path(".gitattributes").write_text("*.lock merge=seedflow-lock\n")
    driver = " ".join(shlex.quote(part) for part in DRIVERS[request.param])
    git("config", "merge.seedflow-lock.name", "seedflow lockfile merge")
    git("config", "merge.seedflow-lock.driver", f"{driver} %O %A %B %P")
    pipeline = write(things=("cup", "lamp", "vase"), seeds=(1,))
    apply(pipeline, "--target", "shots[thing=cup*")
    git("add", ".")
    git("commit", "-q", "-m", "cup")
    return pipeline


def branch(name: str, target: str, *args: str) -> dict[str, LockEntry]:
    git("checkout", "-q", "-b", name, "main")
    apply(Path("pipelines/p.yaml"), "--target", target, *args)
    git("commit", "-q", "-am", name)
    return read_lock(Path("pipelines/p.lock")).entries


def test_driver_merges_two_branches_that_each_applied(repo: Path) -> None:
    lamp = branch("lamp", "shots[thing=lamp*")
    vase = branch("vase", "shots[thing=vase*")
    # without the driver, git would stop at a conflict: both branches add a line after the cup
    versions = [git("show", f"{ref}:pipelines/p.lock").stdout for ref in ("lamp", "main", "vase")]
    for name, text in zip(("ours", "base", "theirs"), versions, strict=True):
        Path(f"{name}.txt").write_text(text)
    assert git("merge-file", "-p", "ours.txt", "base.txt", "theirs.txt", check=False
               ).returncode == 1

    git("checkout", "-q", "lamp")
    merged = git("merge", "--no-edit", "vase", check=False)

    assert merged.returncode == 0, merged.stdout + merged.stderr
    text = Path("pipelines/p.lock").read_text()
    assert "<<<<<<<" not in text and ">>>>>>>" not in text
    assert read_lock(Path("pipelines/p.lock")).entries == {**lamp, **vase}
    assert len(lamp) == len(vase) == 2
    assert text == lock_text({**lamp, **vase}.values())
    assert git("status", "--porcelain", "--untracked-files=no").stdout == ""
    assert main(["plan", "pipelines/p.yaml", "--detailed-exitcode"]) == 0


def test_driver_keeps_one_task_when_both_branches_generated_the_same(repo: Path) -> None:
    first = branch("one", "shots[thing=lamp*")
    # the same combination, a second paid task; the first branch's image is still on disk
    # (images are not committed) and this lock does not record it: only --force replaces it
    second = branch("two", "shots[thing=lamp*", "--force")

    git("checkout", "-q", "one")
    merged = git("merge", "--no-edit", "two", check=False)

    assert merged.returncode == 0, merged.stdout + merged.stderr
    entries = read_lock(Path("pipelines/p.lock")).entries
    lamp = next(fp for fp, e in second.items() if e.address == "shots[thing=lamp, seed=1]")
    versions = first[lamp], second[lamp]
    assert versions[0].task_id != versions[1].task_id
    kept = entries[lamp]
    assert kept in versions
    if versions[0].completed_at != versions[1].completed_at:  # else: the canonical tie-break
        assert kept.completed_at == max(v.completed_at or "" for v in versions)
    assert "generated twice, by different tasks" in merged.stdout + merged.stderr
    # the other way round keeps the same task
    git("checkout", "-q", "-b", "other-way", "two")
    assert git("merge", "--no-edit", "one", check=False).returncode == 0
    assert read_lock(Path("pipelines/p.lock")).entries == entries
