"""PII recognizers: a regular expression per entity type, plus a checksum or context check where
the format alone would give false positives (Luhn for cards, ABA for routing numbers, mod-97 for
IBANs). Types whose format says nothing by itself (PASSWORD, PIN, USERNAME, AGE, DRIVER_ID,
LICENSE_PLATE, passport, account, CVV, expiry, health and taxpayer numbers) need a keyword just
before the value ("my PIN is 4821", "passport no. X12345678"), either inside the pattern (the
reported span is then its ``v`` group) or within a few words before it.

NAME and ADDRESS use spaCy's named entities (ner.py), loaded only when one of them is asked for:
NAME is a PERSON entity (titles, greetings and names inside an address dropped) or a name after a
strong cue ("my name is ..."); ADDRESS is a street address (number, name, suffix, unit, then city,
state, ZIP or UK postcode), a PO box, a "City, ST 12345" line, a UK postcode, or a place entity
(GPE/LOC/FAC) after a residence cue ("I live in Leeds"). A place named on its own ("the office in
Paris") is not an address: Bedrock's ADDRESS is a physical address, not any location.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from . import ner
from .spans import Span


@dataclass(frozen=True)
class Recognizer:
    pattern: re.Pattern[str]
    valid: Callable[[str], bool] = lambda _: True
    # Words one of which must appear shortly before the match (lower case); empty: no context needed.
    context: tuple[str, ...] = ()
    # Or a pattern that must match there (searched in the lower-cased text before the match).
    context_pattern: re.Pattern[str] | None = None
    # Or a pattern matching right after it ("00987654321, routing 026009593": an account number).
    after: re.Pattern[str] | None = None
    # How far before the match (characters) the context may be.
    window: int = 40
    # The group reported when the pattern also matches its keyword ("PIN: (?P<v>\d{4})").
    group: str | int = 0


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


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words after "password is", "username:"... that are not the value ("your password is required").
_NOT_VALUES = _words(
    """a an the is was to for and or not of in on at by my your his her their our its this that it be
    been being are were will must should can could required incorrect wrong invalid expired reset
    changed change too very same different strong weak empty blank correct secure case sensitive
    hidden here there below above again now still just also only protected encrypted stored saved
    please if when with as so but no yes new old"""
)

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
        # "00" and bare digits: an account or order number as often as a phone number.
        lambda t: 10 <= len(_digits(t)) <= 15 and not (t.startswith("00") and t.isdigit()),
    ),
    "US_SOCIAL_SECURITY_NUMBER": Recognizer(
        re.compile(_NUM_L + r"(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}" + _NUM_R)
    ),
    "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER": Recognizer(
        re.compile(_NUM_L + r"9\d{2}([- ]?)(?:5\d|6[0-5]|7\d|8[0-8]|9[0-24-9])\1\d{4}" + _NUM_R),
        # Nine bare digits are an ITIN only near a keyword (ITIN_BARE): otherwise they are as likely
        # a passport, account or order number.
        lambda t: not t.isdigit(),
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
        re.compile(_NUM_L + r"\d{9}" + _NUM_R),
        _aba,
        # The keyword, then only filler words ("routing number for the wire is"), not "routing
        # table has" or "transit pass".
        context_pattern=re.compile(
            r"\b(?:routing|aba|rtn|transit)\b(?:\s*(?:[#:=.,/()-]|\b(?:numbers?|nos?|num|code|is|are|was"
            r"|aba|rtn|routing|transit|my|the|our|your|bank'?s?|and|for|of|wire|ach|direct|deposit|use"
            r"|it'?s)\b))*\s*$"
        ),
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
    # Types below need a keyword: inside the pattern (reporting group "v") or just before it.
    "PASSWORD": Recognizer(
        re.compile(
            r"(?i:\b(?:pass(?:word|wd|code|phrase)|pass\s(?:word|phrase)|pwd|pw)\b)"
            # Without "is" or ":", only a value that looks like one ("password Tr0ub4dor&3").
            r"(?:\s+(?:is|was|will\s+be|=)\s*|\s*[:=]\s*|\s+(?=[^\s,;]{0,63}[\d!#$%^&*@~+=]))"
            r"[\"'`\u201c\u2018]?(?P<v>[^\s\"'`\u201d\u2019]{3,64}?)[\"'`\u201d\u2019]?(?=[\s,;)]|[.!?](?:\s|$)|$)"
        ),
        lambda v: v.lower() not in _NOT_VALUES,
        group="v",
    ),
    "USERNAME": Recognizer(
        re.compile(
            r"(?i:\b(?:(?:user\s?name|user\s?id|login(?:\s+(?:name|id))?|screen\s?name|nick\s?name"
            r"|handle|account\s+name|gamertag)"
            # Without "is" or ":", only a value that looks like one ("handle jdoe_92", not "handle errors").
            r"(?:\s+(?:is|was|=)\s*|\s*[:=]\s*|\s+(?=@|[\w.-]{0,62}[\d_.]\w))"
            r"|(?:log(?:ged)?\s?in|sign(?:ed)?\s?in)\s+as\s+))[\"'`\u201c\u2018]?"
            r"(?P<v>@?[A-Za-z0-9][\w.-]{0,62}[A-Za-z0-9_]|@?[A-Za-z0-9])(?![\w@-])"
        ),
        lambda v: v.lower() not in _NOT_VALUES and not re.fullmatch(r"\d{1,2}", v),
        group="v",
    ),
    "PIN": Recognizer(
        re.compile(
            r"(?i:\bpin(?:\s?(?:code|number|no\.?))?\b)"
            r"(?i:'s\s*|\s+(?:is(?:\s+now)?|was|=|of|to)\s*|\s*[:=#-]\s*|\s+)"
            r"(?P<v>\d{4,8})" + _NUM_R
        ),
        group="v",
    ),
    "AGE": Recognizer(
        re.compile(
            r"(?i)(?<![\w.])(?P<v>\d{1,3}-(?:year|month)s?-old"
            r"|\d{1,3}(?:\s*|-)(?:years?|yrs?|months?)(?=(?:\s*|-)old\b)"
            r"|\d{1,3}\s?(?:yo|y/o|y\.o\.)(?![\w/]))"
        ),
        lambda v: 0 < int(_digits(v)) <= 130,
        group="v",
    ),
    "CREDIT_DEBIT_CARD_CVV": Recognizer(
        re.compile(r"(?<![\w./+-])\d{3,4}(?![\w/-]|\.\d)"),
        context_pattern=re.compile(
            r"\b(?:cvv2?|cvc2?|cvn|cid|csc|security\s+code|card\s+(?:verification|security)"
            r"(?:\s+(?:value|code|number))?|card\s+code)\b"
            # "the 3 digit code", "the numbers on the back of my card", "exp 04/28 code 321".
            r"|\b(?:three|3)[\s-]?digit\s+(?:security\s+)?(?:code|number)"
            r"|\b(?:code|numbers?|digits?)\s+on\s+(?:the\s+)?back\b(?:\s+of\s+(?:the|my|your)\s+card)?"
            r"|\bexp\w*\.?:?\s*\d{1,2}\s?/\s?\d{2,4}[\s,;]+(?:security\s+)?code\s*(?:is\s*|:\s*)?$"
        ),
        window=40,
    ),
    "CREDIT_DEBIT_CARD_EXPIRY": Recognizer(
        re.compile(r"(?<![\w./-])(?:0?[1-9]|1[0-2])\s?[/-]\s?(?:20)?\d{2}(?![\w/-]|\.\d)"),
        context_pattern=re.compile(
            r"\b(?:exp(?:iry|iration|ires?|\.)?|valid\s+(?:thru|through|until|to)|good\s+thru)\b"
            r"|\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{1,7}|\d{4}[ -]?\d{6}[ -]?\d{5}"
        ),
        window=50,
    ),
    "US_PASSPORT_NUMBER": Recognizer(
        re.compile(r"(?<![A-Za-z0-9])(?:[A-Z]\d{8}|\d{9})(?![A-Za-z0-9])"), context=("passport",)
    ),
    "US_BANK_ACCOUNT_NUMBER": Recognizer(
        re.compile(_NUM_L + r"\d{8,17}" + _NUM_R),
        context=("account", "acct", "a/c", "checking", "savings", "bank", "iban", "dda"),
        after=re.compile(r"(?i)\s*[,;]?\s*(?:and\s+|\(\s*)?(?:routing|aba|rtn|sort\s+code)\b"),
    ),
    "DRIVER_ID": Recognizer(
        re.compile(r"(?<![\w-])(?=[A-Za-z0-9-]*\d)[A-Za-z0-9](?:[A-Za-z0-9]|-(?=\w)){4,19}(?![\w-])"),
        lambda v: sum(c.isdigit() for c in v) >= 3 and not v.isalpha(),
        context_pattern=re.compile(
            r"\bdriv(?:er'?s?|ing)\s*(?:licen[cs]e|permit|id)|\bd\.?l\.?\b|\blicen[cs]e\s+(?:no|number|#|id)"
        ),
    ),
    "LICENSE_PLATE": Recognizer(
        re.compile(
            r"(?<![\w-])(?=[A-Z0-9 -]{0,9}\d)(?=[A-Z0-9 -]{0,9}[A-Z])"
            r"[A-Z0-9]{1,4}(?:[ -]?[A-Z0-9]{1,4}){1,2}(?![\w-])"
        ),
        lambda v: 4 <= sum(c.isalnum() for c in v) <= 8,
        context_pattern=re.compile(
            r"\b(?:(?:licen[cs]e|number|registration|reg|vehicle|car)\s+plates?|plates?|registration|reg"
            r"|tags?)\b"
        ),
    ),
    "CA_HEALTH_NUMBER": Recognizer(
        re.compile(_NUM_L + r"\d{4}([ -]?)\d{3}\1\d{3}(?:[ -]?[A-Z]{2})?" + r"(?![\w-])"),
        context_pattern=re.compile(
            r"\b(?:health\s*(?:card|number|insurance|plan)|ohip|ramq|msp|phn|carte\s+soleil"
            r"|carte\s+(?:d'assurance\s+)?maladie|health\s+card\s+(?:no|number))"
        ),
    ),
    "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER": Recognizer(
        re.compile(_NUM_L + r"(?:\d{5} ?\d{5}|\d{10})K?" + _NUM_R),
        context_pattern=re.compile(
            r"\b(?:utr|unique\s+tax(?:payer)?\s+reference|tax(?:payer)?\s+reference|self[\s-]assessment)"
        ),
    ),
}

# Bare digit runs are phone numbers only when the text says so.
BARE_PHONE = Recognizer(
    re.compile(_NUM_L + r"(?:\+?1)?\d{10}" + _NUM_R),
    context=("phone", "call", "cell", "mobile", "tel", "number", "whatsapp", "text me", "fax"),
)
ITIN_BARE = Recognizer(
    re.compile(_NUM_L + r"9\d{2}(?:5\d|6[0-5]|7\d|8[0-8]|9[0-24-9])\d{4}" + _NUM_R),
    context=("itin", "tin", "taxpayer", "tax id", "tax identification"),
)
# A password-like token (letters, digits and symbols) a few words after the keyword: "Password
# for the staging DB: Xk9#mP2$vL".
PASSWORD_NEARBY = Recognizer(
    re.compile(r"(?<![^\s:=\"'(])(?=\S*[A-Za-z])(?=\S*\d)(?=\S*[^\w\s])[^\s\"'`]{6,64}(?<![.,;:!?)])"),
    # Its own symbol, not a URL, e-mail, date, version or file name ("secrets2.yaml").
    lambda v: (
        re.search(r"[^\w\s]", v) is not None
        and not re.search(r"://|@.*\.|^[\d/.:-]+$|^v?\d", v)
        and not re.fullmatch(r"[\w-]+(?:\.[\w-]+)+", v)
    ),
    context=("password", "passwd", "pwd", "passphrase", "passcode", "credentials"),
)
# "aged 67", "age: 30", "at the age of 30".
AGE_AFTER_KEYWORD = Recognizer(
    re.compile(r"(?i)\b(?:aged?|age\s+of)(?:\s+(?:is|was|=)\s*|\s*[:=]\s*|\s+)(?P<v>\d{1,3})" + _NUM_R),
    lambda v: 0 < int(v) <= 130,
    group="v",
)
# What may follow a bare number that is an age: the end of the clause or a few words ("I'm 34 and
# ...", "turning 40 next week"), not a unit ("I'm 5 minutes away", "I'm 100% sure").
_AGE_END = (
    r"(?=\s*(?:[,.;!?)]|$)|\s+(?:and|but|so|now|years?|yrs?|yo|next|this|soon|today|tomorrow|last|with"
    r"|who|when|since|male|female|m|f)\b)"
)
_KIN = (
    r"(?:son|daughter|kid|child|boy|girl|baby|toddler|mom|mum|mother|dad|father|wife|husband|partner"
    r"|brother|sister|grandma|grandmother|grandpa|grandfather|grandson|granddaughter|niece|nephew|aunt"
    r"|uncle|cousin|friend|boyfriend|girlfriend|fianc[eé]e?|patient|client)"
)
# "I'm 34", "he's 81,", "my daughter is 7 and", "my mom, 68, just", "turning 40 next week",
# "i'm anita sharma, 31,".
AGE_SPOKEN = Recognizer(
    re.compile(
        r"(?i:\b(?:i'?m|i\s+am|im|he'?s|she'?s|(?:he|she|i)\s+(?:is|was)|they'?re"
        rf"|{_KIN}s?(?:'s|\s+is|\s+was)|turn(?:ed|ing|s)|{_KIN}s?\s*,)"
        r"|(?:\bi'?m|\bi\s+am|\bmy\s+name\s+is|\bthis\s+is)\s+[a-z'-]+(?:\s+[a-z'-]+)?\s*,)"
        r"\s*(?P<v>\d{1,3})" + _AGE_END + r"(?![\w%'\u2019]|\.\d)"
    ),
    lambda v: 0 < int(v) <= 120,
    group="v",
)
# Numbers written with a national trunk prefix ("07700 900123", "020 7946 0958", "0412 345 678").
PHONE_TRUNK = Recognizer(
    re.compile(_NUM_L + r"(?:\(0\d{1,4}\)\s?|0\d{1,4}[\s.-])\d{2,4}(?:[\s.-]?\d{2,4}){1,2}" + _NUM_R),
    lambda t: 10 <= len(_digits(t)) <= 11,
)
# A PIN a few words after the keyword, no other number between: "my pin? I think it's 7410".
PIN_NEARBY = Recognizer(
    re.compile(_NUM_L + r"(?<!\bin )(?<!\bsince )(?<!\bby )(?<!\buntil )\d{4,8}" + _NUM_R),
    context_pattern=re.compile(r"\bpin\b(?!\s+(?:the|it|this|that|a|an|to\s+the)\b)(?:'s)?\D*$"),
)
# Twitter/Instagram-style handles ("follow me @jdoe_92") near a social-media word.
HANDLE = Recognizer(
    re.compile(r"(?<![\w@.])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?(?![\w@])"),
    context=(
        "twitter",
        "instagram",
        "insta",
        "tiktok",
        "follow",
        "handle",
        "dm",
        "x",
        "github",
        "ig",
        "telegram",
        "discord",
        "threads",
        "mastodon",
        "me",
    ),
)
EXTRA: dict[str, tuple[Recognizer, ...]] = {
    "PHONE": (BARE_PHONE, PHONE_TRUNK),
    "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER": (ITIN_BARE,),
    "AGE": (AGE_AFTER_KEYWORD, AGE_SPOKEN),
    "PIN": (PIN_NEARBY,),
    "PASSWORD": (PASSWORD_NEARBY,),
    "USERNAME": (HANDLE,),
}

NER_TYPES = frozenset({"NAME", "ADDRESS"})
SUPPORTED = frozenset(RECOGNIZERS) | NER_TYPES
CONTEXT_WINDOW = 40  # characters before a match searched for a context word, by default


def _context_distance(text: str, start: int, recognizer: Recognizer) -> int | None:
    """Characters between the nearest context word before ``start`` and it; None: no context."""
    offset = max(0, start - recognizer.window)
    before = text[offset:start].lower()
    ends = [m.end() for w in recognizer.context for m in re.finditer(rf"\b{re.escape(w)}\b", before)]
    if recognizer.context_pattern is not None:
        ends += [m.end() for m in recognizer.context_pattern.finditer(before)]
    return len(before) - max(ends) if ends else None


def _has_context(text: str, start: int, words: tuple[str, ...]) -> bool:
    return _context_distance(text, start, Recognizer(re.compile(""), context=words)) is not None


def _find(text: str, entity_type: str) -> list[tuple[Span, int]]:
    """Spans of one regex type, each with the distance to its context word (0 if none needed)."""
    main = RECOGNIZERS.get(entity_type)
    if main is None:
        return []
    found: list[tuple[Span, int]] = []
    for recognizer in (main, *EXTRA.get(entity_type, ())):
        needs_context = bool(recognizer.context) or recognizer.context_pattern is not None
        needs_context = needs_context or recognizer.after is not None
        for m in recognizer.pattern.finditer(text):
            start, end = m.span(recognizer.group)
            value = m.group(recognizer.group)
            if start < 0 or not recognizer.valid(value):
                continue
            distance = 0
            if needs_context:
                near = _context_distance(text, start, recognizer)
                if near is None and recognizer.after is not None:
                    follows = recognizer.after.match(text, end)
                    near = None if follows is None else follows.end() - end
                if near is None:
                    continue
                distance = near
            if not any(s.start < end and start < s.end for s, _ in found):
                found.append((Span(start, end, value, entity_type), distance))
    return found


def find_pii(text: str, entity_type: str) -> list[Span]:
    """Occurrences of one regex entity type (NAME and ADDRESS: see ``find_all``)."""
    return [s for s, _ in _find(text, entity_type)]


# Types recognised by their keyword alone: the same digits may be claimed by several of them (a
# 9-digit number near "passport" and "account"), and by checksum-validated types, which win.
GENERIC = frozenset(
    {
        "PHONE",
        "US_BANK_ACCOUNT_NUMBER",
        "US_PASSPORT_NUMBER",
        "DRIVER_ID",
        "LICENSE_PLATE",
        "PIN",
        "CREDIT_DEBIT_CARD_CVV",
        "CA_HEALTH_NUMBER",
        "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER",
        "AGE",
    }
)


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def find_all(text: str, entity_types: list[str]) -> list[Span]:
    """All configured types. A span claimed by a more specific type (a card, an SSN) is dropped
    from the generic ones (PHONE, account numbers...) it also looks like; among generic types the
    one whose keyword is nearest keeps it (PHONE always yields); NAME yields to ADDRESS."""
    scored = [f for t in entity_types if t not in NER_TYPES for f in _find(text, t)]
    if NER_TYPES.intersection(entity_types):
        addresses = find_addresses(text)
        if "ADDRESS" in entity_types:
            scored += [(s, 0) for s in addresses]
        if "NAME" in entity_types:
            scored += [(s, 0) for s in find_names(text) if not any(_overlaps(s, a) for a in addresses)]
    specific = [s for s, _ in scored if s.label not in GENERIC]
    generic = [(s, d) for s, d in scored if s.label in GENERIC]
    kept: list[Span] = []
    for i, (span, distance) in enumerate(generic):
        if any(_overlaps(span, o) for o in specific):
            continue
        rank = (span.label == "PHONE", distance, i)
        if any((o.label == "PHONE", d, j) < rank for j, (o, d) in enumerate(generic) if _overlaps(span, o)):
            continue
        kept.append(span)
    keep = set(map(id, specific + kept))
    return [s for s, _ in scored if id(s) in keep]


# --- NAME and ADDRESS (spaCy entities from ner.py, plus patterns) ---------------------------------

_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Av|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Court|Ct|Place|Pl|Way"
    r"|Terrace|Terr?|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Cres|Close"
    r"|Grove|Gardens|Gdns|Row|Mews|Hill|Alley|Plaza|Loop|Path|Pike|Walk|Broadway|Park)"
)
_STREET_WORD = r"(?:\d+(?:st|nd|rd|th)|[A-Z][A-Za-z'.-]*)"
_DIRECTION = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)"
_UNIT = (
    r"(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|Building|Bldg)\.?\s*#?\s*[A-Za-z0-9-]+"
    r"|#\s?\d+[A-Za-z]?"
)
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"
# US states and Canadian provinces, and their ZIP or postal codes.
_US_STATE = (
    r"(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI|S[CD]"
    r"|T[NX]|UT|V[AT]|W[AIVY]|AB|BC|MB|N[BLST]|ON|PE|QC|SK|YT)"
)
_ZIP = r"(?:\d{5}(?:-\d{4})?|[A-Z]\d[A-Z] ?\d[A-Z]\d)"
_STREET = re.compile(
    rf"(?<![\w.-])(?:(?:{_UNIT}),?\s+)?\d{{1,6}}[A-Za-z]?(?:-\d{{1,6}})?,?\s+(?:{_DIRECTION}\.?\s+)?"
    rf"(?:{_STREET_WORD}\s+){{0,3}}{_STREET_WORD}\s+{_SUFFIX}\b\.?(?:\s+{_DIRECTION}\b\.?)?"
    rf"(?:,?\s+(?:{_UNIT}))?"
)
_PO_BOX = re.compile(r"(?i)\b(?:P\.?\s?O\.?\s?Box|Post\s+Office\s+Box)\s+\d{1,7}\b")
# What may follow a street, each preceded by an optional comma: "Springfield", "IL 62704", "UK".
_TAIL_CODE = re.compile(rf"(?:,\s*|\s+)(?:{_US_STATE}(?:\s+{_ZIP})?|{_ZIP}|{_UK_POSTCODE})(?![\w-])")
_TAIL_WORDS = re.compile(r"(?:,\s*|\s+)([A-Z][A-Za-z.'-]+(?:\s+[A-Z][A-Za-z.'-]+){0,2})(?!\w)")
_CITY_LINE = re.compile(
    rf"(?<![\w-])[A-Z][A-Za-z.'-]+(?:\s+[A-Z][A-Za-z.'-]+){{0,2}},\s*{_US_STATE}\s+{_ZIP}(?![\w-])"
)
_POSTCODE = re.compile(rf"(?<![\w-]){_UK_POSTCODE}(?![\w-])")
_RESIDENCE = re.compile(
    r"(?i)\b(?:live[sd]?|living|reside[sd]?|residing|moved|moving|relocat(?:ed|ing)|based|born"
    r"|address(?:\s+is)?|home\s+is)\s+(?:in|to|at|near|:)?\s*(?:the\s+)?$"
)
_PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})


# The same in text written without capitals ("42 oak lane, springfield il 62704"): a two-letter state
# is taken only before a ZIP, and street-name words may not be common words ("2 cars on the road").
_STREET_LOWER = re.compile(_STREET.pattern, re.IGNORECASE)
_TAIL_CODE_LOWER = re.compile(rf"(?i:(?:,\s*|\s+)(?:[a-z]{{2}}\s+{_ZIP}|{_ZIP}|{_UK_POSTCODE}))(?![\w-])")
_TAIL_WORDS_LOWER = re.compile(r"(?:,\s*|\s+)([a-z][a-z.'-]+(?:\s+[a-z][a-z.'-]+){0,2})(?!\w)")
_NUMBER = re.compile(r"\d")


def _extend_address(text: str, end: int, places: list[tuple[int, int, str]], lower: bool = False) -> int:
    """Grow an address to the right over a city, state, ZIP or postcode, country..."""
    tail_code = _TAIL_CODE_LOWER if lower else _TAIL_CODE
    while True:
        code = tail_code.match(text, end)
        if code:
            end = code.end()
            continue
        words = (_TAIL_WORDS_LOWER if lower else _TAIL_WORDS).match(text, end)
        if words is None:
            return end
        w_start, w_end = words.span(1)
        place = next((p for p in places if p[0] <= w_start < p[1]), None)
        if place is not None and place[2] in _PLACE_LABELS:
            end = max(w_end, place[1]) if place[1] <= w_end else place[1]
            continue
        if tail_code.match(text, w_end):  # "..., Springfield, IL 62704" even if spaCy missed it
            end = w_end
            continue
        return end


def find_addresses(text: str) -> list[Span]:
    """Street addresses, PO boxes, city/ZIP lines, UK postcodes, and places after a residence cue."""
    places = [e for e in ner.entities(text) if e[2] in _PLACE_LABELS]
    found: list[Span] = []

    def add(start: int, end: int) -> None:
        while end > start and text[end - 1] in ",. ":
            end -= 1
        span = Span(start, end, text[start:end], "ADDRESS")
        if not any(_overlaps(span, s) for s in found):
            found.append(span)

    for m in _STREET.finditer(text):
        add(m.start(), _extend_address(text, m.end(), places))
    if _writes_lower_case(text):
        stop = _stop_words()
        for m in _STREET_LOWER.finditer(text):
            name = _NUMBER.sub("", m.group(0)).split()[:-1]
            if not any(w.lower().strip(",.#") in stop for w in name):
                add(m.start(), _extend_address(text, m.end(), places, lower=True))
    for pattern in (_PO_BOX, _CITY_LINE):
        for m in pattern.finditer(text):
            add(m.start(), _extend_address(text, m.end(), places))
    for start, end, label in places:
        if label in _PLACE_LABELS and _RESIDENCE.search(text[max(0, start - 40) : start]):
            add(start, _extend_address(text, end, places, lower=text[start].islower()))
    for m in _POSTCODE.finditer(text):
        add(m.start(), m.end())
    return sorted(found, key=lambda s: s.start)


_TITLES = re.compile(
    r"^(?:(?:mr|mrs|ms|miss|mx|dr|prof|professor|sir|dame|lord|lady|rev|fr|capt|sgt|hon)\.?\s+)+",
    re.IGNORECASE,
)
_GREETINGS = re.compile(
    r"^(?:(?:hi|hello|hey|dear|thanks|thank\s+you|cheers|regards|yo|ok|okay|bye|goodbye|welcome)\b[\s,!]*)+",
    re.IGNORECASE,
)
# Strong cues: the capitalised word(s) after them are a name; after "my name is" even in lower case.
_NAME_CUE = re.compile(
    r"(?i:\b(?:my\s+name\s+is|my\s+name's|call\s+me|i\s+am\s+called))\s+"
    r"(?P<v>[A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+){0,2}|[a-z][a-z'-]+(?:\s+[a-z][a-z'-]+)?)(?![\w-])"
    r"|(?i:\bname)\s*:[ \t]*(?P<field>[A-Z][a-z'-]+(?:[ \t]+[A-Z][a-z'-]+){0,2})(?![\w-])"
)
_SIGN_OFF = re.compile(
    r"(?im)^(?:thanks|thank\s+you|cheers|regards|best(?:\s+regards|\s+wishes)?|kind\s+regards|sincerely"
    r"|yours(?:\s+(?:truly|sincerely))?|love)[,!.]?\s*(?:\n\s*|\s+)(?P<v>[A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)?)\s*$"
)


# Capitalised words spaCy's small model takes for a first name at the start of a sentence or form
# field ("Email me at...", "Expiry date: ..."): never reported as a NAME on their own.
_NOT_NAMES = _words(
    """email e-mail expiry expiration exp phone mobile cell address password username user login date
    name card account subject note notes total status call text message contact send ask tell please
    dm ping pin cvv cvc age gender dob birthday sir madam team admin support customer client patient
    doctor nurse manager hello hi hey thanks dear regards cheers god lord mom dad mum monday tuesday
    wednesday thursday friday saturday sunday january february march april june july august
    september october november december"""
)
# Model and product names the small model takes for people; in an LLM gateway's traffic they are
# more often the product ("ask Claude", "Llama 3") than a person. Two-word names (Claude Monet) pass.
_PRODUCTS = _words(
    """claude llama mistral mixtral qwen jamba titan nova gemma gemini alexa siri cortana copilot
    bedrock anthropic converse ollama python java ruby rust perl swift kotlin django flask pandas
    code sonnet opus haiku instant chatgpt gpt openai google bing"""
)
_TRAILING_NOT_NAME = frozenset({"yesterday", "today", "tomorrow", "tonight", "now", "here", "there"})


def _stop_words() -> frozenset[str]:
    try:
        from spacy.lang.en.stop_words import STOP_WORDS
    except ImportError:
        return _NOT_VALUES
    return frozenset(STOP_WORDS) | _NOT_VALUES


def _writes_lower_case(text: str) -> bool:
    """Whether the writer leaves sentences uncapitalised ("i talked to david"): then a lower-case
    PERSON entity may be a name; in properly cased text it is a common word the model misread."""
    starts = [m.group(1) for m in re.finditer(r"(?:^|(?<!\b[a-z\d])[.!?]\s+)([A-Za-z])", text)]
    lower = sum(c.islower() for c in starts)
    return lower * 2 > len(starts) or not any(c.isupper() for c in text)


def _plausible_person(text: str, start: int, end: int, value: str) -> bool:
    """Filters for the small model's PERSON entities on technical or mixed text."""
    words = value.split()
    if any(c in ":;()[]{}<>|\\\n" for c in value):
        return False
    if not _writes_lower_case(text) and any(w[0].islower() for w in words):
        return False
    # Product-style capitals inside a word (OpenAI, MiniMax, CountTokens), but not McDonald/MacArthur.
    if any(re.search(r"[a-z]{2}[A-Z]", w) and not re.match(r"Ma?c[A-Z]", w) for w in words):
        return False
    if len(words) > 1 and any(w.isupper() and len(w) > 1 for w in words) and not value.isupper():
        return False
    if all(w.lower() in _PRODUCTS for w in words):
        return False
    if len(words) == 1:
        # A common noun capitalised at the start of a sentence or heading: the same word occurs in
        # lower case elsewhere in the text ("Context ... the context window").
        lower = value.lower()
        if re.search(rf"(?<![\w-]){re.escape(lower)}(?![\w-])", text[:start] + " " + text[end:]):
            return False
    return True


