"""The pipeline file: YAML with positions, its schema, the immutable model, templates, matrix."""
