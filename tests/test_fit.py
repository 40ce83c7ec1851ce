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


def test_a_prefill_is_continued_as_sent() -> None:
    prefill = Message("assistant", [{"text": "The answer begins: " + words(50, "verbatim")}])
    conversation = Conversation([user("OLD " + words(3000)), prefill])
    out = fitted(conversation)
    assert out.prompt.text.count("verbatim") == 50 and "OLD" in out.prompt.text


class Counting:
    """The scripted model's prepare, counting how often the fitter measures."""

    def __init__(self) -> None:
        self.calls = 0

    async def prepare(self, conversation: Conversation) -> Any:
        self.calls += 1
        return await MODEL.prepare(conversation)


def test_a_guarded_question_is_the_question() -> None:
    context = {"text": "CONTEXT " + words(3000)}
    question = {"guardContent": {"text": {"text": "Is the GUARDED question kept?"}}}
    out = fitted(Conversation([user(context, question)]))
    assert "Is the GUARDED question kept?" in out.prompt.text and "CONTEXT" in out.prompt.text


def test_a_long_prefill_and_its_question_are_kept() -> None:
    prefill = Message("assistant", [{"text": "Continue: " + words(200, "verbatim")}])
    conversation = Conversation(
        [user("OLD " + words(3000)), Message("assistant", [{"text": "ok"}]), user("The QUESTION?"), prefill]
    )
    out = fitted(conversation)
    assert out.prompt.text.count("verbatim") == 200 and "The QUESTION?" in out.prompt.text


def test_context_that_fits_the_window_is_kept_when_the_budget_cannot_be_met() -> None:
    blocks = [user(f"block {i} " + words(60)) for i in range(15)]
    turns: list[Message] = []
    for message in blocks:
        turns += [message, Message("assistant", [{"text": "noted"}])]
    conversation = Conversation([*turns, user("question " + words(250))])
    out = fitted(conversation, context=1000, budget=300)
    assert 300 < len(out.prompt.tokens) <= 744, "over the budget, within the window"
    assert all(f"block {i}" in out.prompt.text for i in range(15)), "no turn was dropped"
    assert out.prompt.text.count("word") >= 250 + 15, (
        "the question whole, every block shortened, none emptied"
    )


def test_json_tool_results_and_earlier_calls_are_shortened_like_text() -> None:
    call = {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": words(800, "query")}}}
    result = {"toolResult": {"toolUseId": "t1", "content": [{"json": {"rows": words(3000, "row")}}]}}
    conversation = Conversation(
        [user("find"), Message("assistant", [call]), user(result, "What did it say?")]
    )
    out = fitted(conversation)
    assert len(out.prompt.tokens) <= 300 and "What did it say?" in out.prompt.text
    assert "documents, tool calls and results read as text" in out.steps


def test_dropping_earlier_reasoning_is_reported() -> None:
    thought = {"reasoningContent": {"reasoningText": {"text": words(900, "hmm")}}}
    conversation = Conversation([user("q1"), Message("assistant", [thought, {"text": "a1"}]), user("q2")])
    out = fitted(conversation)
    assert out.altered and out.steps == ["earlier reasoning dropped"] and "hmm" not in out.prompt.text


def test_a_long_history_is_dropped_in_a_few_measurements() -> None:
    turns: list[Message] = []
    for i in range(300):
        turns += [
            user(f"turn {i} " + words(20)),
            Message("assistant", [{"text": f"answer {i} " + words(20)}]),
        ]
    counting = Counting()
    out = asyncio.run(
        fit(Conversation([*turns, user("LAST")]), counting.prepare, context_length=1000, fit_tokens=None)
    )
    assert "LAST" in out.prompt.text and "oldest turns dropped" in out.steps
    assert out.conversation.messages[0].role == "user"
    assert counting.calls < 20
