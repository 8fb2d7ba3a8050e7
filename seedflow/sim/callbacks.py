"""Apikley callbacks: POST the finished task to its ``callBackUrl``, signed when configured."""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from seedflow.sim.wire import Task, dumps


def sign(secret: str, task_id: str, timestamp: str) -> str:
    """``X-Webhook-Signature``: base64(HMAC-SHA256(key=secret, msg=taskId + "." + timestamp))."""
    digest = hmac.new(secret.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def post(url: str, body: dict[str, object], task_id: str, secret: str | None,
         timeout: float) -> bool:
    """POST ``body`` to ``url``; True when the receiver answered 2xx."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        timestamp = str(int(time.time()))
        headers["X-Webhook-Timestamp"] = timestamp
        headers["X-Webhook-Signature"] = sign(secret, task_id, timestamp)
    try:
        response = httpx.post(url, content=dumps(body).encode(), headers=headers, timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.is_success


class Scheduler:
    """Runs ``deliver(task)`` on a small thread pool once each scheduled task has finished."""

    def __init__(self, deliver: Callable[[Task], None]) -> None:
        self._deliver = deliver
        self._due: list[tuple[float, int, Task]] = []
        self._wake = threading.Condition()
        self._stopped = False
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sim-callback")
        self._thread = threading.Thread(target=self._run, name="sim-callbacks", daemon=True)

    def start(self) -> None:
        """Start the timer thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop; pending callbacks are dropped."""
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def schedule(self, task: Task) -> None:
        """Deliver ``task``'s callback when its generation time has passed."""
        with self._wake:
            heapq.heappush(self._due, (task.started + task.latency, id(task), task))
            self._wake.notify()

    def _run(self) -> None:
        with self._wake:
            while not self._stopped:
                now = time.monotonic()
                if self._due and self._due[0][0] <= now:
                    self._pool.submit(self._deliver, heapq.heappop(self._due)[2])
                else:
                    self._wake.wait(self._due[0][0] - now if self._due else None)
