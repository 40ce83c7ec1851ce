"""Converse input → the canonical conversation, with the checks AWS makes beyond the shapes.

The service model cannot express these (role alternation, blank text, tool blocks without a
tool configuration); the messages are AWS's own.
"""

from __future__ import annotations

from typing import Any

from ..conversation import Conversation, InferenceParams, Message
from ..protocol.errors import ValidationException

# additionalModelRequestFields keys Outcrop honours; anything else is refused the way the model
# on Bedrock refuses it rather than silently dropped.
_TOP_K_KEYS = ("top_k", "topK")


def conversation_from_converse(params: dict[str, Any]) -> Conversation:
    messages = [Message(m["role"], list(m.get("content") or [])) for m in params.get("messages") or []]
    check_messages(messages, has_tool_config=params.get("toolConfig") is not None)
    for i, block in enumerate(params.get("system") or []):
        if "text" in block and not str(block["text"]).strip():
            raise ValidationException(
                f"The text field in the SystemContentBlock object at system.{i} is blank. "
                "Add text to the text field, and try again."
            )
    inference = params.get("inferenceConfig") or {}
    return Conversation(
        messages=messages,
        system=list(params.get("system") or []),
        tool_config=params.get("toolConfig"),
        params=InferenceParams(
            max_tokens=inference.get("maxTokens"),
            temperature=inference.get("temperature"),
            top_p=inference.get("topP"),
            top_k=_top_k(params.get("additionalModelRequestFields")),
            stop_sequences=list(inference.get("stopSequences") or []),
        ),
    )


def check_messages(messages: list[Message], *, has_tool_config: bool) -> None:
    if not messages:
        raise ValidationException(
            "A conversation must start with a user message. Try again with a conversation that starts "
            "with a user message."
        )
    if messages[0].role != "user":
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


def _top_k(fields: Any) -> int | None:
    if not fields:
        return None
    if not isinstance(fields, dict):
        raise ValidationException("additionalModelRequestFields must be a JSON object.")
    unknown = [k for k in fields if k not in _TOP_K_KEYS]
    if unknown:
        raise ValidationException(
            "The model returned the following errors: Malformed input request: "
            f"extraneous key [{unknown[0]}] is not permitted, please reformat your input and try again."
        )
    for key in _TOP_K_KEYS:
        if key in fields:
            value = fields[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationException(
                    f"The model returned the following errors: Malformed input request: #/{key}: "
                    "expected type: Integer, found: "
                    + type(value).__name__.replace("str", "String")
                    + ", please reformat your input and try again."
                )
            return value
    return None
