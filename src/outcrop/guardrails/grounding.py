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
SEM_LOW, SEM_HIGH = 0.3, 0.7
SEM_WEIGHT = 0.6  # the rest of a claim's support is content-word coverage
SHORT_CLAIM_WORDS = 4  # claims with fewer content words lean on coverage instead
NUMBER_PENALTY = 0.35  # factor per number in the claim that the source does not contain
NAME_PENALTY = 0.5  # factor per capitalised name the source does not contain
ABSOLUTE_PENALTY = 0.6  # factor per "free"/"unlimited"/"always"... the source does not use
# Relevance: query/response similarity mapped from [REL_LOW, REL_HIGH] to [0, 1].
REL_LOW, REL_HIGH = 0.05, 0.4
REL_SEM_WEIGHT = 0.8
ANSWER_TYPE_PENALTY = 0.8  # a "when" question answered without any time expression, etc.


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
        "per via it's i'm you'll you're don't doesn't isn't can't won't there's that's"
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


def _numbers(text: str) -> set[str]:
    """Numbers as canonical strings: "1,000" and "1000" agree, "six" is "6"."""
    found = {m.group(0).replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}
    found = {n[:-2] if n.endswith(".0") else n for n in found}
    found |= {NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in NUMBER_WORDS}
    return found


def _names(text: str) -> set[str]:
    """Capitalised words that are not the first word of a sentence (names, places, products,
    months: "June 1" where the source says "March 1" is as wrong as a wrong number)."""
    names: set[str] = set()
    for sentence in sentences(text):
        words = _WORD.findall(sentence)
        for word in words[1:]:
            if word[0].isupper() and word.lower() not in STOPWORDS:
                names.add(word.lower())
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
    source_numbers = _numbers(source)
    source_words = _content(source)
    out = []
    for claim, sem in zip(claims, similarity, strict=True):
        semantic = _clip((float(sem) - SEM_LOW) / (SEM_HIGH - SEM_LOW))
        words = _content(claim)
        coverage = len(words & source_words) / len(words) if words else 1.0
        # A fragment ("About 850 people.") embeds poorly against a full source sentence, so the
        # fewer content words a claim has, the more its words (and numbers) decide.
        weight = SEM_WEIGHT * min(1.0, len(words) / SHORT_CLAIM_WORDS)
        support = weight * semantic + (1 - weight) * coverage
        missing_numbers = _numbers(claim) - source_numbers
        missing_names = {n for n in _names(claim) if not re.search(rf"\b{re.escape(n)}", source_lower)}
        missing_absolutes = _absolutes(claim) - _absolutes(source)
        support *= (
            NUMBER_PENALTY ** len(missing_numbers)
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
    return _clip(score)


__all__ = ["claim_support", "grounding_score", "relevance_score"]
