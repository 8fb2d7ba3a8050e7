"""Stores to test against: every test that takes ``store`` runs once per backend.

- ``folder``: a local folder (obstore's LocalStore),
- ``memory``: obstore's in-process MemoryStore,
- ``s3-moto``: a real S3 server over HTTP (moto's, in a child process, see tests/s3server.py),
- ``s3-minio``: MinIO over HTTP, only where a ``minio`` binary is installed (neither Debian nor
  PyPI ships one, so on this project's machines the S3 protocol is exercised through moto).

The S3 stores get their credentials and endpoint the way users do: AWS_* environment variables.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from s3server import MinioServer
from storekit import FAST, s3_store

from seedflow.store import ObjectStore

BACKENDS = ["folder", "memory", "s3-moto", *(["s3-minio"] if MinioServer.available() else [])]
DURABLE = [b for b in BACKENDS if b != "memory"]   # outlive the process that wrote them


@pytest.fixture(scope="session")
def minio_server() -> Iterator[MinioServer]:
    if not MinioServer.available():
        pytest.skip("no minio binary installed")
    with MinioServer() as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=DURABLE)
def durable_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          request: pytest.FixtureRequest) -> ObjectStore:
    return open_backend(backend, tmp_path, monkeypatch, request)


@pytest.fixture
def durable_store(durable_backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  request: pytest.FixtureRequest) -> ObjectStore:
    return open_backend(durable_backend, tmp_path, monkeypatch, request)


def open_backend(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 request: pytest.FixtureRequest) -> ObjectStore:
    if backend == "folder":
        return ObjectStore.open(str(tmp_path / "store"), options=FAST)
    if backend == "memory":
        return ObjectStore.open("memory://", options=FAST)
    server = request.getfixturevalue("s3_server" if backend == "s3-moto" else "minio_server")
    return s3_store(server, monkeypatch)
