"""Run-time settings and provider clients, from the environment (the only source of keys).

Environment (DESIGN §4): ``APIKLEY_API_KEY``, ``MODELLIX_API_KEY``;
``SEEDFLOW_APIKLEY_BASE_URL``, ``SEEDFLOW_MODELLIX_BASE_URL``; ``SEEDFLOW_CONCURRENCY``;
``SEEDFLOW_POLL_INTERVAL`` (the scouts' first look, when sooner than 0.25 s; see
:class:`~seedflow.apply.pacing.PollSchedule`), ``SEEDFLOW_POLL_MAX`` (longest interval);
``SEEDFLOW_RETRY_BASE``;
``SEEDFLOW_NOT_FOUND_GRACE`` (seconds after its create that a task the provider says it does not
know is still polled, default 600);
``SEEDFLOW_APIKLEY_RATE`` / ``SEEDFLOW_MODELLIX_RATE`` (``20/10s`` or ``0``: the *account's*
create rate); ``SEEDFLOW_SHARDS_PER_ACCOUNT`` (how many applies share that rate at once; default
N under ``--shard K/N``, else 1; see :func:`rate_share`);
``SEEDFLOW_DOWNLOAD_DEADLINE`` (seconds one image download may take, default 300);
``SEEDFLOW_TASK_MAX_AGE`` (seconds after ``submitted_at`` that apply stops waiting for a task,
default 7200; the next apply resumes it). For the simulated
providers: ``SEEDFLOW_SIM_URL`` (use a running ``seedflow sim serve`` instead of an embedded
one) and ``SEEDFLOW_SIM_LATENCY`` (seconds per image of the embedded one, default 1). Callbacks
(providers whose spec ``supports_callbacks``: the Apikley protocol): ``SEEDFLOW_CALLBACKS=1``
starts a receiver (``SEEDFLOW_CALLBACK_LISTEN``, default loopback) and sends its address, or
``SEEDFLOW_CALLBACK_URL``, as ``callBackUrl``; ``SEEDFLOW_CALLBACK_SECRET`` checks kie-style
HMAC signatures.

Which client a provider gets, and whether it takes callbacks, is its
:class:`~seedflow.providers.ProviderSpec`'s business: no code here names a provider.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from seedflow.apply.executor import Settings
from seedflow.apply.network import AddressGuard
from seedflow.apply.pacing import RateShare
from seedflow.apply.transport import ShardedTransport
from seedflow.errors import SeedflowError
from seedflow.providers import PROVIDERS, ProviderSpec
from seedflow.providers.base import ProviderClient, ProviderLimits, TaskState, parse_rate
from seedflow.providers.callback import CallbackReceiver

if TYPE_CHECKING:
    from seedflow.sim import Simulator

SIM_KEY = "simulator-needs-no-key"
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
CONNECTIONS = 128


def _number(name: str, env: Mapping[str, str], *, integer: bool = False) -> Any:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise SeedflowError(f"{name}={raw!r} is not a {'whole ' if integer else ''}number") \
            from None
    if value <= 0:
        raise SeedflowError(f"{name} must be greater than 0")
    return value


def rate_share(shard: tuple[int, int] | None, env: Mapping[str, str] = os.environ,
               sizes: tuple[int, ...] | None = None) -> RateShare | None:
    """Which part of the account's create rate this apply takes, or None for all of it.

    Shards of one split run at once and, by default, on one account: ``--shard K/N`` takes a
    part in proportion to its ``sizes[K-1]`` (the combinations of each share; equal parts if not
    given). ``SEEDFLOW_SHARDS_PER_ACCOUNT=M`` says how many really share one account (1: each
    shard has its own; M ≠ N: equal parts of unknown position, also for M unrelated applies on
    one account, without --shard).
    """
    sharing = _number("SEEDFLOW_SHARDS_PER_ACCOUNT", env, integer=True)
    if shard is not None and sharing in (None, shard[1]):
        k, n = shard
        return RateShare(k, sizes if sizes and len(sizes) == n else (1,) * n)
    if sharing is None or sharing == 1:
        return None
    return RateShare(0, (1,) * sharing)


def settings_from_env(env: Mapping[str, str] = os.environ, *,
                      shard: tuple[int, int] | None = None,
                      shard_sizes: tuple[int, ...] | None = None,
                      **overrides: Any) -> Settings:
    """The settings of one apply (``shard``: its ``--shard K/N``; ``shard_sizes``: the
    combinations in each share K of N)."""
    rates = {name: parse_rate(env[spec.rate_env]) for name, spec in PROVIDERS.items()
             if spec.rate_env and env.get(spec.rate_env)}
    values: dict[str, Any] = {
        "concurrency": _number("SEEDFLOW_CONCURRENCY", env, integer=True),
        "poll_first": _number("SEEDFLOW_POLL_INTERVAL", env),
        "poll_max": _number("SEEDFLOW_POLL_MAX", env),
        "download_deadline": _number("SEEDFLOW_DOWNLOAD_DEADLINE", env),
        "task_max_age": _number("SEEDFLOW_TASK_MAX_AGE", env),
        "rates": rates,
        "rate_share": rate_share(shard, env, shard_sizes),
    }
    base = _number("SEEDFLOW_RETRY_BASE", env)
    if base is not None:
        values["retry_base"] = base
    grace = _number("SEEDFLOW_NOT_FOUND_GRACE", env)
    if grace is not None:
        values["not_found_grace"] = grace
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**{k: v for k, v in values.items() if v is not None})


def check_keys(providers: Iterable[str], env: Mapping[str, str] = os.environ) -> None:
    """Fail before any work when a paid provider's key is missing."""
    missing = sorted({PROVIDERS[p].key_env or "" for p in providers
                      if PROVIDERS[p].key_env and not env.get(PROVIDERS[p].key_env or "")})
    simulated = " / ".join(f"`provider: {n}`" for n, s in PROVIDERS.items() if s.simulated)
    if missing:
        raise SeedflowError(
            f"{', '.join(missing)} is not set. Export the API key in the environment (seedflow "
            f"reads keys nowhere else), or rehearse on the embedded simulator with {simulated} "
            "in the pipeline")


