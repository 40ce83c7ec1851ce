"""Guardrail ids and ARNs: 12 lower-case alphanumerics, as Bedrock issues them."""

from __future__ import annotations

import re
import secrets
import string

ALPHABET = string.ascii_lowercase + string.digits
ARN = re.compile(r"arn:aws(?:-[^:]+)?:bedrock:([a-z0-9-]{1,20}):([0-9]{12}):guardrail/([a-z0-9]+)")


def new_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(12))


def arn(region: str, account: str, guardrail_id: str) -> str:
    return f"arn:aws:bedrock:{region}:{account}:guardrail/{guardrail_id}"


def parse(identifier: str, region: str, account: str) -> str | None:
    """The id an identifier (id or ARN) names here; None for an ARN of another region/account."""
    match = ARN.fullmatch(identifier)
    if match is None:
        return identifier
    if match.group(1) != region or match.group(2) != account:
        return None
    return match.group(3)
