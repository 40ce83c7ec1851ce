"""One invocation's record as it happens: timing, usage, outcome, and the completion hooks at the end.

Every step that learns something about the invocation writes it here; ``finish`` (or ``fail``)
hands the record to the completion hooks exactly once, however the invocation ended.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from ..conversation import AnswerEvent, Finished, ReasoningDelta, TextDelta, ToolUseStart
from ..formats.codec import Metrics, metrics_of
from ..protocol.errors import BedrockError
from .call import Invocation
from .hooks import Hooks
from .record import InvocationRecord


class Recorder:
    def __init__(self, invocation: Invocation, hooks: Hooks) -> None:
        self.hooks = hooks
        self.started = time.perf_counter()
        self.first_token: int | None = None
        params = invocation.params
        self.record = InvocationRecord(
            request_id=invocation.request_id,
            operation=invocation.operation,
            identity=invocation.identity,
            source=invocation.source,
            model_id=invocation.model_id,
            started_at=dt.datetime.now(dt.UTC),
            request=params.get("body") if "body" in params else params,
        )
        self.finished = False

    def ms(self) -> int:
        """Milliseconds since the invocation started."""
        return int((time.perf_counter() - self.started) * 1000)

    def saw(self, event: AnswerEvent) -> None:
        if self.first_token is None and isinstance(event, TextDelta | ReasoningDelta | ToolUseStart):
            self.first_token = self.ms()

    def metrics(self, done: Finished) -> Metrics:
        """Bedrock's invocation metrics for an answer that just ended."""
        latency = self.ms()
        return metrics_of(done, latency, self.first_token if self.first_token is not None else latency)

    def usage(self, done: Finished) -> None:
        record = self.record
        record.input_tokens = done.input_tokens
        record.output_tokens = done.output_tokens
        record.cache_read_tokens = done.cache_read_tokens
        record.cache_write_tokens = done.cache_write_tokens
        record.stop_reason = done.stop_reason

    async def finish(self, *, response: Any, cancelled: bool = False) -> None:
        """Hand the record to the completion hooks (once; later calls do nothing)."""
        if self.finished:
            return
        self.finished = True
        self.record.latency_ms = self.ms()
        self.record.first_token_ms = self.first_token
        self.record.response = response
        self.record.cancelled = cancelled
        await self.hooks.completed(self.record)

    async def fail(self, error: BedrockError, *, response: Any = None) -> None:
        self.record.error_code = error.code
        self.record.error_message = error.message
        await self.finish(response=response)