# A capitalised word or two listed next to a name ("Tom, Priya, and Kenji", "Sophie and Liam").
_NAME_WORDS = r"[A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)?"
_LIST_SEP = r"(?P<sep>\s*,\s*(?:and\s+)?|\s+and\s+)"
_LIST_NEXT = re.compile(rf"{_LIST_SEP}(?P<v>{_NAME_WORDS})(?![\w-])")
_LIST_PREVIOUS = re.compile(rf"(?<![\w-])(?P<v>{_NAME_WORDS}){_LIST_SEP}$")
# Entities the small model may give a first name listed with others ("Kenji" GPE): overruled only
# in an "and" list, where "Priya Sharma, Paris" (a signature) is not; never ORG ("Tom and Apple").
_LIST_OVERRULED = frozenset({"GPE", "NORP", "PRODUCT", "WORK_OF_ART"})
# Teams and tools asked or told things ("ask legal to review"), not people.
_NOT_NAMES_LOWER = _words(
    """legal finance management security design product staff hr it ops devops qa payroll billing
    accounting marketing sales engineering everybody everyone someone somebody anyone anybody people
    chat bot assistant ai model server computer phone pong"""
)
# In text written without capitals: the word after "my friend", "tell"... when it ends the clause
# or is the subject of what follows ("for my friend priya", "ask mike to"), not a verb or plural
# ("my friend jumped", "ask questions").
_LOWER_CUE = re.compile(
    r"\b(?:my\s+(?:friend|wife|husband|son|daughter|boss|colleague|coworker|co-worker|brother|sister"
    r"|cousin|neighbou?r|partner|girlfriend|boyfriend|roommate|manager|teacher)|tell|ask|text|remind"
    r"|ping)\s+(?P<v>[a-z][a-z'-]+)(?![\w-])(?=\s*(?:[,.!?;:]|$)|\s+(?:to|that|and|said|says|told"
    r"|wants|is|was|will|i|i'll|i'm|we|if|when|he|she|has|had|can|could|would|should))"
)


