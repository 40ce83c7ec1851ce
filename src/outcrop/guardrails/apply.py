"""Run a guardrail's policies over ApplyGuardrail-shaped content and build AWS's response.

Text blocks qualified only as ``grounding_source`` or ``query`` are references for contextual
grounding, not content to guard: no filter runs on them and coverage counts them as unguarded.
Contextual grounding scores the guarded text of an OUTPUT against them. Images are counted, never
evaluated.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from .assess import (
    Findings,
    assess_content,
    assess_grounding,
    assess_sensitive,
    assess_topics,
    assess_words,
    undetected_filters,
    undetected_topics,
)
from .spans import Span, mask, non_overlapping

Params = dict[str, Any]


def _units(chars: int) -> int:
    return math.ceil(chars / 1000) if chars else 0


def _qualifiers(block: Params) -> set[str]:
    return set(block.get("qualifiers") or [])


def _guarded(block: Params) -> bool:
    qualifiers = _qualifiers(block)
    return not qualifiers or "guard_content" in qualifiers


def _references(content: list[Params], qualifier: str) -> str:
    texts = [
        str((item.get("text") or {}).get("text", ""))
        for item in content
        if qualifier in _qualifiers(item.get("text") or {})
    ]
    return "\n".join(t for t in texts if t)


@dataclass(frozen=True)
class Verdict:
    """One evaluation: what the guardrail decided, and ApplyGuardrail's output members for it."""

    intervened: bool
    blocked: bool  # intervened by blocking (rather than only masking)
    response: Params

    @property
    def assessment(self) -> Params:
        return dict(self.response["assessments"][0])

    @property
    def outputs(self) -> list[str]:
        """The texts to use instead of the content (masked, or the blocked message)."""
        return [str(o["text"]) for o in self.response["outputs"]]

    @property
    def action_reason(self) -> str:
        return str(self.response["actionReason"])


def apply(document: Params, source: str, content: list[Params], output_scope: str | None) -> Verdict:
    """The evaluation of ``content`` under one guardrail version (a stored policy document).
    Synchronous and CPU-bound: callers run it in a worker thread."""
    started = time.perf_counter()
    words = document.get("wordPolicy")
    sensitive = document.get("sensitiveInformationPolicy")
    topics = document.get("topicPolicy")
    filters = document.get("contentPolicy")
    grounding = document.get("contextualGroundingPolicy")
    found = Findings()
    masked: list[str] = []
    guarded_texts: list[str] = []
    total = guarded = images = units = 0
    for item in content:
        if "image" in item:
            images += 1
            continue
        block = item.get("text") or {}
        text = str(block.get("text", ""))
        total += len(text)
        if not _guarded(block):
            masked.append(text)
            continue
        guarded += len(text)
        units += _units(len(text))
        guarded_texts.append(text)
        if topics:
            assess_topics(topics, text, source, found)
        if filters:
            assess_content(filters, text, source, found)
        if words:
            assess_words(words, text, source, found)
        spans: list[Span] = assess_sensitive(sensitive, text, source, found) if sensitive else []
        masked.append(mask(text, [(s, "{" + s.label + "}") for s in non_overlapping(spans)]))
    grounding_units = 0
    if grounding and source == "OUTPUT" and guarded_texts:
        sources, query = _references(content, "grounding_source"), _references(content, "query")
        assess_grounding(grounding, sources, query, "\n".join(guarded_texts), found)
        if found.grounding:
            grounding_units = _units(len(sources)) + _units(len(query)) + units
    if found.blocked:
        key = "blockedInputMessaging" if source == "INPUT" else "blockedOutputsMessaging"
        outputs = [{"text": document[key]}]
    elif found.anonymised:
        outputs = [{"text": t} for t in masked]
    else:
        outputs = []
    sensitive_cfg = sensitive or {}
    coverage: Params = {"textCharacters": {"guarded": guarded, "total": total}}
    if images:
        coverage["images"] = {"guarded": 0, "total": images}
    usage = {
        "topicPolicyUnits": units if topics else 0,
        "contentPolicyUnits": units if filters else 0,
        "wordPolicyUnits": units if words else 0,
        "sensitiveInformationPolicyUnits": units if sensitive_cfg.get("piiEntities") else 0,
        "sensitiveInformationPolicyFreeUnits": units if sensitive_cfg.get("regexes") else 0,
        "contextualGroundingPolicyUnits": grounding_units,
        "contentPolicyImageUnits": 0,
    }
    full = output_scope == "FULL"
    assessment: Params = {}
    topic_list = list(found.topics.values()) + (
        undetected_topics(topics, source, found) if full and topics else []
    )
    if topic_list:
        assessment["topicPolicy"] = {"topics": topic_list}
    filter_list = list(found.filters.values()) + (
        undetected_filters(filters, source, found) if full and filters else []
    )
    if filter_list:
        assessment["contentPolicy"] = {"filters": filter_list}
    if found.custom_words or found.managed_words:
        assessment["wordPolicy"] = {
            "customWords": found.custom_words,
            "managedWordLists": found.managed_words,
        }
    if found.pii or found.regexes:
        assessment["sensitiveInformationPolicy"] = {"piiEntities": found.pii, "regexes": found.regexes}
    if found.grounding:
        assessment["contextualGroundingPolicy"] = {"filters": found.grounding}
    assessment["invocationMetrics"] = {
        "guardrailProcessingLatency": round((time.perf_counter() - started) * 1000),
        "usage": usage,
        "guardrailCoverage": coverage,
    }
    result: Params = {
        "usage": usage,
        "action": "GUARDRAIL_INTERVENED" if found.intervened else "NONE",
        "outputs": outputs,
        "assessments": [assessment],
        "guardrailCoverage": coverage,
    }
    # "Guardrail blocked." is as captured from Bedrock; the other two are Outcrop's wording.
    if found.intervened:
        result["actionReason"] = "Guardrail blocked." if found.blocked else "Guardrail masked."
    else:
        result["actionReason"] = "No action."
    return Verdict(found.intervened, found.blocked, result)
