"""Meta Llama (3.x, 4) InvokeModel bodies: ``prompt`` with Llama's chat tokens, ``max_gen_len``.

Request: ``{"prompt", "temperature", "top_p", "max_gen_len", "images"}``; response:
``{"generation", "prompt_token_count", "generation_token_count", "stop_reason"}`` with
``stop_reason`` ``stop`` or ``length``; stream chunks have the same keys, the prompt count on
the first chunk only, and the last chunk carries the stop reason and invocation metrics.
The prompt's ``<|start_header_id|>…`` (3.x) or ``<|header_start|>…`` (4) turns are read back
into a conversation (``prompt_markup``) for the served model's own template.
"""

from __future__ import annotations

from typing import Any

from ..catalog import ModelRef
from ..conversation import Block, Finished, InferenceParams
from . import body_schema as s
from .codec import (
    METRICS_KEY,
    Chunk,
    Collector,
    Metrics,
    ParsedRequest,
    Source,
    TextCodec,
    raw_body,
)
from .prompt_markup import conversation_from_prompt

DEFAULT_MAX_GEN_LEN = 512
SCHEMA = s.obj(
    {
        "prompt": s.STRING,
        "temperature": s.number(0, 1),
        "top_p": s.number(0, 1),
        "max_gen_len": s.integer(1, 2048),
        "images": s.strings(),
    },
    ("prompt",),
)


def stop_reason(done: Finished) -> str:
    return "length" if done.stop_reason == "max_tokens" else "stop"


class LlamaRenderer(Collector):
    def __init__(self) -> None:
        super().__init__()
        self._first = True
        self._pieces = 0

    def _chunk(self, text: str, reason: str | None) -> Chunk:
        chunk: Chunk = {
            "generation": text,
            "prompt_token_count": self.input_tokens if self._first else None,
            "generation_token_count": self._pieces,
            "stop_reason": reason,
        }
        self._first = False
        return chunk

    def on_text(self, text: str) -> list[Chunk]:
        self._pieces += 1
        return [self._chunk(text, None)]

    def finish(self, done: Finished, metrics: Metrics) -> list[Chunk]:
        self._pieces = done.output_tokens
        chunk = self._chunk("", stop_reason(done))
        chunk[METRICS_KEY] = metrics
        return [chunk]

    def body(self, done: Finished, metrics: Metrics) -> dict[str, Any]:
        return {
            "generation": self.text,
            "prompt_token_count": done.input_tokens,
            "generation_token_count": done.output_tokens,
            "stop_reason": stop_reason(done),
        }


class LlamaCodec(TextCodec):
    name = "meta-llama"

    def parse(self, source: Source, ref: ModelRef, *, streaming: bool = False) -> ParsedRequest:
        raw = raw_body(source)
        body = s.load_body(raw)
        s.check(body, SCHEMA)
        params = InferenceParams(
            max_tokens=body.get("max_gen_len", DEFAULT_MAX_GEN_LEN),
            temperature=body.get("temperature"),
            top_p=body.get("top_p"),
        )
        conversation = conversation_from_prompt(body["prompt"], params)
        images: list[Block] = [
            {"image": {"format": "png", "source": {"bytes": b""}}} for _ in body.get("images") or []
        ]
        users = [m for m in conversation.messages if m.role == "user"]
        if images and users:  # Llama 3.2 vision: accepted; the local text model cannot see them
            users[-1].content[:0] = images
        return ParsedRequest(conversation)

    def renderer(self, request: ParsedRequest, ref: ModelRef) -> LlamaRenderer:
        return LlamaRenderer()
