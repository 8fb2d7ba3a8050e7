"""Pipeline files: YAML with positions → validated, immutable spec records."""
