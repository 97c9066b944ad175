"""minidock: docker build and docker run rebuilt in Python, with no daemon."""

__version__ = "0.1.0"
