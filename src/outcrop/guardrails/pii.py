"""PII recognizers: a regular expression per entity type, plus a checksum or context check where
the format alone would give false positives (Luhn for cards, ABA for routing numbers, mod-97 for
IBANs). Types that need a named-entity model or context beyond a few words (NAME, ADDRESS,
USERNAME, PASSWORD, PIN, AGE, DRIVER_ID, LICENSE_PLATE, passport and account numbers...) are not
recognised yet: ``SUPPORTED`` lists what is, and docs/guardrails.md says the rest.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from .spans import Span


@dataclass(frozen=True)
class Recognizer:
    pattern: re.Pattern[str]
    valid: Callable[[str], bool] = lambda _: True
    # Words one of which must appear shortly before the match (lower case); empty: no context needed.
    context: tuple[str, ...] = ()


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def luhn(number: str) -> bool:
    digits = [int(c) for c in reversed(number)]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def _card(text: str) -> bool:
    digits = _digits(text)
    issuer = re.match(r"4|5[1-5]|2[2-7]|3[47]|3[068]|6(?:011|5|4[4-9]|22)|35", digits)
    return 13 <= len(digits) <= 19 and issuer is not None and luhn(digits)


def _aba(text: str) -> bool:
    d = [int(c) for c in _digits(text)]
    prefix = d[0] * 10 + d[1]
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0


def _iban(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    rotated = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rotated)) % 97 == 1


def _ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return text.count(":") >= 2


def _secret(text: str) -> bool:
    # Random 40-character keys mix cases and digits; hex digests and words do not.
    return (
        any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text)
    )


_VIN_VALUES = {**{str(i): i for i in range(10)}, **dict(zip("ABCDEFGH", range(1, 9), strict=True))}
_VIN_VALUES.update(dict(zip("JKLMNPR", (1, 2, 3, 4, 5, 7, 9), strict=True)))
_VIN_VALUES.update(dict(zip("STUVWXYZ", range(2, 10), strict=True)))
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def _vin(text: str) -> bool:
    """North American check digit (position 9); VINs from elsewhere carry none and are missed."""
    total = sum(_VIN_VALUES[c] * w for c, w in zip(text.upper(), _VIN_WEIGHTS, strict=True))
    check = "X" if total % 11 == 10 else str(total % 11)
    return text[8].upper() == check and any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def _sin(text: str) -> bool:
    digits = _digits(text)
    return digits[0] != "8" and luhn(digits)


def _nhs(text: str) -> bool:
    d = [int(c) for c in _digits(text)]
    check = 11 - sum(v * (10 - i) for i, v in enumerate(d[:9])) % 11
    return (0 if check == 11 else check) == d[9] and check != 10


_NUM_L = r"(?<![\w.+-])"  # not inside a longer token
_NUM_R = r"(?![\w-]|\.\d)"
_HEX2 = "[0-9A-Fa-f]{2}"

RECOGNIZERS: dict[str, Recognizer] = {
    "EMAIL": Recognizer(
        re.compile(
            r"(?<![\w.+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}(?![\w-])"
        )
    ),
    "PHONE": Recognizer(
        re.compile(
            _NUM_L
            + r"(?:(?:\+|00)\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){2,4}"
            + r"|(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}"
            + r"|(?:\+?1[\s.-]?)?\(\d{3}\)\d{3}-?\d{4})"
            + _NUM_R
        ),
        lambda t: 10 <= len(_digits(t)) <= 15,
    ),
    "US_SOCIAL_SECURITY_NUMBER": Recognizer(
        re.compile(_NUM_L + r"(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}" + _NUM_R)
    ),
    "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER": Recognizer(
        re.compile(_NUM_L + r"9\d{2}([- ]?)(?:5\d|6[0-5]|7\d|8[0-8]|9[0-24-9])\1\d{4}" + _NUM_R)
    ),
    "CREDIT_DEBIT_CARD_NUMBER": Recognizer(
        re.compile(
            _NUM_L + r"(?:\d{4}([ -]?)\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -]?)\d{6}\2\d{5}|\d{13,19})" + _NUM_R
        ),
        _card,
    ),
    "IP_ADDRESS": Recognizer(
        re.compile(
            r"(?<![\w.:])(?:(?:\d{1,3}\.){3}\d{1,3}|(?=[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:)[0-9A-Fa-f:]{2,39})(?![\w.:])"
        ),
        lambda t: _ipv4(t) or _ipv6(t),
    ),
    "URL": Recognizer(
        re.compile(r"(?<![\w@])(?:https?://|ftp://|www\.)[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]}]", re.IGNORECASE)
    ),
    "AWS_ACCESS_KEY": Recognizer(
        re.compile(
            r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}(?![A-Za-z0-9])"
        )
    ),
    "AWS_SECRET_KEY": Recognizer(
        re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"), _secret
    ),
    "MAC_ADDRESS": Recognizer(
        re.compile(
            rf"(?<![\w:-]){_HEX2}([:-]){_HEX2}(?:\1{_HEX2}){{4}}(?![\w:-])|(?<![\w.])(?:[0-9A-Fa-f]{{4}}\.){{2}}[0-9A-Fa-f]{{4}}(?![\w.])"
        )
    ),
    "US_BANK_ROUTING_NUMBER": Recognizer(
        re.compile(_NUM_L + r"\d{9}" + _NUM_R), _aba, ("routing", "aba", "rtn", "transit")
    ),
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER": Recognizer(
        re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])"),
        _iban,
    ),
    "VEHICLE_IDENTIFICATION_NUMBER": Recognizer(
        re.compile(r"(?<![A-Za-z0-9])[A-HJ-NPR-Z0-9]{17}(?![A-Za-z0-9])", re.IGNORECASE), _vin
    ),
    "UK_NATIONAL_INSURANCE_NUMBER": Recognizer(
        re.compile(
            r"(?<![A-Za-z0-9])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
            r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"
        )
    ),
    "UK_NATIONAL_HEALTH_SERVICE_NUMBER": Recognizer(
        re.compile(_NUM_L + r"\d{3}([ -]?)\d{3}\1\d{4}" + _NUM_R), _nhs, ("nhs", "health service")
    ),
    "CA_SOCIAL_INSURANCE_NUMBER": Recognizer(
        re.compile(_NUM_L + r"\d{3}([ -]?)\d{3}\1\d{3}" + _NUM_R), _sin, ("sin", "social insurance")
    ),
    "SWIFT_CODE": Recognizer(
        re.compile(r"(?<![A-Za-z0-9])[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?(?![A-Za-z0-9])"),
        context=("swift", "bic"),
    ),
}

# Bare digit runs are phone numbers only when the text says so.
BARE_PHONE = Recognizer(
    re.compile(_NUM_L + r"(?:\+?1)?\d{10}" + _NUM_R),
    context=("phone", "call", "cell", "mobile", "tel", "number", "whatsapp", "text me", "fax"),
)
EXTRA: dict[str, tuple[Recognizer, ...]] = {"PHONE": (BARE_PHONE,)}

SUPPORTED = frozenset(RECOGNIZERS)
CONTEXT_WINDOW = 40  # characters before a match searched for a context word


def _has_context(text: str, start: int, words: tuple[str, ...]) -> bool:
    before = text[max(0, start - CONTEXT_WINDOW) : start].lower()
    return any(re.search(rf"\b{re.escape(w)}\b", before) for w in words)


def find_pii(text: str, entity_type: str) -> list[Span]:
    """Occurrences of one entity type; empty for types not recognised yet."""
    main = RECOGNIZERS.get(entity_type)
    if main is None:
        return []
    found: list[Span] = []
    for recognizer in (main, *EXTRA.get(entity_type, ())):
        for m in recognizer.pattern.finditer(text):
            if not recognizer.valid(m.group(0)):
                continue
            if recognizer.context and not _has_context(text, m.start(), recognizer.context):
                continue
            if not any(s.start < m.end() and m.start() < s.end for s in found):
                found.append(Span(m.start(), m.end(), m.group(0), entity_type))
    return found


def find_all(text: str, entity_types: list[str]) -> list[Span]:
    """All configured types, with a span claimed by a more specific type (a card, an SSN) dropped
    from the generic ones (PHONE) it also looks like."""
    spans = [s for t in entity_types for s in find_pii(text, t)]
    specific = [s for s in spans if s.label != "PHONE"]
    return [
        s
        for s in spans
        if s.label != "PHONE" or not any(o.start < s.end and s.start < o.end for o in specific)
    ]
