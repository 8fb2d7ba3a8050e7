"""The provider registry: every name a pipeline's ``provider:`` may use.

``apikley`` and ``modellix`` are the paid APIs. ``sim`` is the embedded simulator spoken to
through the real Apikley client (DESIGN §5), and ``sim:modellix`` the same simulator through the
real Modellix client, so a pipeline can rehearse both protocols with no key. Simulated providers
are part of a combination's identity: switching an asset from ``sim`` to ``apikley`` plans real
``create``s instead of reusing simulated images.

The pipeline schema's list of provider names is derived from :data:`PROVIDERS`.

Everything seedflow knows about a provider is reached through its :class:`ProviderSpec`: code
outside this package asks the spec and its request mapping, and names no provider or protocol
(the simulator aside: it speaks the two it speaks). Adding a provider is a package
``seedflow/providers/<name>/`` (``request.py``: a
:class:`~seedflow.providers.native.RequestMapping`; ``client.py``: a
:class:`~seedflow.providers.base.ProviderClient`; ``__init__.py``: its ``connect`` factory) plus
its line in :data:`PROVIDERS`. This module is imported by the pure core (pipeline, plan): it
imports request mappings only, and a client module only when ``connect`` is called
(docs/providers.md, "Adding a provider").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from seedflow.providers import apikley, modellix
from seedflow.providers.apikley.request import ApikleyMapping
from seedflow.providers.base import ClientFactory
from seedflow.providers.modellix.request import ModellixMapping
from seedflow.providers.native import RequestMapping


@dataclass(frozen=True)
class ProviderSpec:
    """One name a pipeline's ``provider:`` may use, and everything that differs per provider."""

    name: str
    mapping: RequestMapping          # neutral parameters → native body, and back (pure)
    connect: ClientFactory           # builds the client (imports its httpx code when called)
    supports_callbacks: bool = False  # the client can send a callback URL with each create
    default_price: float | None = None  # per image, where the provider publishes one
    simulated: bool = False
    key_env: str | None = None
    base_url_env: str | None = None
    default_base_url: str | None = None
    rate_env: str | None = None
    # how long result URLs stay downloadable (None: they do not expire, as the simulator's)
    result_url_lifetime: float | None = None

    @property
    def protocol(self) -> str:
        return self.mapping.protocol

    def base_url(self) -> str | None:
        """Where the real API lives (None for the simulator, which picks a loopback port)."""
        if self.base_url_env is None:
            return None
        return os.environ.get(self.base_url_env) or self.default_base_url

    def unsent_note(self) -> str | None:
        """What plan says about identity this provider cannot send (see RequestMapping)."""
        return self.mapping.unsent_note(self.name)


DAY = 24 * 3600.0
_APIKLEY = ApikleyMapping()
_MODELLIX = ModellixMapping()

# Default prices, per image, in credits (the default ``prices.unit``), only where a provider
# publishes a figure: Apikley's documentation shows ``creditsConsumed: 5`` for one Seedream v4
# image (callback example; see docs/design.md). Modellix publishes no price, so its cost is
# "unknown" until ``prices.modellix`` is set. The simulator is free. Result URLs: Apikley
# "typically expire after 24 hours", Modellix "outputs expire after 24 hours" (FACTS.md).
PROVIDERS: dict[str, ProviderSpec] = {
    "apikley": ProviderSpec("apikley", _APIKLEY, apikley.connect, supports_callbacks=True,
                            default_price=5.0, key_env="APIKLEY_API_KEY",
                            base_url_env="SEEDFLOW_APIKLEY_BASE_URL",
                            default_base_url="https://api.apikley.ru",
                            rate_env="SEEDFLOW_APIKLEY_RATE", result_url_lifetime=DAY),
    "modellix": ProviderSpec("modellix", _MODELLIX, modellix.connect, key_env="MODELLIX_API_KEY",
                             base_url_env="SEEDFLOW_MODELLIX_BASE_URL",
                             default_base_url="https://api.modellix.ai",
                             rate_env="SEEDFLOW_MODELLIX_RATE", result_url_lifetime=DAY),
    "sim": ProviderSpec("sim", _APIKLEY, apikley.connect, supports_callbacks=True,
                        default_price=0.0, simulated=True),
    "sim:modellix": ProviderSpec("sim:modellix", _MODELLIX, modellix.connect, default_price=0.0,
                                 simulated=True),
}
DEFAULT_PROVIDER = "apikley"
"""The provider of an asset whose pipeline names none."""
PROTOCOLS = tuple(dict.fromkeys(spec.protocol for spec in PROVIDERS.values()))
