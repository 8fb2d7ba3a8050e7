"""Validated, immutable records of a pipeline file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedflow.pipeline.matrix import Matrix
from seedflow.pipeline.templates import Template
from seedflow.pipeline.yamlpos import PathKey, Positions
from seedflow.providers import ProviderSpec

DEFAULT_MAX_COMBINATIONS = 10_000


@dataclass(frozen=True)
class Asset:
    name: str
    provider: ProviderSpec
    prompt: Template
    output: Template
    params: Mapping[str, Any]          # neutral parameters: defaults < asset keys
    param_paths: Mapping[str, PathKey]  # where each of them was written
    extras: Mapping[str, Any]          # native fields for this asset's protocol
    extra_paths: Mapping[str, PathKey]
    matrix: Matrix

    @property
    def path(self) -> PathKey:
        return ("assets", self.name)

    def value_path(self, key: str, value: Any) -> PathKey:
        """The YAML node a matrix or parameter value came from (for error messages)."""
        for name, values in self.matrix.axes:
            if name == key:
                for i, candidate in enumerate(values):
                    if candidate is value:
                        return (*self.path, "matrix", key, i)
        for j, entry in enumerate(self.matrix.include):
            if entry.get(key) is value:
                return (*self.path, "matrix", "include", j, key)
        return self.param_paths.get(key, self.path)


@dataclass(frozen=True)
class Budget:
    max_images: int | None = None
    max_cost: float | None = None


@dataclass(frozen=True)
class PriceTable:
    unit: str = "credits"
    per_image: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Pipeline:
    path: Path                 # the pipeline file, as given
    folder: Path               # its folder: every relative path in it starts here
    output_dir: Path           # absolute, normalised root of every output
    vars: Mapping[str, Any]
    assets: tuple[Asset, ...]
    positions: Positions
    max_combinations: int = DEFAULT_MAX_COMBINATIONS
    budget: Budget = field(default_factory=Budget)
    prices: PriceTable = field(default_factory=PriceTable)
    store: str | None = None   # where images live for good (a URL, or a folder relative to
                               # ``folder``); opened at the edge, by seedflow.store

    @property
    def default_lock(self) -> Path:
        return self.path.with_suffix(".lock")
