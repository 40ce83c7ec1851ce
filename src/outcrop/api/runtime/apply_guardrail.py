"""ApplyGuardrail: evaluate a stored guardrail version over the given content (guardrails/apply.py)."""

from __future__ import annotations

import asyncio

from ...guardrails import ids
from ...guardrails.apply import apply
from ...invocation.guard import NOT_FOUND
from ...protocol.errors import ValidationException
from ...store.guardrails import open_store
from ..registry import Call, Reply, operation


@operation("ApplyGuardrail")
async def apply_guardrail(call: Call) -> Reply:
    settings = call.services.settings
    params = call.params
    guardrail_id = ids.parse(params["guardrailIdentifier"], settings.region, settings.account_id)
    version = params.get("guardrailVersion") or "DRAFT"
    found = open_store(settings.state_dir).get(guardrail_id, version) if guardrail_id else None
    if found is None:
        raise ValidationException(NOT_FOUND)
    verdict = await asyncio.to_thread(
        apply, found.document, params["source"], list(params["content"]), params.get("outputScope")
    )
    return Reply(verdict.response)
