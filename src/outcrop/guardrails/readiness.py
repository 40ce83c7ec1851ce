"""The CREATING / UPDATING / VERSIONING → READY (or FAILED) life cycle of guardrail versions.

A version is READY once the detectors its policies need are loaded and warmed (spaCy for names
and addresses, the embedding model and the topic embeddings for denied topics, content filters
and contextual grounding): that work runs in a background thread after the control-plane call
returns, which is what clients polling GetGuardrail wait for on AWS too. A version that was never
prepared in this process (after a restart) reads READY; its detectors load on first use.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("outcrop.guardrails")

WARM_TEXT = "Outcrop is checking that this guardrail's detectors are ready."


@dataclass
class Status:
    status: str = "READY"
    reasons: list[str] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)


_STATUS: dict[tuple[str, str], Status] = {}
_LOCK = threading.Lock()


def status(guardrail_id: str, version: str) -> Status:
    with _LOCK:
        return _STATUS.get((guardrail_id, version), Status())


def forget(guardrail_id: str, version: str | None = None) -> None:
    with _LOCK:
        for key in [k for k in _STATUS if k[0] == guardrail_id and version in (None, k[1])]:
            del _STATUS[key]


def _warm(document: dict[str, Any]) -> None:
    """Run every configured policy once, on both sources, so all its detectors load."""
    from .apply import apply

    content: list[dict[str, Any]] = [{"text": {"text": WARM_TEXT}}]
    apply(document, "INPUT", content, None)
    if "contextualGroundingPolicy" in document:
        content = [
            {"text": {"text": WARM_TEXT, "qualifiers": ["grounding_source"]}},
            {"text": {"text": "Is it ready?", "qualifiers": ["query"]}},
            {"text": {"text": WARM_TEXT, "qualifiers": ["guard_content"]}},
        ]
    apply(document, "OUTPUT", content, None)


def prepare(guardrail_id: str, version: str, document: dict[str, Any], busy: str) -> None:
    """Mark the version ``busy`` (CREATING, UPDATING or VERSIONING) and warm it in the background."""
    key = (guardrail_id, version)
    marker = Status(busy)
    with _LOCK:
        _STATUS[key] = marker

    def run() -> None:
        try:
            _warm(document)
            done = Status()
        except Exception as exc:  # a detector that cannot load: the version FAILS, as on AWS
            log.warning("guardrail %s version %s failed to prepare: %s", guardrail_id, version, exc)
            done = Status(
                "FAILED",
                [f"A detector this guardrail needs could not be loaded: {exc}"],
                ["Reinstall Outcrop with scripts/install.sh, or remove the policy that needs it."],
            )
        with _LOCK:
            if _STATUS.get(key) is marker:  # not superseded by a later update or a delete
                _STATUS[key] = done

    threading.Thread(target=run, name=f"guardrail-{guardrail_id}-{version}", daemon=True).start()
