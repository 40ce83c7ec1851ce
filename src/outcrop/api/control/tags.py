"""TagResource / UntagResource / ListTagsForResource for the taggable resources Outcrop keeps:
guardrails and application inference profiles (system-defined profiles and foundation models are
not taggable on AWS either); any other ARN is ResourceNotFoundException. Tags merge by key, at
most 50 per resource (AWS's documented limit; the service model's list bound is 200), and the
``aws:`` prefix is reserved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...guardrails import ids
from ...protocol.errors import BedrockError, ResourceNotFoundException, ValidationException
from ...store.guardrails import open_store
from ..registry import Call, Reply, operation

MAX_TAGS = 50


@dataclass
class Tagged:
    """A resource's tags and how to replace them."""

    tags: list[dict[str, str]]
    replace: Callable[[list[dict[str, str]]], None]


def _resource(call: Call) -> Tagged:
    arn = call.params["resourceARN"]
    settings = call.services.settings
    if ":application-inference-profile/" in arn:
        profiles = call.services.profiles
        doc = profiles.find(arn)
        if doc is not None:
            return Tagged(profiles.tags(doc), lambda tags: profiles.set_tags(doc, tags))
    elif ":guardrail/" in arn:
        guardrail_id = (
            ids.parse(arn, settings.region, settings.account_id) if arn.startswith("arn:") else None
        )
        store = open_store(settings.state_dir)
        if guardrail_id and store.get(guardrail_id) is not None:
            gid = guardrail_id
            return Tagged(store.tags(gid), lambda tags: store.set_tags(gid, tags))
    raise ResourceNotFoundException(f"The resource {arn} was not found.")


def too_many_tags(resource: str) -> BedrockError:
    return BedrockError(
        f"The resource {resource} would have more than {MAX_TAGS} tags.",
        code="TooManyTagsException",
        status=400,
    )


def _reserved(key: str) -> None:
    if key.lower().startswith("aws:"):
        raise ValidationException(f"Tag keys starting with 'aws:' are reserved for AWS use: {key}")


def check_tags(tags: list[dict[str, str]]) -> None:
    """Tags given at creation: no duplicate keys, none reserved."""
    keys = [t["key"] for t in tags]
    if len(keys) != len(set(keys)):
        raise ValidationException("Duplicate tag keys are not allowed.")
    for key in keys:
        _reserved(key)


@operation("TagResource")
async def tag_resource(call: Call) -> Reply:
    resource = _resource(call)
    merged = {t["key"]: t["value"] for t in resource.tags}
    for tag in call.params["tags"]:
        _reserved(tag["key"])
        merged[tag["key"]] = tag["value"]
    if len(merged) > MAX_TAGS:
        raise too_many_tags(call.params["resourceARN"])
    resource.replace([{"key": k, "value": v} for k, v in merged.items()])
    return Reply({})


@operation("UntagResource")
async def untag_resource(call: Call) -> Reply:
    resource = _resource(call)
    drop = set(call.params["tagKeys"])
    for key in drop:
        _reserved(key)
    resource.replace([t for t in resource.tags if t["key"] not in drop])
    return Reply({})


@operation("ListTagsForResource")
async def list_tags_for_resource(call: Call) -> Reply:
    return Reply({"tags": _resource(call).tags})
