"""Modellix: ByteDance Seedream 4.0 text-to-image."""
