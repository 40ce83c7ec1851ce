"""ApplyGuardrail: evaluate a stored guardrail version over the given content (guardrails/apply.py)."""

from __future__ import annotations

import asyncio

from ...guardrails.apply import apply
from ...guardrails.lookup import find_version
from ..registry import Call, Reply, operation


@operation("ApplyGuardrail")
async def apply_guardrail(call: Call) -> Reply:
    settings = call.services.settings
    params = call.params
    version = params.get("guardrailVersion") or "DRAFT"
    found = find_version(
        settings.state_dir, settings.region, settings.account_id, params["guardrailIdentifier"], version
    )
    verdict = await asyncio.to_thread(
        apply, found.document, params["source"], list(params["content"]), params.get("outputScope")
    )
    return Reply(verdict.response)
