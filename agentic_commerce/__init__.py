"""Agentic Commerce Server: the merchant side of the Agentic Commerce Protocol."""

__version__ = "0.1.0"
