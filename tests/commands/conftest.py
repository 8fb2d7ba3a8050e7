"""Command tests: each in its own temporary folder (the current directory), pipelines written
there, the CLI run in-process (tests/corekit.py), and for the review commands a fast embedded
simulator to apply with (tests/reviewkit.py)."""

from corekit import _isolated, run, write_pipeline
from reviewkit import workdir, write

__all__ = ["_isolated", "run", "workdir", "write", "write_pipeline"]
