"""Apikley (kie.ai API family): Seedream v4 text-to-image."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from seedflow.providers.base import ProviderClient, ProviderLimits


def connect(http: httpx.AsyncClient, *, name: str, base_url: str, api_key: str,
            limits: ProviderLimits | None, callback_url: str | None) -> ProviderClient:
    """An :class:`~seedflow.providers.apikley.client.ApikleyClient`; the client module (httpx)
    is imported here, not when the registry is."""
    from seedflow.providers.apikley.client import ApikleyClient

    return ApikleyClient(http, base_url=base_url, api_key=api_key, limits=limits, name=name,
                         callback_url=callback_url)
