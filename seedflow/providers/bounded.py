"""Provider API answers read with a size cap: a provider, or anything answering at its address,
cannot make seedflow hold an endless body in memory.

Every create and status read of the provider clients goes through :func:`request`. It streams
the answer and stops at :data:`MAX_BODY` decoded bytes (a create answer or a task record is a
few kilobytes) by raising :class:`BodyTooLarge`, an ``httpx.RemoteProtocolError``, so the
clients' boundary (:class:`seedflow.providers.errors.Boundary`) translates it as any broken
answer: ``Ambiguous`` for a create (the provider may have created the task), ``RetryLater`` for
a status read. A compressed answer is decoded one received chunk at a time, so memory stays
within the cap plus one decoded chunk.
"""

from __future__ import annotations

from typing import Any

import httpx

MAX_BODY = 2**20
_UNDECODED = ("content-encoding", "content-length", "transfer-encoding")


class BodyTooLarge(httpx.RemoteProtocolError):
    """The provider's answer was longer than the cap; seedflow stopped reading it."""


async def request(http: httpx.AsyncClient, method: str, url: str, *,
                  max_bytes: int = MAX_BODY, **options: Any) -> httpx.Response:
    """``http.request(method, url, **options)``, with the body read to at most ``max_bytes``."""
    sent = http.build_request(method, url, **options)
    response = await http.send(sent, stream=True)
    try:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise BodyTooLarge(f"the answer is longer than {max_bytes:,} bytes, far more "
                                   "than any provider answer; seedflow stopped reading it",
                                   request=sent)
    finally:
        await response.aclose()
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _UNDECODED]
    return httpx.Response(response.status_code, headers=headers, content=bytes(body),
                          request=sent, extensions=response.extensions)
