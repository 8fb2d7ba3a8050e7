"""Request shapes: each distinct set of parameters built, checked and encoded once.

Across a matrix, combinations mostly differ in their prompt while the other request fields take
few distinct values (100,000 combinations of one benchmark share 20 shapes). A :class:`Shape` is
the native body built with a slot where the prompt goes: its problems, and its canonical
identity text split around the slot, are computed once; per combination only the prompt is
checked (once per distinct prompt) and spliced in. The fingerprint is byte for byte the one
:func:`seedflow.plan.fingerprint.fingerprint` computes for the finished body (a test holds them
equal). This relies on a request schema judging the prompt independently of the other fields,
which holds for the derived schemas (per-property constraints only).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from seedflow.lock.model import FINGERPRINT_HEX_LENGTH
from seedflow.plan.fingerprint import identity_text
from seedflow.providers import ProviderSpec
from seedflow.providers.native import Problem

SLOT = "\x00seedflow:prompt\x00"
_SLOT_TEXT = json.dumps(SLOT, ensure_ascii=False)


@dataclass(frozen=True)
class Shape:
    template: Mapping[str, Any]      # the native body, SLOT where the prompt goes
    problems: tuple[Problem, ...]    # what is wrong whatever the prompt
    unsent: Mapping[str, Any]
    path: tuple[str, ...]            # where the prompt goes in the body
    prefix: str                      # identity text before the prompt's JSON
    suffix: str                      # and after it

    def body(self, prompt: str) -> dict[str, Any]:
        if len(self.path) == 2:   # the usual place ({"input": {"prompt": ...}}), unrolled
            head, key = self.path
            return {**self.template, head: {**self.template[head], key: prompt}}
        return _filled(self.template, self.path, prompt)

    def fingerprint(self, prompt: str) -> str:
        return self.fingerprint_encoded(quoted(prompt).encode())

    def fingerprint_encoded(self, text: bytes) -> str:
        """:meth:`fingerprint` of the prompt whose :func:`quoted` JSON, UTF-8 encoded, is
        ``text``: :func:`digest` of the identity text, hashed on from the prefix's hash."""
        state = self._prefix_hash.copy()
        state.update(text)
        state.update(self._suffix_bytes)
        return state.hexdigest()[:FINGERPRINT_HEX_LENGTH]

    @cached_property
    def _prefix_hash(self) -> hashlib._Hash:
        return hashlib.sha256(self.prefix.encode())

    @cached_property
    def _suffix_bytes(self) -> bytes:
        return self.suffix.encode()


def quoted(prompt: str) -> str:
    """A prompt as the identity text holds it (a JSON string)."""
    return json.dumps(prompt, ensure_ascii=False)


def shape(provider: ProviderSpec, params: Mapping[str, Any],
          extras: Mapping[str, Any]) -> Shape:
    mapping = provider.mapping
    template, problems = mapping.build(SLOT, params, extras)
    unsent = {"seed": params["seed"]} if "seed" in params and not mapping.sends_seed else {}
    path = _slot_path(template)
    if problems or path is None:
        return Shape(template, tuple(problems), unsent, (), "", "")
    text = identity_text(provider.name, mapping.model, template, unsent)
    prefix, suffix = text.split(_SLOT_TEXT)
    return Shape(template, (), unsent, path, prefix, suffix)


def _slot_path(node: Mapping[str, Any]) -> tuple[str, ...] | None:
    for key, value in node.items():
        if value is SLOT or value == SLOT:
            return (key,)
        if isinstance(value, Mapping):
            below = _slot_path(value)
            if below is not None:
                return (key, *below)
    return None


def _filled(node: Mapping[str, Any], path: tuple[str, ...], prompt: str) -> dict[str, Any]:
    head, *rest = path
    return {**node, head: _filled(node[head], tuple(rest), prompt) if rest else prompt}