def _sim_limits(latency: float) -> ProviderLimits:
    return ProviderLimits(create_rate=None, concurrency=32, first_poll=latency, max_poll=5.0)


@dataclass
class Connections:
    """The clients of one apply, and where the simulator (if any) is listening."""

    clients: dict[str, ProviderClient] = field(default_factory=dict)
    sim_url: str | None = None
    callbacks: asyncio.Queue[tuple[str, TaskState]] | None = None
    fetchers: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    _tls: ssl.SSLContext | None = None

    @property
    def tls(self) -> ssl.SSLContext:
        """The TLS context every client of this apply shares (loading the CA bundle once)."""
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        return self._tls

    def downloads(self, provider: str) -> httpx.AsyncClient:
        """The client that fetches ``provider``'s result URLs: it connects only to public
        addresses and to the zone of the provider's own API (seedflow.apply.network)."""
        if provider not in self.fetchers:
            spec = PROVIDERS[provider]
            base = self.sim_url if spec.simulated else spec.base_url()
            self.fetchers[provider] = download_client(AddressGuard(provider, base), self.tls)
        return self.fetchers[provider]

    def rebase(self, provider: str, url: str) -> str:
        """A simulated image's recorded URL, pointed at the simulator of this run.

        Each run's embedded simulator listens on a new port; its task ids and file URLs
        describe the task and the image (see seedflow.sim), so the one running now resumes the
        tasks and serves the bytes the lock recorded.
        """
        parts = urlsplit(url)
        if not (self.sim_url and PROVIDERS[provider].simulated
                and parts.hostname in ("127.0.0.1", "localhost", "::1")):
            return url
        base = urlsplit(self.sim_url)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


