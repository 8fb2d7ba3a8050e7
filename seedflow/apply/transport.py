"""An httpx transport that spreads requests over several connection pools.

httpcore's pool matches queued requests to connections with a scan over both, so with ~100
requests in flight (a typical apply) most client CPU goes to that bookkeeping. Several small
pools behind one transport keep each scan short: measured on loopback, 2,000 requests at
concurrency 100 took 8.5 s of client CPU through one pool of 100 and 2.6 s through 16 pools of 8.
"""

from __future__ import annotations

import itertools
import ssl

import httpcore
import httpx

from seedflow.apply.network import AddressGuard, GuardedBackend

PER_POOL = 8


class ShardedTransport(httpx.AsyncBaseTransport):
    """``guard``, when given, checks every address a pool connects to (downloads); ``tls`` is
    the TLS context to use (one is made if not given)."""

    def __init__(self, connections: int, *, per_pool: int = PER_POOL,
                 guard: AddressGuard | None = None, tls: ssl.SSLContext | None = None) -> None:
        pools = max(1, -(-connections // per_pool))
        limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
        # loading the CA bundle takes ~20 ms: once, not per pool (``tls``: shared with others)
        tls = tls or httpx.create_ssl_context()
        self._pools = [httpx.AsyncHTTPTransport(limits=limits, verify=tls) if guard is None
                       else GuardedTransport(guard, limits=limits, verify=tls)
                       for _ in range(pools)]
        self._next = itertools.cycle(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await next(self._next).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport whose connection pool connects through a :class:`GuardedBackend`.

    httpx takes no network backend, so the pool it built is replaced by an equal one that has
    it (``_pool`` is httpx's own attribute; tests/apply/test_apply_hostile_network.py fails if
    that ever stops working).
    """

    def __init__(self, guard: AddressGuard, *, limits: httpx.Limits,
                 verify: ssl.SSLContext) -> None:
        super().__init__(limits=limits, verify=verify)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=GuardedBackend(guard))
