"""One invocation's record as it happens: timing, usage, outcome, and the completion hooks at the end.

Every step that learns something about the invocation writes it here; ``finish`` (or ``fail``)
hands the record to the completion hooks exactly once, however the invocation ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from ..catalog.prices import COST_HEADER, header_value
from ..conversation import AnswerEvent, Finished, ReasoningDelta, TextDelta, ToolUseStart
from ..engines.errors import EngineError
from ..formats.codec import Metrics, metrics_of
from ..protocol.errors import TOO_DEEP, BedrockError, InternalServerException, ValidationException
from .call import Invocation
from .errors import aws_error
from .hooks import Hooks
from .record import InvocationRecord

log = logging.getLogger("outcrop.invocation")


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
        self.price()

    def price(self) -> None:
        if self.hooks.pricing is not None:
            self.record.estimated_cost_usd = self.hooks.pricing(self.record)

    def cost_headers(self) -> list[tuple[str, str]]:
        cost = self.record.estimated_cost_usd
        return [] if cost is None else [(COST_HEADER, header_value(cost))]

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
        self.record.error_status = error.status
        self.record.error_message = error.message
        await self.finish(response=response)

    @contextlib.asynccontextmanager
    async def failures(self, response: Any = None) -> AsyncIterator[None]:
        """Record how the invocation ended if it fails, and raise the failure as AWS says it: an
        engine's error as its Bedrock error, nesting past Python's recursion limit as a
        ValidationException, cancellation (a shutdown past its grace period) as cancelled.
        ``response``: what was sent so far (a stream's chunks)."""
        try:
            yield
        except BedrockError as exc:
            await self.fail(exc, response=response)
            raise
        except EngineError as exc:
            error = aws_error(exc, self.record.operation)
            await self.fail(error, response=response)
            raise error from None
        except asyncio.CancelledError:
            await asyncio.shield(self.finish(response=response, cancelled=True))
            raise
        except RecursionError:
            log.warning("a request nested too deeply for recursion", exc_info=True)
            too_deep = ValidationException(TOO_DEEP)
            await self.fail(too_deep, response=response)
            raise too_deep from None
        except Exception:
            await self.fail(InternalServerException("Internal server error"), response=response)
            raise
