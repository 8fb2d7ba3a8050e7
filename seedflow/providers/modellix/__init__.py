"""Modellix: ByteDance Seedream 4.0 text-to-image."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from seedflow.providers.base import ProviderClient, ProviderLimits


def connect(http: httpx.AsyncClient, *, name: str, base_url: str, api_key: str,
            limits: ProviderLimits | None, callback_url: str | None) -> ProviderClient:
    """A :class:`~seedflow.providers.modellix.client.ModellixClient` (imported here, not when
    the registry is). Modellix takes no callback URL: its spec does not set
    ``supports_callbacks``, so ``callback_url`` is always None."""
    from seedflow.providers.modellix.client import ModellixClient

    return ModellixClient(http, base_url=base_url, api_key=api_key, limits=limits, name=name)
