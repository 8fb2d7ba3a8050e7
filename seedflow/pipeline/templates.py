"""Sandboxed Jinja2 templates for prompts and output paths.

Pipelines arrive in pull requests and are rendered in CI, so templates run in Jinja's
immutable sandbox: no attribute starting with ``_`` (so no ``__class__`` / ``__globals__``
escapes), no mutation, no file or environment access (nothing of the kind is ever put in the
context), undefined variables are errors, and operations that could exhaust memory
(``'x' * 10**9``, huge powers) are refused. Non-deterministic helpers (``random``,
``lipsum``) are removed: a template must render the same text every time, or identity breaks.

Nothing in a template is evaluated while it compiles: Jinja would otherwise fold filters on
literals (``{{ '' | center(999999999) }}``) at compile time, outside the render limits and
the sandbox. Every expression runs when the template renders, inside :func:`render_limits`.
The limits themselves are in seedflow.limits.
"""

from __future__ import annotations

import re
import resource
import signal
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache, lru_cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from seedflow.limits import (
    MAX_POWER_BITS,
    MAX_REPEAT,
    MAX_TEXT,
    RENDER_MEMORY,
    RENDER_SECONDS,
    UNDEFINED_SEARCH_SECONDS,
    UNDEFINED_SEARCHES,
    has_lone_surrogate,
)

_ADDRESS = re.compile(r"<[^<>]*\bat 0x[0-9a-fA-F]+>")


class TemplateProblem(Exception):
    """A template failed to compile or render; the message is meant for the user."""


@lru_cache(maxsize=65536)
def _slug_text(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"(?<=\d):(?=\d)", "x", text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "x"


def slug(value: Any) -> str:
    """``"16:9"`` → ``"16x9"``, ``"A Forest Cabin!"`` → ``"a-forest-cabin"``."""
    return _slug_text(str(value))


class _NoFolding(CodeGenerator):
    """Jinja's compiler, except that it evaluates no expression at compile time (only literal
    text is joined): each runs when the template renders, in the sandbox and its limits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.optimizer = None   # Jinja's optimizer folds filters and operators on literals

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame,
                               finalize: CodeGenerator._FinalizeInfo) -> str:
        if not isinstance(node, nodes.TemplateData):
            raise nodes.Impossible
        return super()._output_child_to_const(node, frame, finalize)


class _Undeclared(meta.TrackingCodeGenerator, _NoFolding):
    """What ``meta.find_undeclared_variables`` runs, without its constant folding either."""


def _undeclared(env: jinja2.Environment, ast: nodes.Template) -> frozenset[str]:
    codegen = _Undeclared(env)
    codegen.visit(ast)
    return frozenset(codegen.undeclared_identifiers)


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})
    code_generator_class = _NoFolding

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*" and _is_big_repeat(left, right):
            raise SecurityError(f"repetition longer than {MAX_REPEAT} is not allowed")
        if (operator == "*" and isinstance(left, int) and isinstance(right, int)
                and left.bit_length() + right.bit_length() > MAX_POWER_BITS):
            raise SecurityError(f"products larger than 2**{MAX_POWER_BITS} are not allowed")
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise SecurityError("exponents above 64 are not allowed")
        if (operator == "**" and isinstance(left, int) and isinstance(right, int)
                and abs(left).bit_length() * right > MAX_POWER_BITS):
            raise SecurityError(f"powers larger than 2**{MAX_POWER_BITS} are not allowed")
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # `{{ product.items }}` is the YAML key `items`, never the dict method (as on the fast
        # path, so both paths render the same text).
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def _finalize(value: Any) -> Any:
    """Refuse to print a function or method: its text holds a memory address, so the prompt
    (and the combination's identity) would change on every run."""
    if callable(value) and not isinstance(value, jinja2.Undefined):
        name = getattr(value, "__name__", type(value).__name__)
        raise jinja2.TemplateRuntimeError(
            f"`{name}` is a function or method, not a value; use a filter (`name | title`) "
            "or a key that exists")
    return value


def _is_big_repeat(left: Any, right: Any) -> bool:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int):
            return len(seq) * times > MAX_REPEAT
    return False


@cache
def environment() -> jinja2.Environment:
    return _environment(jinja2.StrictUndefined)


def _environment(undefined: type[jinja2.Undefined]) -> jinja2.Environment:
    env = _Sandbox(undefined=undefined, autoescape=False, keep_trailing_newline=False,
                   finalize=_finalize)
    env.filters.pop("random", None)
    env.globals.pop("lipsum", None)
    env.filters["slug"] = slug
    return env


_MISSING: ContextVar[list[str]] = ContextVar("seedflow_missing")
MAX_MISSING = 10
"""Most undefined names and keys one template error lists."""


class _Recorded(jinja2.ChainableUndefined):
    """An undefined value that notes each use (printed, looped over, tested, computed with)
    and goes on as empty, so that one render finds every undefined name of a template."""

    __slots__ = ()

    def _note(self) -> None:
        seen = _MISSING.get()
        message = self._undefined_message
        if message not in seen:
            seen.append(message)

    def _go_on(self, *args: Any, **kwargs: Any) -> Any:
        self._note()   # arithmetic, calls, comparisons: noted, and the render goes on
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = _go_on
    __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __pow__ = _go_on
    __rpow__ = __pos__ = __neg__ = __call__ = __lt__ = __le__ = __gt__ = __ge__ = _go_on

    def __str__(self) -> str:
        self._note()
        return ""

    def __iter__(self) -> Iterator[Any]:
        self._note()
        return iter(())

    def __len__(self) -> int:
        self._note()
        return 0

    def __bool__(self) -> bool:
        self._note()
        return False


@cache
def _recording_environment() -> jinja2.Environment:
    return _environment(_Recorded)


def _every_undefined(source: str, context: Mapping[str, Any]) -> list[str]:
    """What each undefined name or key of ``source`` says, in the order they are met: the
    template rendered once more with undefined values standing in as empty (in the same sandbox
    and limits, for at most UNDEFINED_SEARCH_SECONDS). A render that fails for another reason,
    or runs out of time, ends the list where it stopped."""
    seen: list[str] = []
    token = _MISSING.set(seen)
    with _at_most(UNDEFINED_SEARCH_SECONDS):
        try:
            _recording_environment().from_string(source).render(context)
        except jinja2.UndefinedError as exc:   # an undefined value used in a way that must fail
            if exc.message and exc.message not in seen:
                seen.append(exc.message)
        except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, MemoryError,
                RecursionError, RenderTimeout):
            pass
        finally:
            _MISSING.reset(token)
    return seen


