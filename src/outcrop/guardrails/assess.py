"""One guardrail policy at a time over one guarded text: what it detects, and the assessment
entries AWS reports for it.

Each ``assess_*`` function adds to a shared :class:`Findings`; ``apply.py`` runs them over every
guarded block and builds the response. Detectors live in their own modules (words, pii, regexes,
topics, content, grounding); this module only applies a policy's configuration to their results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .content import classify
from .grounding import grounding_score, relevance_score
from .pii import find_all
from .regexes import find_regex
from .spans import Span
from .topics import find_topics
from .words import find_profanity, find_words

Params = dict[str, Any]
PAST = {"BLOCK": "BLOCKED", "ANONYMIZE": "ANONYMIZED", "NONE": "NONE"}
RANK = {"NONE": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3}


@dataclass
class Findings:
    custom_words: list[Params] = field(default_factory=list)
    managed_words: list[Params] = field(default_factory=list)
    pii: list[Params] = field(default_factory=list)
    regexes: list[Params] = field(default_factory=list)
    topics: dict[str, Params] = field(default_factory=dict)
    filters: dict[str, Params] = field(default_factory=dict)
    grounding: list[Params] = field(default_factory=list)
    blocked: bool = False

    def record(self, action: str) -> str:
        """AWS's past-tense action for a detection, remembering whether anything blocks."""
        past = PAST[action]
        if past == "BLOCKED":
            self.blocked = True
        return past

    @property
    def anonymised(self) -> bool:
        return any(d["action"] == "ANONYMIZED" for d in self.pii + self.regexes)

    @property
    def intervened(self) -> bool:
        return self.blocked or self.anonymised


def active(item: Params, source: str) -> tuple[bool, str]:
    """Whether an entry applies to this source, and its action there."""
    prefix = "input" if source == "INPUT" else "output"
    return bool(item.get(f"{prefix}Enabled", True)), str(
        item.get(f"{prefix}Action", item.get("action", "BLOCK"))
    )


def assess_words(policy: Params, text: str, source: str, found: Findings) -> None:
    for entry in policy.get("words", []):
        enabled, action = active(entry, source)
        if (
            enabled
            and find_words(text, [entry["text"]])
            and not any(w["match"] == entry["text"] for w in found.custom_words)
        ):
            found.custom_words.append(
                {"match": entry["text"], "action": found.record(action), "detected": True}
            )
    for entry in policy.get("managedWordLists", []):
        enabled, action = active(entry, source)
        if not enabled:
            continue
        for span in find_profanity(text):
            if not any(w["match"] == span.label for w in found.managed_words):
                found.managed_words.append(
                    {
                        "match": span.label,
                        "type": entry["type"],
                        "action": found.record(action),
                        "detected": True,
                    }
                )


def assess_sensitive(policy: Params, text: str, source: str, found: Findings) -> list[Span]:
    """Record PII and regex detections; return the spans to anonymise in this block."""
    actions: dict[str, str] = {}
    for entry in policy.get("piiEntities", []):
        enabled, action = active(entry, source)
        if enabled:
            actions[entry["type"]] = action
    anonymise: list[Span] = []
    for span in find_all(text, list(actions)) if actions else []:
        action = actions[span.label]
        found.pii.append(
            {"match": span.text, "type": span.label, "action": found.record(action), "detected": True}
        )
        if action == "ANONYMIZE":
            anonymise.append(span)
    for entry in policy.get("regexes", []):
        enabled, action = active(entry, source)
        if not enabled:
            continue
        for span in find_regex(text, entry["name"], entry["pattern"]):
            found.regexes.append(
                {
                    "name": entry["name"],
                    "match": span.text,
                    "regex": entry["pattern"],
                    "action": found.record(action),
                    "detected": True,
                }
            )
            if action == "ANONYMIZE":
                anonymise.append(span)
    return anonymise


def assess_topics(policy: Params, text: str, source: str, found: Findings) -> None:
    """Denied topics found by meaning (topics.py); one entry per topic however often it occurs."""
    enabled = [t for t in policy.get("topics", []) if active(t, source)[0]]
    if not enabled:
        return
    for name in find_topics(text, enabled):
        if name in found.topics:
            continue
        topic = next(t for t in enabled if t["name"] == name)
        found.topics[name] = {
            "name": name,
            "type": topic.get("type", "DENY"),
            "action": found.record(active(topic, source)[1]),
            "detected": True,
        }


def blocks_at(confidence: str, strength: str) -> bool:
    """AWS's table: strength HIGH acts on LOW confidence and up, MEDIUM on MEDIUM and up, LOW on
    HIGH only, NONE never."""
    return RANK[strength] > 0 and RANK[confidence] >= 4 - RANK[strength]


def assess_content(policy: Params, text: str, source: str, found: Findings) -> None:
    """Content filters (content.py) at each filter's strength for this source; the highest
    confidence seen in any block is what is reported."""
    prefix = "input" if source == "INPUT" else "output"
    filters = [f for f in policy.get("filters", []) if active(f, source)[0]]
    if not filters:
        return
    scores = classify(text)
    for entry in filters:
        kind, strength = entry["type"], str(entry.get(f"{prefix}Strength", "NONE"))
        confidence = scores.get(kind, "NONE")
        if not blocks_at(confidence, strength):
            continue
        previous = found.filters.get(kind)
        if previous and RANK[previous["confidence"]] >= RANK[confidence]:
            continue
        found.filters[kind] = {
            "type": kind,
            "confidence": confidence,
            "filterStrength": strength,
            "action": found.record(active(entry, source)[1]),
            "detected": True,
        }


def assess_grounding(policy: Params, sources: str, query: str, response: str, found: Findings) -> None:
    """Contextual grounding (response against the grounding source) and relevance (response
    against the query); a filter is reported whenever it could be scored."""
    for entry in policy.get("filters", []):
        if not entry.get("enabled", True):
            continue
        kind = entry["type"]
        if kind == "GROUNDING" and sources:
            score = grounding_score(sources, response)
        elif kind == "RELEVANCE" and query:
            score = relevance_score(query, response)
        else:
            continue
        threshold = float(entry["threshold"])
        below = score < threshold
        found.grounding.append(
            {
                "type": kind,
                "threshold": threshold,
                "score": round(score, 2),
                "action": found.record(str(entry.get("action", "BLOCK"))) if below else "NONE",
                "detected": below,
            }
        )


def undetected_filters(policy: Params, source: str, found: Findings) -> list[Params]:
    """``outputScope: FULL``: the configured filters that did not fire, reported as not detected."""
    prefix = "input" if source == "INPUT" else "output"
    return [
        {
            "type": f["type"],
            "confidence": "NONE",
            "filterStrength": str(f.get(f"{prefix}Strength", "NONE")),
            "action": "NONE",
            "detected": False,
        }
        for f in policy.get("filters", [])
        if active(f, source)[0] and f["type"] not in found.filters
    ]


def undetected_topics(policy: Params, source: str, found: Findings) -> list[Params]:
    return [
        {"name": t["name"], "type": t.get("type", "DENY"), "action": "NONE", "detected": False}
        for t in policy.get("topics", [])
        if active(t, source)[0] and t["name"] not in found.topics
    ]
