"""The simulator's version: pyproject.toml reads it from here (one version)."""

VERSION = "0.1.0"
