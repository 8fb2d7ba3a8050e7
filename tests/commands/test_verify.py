"""``seedflow verify``: every locked output is on disk with its recorded sha256 and size."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from reviewkit import Write, apply

from seedflow.commands.verify import verify
from seedflow.errors import LockError
from seedflow.lock.read import read_lock
from seedflow.sim import SimConfig, Simulator


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_verify_passes_after_apply(write: Write, workdir: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write()
    apply(pipeline)
    capsys.readouterr()

    assert verify(pipeline, lock_path=None) == 0
    assert capsys.readouterr().out == ("Verified 4 files: every locked output is present and "
                                       "matches its sha256 (pipelines/p.lock).\n")


def test_verify_lists_changed_and_missing_files(write: Write, workdir: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write()
    apply(pipeline)
    lock = read_lock(Path("pipelines/p.lock"))
    image = {e.address: e.images[0] for e in lock.entries.values()}
    cup, lamp = image["shots[thing=cup, seed=1]"], image["shots[thing=lamp, seed=2]"]
    Path("assets/shots/cup-1.png").write_bytes(b"not the image")
    Path("assets/shots/lamp-2.png").unlink()
    before = snapshot(workdir)
    capsys.readouterr()

    assert verify(pipeline, lock_path=None) == 1

    assert capsys.readouterr().out.splitlines() == [
        "2 of 4 locked files are missing or changed (pipelines/p.lock):",
        "  changed  assets/shots/cup-1.png",
        f"           shots[thing=cup, seed=1]: expected sha256 {cup.sha256[:12]}…, found "
        f"{hashlib.sha256(b'not the image').hexdigest()[:12]}… ({cup.size} bytes recorded, 13 "
        "on disk)",
        "  missing  assets/shots/lamp-2.png",
        f"           shots[thing=lamp, seed=2]: expected sha256 {lamp.sha256[:12]}…",
        "To restore 1 file for free, run `seedflow apply pipelines/p.yaml`: it downloads each "
        "again from the recorded URLs (these expire after about a day; after that, "
        "`--recreate-expired` generates them again, paid).",
        "1 file changed on disk since generation: apply leaves it alone; `seedflow apply "
        "pipelines/p.yaml --force` puts the generated images back.",
    ]
    assert snapshot(workdir) == before  # read-only


def test_verify_then_apply_restores_for_free(write: Write, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # one simulator for both applies, so the recorded result URLs still work for the restore
    simulator = Simulator(SimConfig(latency=0.05))
    simulator.start()
    monkeypatch.setenv("SEEDFLOW_SIM_URL", simulator.base_url)
    monkeypatch.setenv("SEEDFLOW_RETRY_BASE", "0.05")
    try:
        restore_after_verify(write, capsys)
    finally:
        simulator.stop()


def restore_after_verify(write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write()
    apply(pipeline)
    Path("assets/shots/cup-1.png").write_bytes(b"not the image")
    Path("assets/shots/lamp-2.png").unlink()
    assert verify(pipeline, lock_path=None) == 1

    apply(pipeline)                  # restores the missing file, keeps the changed one
    assert Path("assets/shots/cup-1.png").read_bytes() == b"not the image"
    assert verify(pipeline, lock_path=None) == 1

    apply(pipeline, "--force")       # the user's word: put the generated image back

    assert verify(pipeline, lock_path=None) == 0
    assert "0 tasks created" in capsys.readouterr().out


def test_verify_points_orphans_at_prune(write: Write,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write()
    apply(pipeline)
    write(things=("cup",))
    Path("assets/shots/lamp-1.png").unlink()
    capsys.readouterr()

    assert verify(pipeline, lock_path=None) == 1

    assert capsys.readouterr().out.splitlines()[-1] == (
        "1 file belongs to combinations no longer in the pipeline (orphans): "
        "`seedflow prune pipelines/p.yaml` forgets them.")


def test_verify_reads_the_lock_given(write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = write()
    apply(pipeline)
    Path("pipelines/p.lock").rename("elsewhere.lock")
    capsys.readouterr()

    assert verify(pipeline, lock_path=Path("elsewhere.lock")) == 0
    assert "Verified 4 files" in capsys.readouterr().out


def test_verify_refuses_a_conflicted_lock(write: Write) -> None:
    pipeline = write()
    apply(pipeline)
    lock = Path("pipelines/p.lock")
    lines = lock.read_text().splitlines(keepends=True)
    lock.write_text("".join([lines[0], "<<<<<<< HEAD\n", *lines[1:], ">>>>>>> other\n"]))

    with pytest.raises(LockError, match=r"pipelines/p.lock:2: the lockfile has git merge "):
        verify(pipeline, lock_path=None)
