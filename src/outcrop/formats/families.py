"""Which codec reads a request: the one place that decides. Bedrock decides by model (and by API:
Converse has one shape for every model), so does Outcrop."""

from __future__ import annotations

import json

from ..catalog import ModelRef
from .ai21 import JambaCodec
from .anthropic import AnthropicCodec
from .codec import Codec
from .cohere import CohereCommandCodec
from .converse import ConverseCodec
from .deepseek import DeepSeekCodec
from .llama import LlamaCodec
from .mistral import MistralCodec
from .nova import NovaCodec
from .openai import ChatCompletionsCodec
from .titan import TitanTextCodec

CONVERSE: Codec = ConverseCodec()
ANTHROPIC: Codec = AnthropicCodec()
NOVA: Codec = NovaCodec()
TITAN: Codec = TitanTextCodec()
LLAMA: Codec = LlamaCodec()
MISTRAL: Codec = MistralCodec()
COHERE: Codec = CohereCommandCodec()
JAMBA: Codec = JambaCodec()
DEEPSEEK: Codec = DeepSeekCodec()
CHAT_COMPLETIONS: Codec = ChatCompletionsCodec()

# Mistral's models from 2025 on take OpenAI's chat-completions body, like the other
# OpenAI-compatible families; the older ones take Mistral's own prompt/chat bodies.
_MISTRAL_OPENAI = ("mistral.ministral-3", "mistral.magistral", "mistral.voxtral", "mistral.mistral-large-3")
_OPENAI_COMPATIBLE = ("OpenAI", "Qwen", "Google", "MiniMax", "Moonshot AI", "NVIDIA")


def codec_for(ref: ModelRef, *, converse: bool = False, body: bytes = b"") -> Codec | None:
    """The codec for a text model's requests: Converse's for the Converse API; otherwise the
    model's InvokeModel body format (``body`` picks the chat form where a family takes both:
    Writer, DeepSeek V3). None: Outcrop has no codec for the model's bodies."""
    if converse:
        return CONVERSE
    model = ref.model_id
    if ref.provider == "Anthropic":
        return ANTHROPIC
    if ref.provider == "Amazon":
        if model.startswith("amazon.nova") and "sonic" not in model:  # Sonic: speech, bidirectional only
            return NOVA
        if model.startswith(("amazon.titan-text", "amazon.titan-tg1")):
            return TITAN
        return None
    if ref.provider == "Meta":
        return LLAMA
    if ref.provider == "Mistral AI":
        return CHAT_COMPLETIONS if model.startswith(_MISTRAL_OPENAI) else MISTRAL
    if ref.provider == "Cohere":
        return COHERE if model.startswith("cohere.command") else None
    if ref.provider == "AI21 Labs":
        return JAMBA
    if ref.provider in ("DeepSeek", "Writer"):
        return CHAT_COMPLETIONS if _has_messages(body) else DEEPSEEK
    if ref.provider in _OPENAI_COMPATIBLE:
        return CHAT_COMPLETIONS
    return None


def _has_messages(raw: bytes) -> bool:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return False
    return isinstance(body, dict) and "messages" in body
