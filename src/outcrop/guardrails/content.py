"""Content filters (HATE, INSULTS, SEXUAL, VIOLENCE, MISCONDUCT, PROMPT_ATTACK), evaluated locally.

Bedrock scores these with a trained classifier; none with weights installs offline, so this is a
two-layer approximation, and it is honest about being one (docs/guardrails.md):

* patterns (data/content_patterns.txt) and a slur list (data/content_slurs.txt) find the
  unambiguous cases - threats aimed at a person, slurs, "ignore previous instructions" - and
  make most HIGH calls. They ask for a person as the object ("kill him", not "kill the
  process"), so most harmless uses of violent or sexual words never match;
* a linear probe per category on the bundled all-MiniLM-L6-v2 sentence embeddings, trained
  at first use on prototype sentences (data/content_prototypes.txt), catches paraphrases the
  patterns miss. BENIGN prototypes - the hard negatives: war history, sexual health, news
  about crime, "what is SQL injection" - are negatives for every probe. It can say LOW or
  MEDIUM on its own, and lifts a MEDIUM pattern match it agrees with to HIGH.

Long texts are split into sentences (short ones merged into windows) and each category takes
its maximum over them, as one harmful sentence is enough for Bedrock to flag the text.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
from numpy.typing import NDArray

CATEGORIES = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT", "PROMPT_ATTACK")
LEVELS = ("NONE", "LOW", "MEDIUM", "HIGH")

# A pattern's level as a score on the same 0-1 scale as the semantic layer.
_PATTERN_SCORE = {3: 0.92, 2: 0.72}
# LEVEL-1 patterns are keyword hints: alone they flag nothing, they add to the semantic score.
_HINT_BONUS = 0.06
# Confidence cut-offs on the combined score: LOW, MEDIUM, HIGH.
_CUTS = (0.5, 0.7, 0.9)
# The semantic layer is a linear probe per category on MiniLM sentence embeddings, trained at
# first use on the prototype sentences (data/content_prototypes.txt; every other category and
# BENIGN are its negatives). Per category, probability _PROBE_LOW scores 0.5 (LOW) and
# _PROBE_MEDIUM 0.7 (MEDIUM), linear between and beyond, capped below HIGH: on its own the probe
# confuses "mentions a group" with "attacks a group" too often to be trusted with HIGH. Fitted on
# bench/data/dev/content.json, which the probe never trains on: HATE and MISCONDUCT keep the
# stricter cut-offs because history, news and security questions sit close to them.
_PROBE_LOW = {
    "HATE": 0.8,
    "INSULTS": 0.74,
    "SEXUAL": 0.8,
    "VIOLENCE": 0.72,
    "MISCONDUCT": 0.8,
    "PROMPT_ATTACK": 0.74,
}
_PROBE_MEDIUM = {
    "HATE": 0.93,
    "INSULTS": 0.88,
    "SEXUAL": 0.92,
    "VIOLENCE": 0.88,
    "MISCONDUCT": 0.92,
    "PROMPT_ATTACK": 0.88,
}
# Context that makes a harmful-sounding text harmless lowers that category's semantic score
# (never a pattern's): insults aimed only at oneself, misconduct asked about to report, prevent
# or investigate it, violent idioms ("I could murder a pizza"), and questions about history.
_CONTEXT_PENALTY = 0.2
_SELF_INSULT_PENALTY = 0.3
_SELF = re.compile(r"\b(?:i|i'm|im|i've|i'd|me|myself)\b")
_TARGET = re.compile(
    r"\b(?:you|your|yours|u|ur|yourself|ya|he|she|him|her|his|hers|they|them|their|this|that|these|those|"
    r"everyone|everybody|people)\b|\bmy \w+(?:'s| is| was| are)\b"
)
_BENIGN_CONTEXT = {
    "MISCONDUCT": re.compile(
        r"\b(?:report(?:ed|ing)? (?:it|them|him|her|this|a|an|the|my|someone|to)|prevent|protect|"
        r"detect(?:ed|s)?|defend|warn|recover|spot|recogni[sz]e|get (?:the|my|our|their) money back|"
        r"belongings|hack(?:ing)? together|penalt(?:y|ies)|legal consequences|is it (?:legal|illegal)|"
        r"how (?:do|does|did|can) (?:the )?(?:police|detectives|investigators|banks|stores|shops|"
        r"companies|authorities|courts|forensic \w+))\b"
    ),
    "VIOLENCE": re.compile(
        r"\b(?:(?:could|would) (?:murder|kill) (?:a |for a )|kill(?:ed|ing)? it\b|(?:movie|film|game|show|"
        r"book|scene|series|documentary|novel) (?:was|is) (?:so |too |really |very )?"
        r"(?:violent|brutal|gory|bloody))"
    ),
    "HATE": re.compile(
        r"^(?:why|what|how|when|who|where|explain|describe)\b.{0,80}\b(?:persecut\w*|history|historical|"
        r"discriminat\w*|prejudice|racism|antisemitism|expelled|segregat\w*)"
    ),
}
_SEMANTIC_CAP = 0.85
_PROBE_L2 = 0.001
_PROBE_STEPS = 800
# A pattern at MEDIUM that the semantic layer also backs (score at least this) becomes HIGH.
_AGREE = 0.6
_AGREE_BONUS = 0.2
# Sentences shorter than this are merged with their neighbour before embedding; windows grow
# up to _WINDOW characters once a text has more than _MAX_SEGMENTS sentences.
_MIN_SENTENCE = 25
_WINDOW = 280
_MAX_SEGMENTS = 14

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})


@dataclass(frozen=True)
class _Rule:
    category: str
    level: int
    pattern: re.Pattern[str]


def _data(name: str) -> list[str]:
    """The meaningful lines of a data file (blank lines and # comments dropped)."""
    raw = resources.files(__package__).joinpath(f"data/{name}").read_text(encoding="utf-8")
    return [line.rstrip() for line in raw.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@cache
def _rules() -> tuple[_Rule, ...]:
    """The compiled patterns, with ``define`` macros expanded (they keep the rules readable)."""
    macros: dict[str, str] = {}
    rules: list[_Rule] = []

    def expand(regex: str) -> str:
        for name, body in macros.items():
            regex = regex.replace(f"%{name}%", body)
        return regex

    for line in _data("content_patterns.txt"):
        if line.startswith("define "):
            _, name, regex = line.split(" ", 2)
            macros[name] = f"(?:{expand(regex)})"
            continue
        category, level, regex = line.split(" ", 2)
        if category not in CATEGORIES:
            raise ValueError(f"content_patterns.txt: unknown category {category}")
        rules.append(_Rule(category, int(level), re.compile(expand(regex), re.IGNORECASE | re.MULTILINE)))
    return tuple(rules)


@cache
def _slurs() -> tuple[tuple[int, re.Pattern[str]], ...]:
    """One whole-word pattern per level (plurals included) for the slur list."""
    by_level: dict[int, list[str]] = {}
    for line in _data("content_slurs.txt"):
        level, term = line.split(" ", 1)
        by_level.setdefault(int(level), []).append(r"\s+".join(re.escape(p) for p in term.split()))
    return tuple(
        (level, re.compile(r"(?<!\w)(?:" + "|".join(terms) + r")(?:s|es|z)?(?!\w)", re.IGNORECASE))
        for level, terms in sorted(by_level.items(), reverse=True)
    )


@dataclass(frozen=True)
class _Probe:
    weights: NDArray[np.float32]  # (384, categories)
    bias: NDArray[np.float32]  # (categories,)


_PROBE: _Probe | None = None
_PROBE_LOCK = threading.Lock()


def _embed(texts: list[str]) -> NDArray[np.float32]:
    from ..engines.embeddings.engine import embedding_engine  # the model loads on first use

    return embedding_engine().embed_sync(texts).vectors


def _fit(x: NDArray[np.float64], target: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """Class-balanced L2 logistic regression by full-batch gradient descent (deterministic, ~10 ms)."""
    weight = np.where(target == 1, (len(target) - target.sum()) / max(target.sum(), 1.0), 1.0)
    weight /= weight.mean()
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(_PROBE_STEPS):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        g = (p - target) * weight
        w -= 2.0 * (x.T @ g / len(target) + _PROBE_L2 * w)
        b -= 2.0 * float(g.mean())
    return w, b


def _probe() -> _Probe:
    """The per-category probes, trained once per process from the prototype sentences."""
    global _PROBE
    with _PROBE_LOCK:
        if _PROBE is None:
            labels, texts = [], []
            for line in _data("content_prototypes.txt"):
                label, text = (part.strip() for part in line.split("|", 1))
                if label != "BENIGN" and label not in CATEGORIES:
                    raise ValueError(f"content_prototypes.txt: unknown category {label}")
                labels.append(CATEGORIES.index(label) if label != "BENIGN" else -1)
                texts.append(text)
            x, y = _embed(texts).astype(np.float64), np.array(labels)
            fitted = [_fit(x, (y == i).astype(np.float64)) for i in range(len(CATEGORIES))]
            _PROBE = _Probe(
                np.stack([w for w, _ in fitted], axis=1).astype(np.float32),
                np.array([b for _, b in fitted], dtype=np.float32),
            )
        return _PROBE


def normalise(text: str) -> str:
    """Lower case, straight quotes, single spaces (newlines kept: some injections use them)."""
    text = text.translate(_QUOTES).lower()
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def segments(text: str) -> list[str]:
    """Sentences to embed: short ones merged, and windows of several once there are many."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    limit = _MIN_SENTENCE if len(sentences) <= _MAX_SEGMENTS else _WINDOW
    out: list[str] = []
    for sentence in sentences:
        if out and (len(out[-1]) < _MIN_SENTENCE or len(out[-1]) + len(sentence) < limit):
            out[-1] = f"{out[-1]} {sentence}"
        else:
            out.append(sentence)
    return out


def pattern_levels(text: str) -> tuple[dict[str, int], dict[str, bool]]:
    """(strongest pattern level per category, whether a LEVEL-1 keyword hint matched)."""
    norm = normalise(text)
    levels = dict.fromkeys(CATEGORIES, 0)
    hints = dict.fromkeys(CATEGORIES, False)
    for rule in _rules():
        if rule.level == 1:
            if not hints[rule.category] and rule.pattern.search(norm):
                hints[rule.category] = True
        elif rule.level > levels[rule.category] and rule.pattern.search(norm):
            levels[rule.category] = rule.level
    deleet = norm.translate(_LEET)
    for level, pattern in _slurs():
        if level > levels["HATE"] and (pattern.search(norm) or pattern.search(deleet)):
            levels["HATE"] = level
    return levels, hints


def probabilities(text: str) -> dict[str, float]:
    """Per category, the probe's highest probability over the text's segments."""
    parts = segments(text)
    if not parts:
        return dict.fromkeys(CATEGORIES, 0.0)
    probe = _probe()
    logits = _embed(parts) @ probe.weights + probe.bias  # (segments, categories)
    best = 1.0 / (1.0 + np.exp(-logits.max(axis=0).astype(np.float64)))
    return {category: float(best[i]) for i, category in enumerate(CATEGORIES)}


def _semantic_score(category: str, probability: float) -> float:
    low, medium = _PROBE_LOW[category], _PROBE_MEDIUM[category]
    return min(0.5 + 0.2 * (probability - low) / (medium - low), _SEMANTIC_CAP)


def context_penalties(text: str) -> dict[str, float]:
    """Per category, how much harmless context lowers the semantic score (see _BENIGN_CONTEXT)."""
    norm = normalise(text)
    out = dict.fromkeys(CATEGORIES, 0.0)
    for category, pattern in _BENIGN_CONTEXT.items():
        if pattern.search(norm):
            out[category] = _CONTEXT_PENALTY
    if _SELF.search(norm) and not _TARGET.search(norm):  # "I'm so stupid": no one else is insulted
        out["INSULTS"] = _SELF_INSULT_PENALTY
    return out


def combine(
    levels: dict[str, int],
    hints: dict[str, bool],
    probs: dict[str, float],
    penalties: dict[str, float] | None = None,
) -> dict[str, float]:
    """The two layers' evidence as one 0-1 score per category."""
    out = {}
    for category in CATEGORIES:
        semantic = _semantic_score(category, probs[category]) + (_HINT_BONUS if hints[category] else 0.0)
        semantic -= penalties[category] if penalties else 0.0
        pattern = _PATTERN_SCORE.get(levels[category], 0.0)
        score = max(pattern, semantic)
        if pattern and semantic >= _AGREE:
            score = max(score, pattern + _AGREE_BONUS)
        out[category] = score
    return out


def scores(text: str) -> dict[str, float]:
    """The combined 0-1 score per category (exposed for tuning and the benchmark)."""
    levels, hints = pattern_levels(text)
    return combine(levels, hints, probabilities(text), context_penalties(text))


def level(score: float) -> str:
    """A 0-1 score as Bedrock's confidence."""
    return LEVELS[sum(score >= cut for cut in _CUTS)]


def classify(text: str) -> dict[str, str]:
    """Every category's confidence ("NONE", "LOW", "MEDIUM", "HIGH") for ``text``."""
    if not text.strip():
        return dict.fromkeys(CATEGORIES, "NONE")
    return {category: level(score) for category, score in scores(text).items()}
