"""apply, plan, pull, push and verify with a store, end to end (issue 9's "Done when").

Everything runs over real loopback HTTP: the provider is the simulator (behind the ``apikley``
provider, whose result URLs are not rewritten to a new simulator), the store is moto's S3
server (tests/s3server.py) or a local folder. The stories: a fresh runner with only the
pipeline and the lock gets every image back without paying; kill -9 during uploads; a store that
becomes unreachable after apply checked it; wrong credentials and a missing bucket refused
before anything is paid, without a secret anywhere; a relink whose old file only the store has;
a restore the store cannot serve (provider URL, then "lost").
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from applykit import (
    Project,
    Run,
    events,
    reported,
    run_subprocess,
    start_subprocess,
    tasks_by_address,
    wait_for,
)
from s3server import S3Server
from storekit import bucket_name

from seedflow.apply.keeping import UPLOADS_AT_ONCE
from seedflow.lock.journal import journal_path
from seedflow.sim import Fault, Simulator
from seedflow.store import ObjectStore

UNCHANGED_6 = "0 to create, 0 to resume, 0 to restore, 0 to relink, 0 orphaned, " \
              "6 unchanged."
CREDENTIALS = "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for " \
              "temporary credentials), or the role the runner assumes."
CANARY_KEY = "AKIACANARY4Q7W2E9R1T"
CANARY_SECRET = "canary-store-secret-3b8d1f6a-NEVER-PRINT"


@dataclass(frozen=True)
class Where:
    """How a test names the store, and how seedflow shows it."""

    url: str                                   # as seedflow prints it
    args: tuple[str, ...] = ()                 # added to every command (``--store URL``)
    env: dict[str, str] = field(default_factory=dict)
    line: str | None = None                    # a ``store:`` line for the pipeline

    def into(self, project: Project) -> None:
        if self.line:
            text = project.pipeline.read_text(encoding="utf-8")
            project.pipeline.write_text(text.replace("output_dir: out\n",
                                                     f"output_dir: out\n{self.line}\n"),
                                        encoding="utf-8")

    @property
    def verify_args(self) -> tuple[str, ...]:
        """``verify --store URL``, or bare ``--store`` (the configured store)."""
        return self.args or ("--store",)


def s3_bucket(server: S3Server) -> str:
    bucket = bucket_name()
    server.create_bucket(bucket)
    return f"s3://{bucket}/images"


@pytest.fixture(params=["s3 --store", "s3 store:", "folder --store", "folder SEEDFLOW_STORE",
                        "folder store:"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    """The store, named each way seedflow reads one (flag, environment, pipeline)."""
    kind, named = str(request.param).split()
    if kind == "s3":
        server: S3Server = request.getfixturevalue("moto")
        url = s3_bucket(server)
        if named == "--store":
            return Where(url, ("--store", url), server.env())
        return Where(url, (), server.env(), f"store: {url}")
    folder = str(tmp_path / "store")
    if named == "--store":
        return Where(folder, ("--store", folder))
    if named == "SEEDFLOW_STORE":
        return Where(folder, (), {"SEEDFLOW_STORE": folder})
    # relative to the pipeline's folder: the same folder from the project and from the runner
    return Where(folder, (), {}, "store: ../store")


def images_of(root: Path) -> dict[str, bytes]:
    """Every PNG under ``root``, by path relative to it."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def files_in(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def fresh_runner(project: Project, folder: Path) -> Path:
    """A new checkout: the pipeline and the lock, nothing else."""
    folder.mkdir()
    shutil.copy(project.pipeline, folder / "p.yaml")
    shutil.copy(project.lock, folder / "p.lock")
    return folder


def held(url: str, project: Project) -> set[str]:
    """The locked images' digests the store holds (AWS_* come from the test's environment)."""
    digests = {i.sha256 for e in project.entries().values() for i in e.images}
    return asyncio.run(ObjectStore.open(url).has_many(digests))


