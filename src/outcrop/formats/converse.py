"""Converse input → the canonical conversation, with the checks AWS makes beyond the shapes.

The service model cannot express these (role alternation, blank text, tool blocks without a
tool configuration, which ``additionalModelRequestFields`` a model takes); the messages are AWS's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..conversation import Conversation, InferenceParams, Message
from ..engines.structured import parse_schema, schema_grammar
from ..protocol.errors import ValidationException
from .documents import check_documents
from .images import check_images

# additionalModelRequestFields each provider's models take on Bedrock. Anything else is refused
# the way that model refuses it on Bedrock, rather than silently dropped.
_ACCEPTED_FIELDS = {
    "Anthropic": {"top_k", "thinking", "anthropic_beta", "output_config"},
    "Amazon": {"inferenceConfig", "reasoningConfig"},
}
_GENERIC_FIELDS = {"top_k", "topK"}


@dataclass
class ConverseRequest:
    conversation: Conversation
    reasoning: bool  # the request asked for reasoning (Claude thinking, Nova reasoningConfig)


def converse_request(params: dict[str, Any], provider: str, *, vision: bool = False) -> ConverseRequest:
    """``vision``: the served engine can see images (no local engine can yet: docs/vision.md)."""
    messages = [Message(m["role"], list(m.get("content") or [])) for m in params.get("messages") or []]
    check_messages(messages, has_tool_config=params.get("toolConfig") is not None)
    check_documents(messages)
    check_images(messages, vision)
    for i, block in enumerate(params.get("system") or []):
        if "text" in block and not str(block["text"]).strip():
            raise ValidationException(
                f"The text field in the SystemContentBlock object at system.{i} is blank. "
                "Add text to the text field, and try again."
            )
    fields = _model_fields(params.get("additionalModelRequestFields"), provider)
    inference = params.get("inferenceConfig") or {}
    grammar = _output_grammar(params.get("outputConfig"))
    conversation = Conversation(
        messages=messages,
        system=list(params.get("system") or []),
        tool_config=params.get("toolConfig"),
        params=InferenceParams(
            max_tokens=inference.get("maxTokens"),
            temperature=inference.get("temperature"),
            top_p=inference.get("topP"),
            top_k=_top_k(fields),
            stop_sequences=list(inference.get("stopSequences") or []),
            grammar=grammar,
        ),
    )
    return ConverseRequest(conversation, _reasoning(fields) and grammar is None)


def conversation_from_converse(params: dict[str, Any], provider: str = "") -> Conversation:
    return converse_request(params, provider).conversation


def check_messages(messages: list[Message], *, has_tool_config: bool) -> None:
    if not messages or messages[0].role != "user":
        raise ValidationException(
            "A conversation must start with a user message. Try again with a conversation that starts "
            "with a user message."
        )
    for i, message in enumerate(messages):
        if i and message.role == messages[i - 1].role:
            raise ValidationException(
                "A conversation must alternate between user and assistant roles. Make sure the "
                "conversation alternates between user and assistant roles and try again."
            )
        if not message.content:
            raise ValidationException(
                f"The content field in the Message object at messages.{i} is empty. Add a ContentBlock "
                "object to the content field and try again."
            )
        for j, block in enumerate(message.content):
            if "text" in block and not str(block["text"]).strip():
                raise ValidationException(
                    f"The text field in the ContentBlock object at messages.{i}.content.{j} is blank. "
                    "Add text to the text field, and try again."
                )
            if ("toolUse" in block or "toolResult" in block) and not has_tool_config:
                raise ValidationException(
                    "The toolConfig field must be defined when using toolUse and toolResult content blocks."
                )
        results = sum(1 for b in message.content if "toolResult" in b)
        if results:
            uses = sum(1 for b in messages[i - 1].content if "toolUse" in b) if i else 0
            if results > uses:
                raise ValidationException(
                    f"The number of toolResult blocks at messages.{i}.content exceeds the number of "
                    "toolUse blocks of previous turn."
                )


def _model_fields(fields: Any, provider: str) -> dict[str, Any]:
    if not fields:
        return {}
    if not isinstance(fields, dict):
        raise ValidationException(
            "The model returned the following errors: Malformed input request: #: expected type: "
            "JSONObject, please reformat your input and try again."
        )
    accepted = _ACCEPTED_FIELDS.get(provider, _GENERIC_FIELDS)
    for key in fields:
        if key not in accepted:
            if provider == "Anthropic":
                raise ValidationException(
                    f"The model returned the following errors: {key}: Extra inputs are not permitted"
                )
            raise ValidationException(
                "The model returned the following errors: Malformed input request: "
                f"#: extraneous key [{key}] is not permitted, please reformat your input and try again."
            )
    return fields


def _top_k(fields: dict[str, Any]) -> int | None:
    nested = fields.get("inferenceConfig")
    candidates = [("top_k", fields.get("top_k")), ("topK", fields.get("topK"))]
    if isinstance(nested, dict):
        candidates.append(("inferenceConfig/topK", nested.get("topK")))
    for key, value in candidates:
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationException(
                f"The model returned the following errors: Malformed input request: #/{key}: expected "
                f"a non-negative integer, found: {value!r}, please reformat your input and try again."
            )
        return value
    return None


def _output_grammar(config: dict[str, Any] | None) -> str | None:
    """outputConfig.textFormat json_schema → a grammar the whole answer must follow."""
    text_format = (config or {}).get("textFormat")
    if not text_format:
        return None
    schema = parse_schema(text_format["structure"]["jsonSchema"]["schema"])
    return schema_grammar(schema)


def _reasoning(fields: dict[str, Any]) -> bool:
    thinking = fields.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        return True
    config = fields.get("reasoningConfig")
    return isinstance(config, dict) and config.get("type") == "enabled"
