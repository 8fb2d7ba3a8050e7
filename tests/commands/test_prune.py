"""``seedflow prune``: forgets orphans only, deletes only their unshared files, and asks first."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from clirun import terminal
from reviewkit import Write, apply, entry

from seedflow.commands.prune import prune
from seedflow.errors import LockError, SeedflowError
from seedflow.lock.model import LockedImage
from seedflow.lock.read import read_lock
from seedflow.lock.writer import LockWriter

LOCK = Path("pipelines/p.lock")
ALL = {"shots[thing=cup, seed=1]", "shots[thing=cup, seed=2]", "shots[thing=lamp, seed=1]",
       "shots[thing=lamp, seed=2]"}
CUPS = {"shots[thing=cup, seed=1]", "shots[thing=cup, seed=2]"}


def addresses() -> set[str]:
    return {e.address for e in read_lock(LOCK).entries.values()}


def files() -> set[str]:
    return {p.name for p in Path("assets/shots").iterdir()}


@pytest.fixture
def orphaned(write: Write) -> Path:
    """Four images applied, then the lamps removed from the spec: two orphans."""
    pipeline = write()
    apply(pipeline)
    write(things=("cup",))
    return pipeline


def test_nothing_to_prune_leaves_the_lock_alone(write: Write, workdir: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write()
    apply(pipeline)
    before = LOCK.read_bytes(), LOCK.stat().st_mtime_ns, sorted(os.listdir("pipelines"))
    capsys.readouterr()

    assert prune(pipeline, files=True, yes=True) == 0

    assert capsys.readouterr().out == "No orphans. No stale copies.\n"
    assert (LOCK.read_bytes(), LOCK.stat().st_mtime_ns, sorted(os.listdir("pipelines"))) == before


def test_no_lockfile_is_nothing_to_prune(write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    assert prune(write(), yes=True) == 0
    assert capsys.readouterr().out == "No orphans.\n"
    assert sorted(os.listdir("pipelines")) == ["p.yaml"]


def test_refuses_without_a_terminal_unless_yes(orphaned: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    before = LOCK.read_bytes()
    capsys.readouterr()

    with pytest.raises(SeedflowError) as error:
        prune(orphaned, files=True)

    assert error.value.message == (
        "prune would remove 2 entries from pipelines/p.lock and delete 2 files, and there is no "
        "terminal to confirm on; pass --yes to go ahead (--yes also prunes unfinished orphans)")
    assert capsys.readouterr().out.splitlines() == [
        "Orphaned entries in pipelines/p.lock (no longer in pipelines/p.yaml):",
        *[line for n in (1, 2) for line in (
            f"  - shots[thing=lamp, seed={n}]  [succeeded, task "
            f"{task_of(f'shots[thing=lamp, seed={n}]')}]",
            f"      delete  assets/shots/lamp-{n}.png")],
    ]
    assert LOCK.read_bytes() == before
    assert files() == {"cup-1.png", "cup-2.png", "lamp-1.png", "lamp-2.png"}


def task_of(address: str) -> str | None:
    return next(e.task_id for e in read_lock(LOCK).entries.values() if e.address == address)


def test_yes_removes_only_the_orphans(orphaned: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kept = {fp: e for fp, e in read_lock(LOCK).entries.items() if e.address in CUPS}
    capsys.readouterr()

    assert prune(orphaned, yes=True) == 0

    assert read_lock(LOCK).entries == kept
    assert files() == {"cup-1.png", "cup-2.png", "lamp-1.png", "lamp-2.png"}  # no --files
    out = capsys.readouterr().out.splitlines()
    assert out[1].endswith(", 1 file left on disk]")
    assert out[-1] == "Pruned 2 orphaned entries from pipelines/p.lock."
    assert prune(orphaned, yes=True) == 0  # and again: nothing left
    assert capsys.readouterr().out == "No orphans.\n"


def test_asks_on_a_terminal(orphaned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = terminal(monkeypatch, answer=True)

    assert prune(orphaned, files=True) == 0

    assert asked == ["Remove 2 entries from pipelines/p.lock and delete 2 files?"]
    assert addresses() == CUPS
    assert files() == {"cup-1.png", "cup-2.png"}


def test_no_on_a_terminal_changes_nothing(orphaned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    terminal(monkeypatch, answer=False)
    before = LOCK.read_bytes()

    with pytest.raises(SeedflowError, match="cancelled; nothing was changed"):
        prune(orphaned, files=True)

    assert LOCK.read_bytes() == before
    assert files() == {"cup-1.png", "cup-2.png", "lamp-1.png", "lamp-2.png"}


def test_files_spares_shared_and_changed_files(write: Write,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write(things=("cup", "lamp", "vase"))
    apply(pipeline)
    # the lamps and vases leave the spec; a new asset now writes to lamp-1.png's path, and
    # vase-1.png was overwritten by hand
    write(things=("cup",),
          extra='  redo:\n    prompt: "a red lamp"\n    output: "shots/lamp-1.png"\n')
    Path("assets/shots/vase-1.png").write_bytes(b"someone else's picture")
    capsys.readouterr()

    assert prune(pipeline, files=True, yes=True) == 0

    out = capsys.readouterr().out
    assert "      keep    assets/shots/lamp-1.png  (still used by an output of redo)\n" in out
    assert "      delete  assets/shots/lamp-2.png\n" in out
    assert ("      keep    assets/shots/vase-1.png  (changed since it was generated, so not this "
            "entry's image any more)\n") in out
    assert out.endswith("Pruned 4 orphaned entries from pipelines/p.lock and deleted 2 files.\n")
    assert addresses() == CUPS
    assert files() == {"cup-1.png", "cup-2.png", "lamp-1.png", "vase-1.png"}
    assert Path("assets/shots/vase-1.png").read_bytes() == b"someone else's picture"


def test_files_spares_a_file_another_lock_entry_records(orphaned: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    lamp = next(e for e in read_lock(LOCK).entries.values()
                if e.address == "shots[thing=lamp, seed=1]")
    with LockWriter(LOCK) as writer:  # an unfinished orphan (kept without --yes) shares it
        writer.append([entry("f" * 32, "submitted", task="t-live", images=0).evolve(
            images=lamp.images)])
        writer.compact()

    terminal(monkeypatch, answer=True)

    assert prune(orphaned, files=True) == 0

    assert files() == {"cup-1.png", "cup-2.png", "lamp-1.png"}
    assert addresses() == CUPS | {"a[ffffffffffffffffffffffffffffffff]"}


def test_unfinished_orphans_need_yes(orphaned: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with LockWriter(LOCK) as writer:
        writer.append([entry("e" * 32, "uncertain"), entry("d" * 32, "submitted", task="t9",
                                                            images=0)])
        writer.compact()
    terminal(monkeypatch, answer=True)
    capsys.readouterr()

    assert prune(orphaned) == 0

    captured = capsys.readouterr()
    flight = "(unfinished: may be a paid task in flight)\n"
    assert f"  - a[{'d' * 32}]  [submitted, task t9]  {flight}" in captured.out
    assert f"  - a[{'e' * 32}]  [uncertain]  {flight}" in captured.out
    assert captured.err == (
        "warning: 2 unfinished orphans (uncertain or submitted) may be paid tasks still in "
        "flight at the provider; pruning forgets them, and their images are never downloaded. "
        "They are kept: they are pruned only with --yes.\n")
    assert captured.out.endswith("Pruned 2 orphaned entries from pipelines/p.lock.\n"
                                 "Kept 2 unfinished orphans (--yes prunes them).\n")
    assert len(read_lock(LOCK).entries) == 4

    with pytest.raises(SeedflowError, match="nothing pruned: every orphan is unfinished"):
        prune(orphaned)

    assert prune(orphaned, yes=True) == 0
    assert "Pruning them anyway (--yes)." in capsys.readouterr().err
    assert addresses() == CUPS


def test_waits_for_no_apply(orphaned: Path) -> None:
    with LockWriter(LOCK), pytest.raises(LockError, match="is in use by pid"):
        prune(orphaned, yes=True)
    assert len(read_lock(LOCK).entries) == 4


def test_never_deletes_outside_output_dir(orphaned: Path, workdir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    outside = workdir / "precious.png"
    outside.write_bytes(b"precious")
    lamp = next(e for e in read_lock(LOCK).entries.values()
                if e.address == "shots[thing=lamp, seed=1]")
    image = LockedImage("../precious.png", hashlib.sha256(b"precious").hexdigest(), 8,
                        "https://example.test/x.png")
    with LockWriter(LOCK) as writer:  # a lock from a pull request that points outside
        writer.append([lamp.evolve(images=(image,))])
        writer.compact()
    capsys.readouterr()

    assert prune(orphaned, files=True, yes=True) == 0

    assert ("      keep    precious.png  (outside output_dir: seedflow never deletes there)"
            in capsys.readouterr().out)
    assert outside.read_bytes() == b"precious"
