"""Fixtures for the GitHub Action's tests: a loopback GitHub REST server (githubapi.py), the
in-process CLI and a fast embedded simulator (tests/corekit.py, tests/reviewkit.py)."""

from collections.abc import Iterator

import pytest
from corekit import _isolated, run
from githubapi import FakeGitHub, serve
from reviewkit import workdir, write

__all__ = ["_isolated", "github", "run", "workdir", "write"]


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    yield from serve(FakeGitHub())
