"""Spec → plan, pure: combinations (request shapes, fingerprints), the diff against the lock,
cost estimates, shards, and the plan's renderings. No network, no writes."""
