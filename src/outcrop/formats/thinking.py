"""Claude's extended-thinking rules and thinking signatures, shared by Anthropic bodies and Converse.

Bedrock hands both APIs' requests to Claude, which refuses the same things in the same words;
Converse prefixes them with "The model returned the following errors: ". The rules, in the order
Claude checks them (wording as Claude answers in 2026; see docs/operations.md for which are
confirmed):

- ``budget_tokens`` is required, at least 1024, and below ``max_tokens``;
- thinking (``enabled``) cannot be combined with a tool choice that forces tool use; an
  ``adaptive`` request with a forced tool is accepted, and the model answers without thinking;
- ``temperature`` may only be 1 while thinking is on (enabled or adaptive);
- a signature on a thinking block sent back must be one this server issued for exactly that
  text (a tampered block is refused);
- when the conversation continues a tool-use turn with thinking ``enabled``, its last assistant
  message must start with its thinking (or redacted thinking) block, as Claude Code and agent
  frameworks send it (the reasoning phase always returns one, empty if the model wrote none).

Signatures are an HMAC of the thinking text under a key kept in the state directory (created on
first start, ``0600``), so blocks stay valid across restarts and cannot be forged by a client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUDGET_DOCS = (
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
)
FORCED_TOOL = "Thinking may not be enabled when tool_choice forces tool use."
TEMPERATURE = "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode"
KEY_FILE = "thinking-signing.key"

_key: bytes = secrets.token_bytes(32)  # replaced by the state directory's key at start-up


@dataclass
class Turn:
    """A message as the rules read it: its role and its blocks' kinds in Anthropic's names
    (``thinking``, ``redacted_thinking``, ``text``, ``tool_use``, ``tool_result``, …) with the
    thinking text and signature of each thinking block."""

    role: str
    kinds: list[str]
    signed: list[tuple[int, str, str]]  # (block index, thinking text, signature)


def use_key_from(state_dir: str) -> None:
    """Load (or create) the signing key under ``state_dir``."""
    global _key
    path = Path(state_dir) / KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another server on the same state directory made it first
            time.sleep(0.1)
            key = path.read_bytes()
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(key)
    if len(key) >= 32:
        _key = key


def sign(thinking: str) -> str:
    return base64.b64encode(hmac.new(_key, thinking.encode(), hashlib.sha256).digest()).decode()


def verify(thinking: str, signature: str) -> bool:
    return hmac.compare_digest(sign(thinking).encode(), signature.encode("utf-8", "surrogatepass"))


def budget(thinking: Any) -> int | None:
    """``budget_tokens`` of an enabled thinking request."""
    if thinking_on(thinking) == "enabled" and isinstance(thinking.get("budget_tokens"), int):
        return int(thinking["budget_tokens"])
    return None


def thinking_on(thinking: Any) -> str | None:
    """``enabled`` or ``adaptive`` when the request turned thinking on, else None."""
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        return str(thinking["type"])
    return None


def refusal(
    thinking: Any,
    *,
    max_tokens: int | None,
    temperature: Any,
    forced_tool: bool,
    turns: list[Turn],
) -> str | None:
    """Claude's message for the first rule the request breaks, or None."""
    mode = thinking_on(thinking)
    if mode == "enabled":
        budget = thinking.get("budget_tokens")
        if budget is None:
            return "thinking.enabled.budget_tokens: Field required"
        if isinstance(budget, int) and budget < 1024:
            return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        if isinstance(budget, int) and max_tokens is not None and max_tokens <= budget:
            return (
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
                f"documentation at {BUDGET_DOCS}"
            )
        if forced_tool:
            return FORCED_TOOL
    if mode is not None and temperature is not None and temperature != 1:
        return TEMPERATURE
    for i, turn in enumerate(turns):
        for j, text, signature in turn.signed:
            if not verify(text, signature):
                return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
    if mode == "enabled":  # adaptive thinking may answer a turn without thinking
        return _unthought_tool_turn(turns)
    return None


def _unthought_tool_turn(turns: list[Turn]) -> str | None:
    """The last assistant message of a tool-use turn still in progress must open with thinking."""
    last = max((i for i, t in enumerate(turns) if t.role == "assistant"), default=None)
    if last is None or last + 1 >= len(turns):
        return None
    assistant, after = turns[last], turns[last + 1]
    if "tool_use" not in assistant.kinds or "tool_result" not in after.kinds:
        return None
    first = assistant.kinds[0]
    if first in ("thinking", "redacted_thinking"):
        return None
    return (
        f"messages.{last}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. "
        "When `thinking` is enabled, a final `assistant` message must start with a thinking block "
        "(preceeding the lastmost set of `tool_use` and `tool_result` blocks). To avoid this "
        "requirement, disable `thinking`."
    )
