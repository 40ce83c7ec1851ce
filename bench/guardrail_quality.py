"""Precision and recall of the guardrail detectors on the labelled set in bench/data/guardrail_eval.json.

Each case lists the detections it should produce; a detection is (kind, match text). The PII
policy is run with every recognised entity type configured, through the same code ApplyGuardrail
uses (guardrails.apply), so overlap handling is measured too.

    .venv/bin/python bench/guardrail_quality.py [--errors]

It then runs bench/guardrail_sets.py: the model-based detectors on their dev and held-out sets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from outcrop.guardrails.apply import apply
from outcrop.guardrails.pii import SUPPORTED
from outcrop.guardrails.policy import document

DATA = Path(__file__).parent / "data" / "guardrail_eval.json"
Pair = tuple[str, str]


def load() -> dict[str, Any]:
    return dict(json.loads(DATA.read_text()))


def _guardrail(policies: dict[str, Any]) -> dict[str, Any]:
    params = {"blockedInputMessaging": "blocked", "blockedOutputsMessaging": "blocked", **policies}
    return document(params, "us-east-1", "123456789012")


def _docs(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    words = data["words"]["config"]
    regexes = [{**r, "action": "BLOCK"} for r in data["regexes"]["config"]]
    return {
        "words": _guardrail(
            {
                "wordPolicyConfig": {
                    "wordsConfig": [{"text": w} for w in words["words"]],
                    "managedWordListsConfig": [{"type": "PROFANITY"}] if words["profanity"] else [],
                }
            }
        ),
        "regexes": _guardrail({"sensitiveInformationPolicyConfig": {"regexesConfig": regexes}}),
        "pii": _guardrail(
            {
                "sensitiveInformationPolicyConfig": {
                    "piiEntitiesConfig": [{"type": t, "action": "BLOCK"} for t in sorted(SUPPORTED)]
                }
            }
        ),
    }


def _found(doc: dict[str, Any], text: str, kind: str) -> set[Pair]:
    out = apply(doc, "INPUT", [{"text": {"text": text}}], None).assessment
    if kind == "words":
        words = out.get("wordPolicy", {})
        listed = words.get("customWords", []) + words.get("managedWordLists", [])
        return {("word", w["match"].lower()) for w in listed}
    sensitive = out.get("sensitiveInformationPolicy", {})
    if kind == "regexes":
        return {(r["name"], r["match"]) for r in sensitive.get("regexes", [])}
    return {(p["type"], p["match"]) for p in sensitive.get("piiEntities", [])}


def _expected(case: dict[str, Any], kind: str) -> set[Pair]:
    if kind == "words":
        return {("word", w.lower()) for w in case["expect"]}
    return {(a, b) for a, b in case["expect"]}


def _counts(
    kind: str, doc: dict[str, Any], cases: list[dict[str, Any]], errors: list[str]
) -> tuple[int, int, int]:
    tp = fp = fn = 0
    for case in cases:
        found, expected = _found(doc, case["text"], kind), _expected(case, kind)
        tp, fp, fn = tp + len(found & expected), fp + len(found - expected), fn + len(expected - found)
        errors += [f"  FP {kind}: {label} {match!r} in {case['text']!r}" for label, match in found - expected]
        errors += [f"  FN {kind}: {label} {match!r} in {case['text']!r}" for label, match in expected - found]
    return tp, fp, fn


def _ratio(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def evaluate(report: bool = False) -> dict[str, tuple[float, float]]:
    """(precision, recall) per policy; with ``report``, print the table and every error."""
    data = load()
    scores: dict[str, tuple[float, float]] = {}
    errors: list[str] = []
    if report:
        print(f"{'policy':<10} {'cases':>5} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>9} {'recall':>7}")
    for kind, doc in _docs(data).items():
        cases = data[kind]["cases"]
        tp, fp, fn = _counts(kind, doc, cases, errors)
        scores[kind] = (_ratio(tp, tp + fp), _ratio(tp, tp + fn))
        if report:
            precision, recall = scores[kind]
            print(f"{kind:<10} {len(cases):>5} {tp:>4} {fp:>4} {fn:>4} {precision:>9.3f} {recall:>7.3f}")
    if report and errors:
        print("\nerrors:\n" + "\n".join(errors))
    return scores


if __name__ == "__main__":
    import sys

    import guardrail_sets  # bench/guardrail_sets.py: the model-based detectors, dev and held-out sets

    print("Rule-based detectors (bench/data/guardrail_eval.json)")
    evaluate(report=True)
    guardrail_sets.evaluate(report=True, show_errors="--errors" in sys.argv)
