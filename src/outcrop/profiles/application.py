"""CreateInferenceProfile's application profiles: a foundation-model or system-profile ARN copied
under a name, an ARN like AWS's (``…:application-inference-profile/<12 lowercase
alphanumerics>``), tags, and the usage of every invocation made through it (a completion hook).

The catalogue resolves an application profile's ARN through ``source_of`` (its ``copyFrom``), so
the ARN works as ``modelId`` in Converse, InvokeModel, their streams, CountTokens, async
invocations and batch jobs, and Claude Code's ``ANTHROPIC_MODEL``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ..catalog.arns import parse_arn, partition
from ..invocation.record import InvocationRecord
from ..jobs.records import new_id, now
from ..protocol.errors import ConflictException, ResourceNotFoundException, ValidationException
from ..store.profiles import NameTaken, ProfileStore, open_store

if TYPE_CHECKING:
    from ..services import Services

KIND = "application-inference-profile"
NOT_FOUND = "The specified inference profile was not found."


class ApplicationProfiles:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.store: ProfileStore = open_store(services.settings.state_dir)

    def arn(self, profile_id: str) -> str:
        region, account = self.services.settings.region, self.services.settings.account_id
        return f"arn:{partition(region)}:bedrock:{region}:{account}:{KIND}/{profile_id}"

    def create(self, params: dict[str, Any]) -> str:
        token = params.get("clientRequestToken")
        if token:
            earlier = self.store.by_token(token)
            if earlier is not None:
                return self.arn(earlier["inferenceProfileId"])
        source = params["modelSource"]["copyFrom"]
        models = self._models_of(source)
        profile_id = new_id()
        at = now().isoformat()
        doc = {
            "inferenceProfileName": params["inferenceProfileName"],
            "inferenceProfileId": profile_id,
            "copyFrom": source,
            "models": models,
            "createdAt": at,
            "updatedAt": at,
            "tags": list(params.get("tags") or []),
        }
        if params.get("description"):
            doc["description"] = params["description"]
        try:
            self.store.add(profile_id, params["inferenceProfileName"], doc, token)
        except NameTaken:
            raise ConflictException(
                f"An inference profile with the name {params['inferenceProfileName']} already exists."
            ) from None
        return self.arn(profile_id)

    def _models_of(self, source: str) -> list[str]:
        """The foundation-model ARNs a profile copied from ``source`` routes to."""
        arn = parse_arn(source)
        if arn is None or arn.kind not in ("foundation-model", "inference-profile"):
            raise ValidationException(
                f"The model source {source} is not a foundation model or inference profile ARN."
            )
        catalog = self.services.catalog
        if arn.kind == "inference-profile":
            try:
                profile = catalog.get_inference_profile(source)
            except ResourceNotFoundException:
                raise ResourceNotFoundException(f"The inference profile {source} was not found.") from None
            return [m["modelArn"] for m in profile["models"]]
        try:
            catalog.resolve(source)
        except ValidationException:
            raise ResourceNotFoundException(f"The model {source} was not found.") from None
        return [source]

    def find(self, identifier: str) -> dict[str, Any] | None:
        """The stored profile an id or application-profile ARN names, or None."""
        if identifier.startswith("arn:"):
            arn = parse_arn(identifier)
            if arn is None or arn.kind != KIND:
                return None
            settings = self.services.settings
            if arn.region != settings.region or arn.account != settings.account_id:
                return None
            identifier = arn.resource
        return self.store.get(identifier)

    def source_of(self, profile_id: str) -> str | None:
        """What an application profile copies (the catalogue resolves invocations with it)."""
        doc = self.store.get(profile_id)
        return None if doc is None else str(doc["copyFrom"])

    def describe(self, doc: dict[str, Any]) -> dict[str, Any]:
        """GetInferenceProfile's members (and a summary's) for an application profile."""
        out: dict[str, Any] = {
            "inferenceProfileName": doc["inferenceProfileName"],
            "createdAt": dt.datetime.fromisoformat(doc["createdAt"]),
            "updatedAt": dt.datetime.fromisoformat(doc["updatedAt"]),
            "inferenceProfileArn": self.arn(doc["inferenceProfileId"]),
            "models": [{"modelArn": m} for m in doc["models"]],
            "inferenceProfileId": doc["inferenceProfileId"],
            "status": "ACTIVE",
            "type": "APPLICATION",
        }
        if doc.get("description"):
            out["description"] = doc["description"]
        return out

    def listed(self) -> list[dict[str, Any]]:
        return [self.describe(d) for d in self.store.all()]

    def delete(self, identifier: str) -> None:
        doc = self.find(identifier)
        if doc is None or not self.store.delete(doc["inferenceProfileId"]):
            raise ResourceNotFoundException(NOT_FOUND)

    def tags(self, doc: dict[str, Any]) -> list[dict[str, str]]:
        return list(doc.get("tags") or [])

    def set_tags(self, doc: dict[str, Any], tags: list[dict[str, str]]) -> None:
        doc["tags"] = tags
        self.store.update(doc["inferenceProfileId"], doc)

    async def count(self, record: InvocationRecord) -> None:
        """Completion hook: usage attributed to the application profile an invocation went through."""
        counted = record.operation != "CountTokens" and record.error_code is None
        if counted and record.profile_arn and f":{KIND}/" in record.profile_arn:
            self.store.count_usage(record.profile_arn, record.input_tokens, record.output_tokens)

    def usage(self) -> dict[str, dict[str, int]]:
        return self.store.usage()
