"""``seedflow pull``, ``push`` and ``verify --store`` against a local-folder store, and the
pipeline's ``store:`` rules. (The same commands against the S3 server, after apply, are in
tests/apply/test_apply_store.py.)

The images come from a real apply on a simulator this module starts (``SEEDFLOW_SIM_URL``), so
its counters show that pull and push never contact a provider.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import Run
from corekit import WritePipeline
from reviewkit import Write

from seedflow.lock.read import read_lock
from seedflow.sim import Counters, SimConfig, Simulator
from seedflow.store import parse_store_url

PIPELINE = Path("pipelines/p.yaml")
SHOTS = Path("assets/shots")
KEPT = "a file that differs from the locked image is kept; --force replaces it"


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    with Simulator(SimConfig(latency=0.05)) as simulator:
        monkeypatch.setenv("SEEDFLOW_SIM_URL", simulator.base_url)
        yield simulator


@pytest.fixture
def store(tmp_path: Path) -> str:
    return str(tmp_path / "store")


@pytest.fixture
def generated(write: Write, sim: Simulator, run: Run, store: str) -> dict[str, bytes]:
    """pipelines/p.yaml applied with the store: four images; returns their bytes by name."""
    assert write() == PIPELINE
    applied = run("apply", PIPELINE, "--store", store)
    assert applied.code == 0, applied.text
    return images()


def images() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(SHOTS.iterdir())}


def paid(sim: Simulator) -> tuple[int, ...]:
    """Everything a provider could have been asked."""
    c: Counters = sim.counters
    return c.create_requests, c.creates, c.polls, c.downloads


def test_pull_never_contacts_a_provider_and_keeps_a_changed_file_unless_forced(
        generated: dict[str, bytes], sim: Simulator, run: Run, store: str) -> None:
    before = paid(sim)
    (SHOTS / "cup-2.png").unlink()
    (SHOTS / "cup-1.png").write_bytes(b"retouched by hand")

    pulled = run("pull", PIPELINE, "--store", store)

    assert (pulled.code, pulled.out.splitlines()) == (1, [
        f"Pulled 1 images from {store} (2 already here, verified).",
        "Not pulled (1):",
        "  assets/shots/cup-1.png: Not writing pipelines/../assets/shots/cup-1.png: a different "
        "file is there, and it is not overwritten unless asked (--force).",
        KEPT])
    assert images() == {**generated, "cup-1.png": b"retouched by hand"}

    forced = run("pull", PIPELINE, "--store", store, "--force")

    assert (forced.code, forced.out) == (
        0, f"Pulled 1 images from {store} (3 already here, verified).\n")
    assert images() == generated
    assert paid(sim) == before
    assert run("verify", PIPELINE).code == 0


@pytest.mark.parametrize("force", [(), ("--force",)], ids=["plain", "force"])
def test_pull_never_writes_through_a_symlink_planted_at_an_output(
        generated: dict[str, bytes], run: Run, store: str, tmp_path: Path,
        force: tuple[str, ...]) -> None:
    victim = tmp_path / "outside" / "victim.png"
    victim.parent.mkdir()
    victim.write_bytes(b"precious")
    (SHOTS / "lamp-2.png").unlink()
    (SHOTS / "lamp-2.png").symlink_to(victim)

    pulled = run("pull", PIPELINE, "--store", store, *force)

    assert (pulled.code, pulled.out.splitlines()) == (1, [
        f"Pulled 0 images from {store} (3 already here, verified).",
        "Not pulled (1):",
        "  assets/shots/lamp-2.png: Not writing pipelines/../assets/shots/lamp-2.png: it is a "
        "symlink, and seedflow never writes through one. Remove it and try again.",
        *([] if force else [KEPT])])
    assert victim.read_bytes() == b"precious"
    assert os.listdir(victim.parent) == ["victim.png"]
    assert (SHOTS / "lamp-2.png").is_symlink()


def test_pull_refuses_an_output_folder_planted_as_a_symlink(
        generated: dict[str, bytes], run: Run, store: str, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in generated:
        (SHOTS / name).unlink()
    SHOTS.rmdir()
    SHOTS.symlink_to(elsewhere)

    pulled = run("pull", PIPELINE, "--store", store, "--force")

    assert (pulled.code, pulled.out.splitlines()) == (1, [
        f"Pulled 0 images from {store} (0 already here, verified).",
        "Not pulled (4):",
        *(f"  assets/shots/{name}: ../assets/shots/{name} resolves outside output_dir "
          f"({elsewhere / name}); refusing to write" for name in generated)])
    assert list(elsewhere.iterdir()) == []


def test_push_and_pull_say_what_they_moved(write: Write, sim: Simulator, run: Run,
                                           store: str, tmp_path: Path) -> None:
    write()
    assert run("apply", PIPELINE).code == 0  # no store yet: push uploads what apply made
    generated = images()
    before = paid(sim)

    for moved, there in ((4, 0), (0, 4)):
        pushed = run("push", PIPELINE, "--store", store)
        assert (pushed.code, pushed.out) == (
            0, f"Pushed {moved} images to {store} ({there} already there).\n"), pushed.text
    for name in generated:
        (SHOTS / name).unlink()
    for moved, here in ((4, 0), (0, 4)):
        pulled = run("pull", PIPELINE, "--store", store)
        assert (pulled.code, pulled.out) == (
            0, f"Pulled {moved} images from {store} ({here} already here, verified).\n")
    assert images() == generated
    assert paid(sim) == before


def test_push_and_verify_list_an_image_neither_here_nor_in_the_store(
        write: Write, sim: Simulator, run: Run, tmp_path: Path) -> None:
    write()
    assert run("apply", PIPELINE).code == 0
    (SHOTS / "cup-1.png").unlink()
    store = str(tmp_path / "new-store")

    pushed = run("push", PIPELINE, "--store", store)

    assert (pushed.code, pushed.out.splitlines()) == (1, [
        f"Pushed 3 images to {store} (0 already there).",
        "Not pushed (1):",
        "  assets/shots/cup-1.png: not on this disk (or changed since it was generated) and "
        "not in the store: `seedflow apply` restores it from the provider's URL while that "
        "lasts"])
    verified = run("verify", PIPELINE, "--store", store)
    assert (verified.code, verified.out.splitlines()) == (1, [
        f"1 of 4 locked images are not in the store {store}:",
        "  missing  assets/shots/cup-1.png",
        "`seedflow push pipelines/p.yaml` uploads those that are on this disk."])


def test_pull_and_push_need_a_store(generated: dict[str, bytes], run: Run) -> None:
    for command in ("pull", "push"):
        result = run(command, PIPELINE)
        assert (result.code, result.out, result.err) == (1, "", (
            "error: pipelines/p.yaml names no store: add `store: URL` to it, or pass --store "
            "URL (or set SEEDFLOW_STORE); see docs/store.md\n"))
    verified = run("verify", PIPELINE, "--store")
    assert verified.code == 1 and "names no store" in verified.err


def test_verify_without_a_lockfile_fails(write: Write, run: Run, store: str) -> None:
    write()
    for args in ((), ("--store", store)):
        result = run("verify", PIPELINE, *args)
        assert (result.code, result.out, result.err) == (1, "", (
            "error: there is no lockfile at pipelines/p.lock, so there is nothing to verify: "
            "run `seedflow apply pipelines/p.yaml` first (or pass --lock)\n"))


# --- the pipeline's `store:` ----------------------------------------------------------------

STORE_PIPELINE = """
    version: 1
    provider: sim
    output_dir: out
    store: {store}
    assets:
      a:
        prompt: "a cup"
        output: "a.png"
    """
ABSOLUTE = ("a pipeline may name a local store only as a folder relative to its own folder "
            "(e.g. ../.seedflow-store); set another location with --store or SEEDFLOW_STORE")


def outside(store: str, real: Path, root: Path) -> str:
    return (f"store {store!r} resolves to {real}, outside the git repository {root}; a "
            "pipeline's local store must stay inside the project (or use --store / "
            "SEEDFLOW_STORE)")


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None
            for p in sorted(root.rglob("*")) if ".git" not in p.parts}


@pytest.mark.parametrize(("store", "absolute"), [
    ("/srv/seedflow-store", True),
    ("file:///srv/seedflow-store", True),
    ("FILE:///srv/seedflow-store", True),      # a scheme is case-insensitive
    ("' /srv/seedflow-store'", True),          # the store URL is read stripped
    ("~/seedflow-store", True),                # and with ~ expanded
    ("../../elsewhere", False),
    ("../../elsewhere://x", False),            # not a URL: a relative folder
    ("linked/store", False),                   # inside by name, outside in fact
])
def test_a_pipeline_store_outside_the_repository_is_refused(
        write_pipeline: WritePipeline, run: Run, tmp_path: Path, store: str, absolute: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "linked").symlink_to(tmp_path.parent)
    monkeypatch.setenv("HOME", str(tmp_path.parent / "home"))
    path = write_pipeline(STORE_PIPELINE.format(store=store))
    value = store.strip("'")
    if absolute:
        message = f"p.yaml:4:8: store {value!r}: {ABSOLUTE}"
    else:
        real = Path(os.path.realpath(tmp_path / value))
        message = f"p.yaml:4:8: {outside(value, real, tmp_path)}"
    before = snapshot(tmp_path)

    validated = run("validate", path)
    assert (validated.code, validated.err) == (
        1, f"{message}\n1 of 1 pipeline files are invalid.\n")
    for command in (["plan"], ["apply", "--yes"], ["pull"], ["push"], ["verify", "--store"]):
        result = run(command[0], path, *command[1:])
        assert (result.code, result.out, result.err) == (1, "", f"error: {message}\n")
    assert snapshot(tmp_path) == before
    assert not parse_store_url(value, base=tmp_path).folder.exists()   # where it would be


def test_a_pipeline_store_inside_the_repository_is_used(
        write_pipeline: WritePipeline, run: Run, tmp_path: Path, sim: Simulator) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    path = write_pipeline(STORE_PIPELINE.format(store=".seedflow-store"))

    assert run("validate", path).code == 0
    applied = run("apply", path, "--yes")

    assert applied.code == 0, applied.text
    assert applied.out.splitlines()[1:] == [f"Store {tmp_path / '.seedflow-store'}: 1 images "
                                            "uploaded."]
    (image,) = [i for e in read_lock(Path("p.lock")).entries.values() for i in e.images]
    stored = tmp_path / ".seedflow-store" / "sha256" / image.sha256[:2] / image.sha256[2:]
    assert stored.read_bytes() == (tmp_path / "out" / "a.png").read_bytes()
