"""Amazon Titan Text InvokeModel bodies: ``inputText`` and ``textGenerationConfig``.

Request: ``{"inputText", "textGenerationConfig": {"temperature", "topP", "maxTokenCount",
"stopSequences"}}``; response: ``{"inputTextTokenCount", "results": [{"tokenCount",
"outputText", "completionReason"}]}`` with ``FINISH``, ``LENGTH`` or ``STOP_CRITERIA_MET``.
Stream chunks: ``{"outputText", "index", "totalOutputTextTokenCount", "completionReason",
"inputTextTokenCount"}``; the last carries the completion reason and invocation metrics.
Titan prompts are often ``User: … Bot:`` transcripts; their turns are read back out.
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
    random_id,
    raw_body,
)
from .prompt_markup import conversation_from_prompt

DEFAULT_MAX_TOKENS = 512
# maxTokenCount ceilings from the Titan Text model cards.
_MAX_TOKENS = {"amazon.titan-text-lite": 4096, "amazon.titan-text-premier": 3072}
_DEFAULT_CEILING = 8192


def _schema(ceiling: int) -> s.Schema:
    return s.obj(
        {
            "inputText": {"type": "string", "minLength": 1},
            "textGenerationConfig": s.obj(
                {
                    "temperature": s.number(0, 1),
                    "topP": s.number(0, 1),
                    "maxTokenCount": s.integer(0, ceiling),
                    "stopSequences": s.strings(),
                }
            ),
        },
        ("inputText",),
    )


def completion_reason(done: Finished) -> str:
    return {"max_tokens": "LENGTH", "stop_sequence": "STOP_CRITERIA_MET"}.get(done.stop_reason, "FINISH")


class TitanRenderer(Collector):
    def __init__(self) -> None:
        super().__init__()
        self._pieces = 0

    def _chunk(self, text: str, reason: str | None) -> Chunk:
        return {
            "outputText": text,
            "index": 0,
            "totalOutputTextTokenCount": self._pieces,
            "completionReason": reason,
            "inputTextTokenCount": self.input_tokens,
        }

    def on_text(self, text: str) -> list[Chunk]:
        self._pieces += 1
        return [self._chunk(text, None)]

    def finish(self, done: Finished, metrics: Metrics) -> list[Chunk]:
        self._pieces = done.output_tokens
        chunk = self._chunk("", completion_reason(done))
        chunk[METRICS_KEY] = metrics
        return [chunk]

    def body(self, done: Finished, metrics: Metrics) -> dict[str, Any]:
        return {
            "inputTextTokenCount": done.input_tokens,
            "results": [
                {
                    "tokenCount": done.output_tokens,
                    "outputText": self.text,
                    "completionReason": completion_reason(done),
                }
            ],
        }


class TitanTextCodec(TextCodec):
    name = "amazon-titan-text"

    def parse(self, source: Source, ref: ModelRef, *, streaming: bool = False) -> ParsedRequest:
        raw = raw_body(source)
        body = s.load_body(raw)
        ceiling = next((v for k, v in _MAX_TOKENS.items() if ref.model_id.startswith(k)), _DEFAULT_CEILING)
        s.check(body, _schema(ceiling))
        config = body.get("textGenerationConfig") or {}
        params = InferenceParams(
            max_tokens=max(1, config.get("maxTokenCount", DEFAULT_MAX_TOKENS)),
            temperature=config.get("temperature"),
            top_p=config.get("topP"),
            stop_sequences=list(config.get("stopSequences") or []),
        )
        return ParsedRequest(conversation_from_prompt(body["inputText"], params))

    def renderer(self, request: ParsedRequest, ref: ModelRef) -> TitanRenderer:
        return TitanRenderer()

    def new_tool_use_id(self) -> str:
        return random_id("tooluse_", 22)
