"""Foley: a self-hosted Discord bot for AI music, speech and sound effects."""

__version__ = "0.1.0"
