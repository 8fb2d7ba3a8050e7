"""Fixtures for the plan tests: the core tests' (each test in its own temporary folder, a
pipeline written there, the CLI run in-process)."""

from corekit import _isolated, run, write_pipeline

__all__ = ["_isolated", "run", "write_pipeline"]
