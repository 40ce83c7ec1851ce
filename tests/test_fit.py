"""The context fitter, step by step, with the scripted model's word-count tokenizer (no model loaded)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from outcrop.conversation import Conversation, InferenceParams, Message
from outcrop.invocation.fit import CannotFit, Fitted, fit, head_and_tail
from scripted_model import ScriptedModel

MODEL = ScriptedModel()


def fitted(conversation: Conversation, *, context: int = 1000, budget: int | None = 300) -> Fitted:
    return asyncio.run(fit(conversation, MODEL.prepare, context_length=context, fit_tokens=budget))


def user(*blocks: Any) -> Message:
    return Message("user", [b if isinstance(b, dict) else {"text": b} for b in blocks])


def words(n: int, word: str = "word") -> str:
    return " ".join([word] * n)


def test_a_request_that_fits_is_never_altered() -> None:
    conversation = Conversation([user("short question")], params=InferenceParams(max_tokens=50))
    out = fitted(conversation)
    assert out.conversation is conversation and not out.altered and out.steps == []


def test_context_is_shortened_in_proportion_keeping_beginning_and_end() -> None:
    system = [{"text": "SYS-START " + words(600) + " SYS-END"}]
    earlier = [user("OLD-START " + words(600) + " OLD-END"), Message("assistant", [{"text": "ok"}])]
    conversation = Conversation([*earlier, user("What now?")], system=system)
    out = fitted(conversation)
    assert len(out.prompt.tokens) <= 300
    assert out.prompt.tokens and "text shortened" in ", ".join(out.steps)
    text = out.prompt.text
    for mark in ("SYS-START", "SYS-END", "OLD-START", "OLD-END", "What now?", "[…]"):
        assert mark in text, mark
    assert len(out.prompt.tokens) > 150, "the budget is used, not thrown away"
    assert conversation.system[0]["text"].count("word") == 600, "the request as sent is left alone"


def test_a_document_is_read_as_text_and_shortened_like_text() -> None:
    document = {
        "document": {
            "format": "txt",
            "name": "notes",
            "source": {"bytes": ("BEGIN " + words(2000) + " END").encode()},
        }
    }
    conversation = Conversation([user("Summarise this.", document)])
    out = fitted(conversation)
    assert len(out.prompt.tokens) <= 300
    assert "[Document: notes]" in out.prompt.text and "BEGIN" in out.prompt.text and "END" in out.prompt.text
    assert "Summarise this." in out.prompt.text, "the question is kept whole"


def test_oldest_turns_go_before_the_question_is_cut() -> None:
    turns: list[Message] = []
    for i in range(30):
        turns += [
            user(f"turn {i} " + words(30)),
            Message("assistant", [{"text": f"answer {i} " + words(30)}]),
        ]
    conversation = Conversation([*turns, user("LAST QUESTION " + words(100))])
    out = fitted(conversation, context=400, budget=None)
    assert "oldest turns dropped" in out.steps
    assert "LAST QUESTION" in out.prompt.text and out.prompt.text.count("word") >= 100


def test_a_single_huge_question_is_shortened_keeping_its_beginning_and_end() -> None:
    conversation = Conversation([user("FIRST " + words(5000) + " LAST")])
    out = fitted(conversation)
    assert len(out.prompt.tokens) <= 1000 - 256
    assert "FIRST" in out.prompt.text and "LAST" in out.prompt.text and "[…]" in out.prompt.text
    assert "the question shortened" in ", ".join(out.steps)


def test_what_cannot_be_shortened_cannot_fit() -> None:
    tools = {
        "tools": [
            {
                "toolSpec": {
                    "name": f"tool{i}",
                    "inputSchema": {
                        "json": {
                            "type": "object",
                            "properties": {f"p{j}": {"type": "string"} for j in range(20)},
                        }
                    },
                }
            }
            for i in range(40)
        ]
    }
    with pytest.raises(CannotFit):
        fitted(Conversation([user("hi")], tool_config=tools), context=300)


def test_head_and_tail() -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"
    cut = head_and_tail(text, 30)
    assert cut.startswith("alpha") and cut.endswith("mu") and " […] " in cut and len(cut) <= 32
    assert head_and_tail("short", 30) == "short"
