"""The interface every provider client satisfies, and the task state it reports.

A client is two calls plus ``aclose``: ``submit`` sends one native request (the body the
provider's mapping built) and returns the provider's task id; ``fetch`` reads that task's state.
Failures are raised as the hierarchy in :mod:`seedflow.providers.errors`. The
``httpx.AsyncClient`` is injected, never built inside, so tests pass one with an
``httpx.MockTransport`` and production shares one connection pool per provider.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from seedflow.errors import SeedflowError

if TYPE_CHECKING:
    import httpx


class TaskStatus(enum.Enum):
    """Where a provider task is; SUCCEEDED and FAILED are final."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class TaskState:
    """One observation of a task: its status, its image URLs once SUCCEEDED (none when the
    provider reported success without a result: the task is over with nothing to download),
    and the provider's failure code and message once FAILED (redacted at the boundary: they go
    into the lock and the output). ``took`` is the generation time the provider reported, in
    seconds (:func:`reported_seconds`), or None: polling learns from it."""

    status: TaskStatus
    image_urls: tuple[str, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    took: float | None = field(default=None, compare=False)  # a measurement, not the state


@dataclass(frozen=True)
class ProviderLimits:
    """How hard a provider may be driven.

    ``create_rate`` is ``(count, seconds)``: at most ``count`` creates per ``seconds`` window, or
    ``None`` when the provider publishes no number (then ``Retry-After`` is all there is).
    ``concurrency`` caps tasks in flight. ``first_poll`` is the delay before the first status
    read and ``max_poll`` the longest interval polling backs off to.
    """

    create_rate: tuple[int, float] | None
    concurrency: int
    first_poll: float
    max_poll: float


class ProviderClient(Protocol):
    """An async client for one provider's create/status protocol."""

    name: str
    limits: ProviderLimits

    async def submit(self, request: dict[str, Any]) -> str:
        """Create one task from a native request body; return its task id."""
        ...

    async def fetch(self, task_id: str) -> TaskState:
        """Read the current state of a task created by :meth:`submit`."""
        ...

    async def aclose(self) -> None:
        """Close the injected HTTP client (the provider client owns it once given)."""
        ...


class ClientFactory(Protocol):
    """Builds one provider's client: what a :class:`~seedflow.providers.ProviderSpec` holds as
    ``connect``. Each provider package defines one and imports its client module only when
    called, so the registry stays importable by the pure core. ``callback_url`` is None unless
    the spec says ``supports_callbacks``."""

    def __call__(self, http: httpx.AsyncClient, *, name: str, base_url: str, api_key: str,
                 limits: ProviderLimits | None, callback_url: str | None) -> ProviderClient: ...


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*s?\s*$")


def parse_rate(text: str) -> tuple[int, float] | None:
    """``COUNT/SECONDSs`` (e.g. ``20/10s``) → ``(20, 10.0)``, a ``create_rate``; ``0`` means
    no limit."""
    if text.strip() == "0":
        return None
    match = _RATE.match(text)
    if match and int(match[1]) > 0 and float(match[2]) > 0:
        return int(match[1]), float(match[2])
    raise SeedflowError(f"invalid rate {text!r}: write COUNT/SECONDSs, e.g. 20/10s "
                        "(at most 20 creates per 10 seconds), or 0 for no limit")


MAX_REPORTED = 24 * 3600.0
"""A reported generation time beyond a day is not believed."""


def reported_seconds(value: Any, *, unit: float = 1.0) -> float | None:
    """A duration a provider reported, in ``unit`` seconds (0.001 for milliseconds), as
    seconds; None when it is missing or not believable: not a number (a numeric string is
    read), not finite, negative or zero, or over :data:`MAX_REPORTED`. Provider answers are
    untrusted: this never raises."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value) * unit
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_REPORTED:
        return None
    return seconds
