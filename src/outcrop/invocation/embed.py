"""The embedding step: InvokeModel on an embedding model runs the embedding engine instead of a
text engine, behind the same resolve, authorize, admit and record steps."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..catalog import ModelRef
from ..engines.embeddings import embedding_engine
from ..formats import embeddings
from ..protocol.errors import ValidationException
from .call import Answered
from .hooks import AdmissionRequest

if TYPE_CHECKING:
    from .pipeline import _Run

EMBEDDING_MODEL_HEADER = "x-outcrop-embedding-model"


async def embed(run: _Run, ref: ModelRef) -> Answered:
    call = run.invocation
    if call.streaming:
        raise ValidationException("The model is unsupported for streaming.")
    engine = embedding_engine()
    run.record.served_model = engine.name
    raw = bytes(call.params.get("body") or b"")
    request = embeddings.parse(
        raw, ref, engine.token_counts, lambda text, n, keep_end: engine.truncate(text, n, keep_end=keep_end)
    )
    counts = request.options.get("token_counts") or engine.token_counts(request.texts)
    tokens = sum(counts)
    run.record.input_tokens = tokens
    await run.hooks.admit(AdmissionRequest(call.identity, call.operation, ref, engine.name, tokens, None))
    embedded = await engine.embed(request.texts, request.dimensions)
    body = json.dumps(embeddings.render(request, embedded)).encode()
    headers = [
        ("x-amzn-bedrock-input-token-count", str(tokens)),
        ("x-amzn-bedrock-invocation-latency", str(run.ms())),
        (EMBEDDING_MODEL_HEADER, engine.name),
    ]
    return Answered({"body": body, "contentType": "application/json"}, headers)
