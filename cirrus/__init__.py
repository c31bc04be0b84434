"""Cirrus user tooling: the CLI, the client SDK and the local cloud. Never deployed."""

__version__ = "0.1.0"
