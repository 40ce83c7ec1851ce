"""CountTokens: what the same request would bill, counted with the served model's tokenizer."""

from __future__ import annotations

from ...formats.converse import conversation_from_converse
from ...protocol.errors import ValidationException
from ..registry import Call, Reply, operation
from .converse import require_text_model
from .invoke import count_invoke_body


@operation("CountTokens")
async def count_tokens(call: Call) -> Reply:
    ref = call.services.catalog.resolve(call.params["modelId"])
    require_text_model(ref)
    request = call.params["input"]
    if "invokeModel" in request:
        return Reply({"inputTokens": count_invoke_body(call, ref, request["invokeModel"].get("body") or b"")})
    if "converse" in request:
        conversation = conversation_from_converse(request["converse"], ref.provider)
    else:
        raise ValidationException("CountTokens needs an input: converse or invokeModel.")
    engine = call.services.engine_for(ref)
    return Reply({"inputTokens": len(engine.prepare(conversation).tokens)})
