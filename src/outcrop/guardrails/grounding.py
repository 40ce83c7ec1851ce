"""Contextual grounding and relevance scores, from sentence embeddings plus lexical checks.

Bedrock blocks a response whose grounding or relevance score is below the configured threshold
(0-0.99; 0.7 is typical), so both scores are "higher is safer": a supported, on-point answer
should score well above 0.7 and a hallucinated or off-topic one well below.

Grounding asks whether every claim in the response is backed by the source. MiniLM similarity
alone cannot see that "3.75%" is not "3.25%" (the sentences are near-identical), so each claim's
semantic support is combined with lexical evidence: numbers and names in the claim that the
source never mentions, and content words the source does not use. The response scores as its
least-supported claim, since one invented fact is enough to make an answer ungrounded.

Relevance asks whether the response addresses the query: query/response similarity, the share
of the query's content words the answer takes up, and whether a "when/how many/who/where"
question gets an answer of that kind.

Limits: these are heuristics calibrated on bench/data/dev/grounding.json (about 70 English
cases), not an entailment model. Contradictions that reuse the source's own words and numbers
("carry over" vs "do not carry over"), paraphrased numbers ("a dozen" for 12) and answers that
are correct but drawn from world knowledge the source lacks are judged imperfectly.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from ..engines.embeddings.engine import embedding_engine
from .topics import sentences

Vectors = NDArray[np.float32]

SOURCE_CACHE_SIZE = 64  # distinct grounding sources whose sentence embeddings are kept
# Claim support: semantic similarity mapped linearly from [SEM_LOW, SEM_HIGH] to [0, 1].
SEM_LOW, SEM_HIGH = 0.3, 0.6  # paraphrases of a source sentence sit at 0.45-0.65
SEM_WEIGHT = 0.6  # the rest of a claim's support is content-word coverage
SHORT_CLAIM_WORDS = 4  # claims with fewer content words lean on coverage instead
NUMBER_PENALTY = 0.35  # factor per number in the claim that the source does not contain
NAME_PENALTY = 0.5  # factor per capitalised name the source does not contain
ABSOLUTE_PENALTY = 0.6  # factor per "free"/"unlimited"/"always"... the source does not use
# Relevance: query/response similarity mapped from [REL_LOW, REL_HIGH] to [0, 1].
REL_LOW, REL_HIGH = 0.05, 0.4
REL_SEM_WEIGHT = 0.8
ANSWER_TYPE_PENALTY = 0.8  # a "when" question answered without any time expression, etc.
# Synonym-insensitive coverage: a content word the source does not use still counts in part when
# its MiniLM word embedding is close to one of the source's words ("meals"/"food", "daily"/"day"),
# linearly from WORD_LOW (no credit) to WORD_HIGH (full credit).
WORD_LOW, WORD_HIGH = 0.45, 0.8
WORD_CACHE_SIZE = 4096
YES_NO_BONUS = 0.15  # a yes/no question answered with "Yes, ..."/"No, ..." addresses the question


def _words(text: str) -> list[str]:
    return text.split()


STOPWORDS = frozenset(
    _words(
        "a about above after again against all also am an and any are as at be because been before "
        "being below between both but by can could did do does doing down during each few for from "
        "further had has have having he her here hers herself him himself his how i if in into is it "
        "its itself just me more most my myself no nor not now of off on once only or other our ours "
        "ourselves out over own same she should so some such than that the their theirs them "
        "themselves then there these they this those through to too under until up very was we were "
        "what when where which while who whom why will with would you your yours yourself yourselves "
        "yes okay ok sure please thanks thank hope helps let know get got like may might must shall "
        "per via it's i'm you'll you're don't doesn't isn't can't won't there's that's they're "
        # hedges and light verbs: "roughly 3 hours" claims what "about 3 hours" does
        "roughly approximately around nearly almost exactly give put keep take make allowed"
    )
)
NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        _words(
            "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
            "fifteen sixteen seventeen eighteen nineteen twenty"
        )
    )
}
MONTHS = _words(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
)

SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
TENS = {
    w: 10 * i for i, w in enumerate(_words("twenty thirty forty fifty sixty seventy eighty ninety"), start=2)
}
FRACTIONS = {"half": 0.5, "quarter": 0.25}
# Units by dimension, as multiples of a base unit (minutes, grams, metres, cents), so that "two
# weeks" meets "14 days" and "a quarter of a kilogram" meets "250 grams".
UNITS: dict[str, tuple[str, float]] = {
    **dict.fromkeys(_words("minute minutes min mins"), ("time", 1.0)),
    **dict.fromkeys(_words("hour hours hr hrs"), ("time", 60.0)),
    **dict.fromkeys(_words("day days"), ("time", 1440.0)),
    **dict.fromkeys(_words("week weeks"), ("time", 10080.0)),
    **dict.fromkeys(_words("month months"), ("time", 43200.0)),
    **dict.fromkeys(_words("year years"), ("time", 525600.0)),
    **dict.fromkeys(_words("gram grams g"), ("mass", 1.0)),
    **dict.fromkeys(_words("kilogram kilograms kg kgs kilo kilos"), ("mass", 1000.0)),
    **dict.fromkeys(_words("metre metres meter meters m"), ("length", 1.0)),
    **dict.fromkeys(_words("kilometre kilometres kilometer kilometers km"), ("length", 1000.0)),
    **dict.fromkeys(_words("cent cents"), ("money", 1.0)),
    **dict.fromkeys(_words("dollar dollars bucks $"), ("money", 100.0)),
}

# Quantities said in words: a claim that something is "free" or "unlimited" when the source
# never says so is as suspect as an invented number.
ABSOLUTES = frozenset(_words("free unlimited never always none forever guaranteed half double twice triple"))

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d[\d,]*(?:\.\d+)?")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_TIME_WORDS = re.compile(
    r"\b(?:" + "|".join(MONTHS) + r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"today|tomorrow|yesterday|tonight|morning|afternoon|evening|night|noon|midnight|am|pm|"
    r"minutes?|hours?|days?|weeks?|months?|years?|daily|weekly|annually|every|since|until|"
    r"before|after|ago|later|soon|now|never|always|spring|summer|autumn|fall|winter|century)\b",
    re.IGNORECASE,
)
_QUESTION_TYPE = re.compile(
    r"^\W*(when|what time|what year|how (?:many|much|long|old|far|often)|who|whom|whose|where)\b",
    re.IGNORECASE,
)


def _clip(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def _stem(word: str) -> str:
    """A crude stem (first five letters) so "carried"/"carry over" and "opened"/"opens" meet."""
    return word[:5]


def _canonical(value: float) -> str:
    return f"{value:.6g}"


_TOKEN = re.compile(r"\$|\d[\d,]*(?:\.\d+)?|[a-z]+(?:-[a-z]+)*")


def _spoken(tokens: list[str], i: int) -> tuple[float, int] | None:
    """A number said in words starting at ``tokens[i]`` ("a dozen", "three and a half",
    "twenty-five", "a quarter of a million"): (value, tokens used), or None."""
    j, value, current, found = i, 0.0, 0.0, False
    if j < len(tokens) and tokens[j] in ("a", "an") and j + 1 < len(tokens):
        nxt = tokens[j + 1]
        if nxt in SCALES or nxt in FRACTIONS or nxt == "dozen":
            current, found, j = 1.0, True, j + 1
    while j < len(tokens):
        word = tokens[j]
        parts = word.split("-")
        if all(p in NUMBER_WORDS or p in TENS for p in parts) and not (found and current % 10):
            current += sum(int(NUMBER_WORDS[p]) if p in NUMBER_WORDS else TENS[p] for p in parts)
        elif word == "dozen" and found:
            current *= 12
        elif word in SCALES and found:
            value += current * SCALES[word]
            current = 0.0
        elif word in FRACTIONS and (found or j == i):
            frac = FRACTIONS[word]
            if j + 2 < len(tokens) and tokens[j + 1] == "of" and tokens[j + 2] in ("a", "an"):
                scale = tokens[j + 3] if j + 3 < len(tokens) else ""
                if scale in SCALES:  # "a quarter of a million"
                    return frac * SCALES[scale], j + 4 - i
                current = frac  # "a quarter of a kilogram": the unit follows
                found = True
                j += 3
                continue
            current = (current or 1.0) * frac if current in (0.0, 1.0) else current
            found = True
        elif word == "and" and found and tokens[j + 1 : j + 3] in (["a", "half"], ["a", "quarter"]):
            current += FRACTIONS[tokens[j + 2]]
            j += 3
            continue
        else:
            break
        found = True
        j += 1
    if not found:
        return None
    return value + current, j - i


@lru_cache(maxsize=1024)
def _quantities(text: str) -> tuple[set[str], set[tuple[str, str]], str]:
    """(every number in ``text`` as a canonical string, the numbers that carry a unit as
    (dimension, value in the base unit), the text with spoken numbers removed). Numbers said in
    words count ("six" is 6, "a dozen" 12, "three and a half hours" 210 minutes), "half past six"
    is 6:30, and a duration in parts ("3 hours and 30 minutes") is also counted whole."""
    lowered = text.lower().replace("\u2019", "'")
    lowered = re.sub(r"\bhalf past (\w+)", lambda m: f"{m.group(1)}:30", lowered)
    lowered = re.sub(r"\bquarter past (\w+)", lambda m: f"{m.group(1)}:15", lowered)
    lowered = re.sub(r"\b(?:a |an )?(half|quarter) (?:of )?(?:an )?hour\b", r"\1 hour", lowered)
    raw: set[str] = set()
    dims: set[tuple[str, str]] = set()
    for clock in re.findall(r"\b(\w+):(\d\d)\b", lowered):
        hour = clock[0] if clock[0].isdigit() else NUMBER_WORDS.get(clock[0], TENS.get(clock[0]))
        if hour is not None:
            raw.add(f"{int(hour)}:{clock[1]}")
            if clock[1] == "00":  # "10:00" is "ten"
                raw.add(str(int(hour)))
    lowered = re.sub(r"\b\w+:\d\d\b", " ", lowered)
    tokens = [
        part
        for token in _TOKEN.findall(lowered)
        for part in (
            [token] if all(p in NUMBER_WORDS or p in TENS for p in token.split("-")) else token.split("-")
        )
    ]
    leftover: list[str] = []
    values: list[tuple[float, int]] = []  # (value, index of the token after it)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token[0].isdigit():
            number = float(token.replace(",", ""))
            values.append((number, i + 1))
            i += 1
            continue
        spoken = _spoken(tokens, i)
        if spoken is not None:
            values.append((spoken[0], i + spoken[1]))
            i += spoken[1]
            continue
        leftover.append(token)
        i += 1
    previous: tuple[str, float, int] | None = None
    for number, after in values:
        raw.add(_canonical(number))
        unit = tokens[after] if after < len(tokens) else ""
        dollar = after >= 2 and tokens[after - 2] == "$"
        if dollar:
            unit = "$"
        elif unit in ("per", "a") and after + 1 < len(tokens):  # "25 cents per item" already fine
            unit = ""
        if unit in UNITS:
            dim, factor = UNITS[unit]
            base = number * factor
            dims.add((dim, _canonical(base)))
            if unit in ("cent", "cents"):  # 25 cents is also "a quarter" (of a dollar)
                raw.add(_canonical(base / 100))
            if previous and previous[0] == dim and previous[2] >= after - 4:
                dims.add((dim, _canonical(previous[1] + base)))  # 3 hours and 30 minutes
            previous = (dim, base, after + 1)
    return raw, dims, " ".join(leftover)


def _numbers(text: str) -> set[str]:
    """Numbers as canonical strings: "1,000" and "1000" agree, "six" is "6"."""
    return _quantities(text)[0]


_RATE = re.compile(
    r"\b(?:(?:a|an|per|each|every)(?: full)? (minute|hour|day|week|month|year)"
    r"|(hourly|daily|weekly|monthly|annual|annually|yearly))\b"
)
_RATE_WORDS = {
    "hourly": "hour",
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
    "annual": "year",
    "annually": "year",
    "yearly": "year",
}


def _rates(text: str) -> set[str]:
    """The periods of rates ("$400 a year", "annually", "per day"), as singular units."""
    return {m.group(1) or _RATE_WORDS[m.group(2)] for m in _RATE.finditer(text.lower())}


def _unsupported_numbers(claim: str, source: str) -> int:
    """How many of the claim's numbers the source does not state, directly or in another unit."""
    claim_raw, claim_dims, _ = _quantities(claim)
    source_raw, source_dims, _ = _quantities(source)
    # A number the source states in another unit of the same dimension ("a quarter" for 25 cents).
    spelled = {
        _canonical(float(value) / factor)
        for dim, value in source_dims
        for unit_dim, factor in UNITS.values()
        if unit_dim == dim
    }
    supported_dims = {d for d in claim_dims if d in source_dims}
    missing = len(_rates(claim) - _rates(source)) if claim_raw else 0  # "$400 a month" for "a year"
    for number in claim_raw:
        if number in source_raw:
            continue
        if any(
            _canonical(float(v) / f) == number
            for d, v in supported_dims
            for ud, f in UNITS.values()
            if ud == d
        ):
            continue
        if ":" not in number and number in spelled and not claim_dims - source_dims:
            continue
        missing += 1
    return missing


