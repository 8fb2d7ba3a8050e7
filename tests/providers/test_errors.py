"""The error table and ``Retry-After`` / ``X-RateLimit-Reset`` interpretation."""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest

from seedflow.errors import SeedflowError
from seedflow.providers.errors import (
    Ambiguous,
    AuthFailed,
    GenerationFailed,
    OutOfCredits,
    ProviderError,
    RequestRejected,
    RetryLater,
    StopAll,
    TaskNotFound,
    error_class,
    parse_retry_after,
)

NOW = 1_800_000_000.0


def wait(**headers: str) -> float | None:
    return parse_retry_after(httpx.Headers(headers), now=NOW)


def test_every_provider_error_is_a_seedflow_error() -> None:
    for cls in (RetryLater, RequestRejected, StopAll, AuthFailed, OutOfCredits,
                GenerationFailed, Ambiguous, TaskNotFound):
        assert issubclass(cls, ProviderError)
    assert issubclass(ProviderError, SeedflowError)


@pytest.mark.parametrize(("code", "create", "read"), [
    (400, RequestRejected, RequestRejected),
    (401, AuthFailed, AuthFailed),
    (403, AuthFailed, AuthFailed),
    (402, OutOfCredits, OutOfCredits),
    (404, RequestRejected, TaskNotFound),
    (408, Ambiguous, GenerationFailed),
    (422, RequestRejected, TaskNotFound),
    (429, RetryLater, RetryLater),
    (433, RetryLater, RetryLater),
    (455, RetryLater, RetryLater),
    (500, Ambiguous, RetryLater),
    (501, GenerationFailed, GenerationFailed),
    (502, Ambiguous, RetryLater),
    (503, Ambiguous, RetryLater),
    (504, Ambiguous, RetryLater),
    (505, RequestRejected, RequestRejected),
    (599, Ambiguous, RetryLater),
    (418, RequestRejected, RequestRejected),
    (302, RequestRejected, RequestRejected),
    (999, Ambiguous, RetryLater),
    (7, Ambiguous, RetryLater),
])
def test_error_table(code: int, create: type[ProviderError], read: type[ProviderError]) -> None:
    assert error_class(code, creating=True) is create
    assert error_class(code, creating=False) is read


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, None),
    ({"Retry-After": "7"}, 7.0),
    ({"Retry-After": " 1.5 "}, 1.5),
    ({"Retry-After": "-3"}, 0.0),
    ({"Retry-After": formatdate(NOW + 10, usegmt=True)}, 10.0),
    ({"Retry-After": formatdate(NOW - 10, usegmt=True)}, 0.0),
    ({"Retry-After": "soon"}, None),
    ({"Retry-After": "nan"}, None),
    ({"X-RateLimit-Reset": "12"}, 12.0),
    ({"X-RateLimit-Reset": str(int(NOW) + 30)}, 30.0),
    ({"X-RateLimit-Reset": str(int(NOW) - 30)}, 0.0),
    ({"X-RateLimit-Reset": "later"}, None),
    ({"Retry-After": "4", "X-RateLimit-Reset": "12"}, 4.0),
    ({"Retry-After": "soon", "X-RateLimit-Reset": "12"}, 12.0),
])
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert wait(**headers) == expected
