"""What the pipeline takes and gives back, with or without HTTP in between.

An ``Invocation`` is one runtime operation's input members, as botocore's service model names
them (what the protocol layer parsed from a request, or what an in-process caller built: an async
invocation, a batch record, the console), and who asks. The pipeline answers ``Answered`` (the
output members and headers) or ``Streamed`` (the same, and the event stream's events in order):
exactly what the HTTP API sends, before framing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ..auth import Identity

STREAMING = frozenset({"ConverseStream", "InvokeModelWithResponseStream"})
CONVERSE = frozenset({"Converse", "ConverseStream"})
RUNTIME_OPERATIONS = (
    "Converse",
    "ConverseStream",
    "InvokeModel",
    "InvokeModelWithResponseStream",
    "CountTokens",
)

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class StreamEvent:
    """One event of an event stream: its ``:event-type`` and its JSON payload. InvokeModel's
    stream sends ``chunk`` events whose payload is ``{"bytes": <base64 of the chunk's JSON>}``."""

    type: str
    payload: dict[str, Any]


@dataclass
class Invocation:
    operation: str
    params: dict[str, Any]  # the operation's input members
    identity: Identity
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    source: str = "api"  # "api" for HTTP; in-process callers name themselves

    @property
    def streaming(self) -> bool:
        return self.operation in STREAMING

    @property
    def converse(self) -> bool:
        return self.operation in CONVERSE

    @property
    def model_id(self) -> str:
        return str(self.params.get("modelId", ""))


@dataclass
class Answered:
    data: dict[str, Any]  # the output members (InvokeModel: ``body`` bytes and ``contentType``)
    headers: Headers = field(default_factory=list)


@dataclass
class Streamed:
    events: AsyncIterator[StreamEvent]
    data: dict[str, Any] = field(default_factory=dict)
    headers: Headers = field(default_factory=list)
