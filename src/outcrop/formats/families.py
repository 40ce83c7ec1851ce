"""Which codec reads a model's InvokeModel body: Bedrock decides by model, so does Outcrop."""

from __future__ import annotations

from ..catalog import ModelRef
from .ai21 import JambaCodec
from .codec import Codec
from .cohere import CohereCommandCodec
from .deepseek import DeepSeekCodec
from .llama import LlamaCodec
from .mistral import MistralCodec
from .nova import NovaCodec
from .openai import ChatCompletionsCodec
from .titan import TitanTextCodec

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

# Providers whose text models Outcrop serves through these codecs (the dispatch table's keys).
PROVIDERS = (
    "Amazon", "Meta", "Mistral AI", "Cohere", "AI21 Labs", "DeepSeek", "Writer", *_OPENAI_COMPATIBLE,
)  # fmt: skip


def codec_for(ref: ModelRef, *, has_messages: bool = False) -> Codec | None:
    """The codec for a text model's body; ``has_messages`` picks the chat form where a family
    takes both (Writer, DeepSeek V3)."""
    model = ref.model_id
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
        return CHAT_COMPLETIONS if has_messages else DEEPSEEK
    if ref.provider in _OPENAI_COMPATIBLE:
        return CHAT_COMPLETIONS
    return None