@contextmanager
def _at_most(seconds: float) -> Iterator[None]:
    """Inside :func:`render_limits`, stop the block after ``seconds`` (RenderTimeout inside
    it), out of the pipeline's render time: the rest of that goes on afterwards, and if the
    block used it all up, RenderTimeout is raised after the block. Elsewhere, do nothing."""
    if signal.getsignal(signal.SIGALRM) is not _timeout:
        yield
        return
    left, _ = signal.getitimer(signal.ITIMER_REAL)
    if left <= 0:
        yield
        return
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, min(left, seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        rest = left - (time.monotonic() - start)
        if rest > 0:
            signal.setitimer(signal.ITIMER_REAL, rest)
    if rest <= 0:
        raise RenderTimeout


class Template:
    """A compiled template and the names it reads (for error messages and checks).

    Most prompt and path templates are text with ``{{ name }}``, ``{{ name.key }}`` and
    ``{{ name | slug }}`` holes. Those render through a direct fast path (plain lookups in the
    YAML data, no Jinja context per render), which matters at 100,000 combinations; any other
    template, and any render the fast path cannot do exactly as Jinja would, goes to the sandbox.
    """

    __slots__ = ("_explained", "_fast", "_template", "names", "source")

    def __init__(self, source: str) -> None:
        env = environment()
        try:
            ast = env.parse(source)
            _refuse_compile_time_values(ast)
            self._template = env.from_string(ast)
            self.names = _undeclared(env, ast) | _names_read(ast)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(f"template syntax error: {exc.message}") from None
        except RecursionError:
            raise TemplateProblem("the template nests too deeply (brackets, blocks or "
                                  "operators); simplify it") from None
        self.source = source
        self._fast = _fast_parts(ast)
        self._explained: dict[tuple[str, tuple[str, ...]], str] = {}

    def render(self, context: Mapping[str, Any]) -> str:
        if self._fast is not None:
            text = _render_fast(self._fast, context)
            if text is not None:
                return text
        return self._render_sandboxed(context)

    def fast_renderer(self) -> Callable[[Mapping[str, Any]], str | None]:
        """A function giving what :meth:`render` returns where the fast path renders it (None
        otherwise). Each hole keeps its text by the identity of the value it shows, with the
        literal text around it joined on: a matrix's values are shared objects, and 100,000
        paths are made of a few hundred of them."""
        parts = self._fast
        if parts is None:
            return lambda context: None
        holes = _holes(parts)
        if not holes:
            text = "".join(part for part in parts if isinstance(part, str))
            return lambda context: text
        lookups = [(hole.name, hole.texts) for hole in holes]

        def render(context: Mapping[str, Any]) -> str | None:
            get = context.get
            try:
                return "".join([texts[id(get(name, _render_fast))] for name, texts in lookups])
            except KeyError:   # a value not met yet (or not kept: more than _HOLE_TEXTS)
                return _render_holes(holes, context)

        return render

    def _render_sandboxed(self, context: Mapping[str, Any]) -> str:
        if _render_time_spent():
            raise TemplateProblem(_TOO_LONG.format(seconds=RENDER_SECONDS))
        try:
            text = self._template.render(context)
        except jinja2.UndefinedError as exc:
            raise TemplateProblem(self._undefined_in_time(exc, context)) from None
        except SecurityError as exc:
            raise TemplateProblem(f"not allowed in a template (sandboxed): {exc}") from None
        except jinja2.TemplateError as exc:
            raise TemplateProblem(f"template error: {exc}") from None
        except (TypeError, ValueError, ArithmeticError, OverflowError) as exc:
            raise TemplateProblem(f"template error: {exc}") from None
        except MemoryError:
            raise TemplateProblem("the template needs too much memory; simplify it") from None
        except RecursionError:
            raise TemplateProblem("the template recurses too deeply (a macro that calls "
                                  "itself?); simplify it") from None
        except RenderTimeout:
            raise TemplateProblem(_TOO_LONG.format(seconds=RENDER_SECONDS)) from None
        return _checked(text)


    def _undefined_in_time(self, exc: jinja2.UndefinedError, context: Mapping[str, Any]) -> str:
        try:
            return self._undefined(exc, context)
        except RenderTimeout:   # the pipeline's render time ran out while names were searched
            return _TOO_LONG.format(seconds=RENDER_SECONDS)

    def _undefined(self, exc: jinja2.UndefinedError, context: Mapping[str, Any]) -> str:
        """Every undefined name and key of the template, not only the first: one message per
        template and cause, however many combinations meet it (remembered by the first
        message and the variables there are)."""
        names = tuple(sorted(str(k) for k in context))
        key = (exc.message or "", names)
        found = self._explained.get(key)
        if found is None:
            searched = len(self._explained) < UNDEFINED_SEARCHES
            missing = (_every_undefined(self.source, context) if searched else []) \
                or [exc.message or "undefined"]
            if exc.message and exc.message not in missing:
                missing.insert(0, exc.message)
            shown = missing[:MAX_MISSING]
            if len(missing) > MAX_MISSING:
                shown.append(f"and {len(missing) - MAX_MISSING} more")
            found = f"{'; '.join(shown)}; variables available here: {', '.join(names) or 'none'}"
            if searched:
                self._explained[key] = found
        return found


def _refuse_compile_time_values(ast: nodes.Template) -> None:
    """``{% autoescape EXPR %}`` is evaluated while compiling; only a literal may be given."""
    for node in ast.find_all(nodes.EvalContextModifier):
        if not all(isinstance(option.value, nodes.Const) for option in node.options):
            raise TemplateProblem("`{% autoescape %}` takes true or false, not an expression")


def _checked(text: str) -> str:
    if len(text) > MAX_TEXT:
        raise TemplateProblem(f"the template renders {len(text):,} characters; at most "
                              f"{MAX_TEXT:,} are allowed")
    if _ADDRESS.search(text):
        raise TemplateProblem("the template prints a Python object (its text holds a memory "
                              "address, which changes every run); print a value instead")
    if has_lone_surrogate(text):
        raise TemplateProblem("the template renders half of a UTF-16 pair (U+D800 to U+DFFF), "
                              "which is not a character and cannot be sent; print the "
                              "character itself")
    return text


_TOO_LONG = "rendering took longer than {seconds} s; simplify the template"


class RenderTimeout(Exception):
    """Raised (from a signal handler) when a pipeline's templates render for too long."""


@contextmanager
def render_limits() -> Iterator[None]:
    """Bound the memory and time a pipeline's templates may use while they render.

    A pipeline comes from a pull request: a template like ``{{ range(10**5) | join('x' *
    9999) }}`` would otherwise take gigabytes, and nested loops hours. Inside this block the
    process may grow by at most RENDER_MEMORY (a larger allocation fails with MemoryError) and
    rendering stops after RENDER_SECONDS. Limits need the main thread (signals); elsewhere the
    block only renders.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space() + RENDER_MEMORY
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    previous = signal.signal(signal.SIGALRM, _timeout)
    signal.setitimer(signal.ITIMER_REAL, RENDER_SECONDS)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _timeout(signum: int, frame: object) -> None:
    raise RenderTimeout


def _render_time_spent() -> bool:
    """Inside :func:`render_limits`, whether the pipeline's render time has run out. The timer
    fires once: without this check every later template would render with no time limit."""
    return (signal.getsignal(signal.SIGALRM) is _timeout
            and signal.getitimer(signal.ITIMER_REAL)[0] <= 0)


def _address_space() -> int:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


def _names_read(ast: nodes.Template) -> frozenset[str]:
    return frozenset(n.name for n in ast.find_all(nodes.Name) if n.ctx == "load")


# A fast-path part: literal text, or (variable, keys to look up, filters to apply).
_Part = str | tuple[str, tuple[str, ...], tuple[str, ...]]
_FAST_FILTERS: dict[str, Callable[[Any], str]] = {
    "slug": slug, "lower": lambda v: str(v).lower(), "upper": lambda v: str(v).upper()}
_PLAIN = (str, int, float)


def _fast_parts(ast: nodes.Template) -> tuple[_Part, ...] | None:
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    parts: list[_Part] = []
    for node in ast.body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            parts.append(node.data)
            continue
        hole = _hole(node)
        if hole is None:
            return None
        parts.append(hole)
    return tuple(parts)


def _hole(node: nodes.Node) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    filters: list[str] = []
    while isinstance(node, nodes.Filter):
        if node.name not in _FAST_FILTERS or node.args or node.kwargs or node.node is None:
            return None
        filters.insert(0, node.name)
        node = node.node
    keys: list[str] = []
    while isinstance(node, nodes.Getattr):
        keys.insert(0, node.attr)
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    return (node.name, tuple(keys), tuple(filters))


_HOLE_TEXTS = 10_000   # texts kept per hole of a fast renderer


class _Hole:
    """A hole of a fast renderer: its texts, each with the literal text around it (``before``
    only for the first hole), kept by the identity of the value the hole reads."""

    __slots__ = ("after", "before", "held", "name", "part", "texts")

    def __init__(self, part: tuple[str, tuple[str, ...], tuple[str, ...]], before: str) -> None:
        self.part = part
        self.name = part[0]
        self.before = before
        self.after = ""
        self.texts: dict[int, str] = {}
        self.held: list[Any] = []   # the values whose ids key `texts`, alive so ids stay theirs

    def text(self, context: Mapping[str, Any]) -> str | None:
        value = context.get(self.name, _render_fast)
        known = self.texts.get(id(value))
        if known is not None:
            return known
        text = _render_fast((self.part,), context)
        if text is None:
            return None
        text = self.before + text + self.after
        if len(self.texts) < _HOLE_TEXTS:
            self.texts[id(value)] = text
            self.held.append(value)
        return text


def _holes(parts: tuple[_Part, ...]) -> list[_Hole]:
    """The holes of ``parts``, each with the literal text after it (the first one also with
    the text before it)."""
    holes: list[_Hole] = []
    before = ""
    for part in parts:
        if not isinstance(part, str):
            holes.append(_Hole(part, "" if holes else before))
        elif holes:
            holes[-1].after += part
        else:
            before += part
    return holes


def _render_holes(holes: list[_Hole], context: Mapping[str, Any]) -> str | None:
    texts = []
    for hole in holes:
        text = hole.text(context)
        if text is None:
            return None
        texts.append(text)
    return "".join(texts)


def _render_fast(parts: tuple[_Part, ...], context: Mapping[str, Any]) -> str | None:
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        name, keys, filters = part
        value = context.get(name, _render_fast)
        for key in keys:
            if type(value) is not dict or key not in value:
                return None  # let Jinja decide (attributes, undefined errors)
            value = value[key]
        if type(value) not in _PLAIN:
            return None
        for f in filters:
            value = _FAST_FILTERS[f](value)
        out.append(str(value))
    return "".join(out)
