"""Batch push and pull: bounded concurrency, one callback event per item, failures collected."""

from __future__ import annotations

from pathlib import Path

import pytest
from s3server import S3Server
from storekit import image, run, s3_store

from seedflow.store import (
    ObjectCorrupt,
    ObjectMissing,
    ObjectStore,
    Outcome,
    Result,
    StoreOptions,
    Transfer,
    pull,
    push,
)


class Recorder:
    """A TransferCallback that checks the contract: one ``finished`` per item, ``started``
    before it, and no more than ``limit`` in flight."""

    def __init__(self) -> None:
        self.started_items: list[Transfer] = []
        self.results: list[Result] = []
        self.inflight = 0
        self.max_inflight = 0

    def started(self, transfer: Transfer) -> None:
        self.started_items.append(transfer)
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)

    def finished(self, result: Result) -> None:
        if result.transfer in self.started_items:
            self.inflight -= 1
        self.results.append(result)

    def outcomes(self) -> dict[str, Outcome]:
        return {r.transfer.path.name: r.outcome for r in self.results}


def test_push_then_pull_everything(store: ObjectStore, tmp_path: Path) -> None:
    files = [image(tmp_path / "src", f"{i}.png", size=2000 + i) for i in range(30)]
    run(store.put_file(*files[0]))  # already there: no upload
    hook = Recorder()
    report = run(push(store, [Transfer(sha, path) for path, sha in files], callback=hook))
    assert (report.transferred, report.present, report.failures, report.ok) == (29, 1, [], True)
    assert len(hook.results) == 30 and hook.outcomes()["0.png"] is Outcome.PRESENT
    assert 0 < hook.max_inflight <= store.options.concurrency

    out = tmp_path / "out"
    items = [Transfer(sha, out / path.name, path.stat().st_size) for path, sha in files]
    (out).mkdir()
    (out / "1.png").write_bytes((tmp_path / "src" / "1.png").read_bytes())  # intact already
    hook = Recorder()
    report = run(pull(store, items, callback=hook))
    assert (report.transferred, report.present, report.ok) == (29, 1, True)
    assert all((out / p.name).read_bytes() == p.read_bytes() for p, _ in files)
    assert len(hook.results) == 30 and hook.inflight == 0


def test_failures_are_collected_not_raised(store: ObjectStore, tmp_path: Path) -> None:
    good = [image(tmp_path, f"{i}.png", size=500) for i in range(5)]
    changed, changed_sha = image(tmp_path, "changed.png", size=500)
    changed.write_bytes(b"edited after it was recorded")
    items = [Transfer(sha, path) for path, sha in good] + [Transfer(changed_sha, changed)]
    report = run(push(store, items))
    assert report.transferred == 5 and report.aborted is None
    [failure] = report.failures
    assert failure.transfer.path == changed and isinstance(failure.error, ObjectCorrupt)

    _, absent = image(tmp_path, "never-pushed.png")
    pulls = [Transfer(sha, tmp_path / "out" / path.name) for path, sha in good]
    report = run(pull(store, [*pulls, Transfer(absent, tmp_path / "out" / "x.png")]))
    assert report.transferred == 5 and report.aborted is None
    [failure] = report.failures
    assert isinstance(failure.error, ObjectMissing)


def test_push_sends_each_digest_once(store: ObjectStore, tmp_path: Path) -> None:
    path, sha = image(tmp_path, "a.png")
    copy = tmp_path / "b.png"
    copy.write_bytes(path.read_bytes())
    report = run(push(store, [Transfer(sha, path), Transfer(sha, copy)]))
    assert (report.transferred, report.present) == (1, 0)


@pytest.mark.parametrize("limit", [1, 4])
def test_concurrency_is_bounded_at_the_server(moto: S3Server, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path, limit: int) -> None:
    store = s3_store(moto, monkeypatch, StoreOptions(concurrency=limit, max_retries=1))
    files = [image(tmp_path, f"{i}.png", size=1000) for i in range(12)]
    moto.set_latency(0.03)  # every request takes a while: overlapping ones are seen
    moto.reset_stats()
    report = run(push(store, [Transfer(sha, path) for path, sha in files]))
    assert report.transferred == 12
    stats = moto.stats()
    assert stats["requests"]["PUT"] == 12
    assert stats["max_inflight"] == limit  # reached, never passed
    moto.reset_stats()
    hook = Recorder()
    run(pull(store, [Transfer(sha, tmp_path / "out" / p.name) for p, sha in files],
             callback=hook))
    assert moto.stats()["max_inflight"] == limit == hook.max_inflight


def test_an_object_already_in_the_store_is_not_sent(moto: S3Server,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    store = s3_store(moto, monkeypatch)
    path, sha = image(tmp_path, "a.png", size=100_000)
    run(store.put_file(path, sha))
    moto.reset_stats()
    assert run(store.put_file(path, sha)) is Outcome.PRESENT
    report = run(push(store, [Transfer(sha, path)]))
    assert report.present == 1
    stats = moto.stats()
    assert "PUT" not in stats["requests"] and stats["body_bytes"] == 0


def test_a_damaged_digest_is_one_failure(store: ObjectStore, tmp_path: Path) -> None:
    path, sha = image(tmp_path, "a.png")
    hook = Recorder()
    items = [Transfer("../../etc/passwd", path), Transfer(sha, path)]
    report = run(push(store, items, callback=hook))
    assert report.transferred == 1 and len(hook.results) == 2
    [failure] = report.failures
    assert failure.error is not None and failure.error.message == (
        f"{path}: '../../etc/passwd' is not a sha256 digest; the lock entry is damaged.")
    report = run(pull(store, [Transfer("nope", tmp_path / "x.png")]))
    assert len(report.failures) == 1 and not (tmp_path / "x.png").exists()
