"""The embedding step: InvokeModel on an embedding model runs the embedding engine instead of a
text engine, behind the same resolve, authorize, admit and record steps."""

from __future__ import annotations

import json

from ..catalog import ModelRef
from ..engines.embeddings import embedding_engine
from ..formats import embeddings
from ..formats.codec import token_headers
from .call import Answered, Invocation
from .hooks import AdmissionRequest, Hooks
from .recorder import Recorder

EMBEDDING_MODEL_HEADER = "x-outcrop-embedding-model"


async def embed(call: Invocation, ref: ModelRef, recorder: Recorder, hooks: Hooks) -> Answered:
    engine = embedding_engine()
    recorder.record.served_model = engine.name
    raw = bytes(call.params.get("body") or b"")
    request = embeddings.parse(
        raw, ref, engine.token_counts, lambda text, n, keep_end: engine.truncate(text, n, keep_end=keep_end)
    )
    tokens = sum(request.options["token_counts"])
    recorder.record.input_tokens = tokens
    await hooks.admit(
        AdmissionRequest(
            call.request_id, call.source, call.identity, call.operation, ref, engine.name, tokens, 0
        )
    )
    embedded = await engine.embed(request.texts, request.dimensions)
    body = json.dumps(embeddings.render(request, embedded)).encode()
    recorder.price()
    await recorder.finish(response=body)
    headers = [
        *token_headers(tokens, recorder.ms()),
        (EMBEDDING_MODEL_HEADER, engine.name),
        *recorder.cost_headers(),
    ]
    return Answered({"body": body, "contentType": "application/json"}, headers)
