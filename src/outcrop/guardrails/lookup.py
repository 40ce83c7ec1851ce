"""A guardrail version named by a request (id or ARN, and version), or AWS's error for it."""

from __future__ import annotations

from ..protocol.errors import ValidationException
from ..store.guardrails import GuardrailVersion, open_store
from . import ids

# Bedrock's answer for an unknown id and for an unknown version alike (observed by users).
NOT_FOUND = "The guardrail identifier or version provided in the request does not exist."


def find_version(
    state_dir: str, region: str, account_id: str, identifier: str, version: str
) -> GuardrailVersion:
    guardrail_id = ids.parse(identifier, region, account_id)
    found = open_store(state_dir).get(guardrail_id, version) if guardrail_id else None
    if found is None:
        raise ValidationException(NOT_FOUND)
    return found
