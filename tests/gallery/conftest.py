"""Gallery test fixtures (the helpers live in galleryutil.py)."""

from galleryutil import write_pipeline

__all__ = ["write_pipeline"]
