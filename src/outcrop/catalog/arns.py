"""Bedrock ARNs: the two kinds a model identifier may be, built and parsed the way AWS spells them."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):bedrock:(?P<region>[a-z0-9-]{0,20}):"
    r"(?P<account>[0-9]{12})?:(?P<kind>[a-z-]+)/(?P<resource>[A-Za-z0-9.:-]+)"
)


def partition(region: str) -> str:
    """The ARN partition a Region belongs to (GovCloud and China have their own)."""
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def foundation_model_arn(region: str, model_id: str) -> str:
    """Foundation-model ARNs have no account; global profiles also use one with no Region."""
    return f"arn:{partition(region)}:bedrock:{region}::foundation-model/{model_id}"


def inference_profile_arn(region: str, account_id: str, profile_id: str) -> str:
    return f"arn:{partition(region)}:bedrock:{region}:{account_id}:inference-profile/{profile_id}"


# The prefixes of cross-Region (system-defined) inference profile ids: us.…, eu.…, global.…
PROFILE_PREFIXES = frozenset({"us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"})


def resource_arn(region: str, account_id: str, identifier: str) -> str:
    """The resource IAM authorizes for a model identifier, known or not: the ARN it is, the
    inference profile a prefixed id names, else the foundation model."""
    if identifier.startswith("arn:"):
        return identifier
    if identifier.split(".", 1)[0] in PROFILE_PREFIXES:
        return inference_profile_arn(region, account_id, identifier)
    return foundation_model_arn(region, identifier)


@dataclass(frozen=True)
class Arn:
    partition: str
    region: str
    account: str
    kind: str  # foundation-model | inference-profile | application-inference-profile | ...
    resource: str


def parse_arn(text: str) -> Arn | None:
    """A Bedrock ARN of the right shape, or None.

    Foundation-model ARNs must have an empty account field and inference-profile ARNs a Region and an
    account, as AWS writes them; anything else is not an identifier AWS would accept.
    """
    match = _ARN.fullmatch(text)
    if match is None:
        return None
    arn = Arn(
        partition=match["partition"],
        region=match["region"],
        account=match["account"] or "",
        kind=match["kind"],
        resource=match["resource"],
    )
    if arn.kind == "foundation-model" and arn.account:
        return None
    profile = arn.kind in ("inference-profile", "application-inference-profile")
    if profile and not (arn.account and arn.region):
        return None
    return arn
