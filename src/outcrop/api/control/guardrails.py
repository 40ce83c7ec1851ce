"""Guardrails control plane: Create/Get/List/Update/Delete and CreateGuardrailVersion, stored in
SQLite under ``state_dir``.

A version reads CREATING / UPDATING / VERSIONING while the detectors its policies need load in
the background, then READY (or FAILED, with reasons): guardrails/readiness.py.
"""

from __future__ import annotations

from typing import Any

from ...catalog.pagination import page
from ...guardrails import ids, readiness
from ...guardrails.policy import document
from ...protocol.errors import ConflictException, ResourceNotFoundException
from ...store.guardrails import GuardrailStore, GuardrailVersion, NameTaken, open_store
from ..registry import Call, Reply, operation
from .tags import MAX_TAGS, check_tags, too_many_tags


def store(call: Call) -> GuardrailStore:
    return open_store(call.services.settings.state_dir)


def _not_found(identifier: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Guardrail {identifier} was not found.")


def _name_taken(name: str) -> ConflictException:
    return ConflictException(f"A guardrail with the name {name} already exists.")


def resolve(call: Call, identifier: str) -> str:
    """The stored id an identifier names, or ResourceNotFoundException."""
    settings = call.services.settings
    guardrail_id = ids.parse(identifier, settings.region, settings.account_id)
    if not guardrail_id or store(call).get(guardrail_id) is None:
        raise _not_found(identifier)
    return guardrail_id


def _arn(call: Call, guardrail_id: str) -> str:
    return ids.arn(call.services.settings.region, call.services.settings.account_id, guardrail_id)


def _document(call: Call) -> dict[str, Any]:
    settings = call.services.settings
    return document(call.params, settings.region, settings.account_id)


@operation("CreateGuardrail")
async def create_guardrail(call: Call) -> Reply:
    doc = _document(call)
    tags = list(call.params.get("tags", []))
    check_tags(tags)
    guardrail_id = ids.new_id()
    if len(tags) > MAX_TAGS:
        raise too_many_tags(_arn(call, guardrail_id))
    try:
        created = store(call).create(guardrail_id, call.params["name"], doc, tags)
    except NameTaken:
        raise _name_taken(call.params["name"]) from None
    readiness.prepare(guardrail_id, "DRAFT", doc, "CREATING")
    return Reply(
        {
            "guardrailId": guardrail_id,
            "guardrailArn": _arn(call, guardrail_id),
            "version": "DRAFT",
            "createdAt": created,
        }
    )


def _full(call: Call, v: GuardrailVersion) -> dict[str, Any]:
    state = readiness.status(v.guardrail_id, v.version)
    full = {
        "name": v.name,
        "guardrailId": v.guardrail_id,
        "guardrailArn": _arn(call, v.guardrail_id),
        "version": v.version,
        "status": state.status,
        **v.document,
        "createdAt": v.created_at,
        "updatedAt": v.updated_at,
    }
    if state.reasons:
        full["statusReasons"] = state.reasons
        full["failureRecommendations"] = state.recommendations
    return full


def _summary(call: Call, v: GuardrailVersion) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": v.guardrail_id,
        "arn": _arn(call, v.guardrail_id),
        "status": readiness.status(v.guardrail_id, v.version).status,
        "name": v.name,
        "version": v.version,
        "createdAt": v.created_at,
        "updatedAt": v.updated_at,
    }
    for key in ("description", "crossRegionDetails"):
        if key in v.document:
            item[key] = v.document[key]
    return item


@operation("GetGuardrail")
async def get_guardrail(call: Call) -> Reply:
    identifier = call.params["guardrailIdentifier"]
    guardrail_id = resolve(call, identifier)
    version = call.params.get("guardrailVersion") or "DRAFT"
    found = store(call).get(guardrail_id, version)
    if found is None:
        raise ResourceNotFoundException(f"Guardrail {identifier} version {version} was not found.")
    return Reply(_full(call, found))


@operation("ListGuardrails")
async def list_guardrails(call: Call) -> Reply:
    identifier = call.params.get("guardrailIdentifier")
    versions = store(call).versions(resolve(call, identifier)) if identifier else store(call).drafts()
    items, next_token = page(versions, call.params.get("maxResults"), call.params.get("nextToken"))
    data: dict[str, Any] = {"guardrails": [_summary(call, v) for v in items]}
    if next_token:
        data["nextToken"] = next_token
    return Reply(data)


@operation("UpdateGuardrail")
async def update_guardrail(call: Call) -> Reply:
    guardrail_id = resolve(call, call.params["guardrailIdentifier"])
    doc = _document(call)
    try:
        updated = store(call).update_draft(guardrail_id, call.params["name"], doc)
    except NameTaken:
        raise _name_taken(call.params["name"]) from None
    readiness.prepare(guardrail_id, "DRAFT", doc, "UPDATING")
    return Reply(
        {
            "guardrailId": guardrail_id,
            "guardrailArn": _arn(call, guardrail_id),
            "version": "DRAFT",
            "updatedAt": updated,
        }
    )


@operation("CreateGuardrailVersion")
async def create_guardrail_version(call: Call) -> Reply:
    guardrail_id = resolve(call, call.params["guardrailIdentifier"])
    version = store(call).snapshot(guardrail_id, call.params.get("description"))
    snapshot = store(call).get(guardrail_id, version)
    if snapshot is not None:
        readiness.prepare(guardrail_id, version, snapshot.document, "VERSIONING")
    return Reply({"guardrailId": guardrail_id, "version": version})


@operation("DeleteGuardrail")
async def delete_guardrail(call: Call) -> Reply:
    identifier = call.params["guardrailIdentifier"]
    guardrail_id = resolve(call, identifier)
    version = call.params.get("guardrailVersion")
    if not store(call).delete(guardrail_id, version):
        raise ResourceNotFoundException(f"Guardrail {identifier} version {version} was not found.")
    readiness.forget(guardrail_id, version)
    return Reply({})
