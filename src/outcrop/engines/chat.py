"""The canonical conversation as role/content chat messages: what every engine shows its model.

The local engine feeds these to the GGUF's chat template; a remote OpenAI-compatible server gets
them as ``messages`` and applies its own. Both therefore see the same text: system blocks, the
tool offer, and each turn's blocks as ``block_text`` renders them.

A local model whose chat template handles tools gets ``template_messages`` instead: the tools go
to the template as its ``tools`` list, past calls as ``tool_calls`` and results as ``tool`` turns,
so the model reads them in the syntax it was trained on (Qwen's, Llama 3.1's, Mistral's…).
"""

from __future__ import annotations

import json
from typing import Any

from ..constrained.tool_calls import TOOL_CLOSE, TOOL_OPEN, describe_tools, tool_instruction
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
        return f"<tool_response>{tool_result_text(block['toolResult'])}</tool_response>"
    if "reasoningContent" in block:
        return str(block["reasoningContent"].get("reasoningText", {}).get("text", ""))
    if "document" in block:
        return document_text(block)
    return ""


def tool_result_text(result: dict[str, Any]) -> str:
    """A tool result's content as text ("Error: " first when the tool failed)."""
    parts = []
    for item in result.get("content", []):
        if "text" in item:
            parts.append(str(item["text"]))
        elif "json" in item:
            parts.append(json.dumps(item["json"], sort_keys=True))
        elif "document" in item:
            parts.append(document_text(item))
    status = "Error: " if result.get("status") == "error" else ""
    return f"{status}{' '.join(parts)}"


def _joined(blocks: list[Block]) -> str:
    return "\n".join(t for t in (block_text(b) for b in blocks) if t)


def chat_messages(conversation: Conversation) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    system = "\n\n".join(t for t in (block_text(b) for b in conversation.system) if t)
    offer = describe_tools(conversation.tool_config)  # tools are part of the system prompt
    if offer:
        system = f"{system}\n\n{offer}" if system else offer
    if system:
        messages.append({"role": "system", "content": system})
    for message in conversation.messages:
        messages.append({"role": message.role, "content": _joined(message.content)})
    return messages


def template_messages(conversation: Conversation) -> list[dict[str, Any]]:
    """The conversation as a tool-aware chat template takes it (the tools themselves go to the
    template separately): the system prompt with only a forced choice's instruction added, calls
    as ``tool_calls`` (arguments as objects, as Hugging Face templates expect) and each result as
    a ``tool`` message naming its call."""
    messages: list[dict[str, Any]] = []
    system = "\n\n".join(t for t in (block_text(b) for b in conversation.system) if t)
    instruction = tool_instruction(conversation.tool_config)
    if instruction:
        system = f"{system}\n\n{instruction}" if system else instruction
    if system:
        messages.append({"role": "system", "content": system})
    names: dict[str, str] = {}
    for message in conversation.messages:
        uses = [b["toolUse"] for b in message.content if "toolUse" in b]
        results = [b["toolResult"] for b in message.content if "toolResult" in b]
        rest = _joined([b for b in message.content if "toolUse" not in b and "toolResult" not in b])
        if message.role == "assistant" and uses:
            calls = []
            for use in uses:
                call_id = str(use.get("toolUseId", ""))
                names[call_id] = str(use.get("name", ""))
                arguments = use.get("input") if isinstance(use.get("input"), dict) else {}
                calls.append({
                    "id": call_id,
                    "type": "function",
                    "function": {"name": names[call_id], "arguments": arguments},
                })  # fmt: skip
            messages.append({"role": "assistant", "content": rest, "tool_calls": calls})
            continue
        for result in results:
            call_id = str(result.get("toolUseId", ""))
            messages.append({
                "role": "tool",
                "tool_call_id": call_id,
                "name": names.get(call_id, ""),
                "content": tool_result_text(result),
            })  # fmt: skip
        if rest or not results:
            messages.append({"role": message.role, "content": rest})
    return messages
