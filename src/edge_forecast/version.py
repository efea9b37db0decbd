"""The package version, apart from the package root (which is the lazily loaded Python API)."""

__version__ = "0.1.0"
