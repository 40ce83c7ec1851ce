"""Operation handlers, keyed by the operation names of botocore's service models.

A handler gets the parsed, validated input members and returns the output members; the
protocol layer does every byte on the wire. Handlers register with ``@operation("Name")``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..auth import Identity
    from ..services import Services


@dataclass
class Call:
    operation: str
    params: dict[str, Any]
    request_id: str
    identity: Identity
    headers: dict[str, str]  # lower-cased names
    services: Services


@dataclass
class Reply:
    data: dict[str, Any]
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class StreamReply:
    """An event-stream output: already-framed messages, sent as they come."""

    events: AsyncIterator[bytes]
    data: dict[str, Any] = field(default_factory=dict)
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Call], Awaitable[Reply | StreamReply]]
HANDLERS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in HANDLERS:
            raise RuntimeError(f"two handlers for {name}")
        HANDLERS[name] = handler
        return handler

    return register


def load_handlers() -> dict[str, Handler]:
    """Import every API module so their handlers register."""
    from .control import (  # noqa: F401
        batch_jobs,
        foundation_models,
        guardrails,
        inference_profiles,
        invocation_logging,
        tags,
    )
    from .runtime import apply_guardrail, async_invoke, inference  # noqa: F401

    return HANDLERS
