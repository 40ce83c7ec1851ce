"""Outcrop: a self-hosted Amazon Bedrock answered by real local models."""

__version__ = "0.1.0"
