"""Inference profiles: the system-defined ones from the catalogue, and application profiles
(Create/Get/List/DeleteInferenceProfile) kept in SQLite under ``state_dir`` (profiles/)."""

from __future__ import annotations

from typing import Any

from ...catalog.pagination import paged_reply
from ...protocol.errors import ResourceNotFoundException
from ..registry import Call, Reply, operation
from .tags import MAX_TAGS, check_tags, too_many_tags


@operation("CreateInferenceProfile")
async def create_inference_profile(call: Call) -> Reply:
    tags = list(call.params.get("tags") or [])
    check_tags(tags)
    profiles = call.services.profiles
    if len(tags) > MAX_TAGS:
        raise too_many_tags(call.params["inferenceProfileName"])
    arn = profiles.create(call.params)
    return Reply({"inferenceProfileArn": arn, "status": "ACTIVE"})


@operation("ListInferenceProfiles")
async def list_inference_profiles(call: Call) -> Reply:
    kind = call.params.get("typeEquals")
    items: list[dict[str, Any]] = []
    if kind in (None, "SYSTEM_DEFINED"):
        items += call.services.catalog.list_inference_profiles("SYSTEM_DEFINED")
    if kind in (None, "APPLICATION"):
        items += call.services.profiles.listed()
    return Reply(paged_reply(items, call.params, "inferenceProfileSummaries"))


@operation("GetInferenceProfile")
async def get_inference_profile(call: Call) -> Reply:
    identifier = call.params["inferenceProfileIdentifier"]
    doc = call.services.profiles.find(identifier)
    if doc is not None:
        return Reply(call.services.profiles.describe(doc))
    return Reply(call.services.catalog.get_inference_profile(identifier))


@operation("DeleteInferenceProfile")
async def delete_inference_profile(call: Call) -> Reply:
    identifier = call.params["inferenceProfileIdentifier"]
    if call.services.profiles.find(identifier) is None:
        raise ResourceNotFoundException("The specified inference profile was not found.")
    call.services.profiles.delete(identifier)
    return Reply({})
