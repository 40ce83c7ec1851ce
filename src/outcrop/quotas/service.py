"""Quotas in the pipeline: the admission hook reserves each invocation's share of every quota that
applies to it, and the completion hook settles the reservation once the invocation has ended.

Counted as Bedrock counts them (docs/quotas.md):

* requests per minute: one per invocation admitted;
* tokens per minute and per day: at admission, the input tokens as billed (cache reads and writes
  included) plus ``max_tokens`` (the model's maximum output when the request sets none) are
  reserved; at the end the reservation is replaced by what was used: input tokens, cache writes,
  and output tokens times the model's burndown rate (cache reads are given back).

An invocation over any of them is refused with 429 ThrottlingException in Bedrock's words, before
the model runs. CountTokens, batch records and async invocations are not counted (Bedrock gives
batch inference and async invocation quotas of their own).
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import QuotaRule, Settings
from ..invocation.hooks import AdmissionRequest
from ..invocation.record import InvocationRecord
from ..protocol.errors import ThrottlingException
from .bucket import Bucket
from .burndown import output_weight

TOO_MANY_REQUESTS = "Too many requests, please wait before trying again."
TOO_MANY_TOKENS = "Too many tokens, please wait before trying again."
TOO_MANY_TOKENS_PER_DAY = "Too many tokens per day, please wait before trying again."

MINUTE = 60.0
DAY = 86_400.0
# Reserved for a request that sets no max_tokens on a model whose maximum output the catalogue
# does not know.
DEFAULT_MAX_OUTPUT = 4096
NOT_COUNTED = frozenset({"batch", "async", "check"})


@dataclass(frozen=True)
class Scope:
    """Whose allowance: one rule's, for one model, and (when the rule says) one profile or identity."""

    rule: int
    model_id: str
    profile: str | None
    identity: str | None


@dataclass
class Allowance:
    scope: Scope
    weight: float  # quota tokens per output token
    requests: Bucket | None = None
    tokens: Bucket | None = None
    daily: Bucket | None = None


@dataclass
class Reservation:
    tokens: int
    allowances: list[Allowance] = field(default_factory=list)


class Quotas:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = settings.quotas
        self.clock = clock
        self.allowances: dict[Scope, Allowance] = {}
        self.reserved: dict[str, Reservation] = {}
        self._matched: dict[tuple[str | None, ...], list[tuple[int, QuotaRule, Scope]]] = {}

    def _scopes(self, request: AdmissionRequest) -> list[tuple[int, QuotaRule, Scope]]:
        """The allowances an invocation draws on (worked out once per model, profile and caller)."""
        ref = request.ref
        key = (ref.model_id, ref.profile_id, ref.profile_arn, request.identity.user)
        known = self._matched.get(key)
        if known is None:
            known = self._matched[key] = self._match(request)
        return known

    def _match(self, request: AdmissionRequest) -> list[tuple[int, QuotaRule, Scope]]:
        ref = request.ref
        user = request.identity.user or "root"
        out = []
        for n, rule in enumerate(self.rules):
            if not any(fnmatch.fnmatchcase(ref.model_id, pattern) for pattern in rule.models):
                continue
            profile = None
            if rule.profiles is not None:
                names = [name for name in (ref.profile_id, ref.profile_arn) if name]
                if not any(fnmatch.fnmatchcase(name, p) for name in names for p in rule.profiles):
                    continue
                profile = ref.profile_arn or ref.profile_id
            if rule.identity is not None and rule.identity != request.identity.user:
                continue
            identity = user if rule.per_identity or rule.identity else None
            out.append((n, rule, Scope(n, ref.model_id, profile, identity)))
        return out

    def _allowance(self, rule: QuotaRule, scope: Scope, now: float) -> Allowance:
        allowance = self.allowances.get(scope)
        if allowance is None:
            weight = rule.output_token_weight
            allowance = Allowance(scope, output_weight(scope.model_id) if weight is None else weight)
            if rule.requests_per_minute:
                allowance.requests = Bucket.full(rule.requests_per_minute, MINUTE, now)
            if rule.tokens_per_minute:
                allowance.tokens = Bucket.full(rule.tokens_per_minute, MINUTE, now)
            if rule.tokens_per_day:
                allowance.daily = Bucket.full(rule.tokens_per_day, DAY, now)
            self.allowances[scope] = allowance
        return allowance

    async def __call__(self, request: AdmissionRequest) -> None:
        """The pipeline's admission hook: all of the invocation's allowances have room, or none is
        touched and the invocation is throttled."""
        if not self.rules or request.source in NOT_COUNTED or request.operation == "CountTokens":
            return
        now = self.clock()
        allowances = [self._allowance(rule, scope, now) for _, rule, scope in self._scopes(request)]
        if not allowances:
            return
        max_tokens = request.max_tokens
        if max_tokens is None:
            max_tokens = request.ref.max_output_tokens or DEFAULT_MAX_OUTPUT
        tokens = request.input_tokens + max_tokens
        for attribute, amount, message in (
            ("requests", 1, TOO_MANY_REQUESTS),
            ("tokens", tokens, TOO_MANY_TOKENS),
            ("daily", tokens, TOO_MANY_TOKENS_PER_DAY),
        ):
            for allowance in allowances:
                bucket: Bucket | None = getattr(allowance, attribute)
                if bucket is not None and bucket.seconds_until(amount, now) > 0:
                    raise ThrottlingException(message)
        for allowance in allowances:
            if allowance.requests:
                allowance.requests.take(1)
            for bucket in (allowance.tokens, allowance.daily):
                if bucket:
                    bucket.take(tokens)
        self.reserved[request.request_id] = Reservation(tokens, allowances)

    async def settle(self, record: InvocationRecord) -> None:
        """The completion hook: replace the reservation with what the invocation used."""
        held = self.reserved.pop(record.request_id, None)
        if held is None:
            return
        now = self.clock()
        for allowance in held.allowances:
            used = record.input_tokens + record.cache_write_tokens + record.output_tokens * allowance.weight
            for bucket in (allowance.tokens, allowance.daily):
                if bucket:
                    bucket.refill(now)
                    bucket.give(held.tokens - used)

    def report(self) -> list[dict[str, Any]]:
        """Each allowance in use and what is left of it now (``GET /_outcrop/quotas``)."""
        now = self.clock()
        out = []
        for scope, allowance in self.allowances.items():
            entry: dict[str, Any] = {
                "quota": self.rules[scope.rule].describe(),
                "modelId": scope.model_id,
                "outputTokenWeight": allowance.weight,
            }
            if scope.profile:
                entry["inferenceProfile"] = scope.profile
            if scope.identity:
                entry["identity"] = scope.identity
            for name, bucket in (
                ("requestsPerMinute", allowance.requests),
                ("tokensPerMinute", allowance.tokens),
                ("tokensPerDay", allowance.daily),
            ):
                if bucket:
                    entry[name] = {"limit": int(bucket.capacity), "available": int(bucket.refill(now))}
            out.append(entry)
        return out