def test_a_fresh_runner_gets_every_image_back_without_paying(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project, seedflow: Run,
        where: Where, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env(sim, **where.env)
    project.write()
    where.into(project)
    applied = seedflow("apply", "p.yaml", "--yes", *where.args)
    assert applied.code == 0, applied.text
    assert applied.out.splitlines()[1:] == [f"Store {where.url}: 6 images uploaded."]
    originals = images_of(project.root)
    assert len(originals) == 6
    sim.stop()  # the provider is gone, and with it every result URL the lock records

    runner = fresh_runner(project, tmp_path / "runner")
    monkeypatch.chdir(runner)

    plan = seedflow("plan", "p.yaml", "--detailed-exitcode", *where.args)
    assert (plan.code, plan.out) == (0, (
        "Pipeline p.yaml · lock p.lock\n"
        "\n"
        "No changes. Every combination is generated and its files are in place or in the "
        "store.\n"
        "\n"
        "Note: 6 images are in the store but not on this disk: `seedflow pull p.yaml`.\n"
        f"Plan: {UNCHANGED_6}\n")), plan.text

    again = seedflow("apply", "p.yaml", "--yes", *where.args)
    assert (again.code, again.out) == (0, f"Nothing to do. Plan: {UNCHANGED_6}\nNote: 6 images "
                                          "are in the store but not on this disk: `seedflow "
                                          "pull p.yaml`.\n"), again.text
    assert files_in(runner) == ["p.lock", "p.yaml"]  # nothing downloaded, nothing written

    pulled = seedflow("pull", "p.yaml", *where.args)
    assert (pulled.code, pulled.out) == (
        0, f"Pulled 6 images from {where.url} (0 already here, verified).\n"), pulled.text
    assert images_of(runner) == originals
    pulled = seedflow("pull", "p.yaml", *where.args)
    assert (pulled.code, pulled.out) == (
        0, f"Pulled 0 images from {where.url} (6 already here, verified).\n"), pulled.text

    verified = seedflow("verify", "p.yaml")
    assert (verified.code, verified.out) == (0, "Verified 6 files: every locked output is "
                                                "present and matches its sha256 (p.lock).\n")
    verified = seedflow("verify", "p.yaml", *where.verify_args)
    assert (verified.code, verified.out) == (0, f"Verified 6 images: the store {where.url} "
                                                "holds every locked image (p.lock).\n")
    plan = seedflow("plan", "p.yaml", "--detailed-exitcode", "--check-hashes", *where.args)
    assert plan.code == 0 and "Note:" not in plan.out, plan.text
    counters = sim.counters
    assert (counters.creates, counters.create_requests, counters.downloads) == (6, 6, 6)


def uploads(server: S3Server) -> int:
    """Uploads begun (object PUTs: the writability probe is the first PUT)."""
    return max(0, int(server.stats()["requests"].get("PUT", 0)) - 1)


def test_kill_during_uploads_pays_nothing_twice_and_push_completes_the_store(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project, seedflow: Run,
        moto: S3Server) -> None:
    """SIGKILL while the uploads are slowed mid-body: apply again and push, and every image
    is on disk, in the lock, once paid, and in the store, whole."""
    url = s3_bucket(moto)
    variables = env(sim, **moto.env())
    addresses = project.write(things=("mug", "lamp", "vase"), seeds=(1, 2, 3, 4))
    images = len(addresses)
    assert images > UPLOADS_AT_ONCE
    moto.set_body_rate(5000)  # an image (about 12 kB) takes over 2 s to upload
    moto.reset_stats()

    proc = start_subprocess(project.root, ["apply", "p.yaml", "--yes", "--store", url],
                            variables)
    try:
        wait_for(lambda: proc.poll() is not None or (
            sim.counters.downloads >= images and uploads(moto) >= UPLOADS_AT_ONCE
            and moto.stats()["body_bytes"] > 2000),
            what="every image downloaded and uploads under way")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL, err
    assert moto.stats()["inflight"] > 0            # killed mid-upload ...
    assert UPLOADS_AT_ONCE <= uploads(moto) < images   # ... with some uploads not yet begun
    moto.set_body_rate(0)
    wait_for(lambda: moto.stats()["inflight"] == 0, what="the server to finish the dead "
             "client's requests")
    assert len(held(url, project)) < images

    again = seedflow("apply", "p.yaml", "--yes", "--store", url)
    assert again.code == 0, again.text
    assert sim.counters.creates == images
    assert set(tasks_by_address(sim, project).values()) == {1}
    project.assert_intact(addresses)
    assert not journal_path(project.lock).exists()

    there = held(url, project)
    pushed = seedflow("push", "p.yaml", "--store", url)
    assert (pushed.code, pushed.out) == (0, f"Pushed {images - len(there)} images to {url} "
                                            f"({len(there)} already there).\n"), pushed.text
    verified = seedflow("verify", "p.yaml", "--store", url)
    assert (verified.code, verified.out) == (0, f"Verified {images} images: the store {url} "
                                                "holds every locked image (p.lock).\n")
    originals = images_of(project.root)
    shutil.rmtree(project.out)  # every object whole: pull them all back and compare
    pulled = seedflow("pull", "p.yaml", "--store", url)
    assert (pulled.code, pulled.out) == (
        0, f"Pulled {images} images from {url} (0 already here, verified).\n"), pulled.text
    assert images_of(project.root) == originals
    assert sim.counters.creates == images


def test_a_store_unreachable_mid_run_loses_nothing_and_push_catches_up(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project, seedflow: Run,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The store answers apply's check, then goes away: every paid image is still recorded
    and on disk, the summary lists what was not uploaded, exit 1; push uploads it later."""
    bucket = bucket_name()
    url = f"s3://{bucket}/images"
    with S3Server() as outage:
        outage.create_bucket(bucket)
        env(sim, **outage.env())
        checked = ObjectStore.check_writable

        async def then_unreachable(store: ObjectStore) -> None:
            await checked(store)
            outage.stop()

        monkeypatch.setattr(ObjectStore, "check_writable", then_unreachable)
        addresses = project.write()
        applied = seedflow("apply", "p.yaml", "--yes", "--store", url)
        monkeypatch.setattr(ObjectStore, "check_writable", checked)

    assert applied.code == 1, applied.text
    head, *rows = applied.out.splitlines()
    assert head.startswith("Applied in ")
    done, created = head.split("; ")   # how many polls depends on timing (the scouts probe)
    assert done.endswith(": 6 done, 0 failed, 0 uncertain, 0 not started")
    assert created.startswith("6 tasks created, ") and created.endswith(" polls.")
    unreachable = (f"Cannot reach the store {url} at {outage.endpoint}: check the network "
                   "and the endpoint (AWS_ENDPOINT_URL), then try again.")
    assert rows[:2] == [
        f"Store {url}: 0 images uploaded.",
        "Not uploaded to the store (6; the images are on disk and in the lock, nothing is "
        "lost; `seedflow push p.yaml` uploads them):"]
    assert sorted(rows[2:]) == sorted(f"  {a}: {unreachable}" for a in addresses)
    assert sorted(events(applied.err, "done")) == sorted(addresses)
    project.assert_intact(addresses)
    assert sim.counters.creates == 6

    with S3Server() as back:  # the store is back (an empty bucket: nothing had arrived)
        back.create_bucket(bucket)
        env(sim, **back.env())
        pushed = seedflow("push", "p.yaml", "--store", url)
        assert (pushed.code, pushed.out) == (
            0, f"Pushed 6 images to {url} (0 already there).\n"), pushed.text
        verified = seedflow("verify", "p.yaml", "--store", url)
        assert (verified.code, verified.out) == (0, f"Verified 6 images: the store {url} holds "
                                                    "every locked image (p.lock).\n")
        again = seedflow("apply", "p.yaml", "--yes", "--store", url)
        assert (again.code, again.out) == (0, f"Nothing to do. Plan: {UNCHANGED_6}\n")
    assert sim.counters.creates == 6


def files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.parametrize("broken", ["wrong credentials", "missing bucket"])
def test_a_broken_store_is_refused_before_anything_is_paid(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project, seedflow: Run,
        moto: S3Server, tmp_path: Path, broken: str) -> None:
    if broken == "wrong credentials":
        url = s3_bucket(moto)
        variables = env(sim, **moto.env(CANARY_KEY, CANARY_SECRET),
                        AWS_SESSION_TOKEN=CANARY_SECRET + "-token")
        moto.require_auth(True)
        message = f"The store {url} refused the credentials (InvalidAccessKeyId): {CREDENTIALS}"
    else:
        bucket = bucket_name()  # never created
        url = f"s3://{bucket}/images"
        variables = env(sim, **moto.env(secret_key=CANARY_SECRET))
        message = (f"The store {url}: the bucket '{bucket}' does not exist. Create it (see "
                   "docs/store.md) or fix the store URL.")
    project.write()

    # a subprocess: anything the storage library wrote to the terminal would show here too
    applied = run_subprocess(project.root, ["apply", "p.yaml", "--yes", "--store", url],
                             variables)

    assert (applied.returncode, applied.stdout, applied.stderr) == (1, "", f"error: {message}\n")
    counters = sim.counters
    assert (counters.create_requests, counters.creates) == (0, 0)
    assert files_in(project.root) == ["p.yaml"]  # no lock, no journal, no image
    assert not project.crash_log.exists()
    outputs = [applied.stdout, applied.stderr]
    for command in (["pull", "p.yaml"], ["push", "p.yaml"]):
        refused = seedflow(*command, "--store", url)
        assert (refused.code, refused.out, refused.err) == (1, "", f"error: {message}\n")
        outputs.append(refused.text)
    for secret in (CANARY_SECRET, CANARY_KEY):
        assert not any(secret in text for text in outputs)
        assert files_holding(tmp_path, secret) == []


def renamed(address: str) -> str:
    """Where Project.write(folder="renamed") puts an address's image."""
    match = re.fullmatch(r"shots\[thing=(\w+), seed=(\d+)\]", address)
    assert match, address
    return f"out/renamed/{match[1]}-s{match[2]}.png"


def test_a_relink_whose_old_file_only_the_store_has_changes_only_the_lock(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project, seedflow: Run,
        tmp_path: Path) -> None:
    env(sim)
    store = str(tmp_path / "store")
    project.write()
    assert seedflow("apply", "p.yaml", "--yes", "--store", store).code == 0
    originals = {Path(name).name: data for name, data in images_of(project.root).items()}
    shutil.rmtree(project.out)          # a fresh checkout, say
    addresses = project.write(folder="renamed")   # and the outputs move
    sim.stop()                          # no provider, no result URL

    plan = seedflow("plan", "p.yaml", "--detailed-exitcode", "--store", store)
    moves = [line for a in addresses for line in (
        f"  → relink   {a}", f"      {renamed(a)}  (in the store: only the lock changes)")]
    assert (plan.code, plan.out.splitlines()) == (2, [
        "Pipeline p.yaml · lock p.lock", "", *moves,
        "Plan: 0 to create, 0 to resume, 0 to restore, 6 to relink, 0 orphaned, "
        "0 unchanged."]), plan.text

    applied = seedflow("apply", "p.yaml", "--yes", "--store", store)
    assert applied.code == 0, applied.text
    assert applied.out.splitlines()[1:] == [f"Store {store}: 0 images uploaded."]
    assert sorted(events(applied.err, "relinked")) == sorted(addresses)
    assert not project.out.exists()     # nothing downloaded, nothing copied
    assert {a: [i.path for i in e.images] for a, e in project.entries().items()} == {
        a: [renamed(a)] for a in addresses}
    plan = seedflow("plan", "p.yaml", "--detailed-exitcode", "--store", store)
    assert plan.code == 0, plan.text

    pulled = seedflow("pull", "p.yaml", "--store", store)
    assert (pulled.code, pulled.out) == (
        0, f"Pulled 6 images from {store} (0 already here, verified).\n"), pulled.text
    assert {Path(n).name: d for n, d in images_of(project.root).items()} == originals
    assert sorted(images_of(project.root)) == sorted(renamed(a) for a in addresses)
    assert seedflow("verify", "p.yaml").code == 0
    assert sim.counters.creates == 6


def test_a_restore_goes_store_then_provider_url_then_lost(
        sim: Simulator, env: Callable[..., dict[str, str]], project: Project, seedflow: Run,
        tmp_path: Path) -> None:
    """The store lacks one image (say it was never pushed): that one comes from the provider's
    result URL, and is uploaded; once the URL has expired too, it is lost, and said so."""
    env(sim)
    store = tmp_path / "store"
    addresses = project.write()
    assert seedflow("apply", "p.yaml", "--yes", "--store", str(store)).code == 0
    originals = images_of(project.root)
    entry = project.entries()["shots[thing=mug, seed=1]"]
    (image,) = entry.images

    def forget() -> None:   # neither on this disk nor in the store
        shutil.rmtree(project.out)
        (store / "sha256" / image.sha256[:2] / image.sha256[2:]).unlink()

    forget()
    plan = seedflow("plan", "p.yaml", "--store", str(store))
    assert [line for line in plan.out.splitlines() if line.startswith(("  ", "Note"))] == [
        "  ↻ restore  shots[thing=mug, seed=1]",
        "      out/shots/mug-s1.png  (download)",
        "Note: 5 images are in the store but not on this disk: `seedflow pull p.yaml`."]
    downloads = sim.counters.downloads
    applied = seedflow("apply", "p.yaml", "--yes", "--store", str(store))
    assert applied.code == 0, applied.text
    assert applied.out.splitlines()[1:] == [f"Store {store}: 1 images uploaded."]
    assert sim.counters.downloads == downloads + 1          # from the provider's URL
    assert images_of(project.root) == {image.path: originals[image.path]}
    assert seedflow("verify", "p.yaml", "--store", str(store)).code == 0

    forget()
    sim.inject(Fault.DOWNLOAD_404, times=10, endpoint="download")   # the URL has expired
    applied = seedflow("apply", "p.yaml", "--yes", "--store", str(store))
    assert applied.code == 1, applied.text
    ((address, reason),) = reported(applied.out, addresses).items()
    assert (address, reason[0]) == (entry.address, "failed")
    assert reason[1].endswith(". Providers keep results for about 24 hours; only a new paid "
                              "create can bring this image back: run apply with "
                              "--recreate-expired")
    assert project.entries()[entry.address] == entry          # the lock still has it
    assert sim.counters.creates == 6
