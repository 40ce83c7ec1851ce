"""CreateGuardrail/UpdateGuardrail input → the stored policy document (GetGuardrail's members).

The protocol layer has already checked types, lengths, patterns and enums against the service
model; this adds the cross-field rules AWS enforces (duplicates, regexes that compile, threshold
ranges, PROMPT_ATTACK on output) and fills the per-source defaults AWS reports back.
"""

from __future__ import annotations

from typing import Any

from ..protocol.errors import ValidationException
from .regexes import compile_error

Params = dict[str, Any]


def _per_source(item: Params, default_action: str) -> Params:
    """AWS reports inputAction/outputAction and inputEnabled/outputEnabled explicitly."""
    out = dict(item)
    out["inputAction"] = item.get("inputAction", default_action)
    out["outputAction"] = item.get("outputAction", default_action)
    out["inputEnabled"] = item.get("inputEnabled", True)
    out["outputEnabled"] = item.get("outputEnabled", True)
    return out


def _no_duplicates(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        key = " ".join(value.split()).casefold()
        if key in seen:
            raise ValidationException(f"Duplicate {what} found: {value}")
        seen.add(key)


def _topics(config: Params) -> Params:
    topics = config["topicsConfig"]
    _no_duplicates([t["name"] for t in topics], "topic name")
    for topic in topics:
        for example in topic.get("examples", []):
            if not 1 <= len(example) <= 100:
                raise ValidationException("Topic examples must be between 1 and 100 characters long.")
    policy: Params = {"topics": [_per_source(t, "BLOCK") for t in topics]}
    if "tierConfig" in config:
        policy["tier"] = config["tierConfig"]
    return policy


def _content(config: Params) -> Params:
    filters = config["filtersConfig"]
    _no_duplicates([f["type"] for f in filters], "content filter type")
    for f in filters:
        if f["type"] == "PROMPT_ATTACK" and f["outputStrength"] != "NONE":
            raise ValidationException("The PROMPT_ATTACK content filter's outputStrength must be NONE.")
    policy: Params = {"filters": [_per_source(f, "BLOCK") for f in filters]}
    if "tierConfig" in config:
        policy["tier"] = config["tierConfig"]
    return policy


def _words(config: Params) -> Params:
    words = config.get("wordsConfig", [])
    managed = config.get("managedWordListsConfig", [])
    if not words and not managed:
        raise ValidationException(
            "A word policy needs at least one of wordsConfig or managedWordListsConfig."
        )
    for word in words:
        if not word["text"].strip():
            raise ValidationException("Word filter text must not be blank.")
    _no_duplicates([w["text"] for w in words], "word")
    _no_duplicates([m["type"] for m in managed], "managed word list type")
    policy: Params = {}
    if words:
        policy["words"] = [_per_source(w, "BLOCK") for w in words]
    if managed:
        policy["managedWordLists"] = [_per_source(m, "BLOCK") for m in managed]
    return policy


def _sensitive(config: Params) -> Params:
    entities = config.get("piiEntitiesConfig", [])
    regexes = config.get("regexesConfig", [])
    if not entities and not regexes:
        raise ValidationException(
            "A sensitive information policy needs at least one of piiEntitiesConfig or regexesConfig."
        )
    _no_duplicates([e["type"] for e in entities], "PII entity type")
    _no_duplicates([r["name"] for r in regexes], "regex name")
    for regex in regexes:
        error = compile_error(regex["pattern"])
        if error is not None:
            raise ValidationException(f"The regex pattern for {regex['name']} is invalid: {error}")
    policy: Params = {}
    if entities:
        policy["piiEntities"] = [_per_source(e, e["action"]) for e in entities]
    if regexes:
        policy["regexes"] = [_per_source(r, r["action"]) for r in regexes]
    return policy


def _grounding(config: Params) -> Params:
    filters = config["filtersConfig"]
    _no_duplicates([f["type"] for f in filters], "contextual grounding filter type")
    out = []
    for f in filters:
        if not 0 <= f["threshold"] <= 0.99:
            raise ValidationException(f"The threshold of the {f['type']} filter must be between 0 and 0.99.")
        out.append({"action": "BLOCK", "enabled": True, **f})
    policy: Params = {"filters": out}
    if "tierConfig" in config:
        policy["tier"] = config["tierConfig"]
    return policy


def document(params: Params, region: str, account: str) -> Params:
    """The stored form of a guardrail's configuration (everything GetGuardrail returns except
    identity, status and times)."""
    doc: Params = {
        "blockedInputMessaging": params["blockedInputMessaging"],
        "blockedOutputsMessaging": params["blockedOutputsMessaging"],
    }
    if "description" in params:
        doc["description"] = params["description"]
    if "topicPolicyConfig" in params:
        doc["topicPolicy"] = _topics(params["topicPolicyConfig"])
    if "contentPolicyConfig" in params:
        doc["contentPolicy"] = _content(params["contentPolicyConfig"])
    if "wordPolicyConfig" in params:
        doc["wordPolicy"] = _words(params["wordPolicyConfig"])
    if "sensitiveInformationPolicyConfig" in params:
        doc["sensitiveInformationPolicy"] = _sensitive(params["sensitiveInformationPolicyConfig"])
    if "contextualGroundingPolicyConfig" in params:
        doc["contextualGroundingPolicy"] = _grounding(params["contextualGroundingPolicyConfig"])
    if "automatedReasoningPolicyConfig" in params:
        doc["automatedReasoningPolicy"] = dict(params["automatedReasoningPolicyConfig"])
    if "crossRegionConfig" in params:
        profile = params["crossRegionConfig"]["guardrailProfileIdentifier"]
        profile_id = profile.rsplit("/", 1)[-1]
        doc["crossRegionDetails"] = {
            "guardrailProfileId": profile_id,
            "guardrailProfileArn": profile
            if profile.startswith("arn:")
            else f"arn:aws:bedrock:{region}:{account}:guardrail-profile/{profile_id}",
        }
    kms = params.get("kmsKeyId")
    if kms and not kms.startswith("alias/") and ":alias/" not in kms:
        doc["kmsKeyArn"] = kms if kms.startswith("arn:") else f"arn:aws:kms:{region}:{account}:key/{kms}"
    return doc
