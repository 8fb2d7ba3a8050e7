"""Carrying out a plan: the executor and what it needs at the edges (recorder, pacing,
downloads, HTTP transport, progress display, run-time settings and clients)."""
