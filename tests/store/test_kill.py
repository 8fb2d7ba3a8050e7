"""``kill -9`` in the middle of uploads leaves no partial object under a content key: every
object the store holds afterwards is whole and verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from environment import scrubbed
from s3server import S3Server
from storekit import image, run, s3_store

from seedflow.store import ObjectStore, Outcome

UPLOADER = """
import asyncio, sys
from pathlib import Path
from seedflow.store import ObjectStore, StoreOptions

async def main() -> None:
    store = ObjectStore.open(sys.argv[1], options=StoreOptions(max_retries=0))
    for arg in sys.argv[2:]:
        path, sha = arg.split("=")
        print("START", sha, flush=True)
        await store.put_file(Path(path), sha)
        print("DONE", sha, flush=True)

asyncio.run(main())
"""
MiB = 1 << 20


def start_uploader(store: ObjectStore, files: list[tuple[Path, str]]) -> subprocess.Popen[str]:
    env = {**scrubbed(os.environ), **{k: v for k, v in os.environ.items()
                                      if k.startswith("AWS_")}}
    args = [f"{path}={sha}" for path, sha in files]
    return subprocess.Popen([sys.executable, "-c", UPLOADER, store.url, *args],
                            stdout=subprocess.PIPE, text=True, env=env)


def wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def assert_whole_or_absent(store: ObjectStore, files: list[tuple[Path, str]],
                           out: Path) -> int:
    """Every object is absent or downloads and verifies; returns how many are whole."""
    whole = 0
    for path, sha in files:
        if run(store.has(sha)):
            dest = out / path.name
            assert run(store.get_file(sha, dest)) is Outcome.TRANSFERRED
            assert dest.read_bytes() == path.read_bytes()
            whole += 1
    return whole


def test_kill_mid_body_leaves_no_object(moto: S3Server, monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    store = s3_store(moto, monkeypatch)
    path, sha = image(tmp_path, "big.png", size=24 * MiB, seed=1)
    moto.set_body_rate(8 * MiB)  # the upload takes about 3 s: the kill lands mid-body
    moto.reset_stats()
    child = start_uploader(store, [(path, sha)])
    try:
        wait_for(lambda: moto.stats()["body_bytes"] > 2 * MiB)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert moto.stats()["body_bytes"] < 24 * MiB
    wait_for(lambda: moto.stats()["inflight"] == 0)  # the server has given up on the request
    moto.set_body_rate(0)
    assert run(store.has(sha)) is False
    assert run(store.put_file(path, sha)) is Outcome.TRANSFERRED  # and a retry works


@pytest.mark.parametrize("at", [0, 2])
def test_kill_at_an_upload_leaves_objects_whole_or_absent(
        durable_store: ObjectStore, durable_backend: str, tmp_path: Path, at: int) -> None:
    store = durable_store  # a memory store dies with its process: nothing to check after a kill
    files = [image(tmp_path / "src", f"{i}.png", size=4 * MiB, seed=i) for i in range(4)]
    run(store.check_writable())
    child = start_uploader(store, files)
    assert child.stdout is not None
    for _ in range(2 * at + 1):  # START 0, DONE 0, START 1, …, START at
        child.stdout.readline()
    child.send_signal(signal.SIGKILL)
    child.wait()
    whole = assert_whole_or_absent(store, files, tmp_path / "out")
    assert at <= whole <= at + 1  # those done are whole; the one killed is whole or absent
    if durable_backend == "folder":  # no partial file under a content key (staging files end in #n)
        named = [p.name for p in Path(store.url).rglob("*") if p.is_file()]
        assert all("#" in name or len(name) == 62 for name in named)
