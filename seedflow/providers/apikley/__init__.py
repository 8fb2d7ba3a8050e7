"""Apikley (kie.ai API family): Seedream v4 text-to-image."""