def _names(text: str) -> set[str]:
    """Capitalised words that are not the first word of a sentence (names, places, products,
    months: "June 1" where the source says "March 1" is as wrong as a wrong number)."""
    names: set[str] = set()
    for sentence in sentences(text):
        words = _WORD.findall(sentence)
        for word in words[1:]:
            if word[0].isupper() and word.lower() not in STOPWORDS:
                names.add(re.sub(r"'s?$", "", word.lower()))
    return names


def _absolutes(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w in ABSOLUTES}


def _content(text: str) -> set[str]:
    """Stemmed content words (no stopwords, no numbers)."""
    return {
        _stem(w.lower())
        for w in _WORD.findall(text)
        if not w[0].isdigit() and w.lower() not in STOPWORDS and w.lower() not in NUMBER_WORDS
    }


# Words that are part of a quantity, which the number check judges ("a dozen", "ten dollars").
QUANTITY_WORDS = frozenset({*NUMBER_WORDS, *TENS, *SCALES, *FRACTIONS, *UNITS, "dozen"})


def _content_words(text: str) -> dict[str, str]:
    """Content words by stem (as in ``_content``), each with one of its spellings."""
    out: dict[str, str] = {}
    for w in _WORD.findall(text):
        lower = re.sub(r"'s?$", "", w.lower())
        if not w[0].isdigit() and lower not in STOPWORDS and lower not in QUANTITY_WORDS:
            out.setdefault(_stem(lower), lower)
    return out


