"""What Converse refuses per model, with AWS's messages.

Bedrock's Converse API checks a request against the model's features before running it: a
system prompt for a model without system prompts, tools for a model without tool use, tools
in ConverseStream for a model without streaming tool use, ``toolChoice`` ``any``/``tool`` for
models that only choose for themselves, images or documents for models that cannot read them.
The features come from the catalogue (``converse`` in ``catalog/data/models.json``, AWS's
feature table); where the catalogue has no row for a model, ``FALLBACK`` gives its family's
features (see docs/families.md for where each comes from).

Call ``check_converse(ref, params, streaming=...)`` with Converse's parsed input before running it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..catalog import ModelRef
from ..protocol.errors import ValidationException

FEATURES = ("systemPrompts", "documentChat", "vision", "toolUse", "streamingToolUse")

# model-id prefix → (systemPrompts, documentChat, vision, toolUse, streamingToolUse), for models
# the catalogue has no feature row for; first match wins.
FALLBACK: tuple[tuple[str, tuple[bool, bool, bool, bool, bool]], ...] = (
    ("amazon.nova", (True, True, True, True, True)),
    ("amazon.titan-text", (False, True, False, False, False)),
    ("meta.llama3-2-11b", (True, True, True, False, False)),
    ("meta.llama3-2-90b", (True, True, True, True, False)),
    ("meta.llama3-2", (True, True, False, False, False)),
    ("meta.llama3-1", (True, True, False, True, False)),
    ("meta.llama3-3", (True, True, False, True, False)),
    ("meta.llama4", (True, True, True, True, False)),
    ("meta.llama3", (True, True, False, False, False)),
    ("mistral.mistral-7b", (False, True, False, False, False)),
    ("mistral.mixtral", (False, True, False, False, False)),
    ("mistral.mistral-large-2402", (True, True, False, True, False)),
    ("mistral.mistral-large-2407", (True, True, False, True, False)),
    ("mistral.mistral-small", (True, False, False, True, False)),
    ("mistral.pixtral", (True, True, True, True, False)),
    ("mistral.", (True, True, False, True, True)),
    ("cohere.command", (True, True, False, True, False)),
    ("deepseek.r1", (True, True, False, False, False)),
    ("deepseek.", (True, True, False, True, True)),
    ("writer.", (True, True, False, True, False)),
    ("google.gemma", (True, True, True, False, False)),
    ("twelvelabs.", (True, False, False, False, False)),
    ("", (True, True, False, True, True)),
)
# Models whose Converse accepts toolChoice any/tool (AWS: Anthropic, Mistral Large, Nova).
_TOOL_CHOICE = ("anthropic.", "amazon.nova", "mistral.mistral-large", "mistral.pixtral")
# Image blocks inside tool results: only Nova and Claude (ToolResultContentBlock.image).
_TOOL_RESULT_IMAGES = ("anthropic.", "amazon.nova")

NO_SYSTEM = (
    "This model doesn't support system messages. Try again without a system message or use a model "
    "that supports system messages."
)
NO_TOOLS = "This model doesn't support tool use."
NO_STREAMING_TOOLS = "This model doesn't support tool use in streaming mode."


def features(ref: ModelRef) -> Mapping[str, bool]:
    """The model's Converse features: the catalogue's, else its family's."""
    if ref.capabilities:
        return ref.capabilities
    values = next(v for prefix, v in FALLBACK if ref.model_id.startswith(prefix))
    out = dict(zip(FEATURES, values, strict=True))
    out["vision"] = out["vision"] and "IMAGE" in ref.input_modalities  # e.g. Llama 3.2 1B/3B
    return out


def _field(name: str, role: str) -> ValidationException:
    return ValidationException(
        f"This model doesn't support the {name} field for {role} messages. Remove {name} and try again."
    )


def check_converse(ref: ModelRef, params: Mapping[str, Any], *, streaming: bool = False) -> None:
    """Refuse what Bedrock's Converse refuses for this model; return when the request is fine."""
    limit = ref.max_output_tokens
    asked = (params.get("inferenceConfig") or {}).get("maxTokens")
    if limit and isinstance(asked, int) and asked > limit:
        raise ValidationException(
            f"The maximum tokens you requested exceeds the model limit of {limit}. Try again with a "
            f"maximum tokens value that is lower than {limit}."
        )
    have = features(ref)
    if params.get("system") and not have.get("systemPrompts", True):
        raise ValidationException(NO_SYSTEM)
    tool_config = params.get("toolConfig")
    if tool_config:
        if not have.get("toolUse", True):
            raise ValidationException(NO_TOOLS)
        if streaming and not have.get("streamingToolUse", True):
            raise ValidationException(NO_STREAMING_TOOLS)
        choice = tool_config.get("toolChoice") or {}
        for kind in ("any", "tool"):
            if kind in choice and not ref.model_id.startswith(_TOOL_CHOICE):
                raise ValidationException(
                    f"This model doesn't support the toolConfig.toolChoice.{kind} field. Remove "
                    f"toolConfig.toolChoice.{kind} and try again."
                )
    for message in params.get("messages") or []:
        role = message.get("role", "user")
        for block in message.get("content") or []:
            if "image" in block and not have.get("vision", False):
                raise _field("image", role)
            if "document" in block and not have.get("documentChat", True):
                raise _field("document", role)
            result = block.get("toolResult") or {}
            images = any("image" in item for item in result.get("content") or [])
            if images and not ref.model_id.startswith(_TOOL_RESULT_IMAGES):
                raise _field("image", role)
