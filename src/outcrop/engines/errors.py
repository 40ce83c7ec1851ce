"""What can go wrong in an engine, in the engine's own terms.

Engines know nothing of Bedrock: they raise these, and the invocation pipeline says each one the
way AWS would (``invocation/errors.py``). Every error carries a message fit for a client.
"""

from __future__ import annotations

LOADING = "The model is still loading. Try again shortly."
BUSY = "Too many requests, please wait before trying again."
SHUTTING_DOWN = "The server is shutting down."


class EngineError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EngineLoading(EngineError):
    """The model is still loading."""


class EngineUnavailable(EngineError):
    """The engine cannot serve now: shutting down, or its remote server is unreachable or down."""


class EngineBusy(EngineError):
    """The engine's queue is full (or its remote server said so): try again later."""


class EngineTimeout(EngineError):
    """No token arrived within the engine's deadline."""


class EngineFailed(EngineError):
    """The model failed while generating (a decode error, a grammar it could not compile, an error
    from its remote server)."""


class EngineInternal(EngineError):
    """Outcrop's own engine code failed (a bug, not the model): the requests it held are ended."""


class ContextOverflow(EngineError):
    """The prompt does not fit the served model's context window."""
