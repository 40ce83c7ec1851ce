"""Chat markup inside raw ``prompt`` strings → turns of a conversation.

Prompt-based families (Llama's ``prompt``, Mistral's and DeepSeek's ``prompt``, Titan's
``inputText``) receive a conversation already written in *their* model's chat tokens:
``<|start_header_id|>user<|end_header_id|>…<|eot_id|>`` for Llama 3, ``[INST] … [/INST]`` for
Mistral and Llama 2, ``<|User|>`` for DeepSeek, ``User: … Bot:`` for Titan. The served local
model has its own template, and fed foreign special tokens it produces noise, so the turns are
read back out of the markup and rendered again with the served model's template. A prompt
without markup is one user turn, verbatim. A trailing assistant header means "answer now";
trailing assistant text is a prefill the model continues.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..conversation import Conversation, InferenceParams, Message

_ROLE = {"user": "user", "human": "user", "assistant": "assistant", "bot": "assistant", "model": "assistant"}


@dataclass
class Turns:
    system: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    def add(self, role: str, text: str) -> None:
        role = role.strip().lower()
        if role in ("system", "developer"):
            if text.strip():
                self.system.append(text.strip())
            return
        canonical = _ROLE.get(role, "user")  # ipython / tool output: the user turn reports it
        if role not in _ROLE and text.strip():
            text = f"[{role} output] {text.strip()}"
        if self.messages and self.messages[-1].role == canonical:
            previous = self.messages[-1].content[0]["text"] if self.messages[-1].content else ""
            joined = f"{previous}\n{text}" if previous and text else previous or text
            self.messages[-1] = Message(canonical, [{"text": joined}])
        else:
            self.messages.append(Message(canonical, [{"text": text}]))

    def finish(self) -> Turns:
        """Strip whitespace; drop an empty trailing assistant turn (the 'answer now' header)."""
        cleaned: list[Message] = []
        for i, message in enumerate(self.messages):
            text = message.content[0]["text"] if message.content else ""
            last = i == len(self.messages) - 1
            text = text.lstrip() if last and message.role == "assistant" else text.strip()
            if not text.strip():
                continue
            cleaned.append(Message(message.role, [{"text": text}]))
        self.messages = cleaned
        return self


def _by_headers(prompt: str, header: re.Pattern[str], junk: re.Pattern[str]) -> Turns:
    turns = Turns()
    parts = header.split(prompt)
    # parts: [before, role1, text1, role2, text2, ...]
    if parts[0].strip():
        turns.add("user", junk.sub("", parts[0]))
    for i in range(1, len(parts) - 1, 2):
        turns.add(parts[i], junk.sub("", parts[i + 1]))
    return turns.finish()


_LLAMA3 = re.compile(r"<\|start_header_id\|>\s*(\w+)\s*<\|end_header_id\|>")
_LLAMA3_JUNK = re.compile(r"<\|(?:begin_of_text|eot_id|eom_id|end_of_text|python_tag)\|>")
_LLAMA4 = re.compile(r"<\|header_start\|>\s*(\w+)\s*<\|header_end\|>")
_LLAMA4_JUNK = re.compile(r"<\|(?:begin_of_text|eot|eom|end_of_text|python_start|python_end)\|>")
_CHATML = re.compile(r"<\|im_start\|>\s*(\w+)\s*\n?")
_CHATML_JUNK = re.compile(r"<\|im_end\|>|<\|endoftext\|>")
_HARMONY = re.compile(r"<\|start\|>\s*([\w.]+)[^<]*(?:<\|channel\|>\w+)?<\|message\|>")
_HARMONY_JUNK = re.compile(r"<\|(?:end|return|call)\|>")
_DEEPSEEK = re.compile(r"<[|\uff5c](User|Assistant|System)[|\uff5c]>")
_DEEPSEEK_JUNK = re.compile(r"<[|\uff5c](?:begin|end)[\u2581_ ]of[\u2581_ ]sentence[|\uff5c]>")
_INST = re.compile(r"\[INST\]|\[/INST\]")
_SYS = re.compile(r"<<SYS>>(.*?)<</SYS>>|\[SYSTEM_PROMPT\](.*?)\[/SYSTEM_PROMPT\]", re.S)
_SPEAKER = re.compile(r"(?:^|\n)\s*(Human|Assistant|User|Bot)\s*:", re.I)


def _inst(prompt: str) -> Turns:
    """``<s>[INST] q [/INST] a</s>[INST] q2 [/INST]`` (Mistral, Llama 2), with ``<<SYS>>``."""
    turns = Turns()
    for match in _SYS.finditer(prompt):
        turns.add("system", match.group(1) or match.group(2) or "")
    text = _SYS.sub("", prompt)
    text = re.sub(r"</?s>", "", text)
    role = "assistant"  # text before the first [INST] (rare) is context: kept as a user turn
    pieces = re.split(r"(\[INST\]|\[/INST\])", text)
    if pieces[0].strip():
        turns.add("user", pieces[0])
    for piece in pieces[1:]:
        if piece == "[INST]":
            role = "user"
        elif piece == "[/INST]":
            role = "assistant"
            if not turns.messages or turns.messages[-1].role != "assistant":
                turns.add("assistant", "")
        else:
            turns.add(role, piece)
    return turns.finish()


def _deepseek(prompt: str) -> Turns:
    turns = Turns()
    text = _DEEPSEEK_JUNK.sub("", prompt)
    parts = _DEEPSEEK.split(text)
    if parts[0].strip():
        turns.add("system", parts[0])  # DeepSeek: the system prompt precedes the first <|User|>
    for i in range(1, len(parts) - 1, 2):
        body = parts[i + 1]
        if parts[i] == "Assistant":
            body = re.sub(r"^\s*<think>.*?</think>", "", body, flags=re.S)  # past reasoning is not re-read
        turns.add(parts[i], body)
    return turns.finish()


def _speakers(prompt: str) -> Turns:
    """``User: … Bot:`` (Titan) and ``Human: … Assistant:`` (legacy Claude) transcripts."""
    turns = Turns()
    parts = _SPEAKER.split(prompt)
    if parts[0].strip():
        turns.add("system" if len(parts) > 1 else "user", parts[0])
    for i in range(1, len(parts) - 1, 2):
        turns.add(parts[i], parts[i + 1])
    return turns.finish()


def parse_prompt(prompt: str) -> Turns:
    """The conversation written in ``prompt``, whichever family's markup it uses."""
    if _LLAMA3.search(prompt):
        return _by_headers(prompt, _LLAMA3, _LLAMA3_JUNK)
    if _LLAMA4.search(prompt):
        return _by_headers(prompt, _LLAMA4, _LLAMA4_JUNK)
    if _CHATML.search(prompt):
        return _by_headers(prompt, _CHATML, _CHATML_JUNK)
    if _HARMONY.search(prompt):
        prompt = re.sub(r"<\|start\|>\s*assistant\s*$", "", prompt)  # "answer now"
        return _by_headers(prompt, _HARMONY, _HARMONY_JUNK)
    if _DEEPSEEK.search(prompt):
        return _deepseek(prompt)
    if _INST.search(prompt) or _SYS.search(prompt):
        return _inst(prompt)
    if len(_SPEAKER.findall(prompt)) >= 1 and re.search(r"(?:^|\n)\s*(?:Bot|Assistant)\s*:\s*$", prompt):
        return _speakers(prompt)
    turns = Turns()
    turns.add("user", prompt)
    return turns.finish()


def conversation_from_prompt(prompt: str, params: InferenceParams) -> Conversation:
    """The canonical conversation for a raw prompt (never empty: a blank prompt is one turn)."""
    turns = parse_prompt(prompt)
    messages = turns.messages or [Message("user", [{"text": prompt}])]
    if messages[0].role != "user":
        messages.insert(0, Message("user", [{"text": "…"}]))
    return Conversation(messages=messages, system=[{"text": s} for s in turns.system], params=params)
