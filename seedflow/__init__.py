"""seedflow: plan and idempotently apply image-generation pipelines kept in git."""

__version__ = "0.1.0"
