"""Guardrail policies, evaluated locally: one module per detector (words, pii + ner, regexes,
topics, content, grounding); ``assess.py`` applies a policy's settings to a detector's findings,
``apply.py`` evaluates a whole guardrail version, ``session.py`` wraps one model invocation and
``readiness.py`` tracks the CREATING → READY life cycle. Automated reasoning policies are stored
but not evaluated (docs/guardrails.md).
"""
