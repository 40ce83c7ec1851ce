"""Guardrail policies, evaluated locally: one module per policy, ``apply.py`` runs them together.

Evaluated: word filters (words.py) and sensitive information (pii.py, regexes.py). Denied topics,
content filters, contextual grounding and automated reasoning are stored but not evaluated yet,
and their assessments are left out rather than faked (docs/guardrails.md).
"""
