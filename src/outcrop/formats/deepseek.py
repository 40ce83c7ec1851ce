"""DeepSeek (R1, V3.1) InvokeModel bodies: a raw ``prompt`` in DeepSeek's chat tokens.

Request: ``{"prompt", "temperature" (≤1), "top_p" (≤1), "max_tokens" (1-32768), "stop" (≤10)}``;
response: ``{"choices": [{"text", "stop_reason": "stop"|"length"}]}``. R1's text is the raw
completion, reasoning included (its ``…</think>`` stays in ``text``, as on Bedrock). Stream
chunks have the same shape; the last carries the stop reason and invocation metrics.
The prompt's ``<|User|>``/``<|Assistant|>`` turns are read back into a conversation. Writer's
Palmyra models take the same completion form (``prompt`` → ``choices[].text``).
"""

from __future__ import annotations

from typing import Any

from ..catalog import ModelRef
from ..conversation import Finished, InferenceParams
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

DEFAULT_MAX_TOKENS = 512
SCHEMA = s.obj(
    {
        "prompt": s.STRING,
        "temperature": s.number(0, 1),
        "top_p": s.number(0, 1),
        "max_tokens": s.integer(1, 32768),
        "stop": s.strings(10),
    },
    ("prompt",),
)


def stop_reason(done: Finished) -> str:
    return "length" if done.stop_reason == "max_tokens" else "stop"


class CompletionRenderer(Collector):
    def on_text(self, text: str) -> list[Chunk]:
        return [{"choices": [{"text": text, "stop_reason": None}]}]

    def finish(self, done: Finished, metrics: Metrics) -> list[Chunk]:
        return [{"choices": [{"text": "", "stop_reason": stop_reason(done)}], METRICS_KEY: metrics}]

    def body(self, done: Finished, metrics: Metrics) -> dict[str, Any]:
        return {"choices": [{"text": self.text, "stop_reason": stop_reason(done)}]}


class DeepSeekCodec(TextCodec):
    name = "deepseek"

    def parse(self, source: Source, ref: ModelRef, *, streaming: bool = False) -> ParsedRequest:
        raw = raw_body(source)
        body = s.load_body(raw)
        s.check(body, SCHEMA)
        params = InferenceParams(
            max_tokens=body.get("max_tokens", DEFAULT_MAX_TOKENS),
            temperature=body.get("temperature"),
            top_p=body.get("top_p"),
            stop_sequences=list(body.get("stop") or []),
        )
        conversation = conversation_from_prompt(body["prompt"], params)
        last = conversation.messages[-1]
        if last.role == "assistant" and last.content[0].get("text", "").strip() == "<think>":
            conversation.messages.pop()  # the recommended "<|Assistant|><think>\n" opener
        return ParsedRequest(conversation)

    def renderer(self, request: ParsedRequest, ref: ModelRef) -> CompletionRenderer:
        return CompletionRenderer()
