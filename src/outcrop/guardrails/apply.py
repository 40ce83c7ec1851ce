"""Run a guardrail's evaluated policies over ApplyGuardrail content and build AWS's response.

Text blocks qualified only as ``grounding_source`` or ``query`` are references for contextual
grounding, not content to guard, so the word and sensitive-information policies skip them (and
coverage counts them as unguarded). Images are counted, never evaluated.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from .pii import find_all
from .regexes import find_regex
from .spans import Span, mask, non_overlapping
from .words import find_profanity, find_words

Params = dict[str, Any]
PAST = {"BLOCK": "BLOCKED", "ANONYMIZE": "ANONYMIZED", "NONE": "NONE"}


@dataclass
class _Findings:
    custom_words: list[Params] = field(default_factory=list)
    managed_words: list[Params] = field(default_factory=list)
    pii: list[Params] = field(default_factory=list)
    regexes: list[Params] = field(default_factory=list)
    to_mask: list[tuple[Span, str]] = field(default_factory=list)
    blocked: bool = False


def _active(item: Params, source: str) -> tuple[bool, str]:
    """Whether an entry applies to this source, and its action there."""
    prefix = "input" if source == "INPUT" else "output"
    return bool(item.get(f"{prefix}Enabled", True)), str(
        item.get(f"{prefix}Action", item.get("action", "BLOCK"))
    )


def _record(findings: _Findings, action: str) -> str:
    past = PAST[action]
    if past == "BLOCKED":
        findings.blocked = True
    return past


def _word_policy(policy: Params, text: str, source: str, found: _Findings) -> None:
    for entry in policy.get("words", []):
        enabled, action = _active(entry, source)
        if (
            enabled
            and find_words(text, [entry["text"]])
            and not any(w["match"] == entry["text"] for w in found.custom_words)
        ):
            found.custom_words.append(
                {"match": entry["text"], "action": _record(found, action), "detected": True}
            )
    for entry in policy.get("managedWordLists", []):
        enabled, action = _active(entry, source)
        if not enabled:
            continue
        for span in find_profanity(text):
            if not any(w["match"] == span.label for w in found.managed_words):
                found.managed_words.append(
                    {
                        "match": span.label,
                        "type": entry["type"],
                        "action": _record(found, action),
                        "detected": True,
                    }
                )


def _sensitive_policy(policy: Params, text: str, source: str, found: _Findings) -> list[Span]:
    """Record detections; return the spans to anonymise in this block."""
    actions: dict[str, str] = {}
    for entry in policy.get("piiEntities", []):
        enabled, action = _active(entry, source)
        if enabled:
            actions[entry["type"]] = action
    anonymise: list[Span] = []
    for span in find_all(text, list(actions)):
        action = actions[span.label]
        found.pii.append(
            {"match": span.text, "type": span.label, "action": _record(found, action), "detected": True}
        )
        if action == "ANONYMIZE":
            anonymise.append(span)
    for entry in policy.get("regexes", []):
        enabled, action = _active(entry, source)
        if not enabled:
            continue
        for span in find_regex(text, entry["name"], entry["pattern"]):
            found.regexes.append(
                {
                    "name": entry["name"],
                    "match": span.text,
                    "regex": entry["pattern"],
                    "action": _record(found, action),
                    "detected": True,
                }
            )
            if action == "ANONYMIZE":
                anonymise.append(span)
    return anonymise


def _units(chars: int) -> int:
    return math.ceil(chars / 1000) if chars else 0


def _guarded(block: Params) -> bool:
    qualifiers = set(block.get("qualifiers") or [])
    return not qualifiers or "guard_content" in qualifiers


def apply(document: Params, source: str, content: list[Params], output_scope: str | None) -> Params:
    """ApplyGuardrail's output members for ``content`` under one guardrail version.

    ``output_scope`` FULL changes nothing yet: every detection is already reported, and AWS
    exempts word and regex filters from it.
    """
    started = time.perf_counter()
    words = document.get("wordPolicy")
    sensitive = document.get("sensitiveInformationPolicy")
    found = _Findings()
    masked: list[str] = []
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
        if words:
            _word_policy(words, text, source, found)
        spans = _sensitive_policy(sensitive, text, source, found) if sensitive else []
        masked.append(mask(text, [(s, "{" + s.label + "}") for s in non_overlapping(spans)]))
    anonymised = any(d["action"] == "ANONYMIZED" for d in found.pii + found.regexes)
    intervened = found.blocked or anonymised
    if found.blocked:
        key = "blockedInputMessaging" if source == "INPUT" else "blockedOutputsMessaging"
        outputs = [{"text": document[key]}]
    elif anonymised:
        outputs = [{"text": t} for t in masked]
    else:
        outputs = []
    sensitive_cfg = sensitive or {}
    coverage: Params = {"textCharacters": {"guarded": guarded, "total": total}}
    if images:
        coverage["images"] = {"guarded": 0, "total": images}
    usage = {
        "topicPolicyUnits": 0,
        "contentPolicyUnits": 0,
        "wordPolicyUnits": units if words else 0,
        "sensitiveInformationPolicyUnits": units if sensitive_cfg.get("piiEntities") else 0,
        "sensitiveInformationPolicyFreeUnits": units if sensitive_cfg.get("regexes") else 0,
        "contextualGroundingPolicyUnits": 0,
        "contentPolicyImageUnits": 0,
    }
    assessment: Params = {}
    if found.custom_words or found.managed_words:
        assessment["wordPolicy"] = {
            "customWords": found.custom_words,
            "managedWordLists": found.managed_words,
        }
    if found.pii or found.regexes:
        assessment["sensitiveInformationPolicy"] = {"piiEntities": found.pii, "regexes": found.regexes}
    assessment["invocationMetrics"] = {
        "guardrailProcessingLatency": round((time.perf_counter() - started) * 1000),
        "usage": usage,
        "guardrailCoverage": coverage,
    }
    result: Params = {
        "usage": usage,
        "action": "GUARDRAIL_INTERVENED" if intervened else "NONE",
        "outputs": outputs,
        "assessments": [assessment],
        "guardrailCoverage": coverage,
    }
    # "Guardrail blocked." is as captured from Bedrock; the other two are Outcrop's wording.
    if intervened:
        result["actionReason"] = "Guardrail blocked." if found.blocked else "Guardrail masked."
    else:
        result["actionReason"] = "No action."
    return result
