"""simbatch's version: its one home, read by the package front, the pages, the result store
and the build (``pyproject.toml`` takes it from here)."""

__version__ = "0.1.0"
