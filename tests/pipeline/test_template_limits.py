"""Templates from pull requests cannot exhaust memory or time, nor leak object addresses
(which would make identity change on every run)."""

from __future__ import annotations

import time

import pytest
from corekit import Run, WritePipeline, assert_no_traceback

from seedflow.pipeline import templates

TOO_LONG = "the template renders {n} characters; at most 100,000 are allowed"
ADDRESS = ("the template prints a Python object (its text holds a memory address, which "
           "changes every run); print a value instead")


def pipeline(prompt: str) -> str:
    return f"""
        version: 1
        provider: sim
        assets:
          a:
            prompt: "{prompt}"
            output: a.png
    """


@pytest.mark.parametrize(("prompt", "message"), [
    ("{{ range(100000) | join('x' * 9999) }}",
     TOO_LONG.format(n=f"{sum(len(str(i)) for i in range(100000)) + 99999 * 9999:,}")),
    ("{{ 'a' | center(10**7) }}", TOO_LONG.format(n="10,000,000")),
    ("{{ '%0*d' % (10**7, 1) }}", TOO_LONG.format(n="10,000,000")),
    ("{{ 'x'.title | string }}", ADDRESS),
    ("{{ 'x'.title ~ '' }}", ADDRESS),
])
def test_oversized_or_unstable_renders_are_refused(write_pipeline: WritePipeline, run: Run,
                                                   prompt: str, message: str) -> None:
    path = write_pipeline(pipeline(prompt))
    result = run("validate", path)
    assert result.code == 1
    assert result.err.splitlines()[0] == f"p.yaml:5:13: prompt: {message}"
    assert_no_traceback(result)


def test_memory_is_bounded_while_templates_render(write_pipeline: WritePipeline, run: Run,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "RENDER_MEMORY", 256 * 2**20)
    path = write_pipeline(pipeline("{{ range(100000) | join('x' * 9999) }}"))
    result = run("validate", path)
    assert result.code == 1
    assert "p.yaml:5:13: prompt: the template needs too much memory; simplify it" in result.err


def test_rendering_time_is_bounded(write_pipeline: WritePipeline, run: Run,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "RENDER_SECONDS", 1)
    loops = ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}"
             "{% endfor %}")
    path = write_pipeline(pipeline(loops))
    started = time.monotonic()
    result = run("validate", path)
    assert time.monotonic() - started < 10
    assert result.code == 1
    assert result.err.splitlines()[0] == ("p.yaml:5:13: prompt: rendering took longer than 1 s; "
                                          "simplify the template")


def test_limits_are_lifted_after_rendering(write_pipeline: WritePipeline, run: Run) -> None:
    import resource
    import signal

    before = resource.getrlimit(resource.RLIMIT_AS)
    assert run("validate", write_pipeline(pipeline("a cat"))).code == 0
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
