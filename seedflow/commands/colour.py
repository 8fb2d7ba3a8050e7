"""Whether output may be coloured: only on a terminal, and never after ``--no-color`` or with
``NO_COLOR`` set to anything but the empty string (https://no-color.org).

No colour means no colour only: progress bars still draw, in characters
(:func:`seedflow.apply.progress.bar_column`).
"""

from __future__ import annotations

import os
from typing import TextIO

import click


def colour_allowed() -> bool:
    """False after ``seedflow --no-color`` (the CLI sets the click context's ``color``) or when
    ``NO_COLOR`` is set."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.color is False:
        return False
    return not os.environ.get("NO_COLOR")


def colour_for(stream: TextIO) -> bool:
    """Whether to colour what is written to ``stream``."""
    return colour_allowed() and stream.isatty()
