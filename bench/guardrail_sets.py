"""Precision and recall of the model-based guardrail detectors (names and other context-bound PII,
denied topics, content filters, contextual grounding) on labelled sets, through the same code
ApplyGuardrail runs (guardrails.apply).

Two sets per policy: ``bench/data/dev/`` was written by the people who tuned each detector;
``bench/data/heldout/`` was written separately, by someone who never saw the detectors, and is
the honest figure. Run by ``bench/guardrail_quality.py`` (or alone):

    .venv/bin/python bench/guardrail_sets.py [--errors]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from outcrop.guardrails.apply import apply
from outcrop.guardrails.pii import SUPPORTED
from outcrop.guardrails.policy import document

DATA = Path(__file__).parent / "data"
SETS = ("dev", "heldout")
CATEGORIES = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT", "PROMPT_ATTACK")
GROUNDING_THRESHOLD = 0.7  # AWS's suggested starting point; also the threshold users start from
Scores = dict[str, tuple[int, int, int]]  # label -> (tp, fp, fn)


def _doc(policies: dict[str, Any]) -> dict[str, Any]:
    params = {"blockedInputMessaging": "blocked", "blockedOutputsMessaging": "blocked", **policies}
    return document(params, "us-east-1", "123456789012")


def _load(kind: str, which: str) -> dict[str, Any] | None:
    path = DATA / which / f"{kind}.json"
    return dict(json.loads(path.read_text())) if path.exists() else None


def _add(scores: Counter[tuple[str, str]], label: str, found: bool, expected: bool) -> None:
    if found and expected:
        scores[(label, "tp")] += 1
    elif found:
        scores[(label, "fp")] += 1
    elif expected:
        scores[(label, "fn")] += 1


def _table(counts: Counter[tuple[str, str]]) -> Scores:
    labels = sorted({label for label, _ in counts})
    return {label: (counts[(label, "tp")], counts[(label, "fp")], counts[(label, "fn")]) for label in labels}


def _spans(text: str, match: str) -> tuple[int, int]:
    start = text.find(match)
    return start, start + len(match)


def pii(data: dict[str, Any], errors: list[str]) -> Scores:
    """Per entity type; a detection counts when its type matches and its span overlaps an expected
    span (boundaries of names and addresses are a matter of taste)."""
    doc = _doc(
        {
            "sensitiveInformationPolicyConfig": {
                "piiEntitiesConfig": [{"type": t, "action": "BLOCK"} for t in sorted(SUPPORTED)]
            }
        }
    )
    counts: Counter[tuple[str, str]] = Counter()
    for case in data["cases"]:
        text = case["text"]
        out = apply(doc, "INPUT", [{"text": {"text": text}}], None).assessment
        found = [
            (p["type"], p["match"]) for p in out.get("sensitiveInformationPolicy", {}).get("piiEntities", [])
        ]
        expected = [(t, m) for t, m in case["expect"]]
        matched: set[int] = set()
        for kind, match in found:
            span = _spans(text, match)
            hit = next(
                (
                    i
                    for i, (t, m) in enumerate(expected)
                    if t == kind and i not in matched and _overlap(span, _spans(text, m))
                ),
                None,
            )
            if hit is None:
                counts[(kind, "fp")] += 1
                errors.append(f"  FP pii {kind} {match!r} in {text!r}")
            else:
                matched.add(hit)
                counts[(kind, "tp")] += 1
        for i, (kind, match) in enumerate(expected):
            if i not in matched:
                counts[(kind, "fn")] += 1
                errors.append(f"  FN pii {kind} {match!r} in {text!r}")
    return _table(counts)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def topics(data: dict[str, Any], errors: list[str]) -> Scores:
    """Per topic, per case: detected or not."""
    config = [{**t, "type": "DENY"} for t in data["topics"]]
    doc = _doc({"topicPolicyConfig": {"topicsConfig": config}})
    counts: Counter[tuple[str, str]] = Counter()
    for case in data["cases"]:
        out = apply(doc, "INPUT", [{"text": {"text": case["text"]}}], None).assessment
        found = {t["name"] for t in out.get("topicPolicy", {}).get("topics", []) if t["detected"]}
        for topic in data["topics"]:
            name = topic["name"]
            _add(counts, name, name in found, name in case["expect"])
            if (name in found) != (name in case["expect"]):
                errors.append(f"  {'FP' if name in found else 'FN'} topic {name!r}: {case['text']!r}")
    return _table(counts)


def content(data: dict[str, Any], errors: list[str], strength: str = "HIGH") -> Scores:
    """Per category at one filter strength (HIGH acts on LOW confidence and up)."""
    filters = [
        {"type": c, "inputStrength": strength, "outputStrength": "NONE" if c == "PROMPT_ATTACK" else strength}
        for c in CATEGORIES
    ]
    doc = _doc({"contentPolicyConfig": {"filtersConfig": filters}})
    counts: Counter[tuple[str, str]] = Counter()
    for case in data["cases"]:
        out = apply(doc, "INPUT", [{"text": {"text": case["text"]}}], None).assessment
        found = {f["type"] for f in out.get("contentPolicy", {}).get("filters", []) if f["detected"]}
        for category in CATEGORIES:
            expected = category in case["labels"]
            _add(counts, category, category in found, expected)
            if (category in found) != expected and strength == "HIGH":
                errors.append(f"  {'FP' if category in found else 'FN'} content {category}: {case['text']!r}")
    return _table(counts)


def grounding(data: dict[str, Any], errors: list[str], threshold: float = GROUNDING_THRESHOLD) -> Scores:
    """A positive is a response that should be blocked: ungrounded (GROUNDING) or irrelevant
    (RELEVANCE), at ``threshold``."""
    filters = [{"type": "GROUNDING", "threshold": threshold}, {"type": "RELEVANCE", "threshold": threshold}]
    doc = _doc({"contextualGroundingPolicyConfig": {"filtersConfig": filters}})
    counts: Counter[tuple[str, str]] = Counter()
    for case in data["cases"]:
        blocks = [
            {"text": {"text": case["source"], "qualifiers": ["grounding_source"]}},
            {"text": {"text": case["query"], "qualifiers": ["query"]}},
            {"text": {"text": case["response"], "qualifiers": ["guard_content"]}},
        ]
        out = apply(doc, "OUTPUT", blocks, None).assessment
        scored = {f["type"]: f for f in out.get("contextualGroundingPolicy", {}).get("filters", [])}
        for kind, key in (("GROUNDING", "grounded"), ("RELEVANCE", "relevant")):
            found = bool(scored.get(kind, {}).get("detected"))
            expected = not case[key]
            _add(counts, kind, found, expected)
            if found != expected:
                score = scored.get(kind, {}).get("score")
                errors.append(f"  {'FP' if found else 'FN'} {kind} score {score}: {case['response']!r}")
    return _table(counts)


def _ratio(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def summary(scores: Scores) -> tuple[float, float, int, int, int]:
    tp = sum(s[0] for s in scores.values())
    fp = sum(s[1] for s in scores.values())
    fn = sum(s[2] for s in scores.values())
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn), tp, fp, fn


def evaluate(report: bool = False, show_errors: bool = False) -> dict[str, dict[str, Scores]]:
    """{set: {policy: scores per label}} for every set present; prints tables with ``report``."""
    runs = {
        "pii": pii,
        "topics": topics,
        "content": content,
        "content@MEDIUM": lambda d, e: content(d, e, "MEDIUM"),
        "grounding": grounding,
    }
    results: dict[str, dict[str, Scores]] = {}
    for which in SETS:
        results[which] = {}
        for name, run in runs.items():
            data = _load(name.split("@")[0], which)
            if data is None:
                continue
            errors: list[str] = []
            scores = run(data, errors)
            results[which][name] = scores
            if report:
                _print(which, name, len(data["cases"]), scores)
            if show_errors and errors:
                print("\n".join(errors))
    return results


def _print(which: str, name: str, cases: int, scores: Scores) -> None:
    precision, recall, tp, fp, fn = summary(scores)
    totals = f"TP {tp} FP {fp} FN {fn}, precision {precision:.3f} recall {recall:.3f}"
    print(f"\n{which} / {name}: {cases} cases, {totals}")
    print(f"  {'label':<36} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>9} {'recall':>7}")
    for label, (t, f, n) in scores.items():
        print(f"  {label:<36} {t:>4} {f:>4} {n:>4} {_ratio(t, t + f):>9.3f} {_ratio(t, t + n):>7.3f}")


if __name__ == "__main__":
    evaluate(report=True, show_errors="--errors" in sys.argv)
