"""The provider registry: every name a pipeline's ``provider:`` may use.

``apikley`` and ``modellix`` are the paid APIs. ``sim`` is the embedded simulator spoken to
through the real Apikley client (DESIGN §5), and ``sim:modellix`` the same simulator through the
real Modellix client, so a pipeline can rehearse both protocols with no key. Simulated providers
are part of a combination's identity: switching an asset from ``sim`` to ``apikley`` plans real
``create``s instead of reusing simulated images.

The pipeline schema's list of provider names is derived from :data:`PROVIDERS`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from seedflow.providers.apikley.request import ApikleyMapping
from seedflow.providers.modellix.request import ModellixMapping
from seedflow.providers.native import RequestMapping


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    mapping: RequestMapping
    simulated: bool = False
    key_env: str | None = None
    base_url_env: str | None = None
    default_base_url: str | None = None
    rate_env: str | None = None

    @property
    def protocol(self) -> str:
        return self.mapping.protocol

    def base_url(self) -> str | None:
        """Where the real API lives (None for the simulator, which picks a loopback port)."""
        if self.base_url_env is None:
            return None
        return os.environ.get(self.base_url_env) or self.default_base_url


_APIKLEY = ApikleyMapping()
_MODELLIX = ModellixMapping()

PROVIDERS: dict[str, ProviderSpec] = {
    "apikley": ProviderSpec("apikley", _APIKLEY, key_env="APIKLEY_API_KEY",
                            base_url_env="SEEDFLOW_APIKLEY_BASE_URL",
                            default_base_url="https://api.apikley.ru",
                            rate_env="SEEDFLOW_APIKLEY_RATE"),
    "modellix": ProviderSpec("modellix", _MODELLIX, key_env="MODELLIX_API_KEY",
                             base_url_env="SEEDFLOW_MODELLIX_BASE_URL",
                             default_base_url="https://api.modellix.ai",
                             rate_env="SEEDFLOW_MODELLIX_RATE"),
    "sim": ProviderSpec("sim", _APIKLEY, simulated=True),
    "sim:modellix": ProviderSpec("sim:modellix", _MODELLIX, simulated=True),
}
PROTOCOLS = ("apikley", "modellix")
