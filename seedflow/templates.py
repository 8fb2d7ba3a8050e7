"""Sandboxed Jinja2 templates for prompts and output paths.

Pipelines arrive in pull requests and are rendered in CI, so templates run in Jinja's
immutable sandbox: no attribute starting with ``_`` (so no ``__class__`` / ``__globals__``
escapes), no mutation, no file or environment access (nothing of the kind is ever put in the
context), undefined variables are errors, and operations that could exhaust memory
(``'x' * 10**9``, huge powers) are refused. Non-deterministic helpers (``random``,
``lipsum``) are removed: a template must render the same text every time, or identity breaks.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MAX_REPEAT = 10_000
MAX_POWER = 10**6


class TemplateProblem(Exception):
    """A template failed to compile or render; the message is meant for the user."""


def slug(value: Any) -> str:
    """``"16:9"`` → ``"16x9"``, ``"A Forest Cabin!"`` → ``"a-forest-cabin"``."""
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    text = re.sub(r"(?<=\d):(?=\d)", "x", text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "x"


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*" and _is_big_repeat(left, right):
            raise SecurityError(f"repetition longer than {MAX_REPEAT} is not allowed")
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise SecurityError("exponents above 64 are not allowed")
        return super().call_binop(context, operator, left, right)


def _is_big_repeat(left: Any, right: Any) -> bool:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int):
            return len(seq) * times > MAX_REPEAT
    return False


@cache
def environment() -> jinja2.Environment:
    env = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.filters.pop("random", None)
    env.globals.pop("lipsum", None)
    env.filters["slug"] = slug
    return env


class Template:
    """A compiled template and the names it reads (for error messages and checks)."""

    __slots__ = ("_template", "names", "source")

    def __init__(self, source: str) -> None:
        env = environment()
        try:
            ast = env.parse(source)
            self._template = env.from_string(ast)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(f"template syntax error: {exc.message}") from None
        self.source = source
        self.names = frozenset(meta.find_undeclared_variables(ast)) | _names_read(ast)

    def render(self, context: Mapping[str, Any]) -> str:
        try:
            return self._template.render(context)
        except jinja2.UndefinedError as exc:
            known = ", ".join(sorted(str(k) for k in context)) or "none"
            raise TemplateProblem(f"{exc.message}; variables available here: {known}") from None
        except SecurityError as exc:
            raise TemplateProblem(f"not allowed in a template (sandboxed): {exc}") from None
        except jinja2.TemplateError as exc:
            raise TemplateProblem(f"template error: {exc}") from None
        except (TypeError, ValueError, ArithmeticError, OverflowError) as exc:
            raise TemplateProblem(f"template error: {exc}") from None


def _names_read(ast: nodes.Template) -> frozenset[str]:
    return frozenset(n.name for n in ast.find_all(nodes.Name) if n.ctx == "load")
