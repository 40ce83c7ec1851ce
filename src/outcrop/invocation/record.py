"""What the pipeline tells its completion hooks: one record per invocation, however it ended.

Invocation logs, metrics, quotas and usage per inference profile are all built from these, so
every runtime operation, async invocation, batch record and console turn is seen exactly once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..auth import Identity


@dataclass
class InvocationRecord:
    request_id: str
    operation: str  # Converse | ConverseStream | InvokeModel | InvokeModelWithResponseStream | CountTokens
    identity: Identity
    source: str  # who called: "api" (HTTP), or an in-process caller's name ("async", "batch", "console")
    model_id: str  # as the caller sent it
    started_at: dt.datetime
    resolved_model_id: str | None = None  # the Bedrock foundation model it names
    profile_arn: str | None = None  # the inference profile it went through, if any
    served_model: str | None = None  # the local model that answered
    # Tokens as Bedrock bills them: the request as sent, in the served model's tokenizer.
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    estimated_cost_usd: float | None = None  # on Bedrock's on-demand prices (catalog/prices.py)
    tokens_read: int | None = None  # what the served model read, when the request was fitted
    latency_ms: int = 0
    first_token_ms: int | None = None
    stop_reason: str | None = None
    guardrail_action: str | None = None  # INTERVENED | NONE, when a guardrail was applied
    error_code: str | None = None  # the AWS error code the caller got
    error_status: int | None = None  # and its HTTP status
    error_message: str | None = None
    cancelled: bool = False  # the caller went away before the answer ended
    request: Any = None  # the InvokeModel body (bytes) or Converse's input members, as sent
    response: Any = None  # the body, Converse's output members, or the stream's events in order
