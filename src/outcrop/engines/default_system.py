"""A chat template's own default system prompt, found once by rendering probes, so that a request
without a system prompt is rendered without it.

Some templates insert a system turn when the conversation has none (SmolLM2: "You are a helpful AI
assistant named SmolLM, trained by Hugging Face"; Qwen2.5: "You are Qwen, created by Alibaba
Cloud…"). Bedrock's models show nothing the client did not send, and bill nothing either, so the
inserted turn is cut out of the rendered prompt (CountTokens and usage then agree with what the
client sent). A system turn Outcrop adds itself (the tool offer) is the client's doing and stays.

How the turn is found: two renders with system texts that differ in their first and last
characters share the turn's opening (their
common prefix) and its closing plus the user turn (their common suffix); a render without a
system prompt that has text between those two is a template with a default. The turn starts at the
special token before the word "system" in the opening, and ends where the next turn's start token
appears in the suffix. Templates this cannot read are left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .prompt_cache import common_prefix

Render = Callable[[list[dict[str, str]]], str]
_PROBE = "Probe question 7?"


@dataclass(frozen=True)
class DefaultSystem:
    """The system turn a template inserts (markers included) and the text inside it. Offered
    tools, some templates write the same text at the head of the system turn that lists them."""

    turn: str
    text: str


def default_system(render: Render) -> DefaultSystem | None:
    """The system turn ``render`` inserts when there is none, or None."""
    try:
        bare = render([{"role": "user", "content": _PROBE}])
        one = render([{"role": "system", "content": "Alpha probe 1"}, {"role": "user", "content": _PROBE}])
        two = render([{"role": "system", "content": "Beta probe 2"}, {"role": "user", "content": _PROBE}])
    except Exception:  # a template that needs something else: nothing to cut
        return None
    opening = one[: common_prefix(one, two)]
    suffix = one[len(one) - common_prefix(one[::-1], two[::-1]) :]
    role_at = opening.rfind("system")
    if role_at < 0 or not (bare.startswith(opening) and bare.endswith(suffix)):
        return None
    default = bare[len(opening) : len(bare) - len(suffix)]
    if not default.strip():
        return None
    turn_start = opening.rfind("<", 0, role_at)
    if turn_start < 0:
        return None
    start_token = opening[turn_start:role_at]
    close_len = suffix.find(start_token) if start_token else -1
    if close_len < 0:
        return None
    return DefaultSystem(opening[turn_start:] + default + suffix[:close_len], default.strip())


def without_default(text: str, default: DefaultSystem | None, *, tools_offered: bool = False) -> str:
    """``text`` with the template's default system turn cut out (once, where it is); with tools
    offered through the template, the default text at the head of its tool listing."""
    if default is None:
        return text
    if default.turn in text:
        return text.replace(default.turn, "", 1)
    if tools_offered and default.text:
        return text.replace(default.text, "", 1)
    return text
