"""Denied topics: which configured topics a text is about, by sentence-embedding similarity.

AWS describes a topic by a definition (what the subject is) and up to five example prompts; a
text matches when it is about the subject, however it is worded, so substring matching would
both miss paraphrases and fire on shared vocabulary ("the history of the stock exchange" is not
"investment advice"). Each sentence of the text (and each pair of neighbouring sentences, so a
request split over two sentences is still seen whole) is compared with the definition and the
examples; the unit's topic similarity is the better of the two.

A unit matches a topic when its similarity is (a) above an absolute floor and (b) clearly above
its similarity to a set of generic, subject-free requests (greetings, summarise this, tell me
about history, …): MiniLM gives every question a baseline similarity to every other question,
and the margin test removes that baseline, which is what keeps hard negatives out. A very high
similarity (a near-paraphrase of an example) matches on its own.

Limits: MiniLM-L6 is a small model; symptoms described without medical words, or jargon it
does not know (poker hands, drug names), can fall below the margin. The thresholds were
calibrated on bench/data/dev/topics.json, about 70 English prompts and six topics.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..engines.embeddings.engine import embedding_engine

Vectors = NDArray[np.float32]

# Calibrated on the dev set: F1 is flat (~0.9) for margins 0.12-0.15 and floors 0.26-0.30; the
# middle of that plateau is chosen, erring towards precision (a false block costs a user more).
MARGIN = 0.13  # topic similarity minus the unit's best similarity to a generic anchor
FLOOR = 0.28  # absolute topic similarity a unit needs alongside the margin
STRONG = 0.5  # similarity that matches on its own (a paraphrase of an example)

MAX_UNITS = 96  # bounds the work on multi-KB texts
MAX_UNIT_WORDS = 60  # longer sentences are read as overlapping word windows
CACHE_SIZE = 256  # distinct topic configurations whose embeddings are kept

# Subject-free requests and statements: the baseline a text has to beat to be "about" a topic. Everyday tasks
# and encyclopaedic questions, so that explaining or recounting a subject is not mistaken for
# asking for the denied thing; none names a particular regulated domain.
ANCHORS: tuple[str, ...] = (
    "Hello, how are you?",
    "Thanks, that was helpful.",
    "Can you help me with something?",
    "Please summarise this document.",
    "Translate this paragraph into German.",
    "Write an email to my team about the meeting.",
    "Fix the grammar in this sentence.",
    "What is the weather forecast for tomorrow?",
    "Give me a recipe for dinner tonight.",
    "Recommend a good book to read.",
    "Plan a trip itinerary for my holiday.",
    "How do I fix this error in my code?",
    "What time does the store open?",
    "Tell me about the history of ancient Rome.",
    "Explain how photosynthesis works.",
    "What is the capital of Canada?",
    "Write a poem about the sea.",
    "Tell me a joke.",
    "Who won the football game last night?",
    "How do I reset my password?",
    "What are some fun things to do this weekend?",
    "Help me write a cover letter for a job application.",
    "Explain this concept in simple terms.",
    "Where can I find the nearest coffee shop?",
    "What's a good name for my cat?",
    "Convert 5 miles to kilometres.",
    "Describe the plot of a famous novel.",
    "How do I clean a stain off a carpet?",
    "I have a question about my order.",
    "What is the definition of this word?",
    "List some tips for studying effectively.",
    "Schedule a reminder for my appointment.",
    "How does the internet work?",
    "Suggest some gift ideas for my friend.",
    "What should I cook for a party?",
    "Tell me an interesting fact about space.",
    "How do airplanes fly?",
    "Write a story for children about a dragon.",
    "What are the rules of chess?",
    "Describe how a car engine works.",
    # Plain statements, so narrative sentences have a baseline too (the requests above are all
    # questions or commands, which left "I have some money left over" unanchored).
    "I went to the shop yesterday.",
    "My family is visiting next week.",
    "I bought a new phone last month.",
    "We moved into a new apartment.",
    "I got paid on Friday and have a few bills to sort out.",
    "The meeting has been moved to Thursday afternoon.",
    "My friend told me about it.",
    "The package arrived this morning.",
    "I'm not sure what to do about it.",
    "Our team finished the project ahead of schedule.",
    "It rained all weekend so we stayed inside.",
)

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)")

_ABBREVIATION = re.compile(
    r"(?:^|[\s(])(?:[A-Z]|Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|vs|etc|e\.g|i\.e|U\.S|No|Inc|Ltd|Co|Fig|approx)\.$"
)

_lock = threading.Lock()
_anchors: Vectors | None = None
_topic_cache: OrderedDict[tuple[str, tuple[str, ...]], Vectors] = OrderedDict()


def sentences(text: str) -> list[str]:
    """Sentences (and list items) of ``text``; over-long ones become overlapping word windows.
    A full stop after an initial or a common abbreviation ("John A. Roebling", "Dr.") does not
    end a sentence."""
    merged: list[str] = []
    glue = False
    for part in _SENTENCE_END.split(text):
        if glue and merged:
            merged[-1] = f"{merged[-1]} {part}"
        else:
            merged.append(part)
        glue = bool(_ABBREVIATION.search(part))
    out: list[str] = []
    for part in merged:
        words = part.split()
        if not words:
            continue
        if len(words) <= MAX_UNIT_WORDS:
            out.append(" ".join(words))
            continue
        step = MAX_UNIT_WORDS // 2
        for start in range(0, len(words) - step, step):
            out.append(" ".join(words[start : start + MAX_UNIT_WORDS]))
    return out


def _units(text: str) -> list[str]:
    """What is compared with the topics: sentences, neighbouring pairs, and a short text whole."""
    parts = sentences(text)
    if len(parts) > MAX_UNITS:  # very long texts: group sentences so the count stays bounded
        size = -(-len(parts) // MAX_UNITS)
        parts = [" ".join(parts[i : i + size]) for i in range(0, len(parts), size)]
        return parts
    units = list(parts)
    room = MAX_UNITS - len(units)
    units += [f"{a} {b}" for a, b in pairwise(parts)][:room]
    if len(parts) > 2 and len(text) <= 1000:
        units.append(" ".join(text.split()))
    return units


def _topic_key(topic: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    return str(topic.get("definition") or topic.get("name") or ""), tuple(topic.get("examples") or ())


def _embed(texts: list[str]) -> Vectors:
    return embedding_engine().embed_sync(texts).vectors if texts else np.zeros((0, 384), np.float32)


def _lookup(
    keys: list[tuple[str, tuple[str, ...]]], units: list[str]
) -> tuple[list[Vectors], Vectors, Vectors]:
    """(each topic's vectors: definition then examples, the anchors, the units) in one embedding
    call: only what is not cached yet is encoded alongside the text."""
    global _anchors
    with _lock:
        missing = list(dict.fromkeys(k for k in keys if k not in _topic_cache))
        need_anchors = _anchors is None
    batch = [t for k in missing for t in (k[0], *k[1])]
    if need_anchors:
        batch += ANCHORS
    vectors = _embed(batch + units)
    offset = 0
    with _lock:
        for key in missing:
            n = 1 + len(key[1])
            _topic_cache[key] = vectors[offset : offset + n]
            offset += n
        if need_anchors:
            _anchors = vectors[offset : offset + len(ANCHORS)]
            offset += len(ANCHORS)
        found = []
        for key in keys:
            _topic_cache.move_to_end(key)
            found.append(_topic_cache[key])
        while len(_topic_cache) > max(CACHE_SIZE, len(set(keys))):
            _topic_cache.popitem(last=False)
        anchors = _anchors
    assert anchors is not None
    return found, anchors, vectors[offset:]


def topic_scores(text: str, topics: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Per topic, (best similarity of any unit, best margin over the generic anchors); for
    calibration and explanations. An empty text scores (0, 0)."""
    units = _units(text)
    if not units or not topics:
        return [(0.0, 0.0) for _ in topics]
    found, anchors, unit_vectors = _lookup([_topic_key(t) for t in topics], units)
    baseline = (unit_vectors @ anchors.T).max(axis=1)
    scores = []
    for topic_vectors in found:
        similarity = (unit_vectors @ topic_vectors.T).max(axis=1)  # definition or any example
        eligible = similarity >= FLOOR
        margin = float((similarity - baseline)[eligible].max()) if eligible.any() else 0.0
        scores.append((float(similarity.max()), margin))
    return scores


def find_topics(text: str, topics: list[dict[str, Any]]) -> list[str]:
    """Names of the configured topics ``text`` is about, in configuration order."""
    return [
        str(topic["name"])
        for topic, (similarity, margin) in zip(topics, topic_scores(text, topics), strict=True)
        if similarity >= STRONG or margin >= MARGIN
    ]
