"""Where other services hook into every invocation: access, admission, completion.

* ``access``: may this identity call this action on these resources? Raise AccessDeniedException
  to refuse (model access, then identity-based policies; allow-all when neither is configured).
* ``admission``: may this invocation run now, knowing its tokens? Raise ThrottlingException or
  ServiceQuotaExceededException to refuse (quotas); then the engine's own queue admits it.
* ``completion``: one ``InvocationRecord`` per invocation, after it ended (logs, metrics, usage).
  A hook that fails is logged, never felt by the caller.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..auth import Identity
from ..catalog import ModelRef
from .record import InvocationRecord

log = logging.getLogger("outcrop.invocation")

# The IAM action AWS authorizes for each runtime operation (Converse is InvokeModel's permission).
ACTIONS = {
    "InvokeModel": "bedrock:InvokeModel",
    "Converse": "bedrock:InvokeModel",
    "InvokeModelWithResponseStream": "bedrock:InvokeModelWithResponseStream",
    "ConverseStream": "bedrock:InvokeModelWithResponseStream",
    "CountTokens": "bedrock:CountTokens",
}


@dataclass(frozen=True)
class AccessRequest:
    identity: Identity
    operation: str
    action: str
    resources: tuple[str, ...]  # the profile ARN (if any), then the foundation-model ARNs it reaches
    ref: ModelRef | None  # None: the model id names nothing known (its ARN is the one resource)


@dataclass(frozen=True)
class AdmissionRequest:
    request_id: str
    source: str  # as the invocation's record says: "api", "async", "batch", …
    identity: Identity
    operation: str
    ref: ModelRef
    served_model: str
    input_tokens: int  # as billed
    max_tokens: int | None  # as the request set it; None: not set (the model's maximum applies)


AccessCheck = Callable[[AccessRequest], Awaitable[None]]
Admission = Callable[[AdmissionRequest], Awaitable[None]]
CompletionHook = Callable[[InvocationRecord], Awaitable[None] | None]
Pricing = Callable[[InvocationRecord], float | None]


@dataclass
class Hooks:
    access: list[AccessCheck] = field(default_factory=list)  # in order; none: allow all
    admission: list[Admission] = field(default_factory=list)
    completion: list[CompletionHook] = field(default_factory=list)
    pricing: Pricing | None = None  # an invocation's estimated cost, once its usage is known

    def on_completion(self, hook: CompletionHook) -> None:
        self.completion.append(hook)

    async def authorize(self, request: AccessRequest) -> None:
        for check in self.access:
            await check(request)

    async def admit(self, request: AdmissionRequest) -> None:
        for admission in self.admission:
            await admission(request)

    async def completed(self, record: InvocationRecord) -> None:
        for hook in self.completion:
            try:
                result = hook(record)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("a completion hook failed for request %s", record.request_id)
