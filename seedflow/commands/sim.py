"""``seedflow sim serve``: the provider simulator as a standalone HTTP server."""

from __future__ import annotations

import time

import click

from seedflow.errors import SeedflowError
from seedflow.sim import SimConfig, Simulator, parse_rate


def serve(*, host: str, port: int, latency: float, rate: str, fail_rate: float) -> int:
    """Serve until ^C; the first stdout line is ``seedflow sim listening on <base URL>``."""
    if latency < 0:
        raise SeedflowError(f"--latency must not be negative, got {latency}")
    config = SimConfig(host=host, port=port, latency=latency, rate_limit=parse_rate(rate),
                       fail_rate=fail_rate)
    sim = Simulator(config, log=_log)
    try:
        sim.start()
    except OSError as exc:
        raise SeedflowError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    url = sim.base_url
    click.echo(f"seedflow sim listening on {url}\n"
               "Point seedflow at it (any non-empty key is accepted):\n"
               f"  export SEEDFLOW_APIKLEY_BASE_URL={url}\n"
               f"  export SEEDFLOW_MODELLIX_BASE_URL={url}\n"
               "  export APIKLEY_API_KEY=sim MODELLIX_API_KEY=sim\n"
               "Press Ctrl+C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()
        click.echo("seedflow sim stopped.")
    return 0


def _log(line: str) -> None:
    click.echo(f"{time.strftime('%H:%M:%S')} {line}", err=True)
