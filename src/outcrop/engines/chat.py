"""The canonical conversation as role/content chat messages: what every engine shows its model.

The local engine feeds these to the GGUF's chat template; a remote OpenAI-compatible server gets
them as ``messages`` and applies its own. Both therefore see the same text: system blocks, the
tool offer, and each turn's blocks as ``block_text`` renders them.
"""

from __future__ import annotations

import json

from ..constrained.tool_calls import TOOL_CLOSE, TOOL_OPEN, describe_tools
from ..conversation import Block, Conversation
from ..documents import document_text

# The markup reasoning models put their reasoning in; the answer planner splits it off, and a
# remote server's separate reasoning is put back in it.
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def block_text(block: Block) -> str:
    """The text a text-only model sees for one content block."""
    if "text" in block:
        return str(block["text"])
    if "guardContent" in block:
        return str(block["guardContent"].get("text", {}).get("text", ""))
    if "citationsContent" in block:  # an earlier answer's cited sentences, sent back
        return "".join(str(c.get("text", "")) for c in block["citationsContent"].get("content") or [])
    if "toolUse" in block:
        # The syntax constrained/tool_calls.py asks the model to write calls in.
        use = block["toolUse"]
        call = json.dumps({"name": use.get("name"), "arguments": use.get("input")}, ensure_ascii=False)
        return f"{TOOL_OPEN}{call}{TOOL_CLOSE}"
    if "toolResult" in block:
        result = block["toolResult"]
        parts = []
        for item in result.get("content", []):
            if "text" in item:
                parts.append(str(item["text"]))
            elif "json" in item:
                parts.append(json.dumps(item["json"], sort_keys=True))
            elif "document" in item:
                parts.append(document_text(item))
        status = "Error: " if result.get("status") == "error" else ""
        return f"<tool_response>{status}{' '.join(parts)}</tool_response>"
    if "reasoningContent" in block:
        return str(block["reasoningContent"].get("reasoningText", {}).get("text", ""))
    if "document" in block:
        return document_text(block)
    return ""


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
