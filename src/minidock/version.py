"""The release number, in a module of its own so that any layer may read it
without importing the package root (which reaches up to the public API)."""

__version__ = "0.1.0"