_word_cache: dict[str, NDArray[np.float32]] = {}


def _word_vectors(words: list[str]) -> Vectors:
    """MiniLM embeddings of single words, cached (the vocabulary of a deployment is small)."""
    missing = [w for w in dict.fromkeys(words) if w not in _word_cache]
    if missing:
        if len(_word_cache) + len(missing) > WORD_CACHE_SIZE:
            _word_cache.clear()
        for word, vector in zip(missing, embedding_engine().embed_sync(missing).vectors, strict=True):
            _word_cache[word] = vector
    return np.stack([_word_cache[w] for w in words])


def _coverage(words: dict[str, str], reference: dict[str, str]) -> float:
    """Share of ``words`` found in ``reference``: a shared stem counts fully, a near-synonym
    (by word embedding) in part. 1 when there are no words to find."""
    if not words:
        return 1.0
    found = sum(1.0 for stem in words if stem in reference)
    unmatched = [w for stem, w in words.items() if stem not in reference]
    if unmatched and reference:
        similarity = (_word_vectors(unmatched) @ _word_vectors(list(reference.values())).T).max(axis=1)
        found += float(np.clip((similarity - WORD_LOW) / (WORD_HIGH - WORD_LOW), 0.0, 1.0).sum())
    return found / len(words)


def _claims(response: str) -> list[str]:
    """The response's sentences, split further at semicolons; filler with no content is dropped."""
    claims = [c.strip() for s in sentences(response) for c in s.split(";")]
    return [c for c in claims if _content(c) or _numbers(c)]


