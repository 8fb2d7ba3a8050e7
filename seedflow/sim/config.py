"""Simulator settings and the faults it can inject."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from seedflow.providers.base import parse_rate as parse_rate  # re-exported for seedflow.sim

CREATE = "create"
POLL = "poll"
DOWNLOAD = "download"


class Fault(StrEnum):
    """A misbehaviour the simulator can serve instead of (or on top of) the normal answer."""

    HTTP_429 = "http_429"
    """Answer 429 with ``Retry-After: SimConfig.fault_retry_after`` (create, poll)."""
    HTTP_500 = "http_500"
    """Answer 500 (Apikley body code 500)."""
    HTTP_503 = "http_503"
    """Answer 503 (Apikley body code 455, maintenance)."""
    DROP_BEFORE_RECORD = "drop_before_record"
    """Close the connection without answering; a create is not recorded."""
    DROP_AFTER_RECORD = "drop_after_record"
    """Create only: record the (paid) task, then close the connection without answering."""
    SLOW_RESPONSE = "slow_response"
    """Answer after ``SimConfig.slow_seconds``; a create is recorded first."""
    GENERATION_FAILED = "generation_failed"
    """Create only: the task is accepted and later ends failed."""
    DOWNLOAD_404 = "download_404"
    """Download only: the file is not found."""
    DOWNLOAD_TRUNCATED = "download_truncated"
    """Download only: announce the full Content-Length, send fewer bytes, close."""


class Answer(StrEnum):
    """A documented answer of a provider, not a fault, that a client must understand; served to
    the next requests when injected (:meth:`~seedflow.sim.Simulator.inject`). The shapes are the
    providers' own, as their docs, official clients and integrators show them (docs/providers.md).
    """

    UNAUTHORIZED = "unauthorized"
    """Answer 401, as for a key revoked in the middle of a run (create, poll)."""
    INVALID_PARAMETER = "invalid_parameter"
    """Create only: refuse a parameter. Apikley: body code 500 ``image_size is not within the
    range of allowed options`` at HTTP ``SimConfig.apikley_refusal_status`` (integrators report
    both 200 and 500 from the live kie API); Modellix: HTTP 400 ``Invalid parameter: ...``."""
    NO_RESULT = "no_result"
    """Create only: accept the task; it ends ``success`` with no result URL (Apikley
    ``resultJson`` "", Modellix ``result`` null)."""


ENDPOINTS: dict[Fault | Answer, tuple[str, ...]] = {
    Fault.HTTP_429: (CREATE, POLL),
    Fault.HTTP_500: (CREATE, POLL, DOWNLOAD),
    Fault.HTTP_503: (CREATE, POLL, DOWNLOAD),
    Fault.DROP_BEFORE_RECORD: (CREATE, POLL, DOWNLOAD),
    Fault.DROP_AFTER_RECORD: (CREATE,),
    Fault.SLOW_RESPONSE: (CREATE, POLL, DOWNLOAD),
    Fault.GENERATION_FAILED: (CREATE,),
    Fault.DOWNLOAD_404: (DOWNLOAD,),
    Fault.DOWNLOAD_TRUNCATED: (DOWNLOAD,),
    Answer.UNAUTHORIZED: (CREATE, POLL),
    Answer.INVALID_PARAMETER: (CREATE,),
    Answer.NO_RESULT: (CREATE,),
}
"""Where each fault or answer can be served; the first endpoint is the default for
``inject``."""

BEFORE: frozenset[Fault | Answer] = frozenset({
    Fault.HTTP_429, Fault.HTTP_500, Fault.HTTP_503, Fault.DROP_BEFORE_RECORD,
    Answer.UNAUTHORIZED, Answer.INVALID_PARAMETER})
"""Served instead of handling the request (checked right after authentication)."""


@dataclass
class SimConfig:
    """Simulator settings; fields may be changed while it runs (read on each request)."""

    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free ephemeral port."""
    latency: float = 2.0
    """Median generation time per task, seconds."""
    latency_spread: float = 0.0
    """Sigma of the lognormal spread around ``latency``; 0 makes every task take ``latency``."""
    seed: int = 0
    """Seeds the random draws (latency spread, failures, fault rates)."""
    rate_limit: tuple[int, float] | None = None
    """At most COUNT accepted creates per SECONDS window across both protocols, else 429: one
    account's limit, shared by every client of this simulator (several applies or shards at
    once), with each refusal counted in ``Counters.rejected_429``."""
    fail_rate: float = 0.0
    """Fraction of accepted tasks that end failed."""
    fault_rates: dict[Fault, float] = field(default_factory=dict)
    """Probability per request of each fault, at every endpoint where it can be served."""
    api_key: str | None = None
    """The only Bearer token accepted; None accepts any non-empty token."""
    credits: int | None = None
    """How many creates are accepted before every further one gets 402; None is unlimited."""
    callback_secret: str | None = None
    """Signs Apikley callbacks (X-Webhook-Timestamp, X-Webhook-Signature) when set."""
    callback_timeout: float = 2.0
    image_max_side: int = 384
    """Longest side, in pixels, of the served PNGs."""
    download_truncate_bytes: int | None = None
    """Bytes sent by a truncated download; None sends half the file."""
    slow_seconds: float = 30.0
    """Delay of a SLOW_RESPONSE answer."""
    fault_retry_after: int = 1
    """Retry-After seconds of an injected HTTP_429."""
    apikley_message_key: str = "msg"
    """Key of the message in Apikley error bodies ("msg" like kie.ai, or "message");
    404 Task not found always uses "message", as Apikley's rendered docs show."""
    apikley_fail_code: int = 200
    """Body code of a recordInfo answer about a failed task: 200 as documented, or 501 (as kie's
    failure callbacks carry it, and live answers were reported to); the reason stays in the
    record's failMsg."""
    apikley_refusal_status: int = 200
    """HTTP status of Apikley's code-500 parameter refusal (``Answer.INVALID_PARAMETER``)."""
    state_words: dict[str, str] = field(default_factory=dict)
    """Words served instead of the protocol's own task states, keyed by the simulator's own
    word: e.g. ``{"processing": "running", "success": "completed", "failed": "error"}`` (words
    Modellix's official CLI accepts), or any word no documentation lists."""
    not_found_for: float = 0.0
    """Seconds after its create during which a poll of a task answers "not found" (Apikley:
    HTTP 200, body code 422 ``recordInfo is null``; Modellix: HTTP 404), as a provider's status
    store can lag behind its creates."""
    report_times: bool = True
    """Report each task's generation time as the real services do (Apikley ``costTime``,
    ``createTime``, ``completeTime`` in unix milliseconds; Modellix ``duration`` in
    milliseconds and ``result.extensions`` times); False serves them null, as a provider that
    reports nothing."""
    echo_key: bool = False
    """Quote the request's Authorization header back in every text written for people: error
    messages, failMsg/failCode, Modellix's error code and message (a careless provider; tests
    check that the key still ends up nowhere)."""

    def __post_init__(self) -> None:
        if self.latency < 0 or self.latency_spread < 0:
            raise ValueError("latency and latency_spread must not be negative")
        if self.not_found_for < 0:
            raise ValueError("not_found_for must not be negative")
        rates = [self.fail_rate, *self.fault_rates.values()]
        if any(not 0.0 <= rate <= 1.0 for rate in rates):
            raise ValueError("fail_rate and fault_rates must be between 0 and 1")