def find_names(text: str) -> list[Span]:
    """People's names: spaCy PERSON entities without titles or greetings, plus names after a cue."""
    stop = _stop_words()
    found: list[Span] = []

    def add(start: int, end: int, from_model: bool) -> None:
        value = text[start:end]
        for trim in (_TITLES, _GREETINGS, _TITLES):
            m = trim.match(value)
            if m:
                start += m.end()
                value = text[start:end]
        value = value.rstrip()
        end = start + len(value)
        for tail in ("'s", "\u2019s", "'", "."):
            if value.endswith(tail) and len(value) > len(tail):
                end -= len(tail)
                value = text[start:end]
        words = value.split()
        while len(words) > 1 and words[-1].lower() in _TRAILING_NOT_NAME | stop:
            end = start + value.rindex(words.pop())
            value = text[start:end].rstrip()
            end = start + len(value)
        if not words or any(c.isdigit() or c in "@/#_=" for c in value):
            return
        if len(words) == 1 and value.lower() in _NOT_NAMES:
            return
        if all(w.lower().strip(".,'") in stop for w in words):
            return
        if len(words) == 1 and ((value.isupper() and len(value) > 1) or len(value) < 2):
            return
        if from_model and not _plausible_person(text, start, end, value):
            return
        span = Span(start, end, value, "NAME")
        if not any(_overlaps(span, s) for s in found):
            found.append(span)

    for m in _NAME_CUE.finditer(text):
        if m.group("field"):
            add(*m.span("field"), from_model=False)
        elif m.group("v")[0].isupper() or "name" in m.group(0).lower() or _writes_lower_case(text):
            # "call me maybe" in a capitalised text is not a name; "my name is john" is.
            add(*m.span("v"), from_model=False)
    for m in _SIGN_OFF.finditer(text):
        add(*m.span("v"), from_model=False)
    entities = ner.entities(text)
    for start, end, label in entities:
        if label == "PERSON":
            add(start, end, from_model=True)
    if _writes_lower_case(text):
        for m in _LOWER_CUE.finditer(text):
            word = m.group("v")
            if (
                not re.search(r"(?:s|ed|ing|ly)$", word)
                and word not in stop | _NOT_NAMES | _PRODUCTS | _NOT_NAMES_LOWER
            ):
                add(*m.span("v"), from_model=False)
    # Names listed with a name found above, not taken by the model for anything else (a place).
    queue = list(found)
    while queue:
        name = queue.pop()
        before = _LIST_PREVIOUS.search(text, max(0, name.start - 40), name.start)
        after = _LIST_NEXT.match(text, name.end)
        for near in (before, after):
            if near is None:
                continue
            start, end = near.span("v")
            listed = "and" in near.group("sep")
            if any(
                e[0] < end
                and start < e[1]
                and (e[2] not in _LIST_OVERRULED or not listed or " " in near.group("v"))
                for e in entities
                if e[2] != "PERSON"
            ):
                continue
            if any(w.lower() in _PRODUCTS or w.lower() in _NOT_NAMES for w in near.group("v").split()):
                continue
            overruled = any(e[0] < end and start < e[1] for e in entities)
            count = len(found)
            add(start, end, from_model=False)
            if not overruled:  # the list goes on from a name only the model is sure of
                queue += found[count:]
    return sorted(found, key=lambda s: s.start)
