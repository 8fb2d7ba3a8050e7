"""Files seedflow does not own: a hand-made file at a new output path, an image retouched after
generation. Never overwritten without --force; shown by plan as drift, found cheaply through the
stat cache (a plan of many files hashes only what changed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from applykit import Project, Run

from seedflow import outputs
from seedflow.outputs.statcache import HEADER, StatCache, cache_path
from seedflow.sim import Simulator


def test_a_hand_made_file_at_a_new_output_path_is_never_overwritten_silently(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project,
        seedflow: Run) -> None:
    env(sim)
    project.write(things=("mug",), seeds=(1, 2))
    mine = project.root / "out" / "shots" / "mug-s2.png"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my own drawing")

    plan = seedflow("plan", "p.yaml")
    refused = seedflow("apply", "p.yaml", "--yes")

    assert "      conflict: out/shots/mug-s2.png holds a file seedflow did not write" in plan.out
    assert ("Drift: 1 output path already holds a file seedflow did not write (apply refuses "
            "to overwrite; --force does).") in plan.out
    assert (refused.code, refused.err) == (1, (
        "error: 1 output paths already hold files that the lock does not record, and apply "
        "would overwrite them:\n  out/shots/mug-s2.png\nMove them away, change the output "
        "template, or pass --force to overwrite; nothing was sent\n"))
    assert sim.counters.create_requests == 0
    assert mine.read_bytes() == b"my own drawing"

    forced = seedflow("apply", "p.yaml", "--yes", "--force")

    assert forced.code == 0, forced.text
    assert mine.read_bytes().startswith(b"\x89PNG")
    assert sim.counters.creates == 2


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file the output checks hash, in order."""
    seen: list[Path] = []
    real = outputs.file_sha256

    def counting(path: Path) -> str:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(outputs, "file_sha256", counting)
    return seen


def test_plans_hash_only_what_changed_since_apply_looked(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project, seedflow: Run,
        hashes: list[Path]) -> None:
    env(sim)
    addresses = project.write(things=("mug", "lamp"), seeds=(1, 2, 3))
    assert seedflow("apply", "p.yaml", "--yes").code == 0   # remembers what it wrote
    assert cache_path(project.lock).is_file()
    hashes.clear()

    assert seedflow("plan", "p.yaml", "--detailed-exitcode").code == 0
    assert hashes == []                                      # every stat matched the cache

    retouched = project.root / project.entries()[addresses[0]].images[0].path
    data = bytearray(retouched.read_bytes())
    data[-20] ^= 0xFF                                        # same size: only a hash tells
    retouched.write_bytes(bytes(data))
    plan = seedflow("plan", "p.yaml")

    assert [Path(p).name for p in hashes] == [retouched.name]
    assert f"  ! modified {addresses[0]}" in plan.out
    assert seedflow("apply", "p.yaml", "--yes").code == 0
    assert retouched.read_bytes() == bytes(data)             # left alone without --force


def test_a_forged_cache_cannot_vouch_for_a_changed_file(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project,
        seedflow: Run) -> None:
    """The cache is untracked, but a pull request could commit one (git add -f): its entries
    name this image's recorded sha256 and size, yet no stat of this machine's file."""
    env(sim)
    addresses = project.write(things=("mug",), seeds=(1,))
    assert seedflow("apply", "p.yaml", "--yes").code == 0
    image = project.entries()[addresses[0]].images[0]
    file = project.root / image.path
    file.write_bytes(bytes(image.size))                      # replaced, same size
    stored = f"{image.path}"
    cache_path(project.lock).write_text(
        f"{HEADER}\n{image.sha256} {image.size} 1 1 1 {stored}\n", encoding="utf-8")

    assert StatCache(cache_path(project.lock)).known   # the forged line is read ...
    plan = seedflow("plan", "p.yaml")
    assert f"  ! modified {addresses[0]}" in plan.out         # ... and matches nothing
