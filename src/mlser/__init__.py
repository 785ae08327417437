"""mlser: a reproducible pipeline for multi-level speech emotion recognition."""

__version__ = "0.1.0"
