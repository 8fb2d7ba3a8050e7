"""A store that does not work is a clear error naming the store and what to do, and never shows
a secret: wrong credentials, a missing bucket, an unreachable endpoint, a missing folder."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from s3server import S3Server, closed_port
from storekit import FAST, bucket_name, image, run, s3_store

from seedflow.errors import SeedflowError
from seedflow.store import (
    ObjectStore,
    StoreConfigError,
    StoreCredentialsError,
    StoreError,
    StoreMissingBucket,
    StoreUnreachable,
    Transfer,
    pull,
    push,
)

CANARY_KEY = "AKIACANARY7F3A9Q2ZX1"
CANARY_SECRET = "canary-secret-7f3a9q2zx1-DO-NOT-PRINT"
CANARY_TOKEN = "canary-session-token-5k8w1m"
CREDENTIALS = "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for " \
              "temporary credentials), or the role the runner assumes."


@pytest.fixture
def canary_env(moto: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in moto.env(CANARY_KEY, CANARY_SECRET).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_SESSION_TOKEN", CANARY_TOKEN)


def assert_no_secret(error: BaseException, caplog: pytest.LogCaptureFixture,
                     capsys: pytest.CaptureFixture[str]) -> None:
    shown = "\n".join([str(error), repr(error), getattr(error, "url", ""), caplog.text,
                       *capsys.readouterr()])
    for secret in (CANARY_SECRET, CANARY_TOKEN, CANARY_KEY):
        assert secret not in shown
    assert error.__cause__ is None and error.__suppress_context__  # no chained library text


def failure(coro: object) -> StoreError:
    with pytest.raises(StoreError) as caught:
        run(coro)  # type: ignore[arg-type]
    assert isinstance(caught.value, SeedflowError)
    return caught.value


@pytest.mark.usefixtures("canary_env")
def test_wrong_credentials(moto: S3Server, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                           capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    bucket = bucket_name()
    moto.create_bucket(bucket)
    store = ObjectStore.open(f"s3://{bucket}/img", options=FAST)
    moto.require_auth(True)
    error = failure(store.check_writable())
    assert isinstance(error, StoreCredentialsError)
    assert error.message == (f"The store s3://{bucket}/img refused the credentials "
                             f"(InvalidAccessKeyId): {CREDENTIALS}")
    assert_no_secret(error, caplog, capsys)
    for op in (store.check_readable(), store.has(image(tmp_path, "a.png")[1])):
        assert_no_secret(failure(op), caplog, capsys)
    assert CANARY_SECRET not in repr(store) and CANARY_SECRET not in store.url


@pytest.mark.usefixtures("canary_env")
def test_missing_bucket(caplog: pytest.LogCaptureFixture,
                        capsys: pytest.CaptureFixture[str]) -> None:
    store = ObjectStore.open("s3://no-such-bucket/img", options=FAST)
    for check in (store.check_writable(), store.check_readable()):
        error = failure(check)
        assert isinstance(error, StoreMissingBucket)
        assert error.message == ("The store s3://no-such-bucket/img: the bucket "
                                 "'no-such-bucket' does not exist. Create it (see docs/store.md) "
                                 "or fix the store URL.")
        assert_no_secret(error, caplog, capsys)


def test_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                              capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    for name, value in {"AWS_ACCESS_KEY_ID": CANARY_KEY, "AWS_SECRET_ACCESS_KEY": CANARY_SECRET,
                        "AWS_REGION": "us-east-1",
                        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}.items():
        monkeypatch.setenv(name, value)
    store = ObjectStore.open("s3://images/img", options=FAST)
    for check in (store.check_writable(), store.check_readable()):
        error = failure(check)
        assert isinstance(error, StoreUnreachable)
        assert error.message == (f"Cannot reach the store s3://images/img at "
                                 f"http://127.0.0.1:{port}: check the network and the endpoint "
                                 "(AWS_ENDPOINT_URL), then try again.")
        assert_no_secret(error, caplog, capsys)


def test_an_endpoint_with_user_info_is_shown_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CANARY_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY_SECRET)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://user:{CANARY_SECRET}@127.0.0.1:{port}")
    store = ObjectStore.open("s3://images", options=FAST)
    assert store.endpoint == f"http://127.0.0.1:{port}"
    error = failure(store.check_writable())
    assert CANARY_SECRET not in str(error)


def test_a_store_wide_failure_stops_a_batch_and_reports_every_item_once(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    store = ObjectStore.open("s3://images", options=FAST)
    items = [Transfer(sha, path) for path, sha in
             (image(tmp_path, f"{i}.png", size=10) for i in range(20))]
    finished: list[Transfer] = []

    class Hook:
        def started(self, t: Transfer) -> None:
            pass

        def finished(self, result: object) -> None:
            finished.append(result.transfer)  # type: ignore[attr-defined]

    for batch in (push(store, items, callback=Hook()),
                  pull(store, [Transfer(t.sha256, tmp_path / "out" / t.path.name)
                               for t in items], callback=Hook())):
        finished.clear()
        report = run(batch)
        assert isinstance(report.aborted, StoreUnreachable)
        assert not report.ok and report.transferred == 0
        assert len(finished) == len(items) and len(set(finished)) == len(items)
        assert report.skipped + len(report.failures) == len(items)
        assert report.skipped >= len(items) - FAST.concurrency


def test_a_missing_store_folder(tmp_path: Path) -> None:
    store = ObjectStore.open(str(tmp_path / "nope"), options=FAST)
    error = failure(store.check_readable())
    assert isinstance(error, StoreMissingBucket)
    assert error.message == (f"The store folder {tmp_path / 'nope'} does not exist: create it, "
                             "or push to it first.")
    assert run(store.has_many([image(tmp_path, "a.png")[1]])) == set()
    run(store.check_writable())  # creates it
    run(store.check_readable())


def test_a_store_folder_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    error = failure(ObjectStore.open(str(tmp_path / "file"), options=FAST).check_writable())
    assert error.message.startswith(f"Creating the store folder {tmp_path / 'file'}")


def test_https_is_required_unless_the_endpoint_says_http(
        moto: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    store = s3_store(moto, monkeypatch)  # AWS_ENDPOINT_URL=http://127.0.0.1:…: plain http ok
    run(store.check_writable())
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint.replace("http://", "https://"))
    error = failure(ObjectStore(store.location, FAST).check_writable())
    assert not isinstance(error, StoreConfigError | StoreCredentialsError)