@asynccontextmanager
async def open_clients(providers: Iterable[str], env: Mapping[str, str] = os.environ, *,
                       restoring: Iterable[str] = ()) -> AsyncIterator[Connections]:
    """One client per provider that creates or resumes tasks; the embedded simulator is started
    when any of them, or any provider whose images are being restored, is simulated."""
    names = sorted(set(providers))
    check_keys(names, env)
    simulator: Simulator | None = None
    receiver: CallbackReceiver | None = None
    connections = Connections()
    latency = _number("SEEDFLOW_SIM_LATENCY", env) or 1.0
    try:
        if _enabled(env.get("SEEDFLOW_CALLBACKS")) and \
                any(PROVIDERS[p].supports_callbacks for p in names):
            receiver = await _receiver(env)
            connections.callbacks = receiver.events
        if any(PROVIDERS[p].simulated for p in {*names, *restoring}):
            connections.sim_url = env.get("SEEDFLOW_SIM_URL")
            if not connections.sim_url:
                from seedflow.sim import SimConfig, Simulator  # only when simulating

                simulator = Simulator(SimConfig(latency=latency))
                simulator.start()
                connections.sim_url = simulator.base_url
        for name in names:
            spec = PROVIDERS[name]
            callback = _callback_url(receiver, env) if spec.supports_callbacks else None
            if spec.simulated:
                client = _client(spec, connections.sim_url or "", SIM_KEY, connections.tls,
                                 _sim_limits(latency), callback)
            else:
                client = _client(spec, spec.base_url() or "", env[spec.key_env or ""],
                                 connections.tls, callback_url=callback)
            connections.clients[name] = client
        yield connections
    finally:
        for client in connections.clients.values():
            await client.aclose()
        for http in connections.fetchers.values():
            await http.aclose()
        if simulator is not None:
            simulator.stop()
        if receiver is not None:
            await receiver.stop()


def _enabled(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


async def _receiver(env: Mapping[str, str]) -> CallbackReceiver:
    """The local callback receiver (``SEEDFLOW_CALLBACK_LISTEN`` host:port, default loopback)."""
    listen = env.get("SEEDFLOW_CALLBACK_LISTEN") or "127.0.0.1:0"
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise SeedflowError("SEEDFLOW_CALLBACK_LISTEN must be HOST:PORT, e.g. 127.0.0.1:8788")
    receiver = CallbackReceiver(env.get("SEEDFLOW_CALLBACK_SECRET") or None,
                                host=host.removeprefix("[").removesuffix("]") or "127.0.0.1",
                                port=int(port))
    try:
        await receiver.start()
    except OSError as exc:
        raise SeedflowError(
            f"cannot receive callbacks at SEEDFLOW_CALLBACK_LISTEN={listen}: "
            f"{exc.strerror or exc}. Name a free port on this machine (or 0 for any), "
            "or unset SEEDFLOW_CALLBACKS to rely on polling.") from None
    return receiver


def _callback_url(receiver: CallbackReceiver | None, env: Mapping[str, str]) -> str | None:
    """Where the provider should POST: ``SEEDFLOW_CALLBACK_URL`` (a public address that reaches
    the receiver, e.g. through a tunnel) or, for a provider on this machine, the receiver."""
    if receiver is None:
        return None
    return env.get("SEEDFLOW_CALLBACK_URL") or receiver.url


def _client(spec: ProviderSpec, base_url: str, key: str, tls: ssl.SSLContext,
            limits: ProviderLimits | None = None, callback_url: str | None = None,
            ) -> ProviderClient:
    http = httpx.AsyncClient(timeout=TIMEOUT, transport=ShardedTransport(CONNECTIONS, tls=tls))
    return spec.connect(http, name=spec.name, base_url=base_url, api_key=key, limits=limits,
                        callback_url=callback_url)


def download_client(guard: AddressGuard | None = None,
                    tls: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """Result URLs are fetched without credentials: a URL may point at any host (a CDN), and
    ``guard`` says which addresses it may connect to (``tls``: a TLS context to share)."""
    return httpx.AsyncClient(timeout=TIMEOUT,
                             transport=ShardedTransport(CONNECTIONS, guard=guard, tls=tls))