@lru_cache(maxsize=SOURCE_CACHE_SIZE)
def _source_vectors(source: str) -> Vectors:
    """Embeddings of the source's sentences and neighbouring pairs (a claim may join two
    sentences). Cached: the same reference documents tend to come with every request."""
    parts = sentences(source) or [source]
    units = parts + [f"{a} {b}" for a, b in pairwise(parts)]
    return embedding_engine().embed_sync(units).vectors


def claim_support(source: str, response: str) -> list[tuple[str, float]]:
    """Each claim of the response with its support in [0, 1] (for explanations and tuning)."""
    claims = _claims(response)
    if not claims:
        return []
    similarity = (embedding_engine().embed_sync(claims).vectors @ _source_vectors(source).T).max(axis=1)
    source_lower = source.lower()
    source_words = _content_words(source)
    out = []
    for claim, sem in zip(claims, similarity, strict=True):
        semantic = _clip((float(sem) - SEM_LOW) / (SEM_HIGH - SEM_LOW))
        words = _content_words(claim)
        coverage = _coverage(words, source_words)
        # A fragment ("About 850 people.") embeds poorly against a full source sentence, so the
        # fewer content words a claim has, the more its words (and numbers) decide.
        weight = SEM_WEIGHT * min(1.0, len(words) / SHORT_CLAIM_WORDS)
        support = weight * semantic + (1 - weight) * coverage
        missing_numbers = _unsupported_numbers(claim, source)
        missing_names = {n for n in _names(claim) if not re.search(rf"\b{re.escape(n)}", source_lower)}
        # "half" in "three and a half hours" is a number, not a claim that something is halved.
        missing_absolutes = _absolutes(_quantities(claim)[2]) - _absolutes(source)
        support *= (
            NUMBER_PENALTY**missing_numbers
            * NAME_PENALTY ** len(missing_names)
            * ABSOLUTE_PENALTY ** len(missing_absolutes)
        )
        out.append((claim, _clip(support)))
    return out


