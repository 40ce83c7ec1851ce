"""CountTokens: what the same request would bill, counted with the served model's tokenizer."""

from __future__ import annotations

from ...formats.converse import conversation_from_converse
from ...protocol.errors import ValidationException
from ..registry import Call, Reply, operation
from .converse import require_text_model


@operation("CountTokens")
async def count_tokens(call: Call) -> Reply:
    ref = call.services.catalog.resolve(call.params["modelId"])
    require_text_model(ref)
    request = call.params["input"]
    if "converse" in request:
        conversation = conversation_from_converse(request["converse"])
    else:
        raise ValidationException(
            f"CountTokens with an InvokeModel body is not supported for {ref.model_id} yet."
        )
    engine = call.services.engine_for(ref)
    return Reply({"inputTokens": len(engine.prepare(conversation).tokens)})
