"""Run-time settings and provider clients, from the environment (the only source of keys).

Environment (DESIGN §4): ``APIKLEY_API_KEY``, ``MODELLIX_API_KEY``;
``SEEDFLOW_APIKLEY_BASE_URL``, ``SEEDFLOW_MODELLIX_BASE_URL``; ``SEEDFLOW_CONCURRENCY``;
``SEEDFLOW_POLL_INTERVAL`` (first poll delay), ``SEEDFLOW_POLL_MAX``; ``SEEDFLOW_RETRY_BASE``;
``SEEDFLOW_APIKLEY_RATE`` / ``SEEDFLOW_MODELLIX_RATE`` (``20/10s`` or ``0``). For the simulated
providers: ``SEEDFLOW_SIM_URL`` (use a running ``seedflow sim serve`` instead of an embedded
one) and ``SEEDFLOW_SIM_LATENCY`` (seconds per image of the embedded one, default 1).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from seedflow.errors import SeedflowError
from seedflow.executor import Settings
from seedflow.pacing import parse_rate
from seedflow.providers import PROVIDERS, ProviderSpec
from seedflow.providers.apikley.client import ApikleyClient
from seedflow.providers.base import ProviderClient, ProviderLimits
from seedflow.providers.modellix.client import ModellixClient
from seedflow.transport import ShardedTransport

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


def settings_from_env(env: Mapping[str, str] = os.environ, **overrides: Any) -> Settings:
    rates = {name: parse_rate(env[spec.rate_env]) for name, spec in PROVIDERS.items()
             if spec.rate_env and env.get(spec.rate_env)}
    values: dict[str, Any] = {
        "concurrency": _number("SEEDFLOW_CONCURRENCY", env, integer=True),
        "poll_first": _number("SEEDFLOW_POLL_INTERVAL", env),
        "poll_max": _number("SEEDFLOW_POLL_MAX", env),
        "rates": rates,
    }
    base = _number("SEEDFLOW_RETRY_BASE", env)
    if base is not None:
        values["retry_base"] = base
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)


def check_keys(providers: Iterable[str], env: Mapping[str, str] = os.environ) -> None:
    """Fail before any work when a paid provider's key is missing."""
    missing = sorted({PROVIDERS[p].key_env or "" for p in providers
                      if PROVIDERS[p].key_env and not env.get(PROVIDERS[p].key_env or "")})
    if missing:
        raise SeedflowError(
            f"{', '.join(missing)} is not set. Export the API key in the environment (seedflow "
            "reads keys nowhere else), or rehearse on the embedded simulator with "
            "`provider: sim` / `provider: sim:modellix` in the pipeline")


def _sim_limits(latency: float) -> ProviderLimits:
    return ProviderLimits(create_rate=None, concurrency=32, first_poll=latency, max_poll=5.0)


@asynccontextmanager
async def open_clients(providers: Iterable[str], env: Mapping[str, str] = os.environ,
                       ) -> AsyncIterator[dict[str, ProviderClient]]:
    """One client per provider (the embedded simulator is started if one is simulated)."""
    from seedflow.sim import SimConfig, Simulator

    names = sorted(set(providers))
    check_keys(names, env)
    simulator: Simulator | None = None
    clients: dict[str, ProviderClient] = {}
    try:
        for name in names:
            spec = PROVIDERS[name]
            if spec.simulated:
                url = env.get("SEEDFLOW_SIM_URL")
                latency = _number("SEEDFLOW_SIM_LATENCY", env) or 1.0
                if not url:
                    if simulator is None:
                        simulator = Simulator(SimConfig(latency=latency))
                        simulator.start()
                    url = simulator.base_url
                clients[name] = _client(spec, url, SIM_KEY, _sim_limits(latency))
            else:
                clients[name] = _client(spec, spec.base_url() or "", env[spec.key_env or ""])
        yield clients
    finally:
        for client in clients.values():
            await client.aclose()
        if simulator is not None:
            simulator.stop()


def _client(spec: ProviderSpec, base_url: str, key: str,
            limits: ProviderLimits | None = None) -> ProviderClient:
    http = httpx.AsyncClient(timeout=TIMEOUT, transport=ShardedTransport(CONNECTIONS))
    if spec.protocol == "apikley":
        return ApikleyClient(http, base_url=base_url, api_key=key, limits=limits, name=spec.name)
    return ModellixClient(http, base_url=base_url, api_key=key, limits=limits, name=spec.name)


def download_client() -> httpx.AsyncClient:
    """Result URLs are fetched without credentials: a URL may point at any host (a CDN)."""
    return httpx.AsyncClient(timeout=TIMEOUT, transport=ShardedTransport(CONNECTIONS))
