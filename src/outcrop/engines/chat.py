"""The canonical conversation as role/content chat messages: what every engine shows its model.

The local engine feeds these to the GGUF's chat template; a remote OpenAI-compatible server gets
them as ``messages`` and applies its own. Both therefore see the same text: system blocks, the
tool offer, and each turn's blocks as ``block_text`` renders them.
"""

from __future__ import annotations

from ..conversation import Conversation, block_text
from .tools import describe_tools


def chat_messages(conversation: Conversation) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    system = "\n\n".join(t for t in (block_text(b) for b in conversation.system) if t)
    offer = describe_tools(conversation.tool_config)  # tools are part of the system prompt
    if offer:
        system = f"{system}\n\n{offer}" if system else offer
    if system:
        messages.append({"role": "system", "content": system})
    for message in conversation.messages:
        text = "\n".join(t for t in (block_text(b) for b in message.content) if t)
        messages.append({"role": message.role, "content": text})
    return messages