def grounding_score(source: str, response: str) -> float:
    """How far ``response`` is supported by ``source``, 0-1: the support of its weakest claim.

    A response with nothing to check (empty, or only pleasantries) scores 1: it asserts nothing
    the source could contradict. An empty source supports nothing and scores 0.
    """
    if not source.strip():
        return 0.0 if _claims(response) else 1.0
    support = claim_support(source, response)
    return min((s for _, s in support), default=1.0)


def _answer_type_ok(query: str, response: str) -> bool:
    """Whether a when/how-many/who/where question gets an answer of the matching kind."""
    match = _QUESTION_TYPE.match(query)
    if match is None:
        return True
    kind = match.group(1).lower()
    if kind.startswith(("when", "what time", "what year")):
        return bool(_NUMBER.search(response) or _TIME_WORDS.search(response))
    if kind.startswith("how"):
        return bool(
            _numbers(response) or re.search(r"\b(?:no|none|few|several|many|unlimited)\b", response, re.I)
        )
    if kind.startswith(("who", "whose")):
        return bool(_names(response) or any(w[0].isupper() for w in _WORD.findall(response)))
    return bool(_names(response) or re.search(r"\b(?:in|at|on|near|from)\b", response, re.I))


def relevance_score(query: str, response: str) -> float:
    """How far ``response`` answers ``query``, 0-1. Empty response scores 0, an empty query 1
    (nothing was asked). Measures topicality, not correctness: a wrong answer to the question
    is relevant (grounding catches that)."""
    if not response.strip():
        return 0.0
    if not query.strip():
        return 1.0
    parts = sentences(response)
    texts = [query, " ".join(response.split()), *(parts if len(parts) > 1 else [])]
    vectors = embedding_engine().embed_sync(texts).vectors
    sem = float((vectors[1:] @ vectors[0]).max())
    semantic = _clip((sem - REL_LOW) / (REL_HIGH - REL_LOW))
    asked = _content(query)
    overlap = len(asked & _content(response)) / len(asked) if asked else 1.0
    score = REL_SEM_WEIGHT * semantic + (1 - REL_SEM_WEIGHT) * overlap
    if not _answer_type_ok(query, response):
        score *= ANSWER_TYPE_PENALTY
    if re.match(
        r"^\W*(?:can|could|is|are|do|does|did|will|should|may|must|has|have)\b", query, re.I
    ) and re.match(r"^\W*(?:yes|no)\b", response, re.I):
        score += YES_NO_BONUS  # an elliptical "Yes, twice, online." still answers "Can I renew?"
    return _clip(score)


__all__ = ["claim_support", "grounding_score", "relevance_score"]
