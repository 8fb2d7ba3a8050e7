"""The lockfile: what has been generated, so nothing is paid for twice."""
