"""Lock tests: each in its own temporary folder (the current directory), pipelines written
there, the CLI run in-process (the fixtures of tests/corekit.py)."""

from corekit import _isolated, run, write_pipeline

__all__ = ["_isolated", "run", "write_pipeline"]
