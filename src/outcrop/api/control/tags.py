"""TagResource / UntagResource / ListTagsForResource for the taggable resources Outcrop keeps.

Guardrails are the only taggable resource stored here (system-defined inference profiles and
foundation models are not taggable on AWS either); any other ARN is ResourceNotFoundException.
Tags merge by key, at most 50 per resource (AWS's documented limit; the service model's list
bound is 200), and the ``aws:`` prefix is reserved.
"""

from __future__ import annotations

from ...guardrails import ids
from ...protocol.errors import BedrockError, ResourceNotFoundException, ValidationException
from ...store.guardrails import GuardrailStore, open_store
from ..registry import Call, Reply, operation

MAX_TAGS = 50


def store(call: Call) -> GuardrailStore:
    return open_store(call.services.settings.state_dir)


def _guardrail(call: Call) -> str:
    arn = call.params["resourceARN"]
    settings = call.services.settings
    guardrail_id = ids.parse(arn, settings.region, settings.account_id) if arn.startswith("arn:") else None
    if not guardrail_id or ":guardrail/" not in arn or store(call).get(guardrail_id) is None:
        raise ResourceNotFoundException(f"The resource {arn} was not found.")
    return guardrail_id


def too_many_tags(resource: str) -> BedrockError:
    return BedrockError(
        f"The resource {resource} would have more than {MAX_TAGS} tags.",
        code="TooManyTagsException",
        status=400,
    )


def _reserved(key: str) -> None:
    if key.lower().startswith("aws:"):
        raise ValidationException(f"Tag keys starting with 'aws:' are reserved for AWS use: {key}")


@operation("TagResource")
async def tag_resource(call: Call) -> Reply:
    guardrail_id = _guardrail(call)
    merged = {t["key"]: t["value"] for t in store(call).tags(guardrail_id)}
    for tag in call.params["tags"]:
        _reserved(tag["key"])
        merged[tag["key"]] = tag["value"]
    if len(merged) > MAX_TAGS:
        raise too_many_tags(call.params["resourceARN"])
    store(call).set_tags(guardrail_id, [{"key": k, "value": v} for k, v in merged.items()])
    return Reply({})


@operation("UntagResource")
async def untag_resource(call: Call) -> Reply:
    guardrail_id = _guardrail(call)
    drop = set(call.params["tagKeys"])
    for key in drop:
        _reserved(key)
    store(call).set_tags(guardrail_id, [t for t in store(call).tags(guardrail_id) if t["key"] not in drop])
    return Reply({})


@operation("ListTagsForResource")
async def list_tags_for_resource(call: Call) -> Reply:
    return Reply({"tags": store(call).tags(_guardrail(call))})
