"""Model ids, inference-profile ids and ARNs → the Bedrock foundation model they name.

AWS answers these questions from its own catalogue; Outcrop answers them from AWS's documented one
(``data/*.json``) so clients see the ids, names, modalities and routing they expect, and the server can
then route every Bedrock model to a local one.

Region rules, chosen so clients configured for real AWS keep working:
* list operations show what AWS lists in the configured Region (a Region the data never mentions, such
  as a made-up local one, shows everything);
* get operations and ``resolve`` accept every documented id, whatever the Region.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..protocol.errors import ResourceNotFoundException, ValidationException
from .arns import foundation_model_arn, inference_profile_arn, parse_arn
from .records import GLOBAL, ModelRecord, ProfileRecord, load_models, load_profiles

INVALID_MODEL = "The provided model identifier is invalid."
PROFILE_NOT_FOUND = "The specified inference profile does not exist."
_GEO_WORDS = {"US", "EU", "APAC", "JP", "AU", "CA", "US-GOV", "GLOBAL"}


def model_not_found(identifier: str) -> ValidationException:
    """What GetFoundationModel says for an id it does not know."""
    return ValidationException(f"Could not find model with identifier {identifier}")


@dataclass(frozen=True)
class ModelRef:
    """A resolved model identifier: which foundation model, and through which profile if any."""

    requested: str
    model_id: str
    provider: str
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    streaming: bool
    profile_id: str | None = None
    profile_arn: str | None = None
    model_name: str = ""
    # Converse features AWS documents for the model (systemPrompts, documentChat, vision, toolUse,
    # streamingToolUse); empty when the documentation does not say.
    capabilities: Mapping[str, bool] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False
    )
    context_window: int | None = None
    max_output_tokens: int | None = None
    # The foundation-model ARNs a call reaches, which IAM authorizes: the model in this Region, or
    # every one a cross-Region profile lists (each destination Region; a global profile's
    # Region-less ARN too).
    model_arns: tuple[str, ...] = field(default=(), compare=False, hash=False)

    def names(self) -> list[str]:
        """Every name the request can be routed by: as sent, model id, profile id, profile ARN."""
        out: list[str] = []
        for name in (self.requested, self.model_id, self.profile_id, self.profile_arn):
            if name and name not in out:
                out.append(name)
        return out


def _joined(regions: Iterable[str]) -> str:
    items = list(regions)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


class Catalog:
    """Bedrock's foundation models and system-defined inference profiles, as seen from one Region."""

    def __init__(self, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id
        # An application profile's id → the ARN it copies (set by Services: profiles/application.py).
        self.application_source: Callable[[str], str | None] | None = None
        self._models = {m.model_id: m for m in load_models()}
        self._profiles = {p.profile_id: p for p in load_profiles()}
        self._profiles_by_model: dict[str, list[ProfileRecord]] = {}
        for profile in self._profiles.values():
            self._profiles_by_model.setdefault(profile.model_id, []).append(profile)
        known: set[str] = set()
        for m in self._models.values():
            known |= m.regions | m.provisioned_regions
        for p in self._profiles.values():
            known |= set(p.routes)
        # A Region the documentation never mentions (e.g. a local one) sees the whole catalogue.
        self._region_known = region in known

    # ----- resolution -----

    def resolve(self, model_identifier: str) -> ModelRef:
        """The foundation model behind a model id, profile id, or either's ARN (an application
        profile's ARN through what it was copied from)."""
        application = self._application(model_identifier)
        if application is not None:
            ref = self.resolve(application[1])
            return dataclasses.replace(
                ref, requested=model_identifier, profile_id=application[0], profile_arn=model_identifier
            )
        model, profile = self._lookup(model_identifier)
        if model is None:
            raise ValidationException(INVALID_MODEL)
        return ModelRef(
            requested=model_identifier,
            model_id=model.model_id,
            provider=model.provider,
            input_modalities=model.input_modalities,
            output_modalities=model.output_modalities,
            streaming=model.streaming,
            profile_id=profile.profile_id if profile else None,
            profile_arn=self._profile_arn(profile) if profile else None,
            model_name=model.name,
            capabilities=MappingProxyType(dict(model.converse)),
            context_window=model.context_window,
            max_output_tokens=model.max_output_tokens,
            model_arns=tuple(m["modelArn"] for m in self._profile_dict(profile)["models"])
            if profile
            else (foundation_model_arn(self.region, model.model_id),),
        )

    def _application(self, identifier: str) -> tuple[str, str] | None:
        """(profile id, what it copies) for an application profile's ARN in this account and Region."""
        if self.application_source is None or ":application-inference-profile/" not in identifier:
            return None
        arn = parse_arn(identifier)
        if arn is None or arn.region != self.region or arn.account != self.account_id:
            return None
        source = self.application_source(arn.resource)
        return None if source is None else (arn.resource, source)

    def _lookup(self, identifier: str) -> tuple[ModelRecord | None, ProfileRecord | None]:
        if identifier.startswith("arn:"):
            arn = parse_arn(identifier)
            if arn is None:
                return None, None
            if arn.kind == "foundation-model":
                return self._models.get(arn.resource), None
            if arn.kind == "inference-profile":
                return self._profile_target(self._profiles.get(arn.resource))
            return None, None
        if identifier in self._models:
            return self._models[identifier], None
        return self._profile_target(self._profiles.get(identifier))

    def _profile_target(
        self, profile: ProfileRecord | None
    ) -> tuple[ModelRecord | None, ProfileRecord | None]:
        if profile is None:
            return None, None
        return self._models.get(profile.model_id), profile

    # ----- foundation models -----

    def list_foundation_models(
        self,
        *,
        provider: str | None = None,
        customization_type: str | None = None,
        output_modality: str | None = None,
        inference_type: str | None = None,
    ) -> list[dict[str, Any]]:
        """FoundationModelSummary dicts for the models AWS lists in this Region, filtered as asked."""
        wanted = provider.strip().lower() if provider else None
        out = []
        for model in sorted(self._models.values(), key=lambda m: (m.provider.lower(), m.model_id)):
            types = self._inference_types(model)
            if self._region_known and not types:
                continue
            if wanted and wanted not in (model.provider.lower(), model.model_id.split(".", 1)[0]):
                continue
            if customization_type and customization_type not in model.customizations:
                continue
            if output_modality and output_modality not in model.output_modalities:
                continue
            if inference_type and inference_type not in types:
                continue
            out.append(self._model_dict(model, types))
        return out

    def get_foundation_model(self, identifier: str) -> dict[str, Any]:
        """FoundationModelDetails for a model id or foundation-model ARN."""
        model: ModelRecord | None = None
        if identifier.startswith("arn:"):
            arn = parse_arn(identifier)
            if arn is not None and arn.kind == "foundation-model":
                model = self._models.get(arn.resource)
        else:
            model = self._models.get(identifier)
        if model is None:
            raise model_not_found(identifier)
        return self._model_dict(model, self._inference_types(model))

    def _inference_types(self, model: ModelRecord) -> list[str]:
        here = self.region
        if self._region_known:
            on_demand = here in model.regions
            via_profile = any(here in p.routes for p in self._profiles_by_model.get(model.model_id, ()))
            provisioned = here in model.provisioned_regions
        else:
            on_demand = bool(model.regions)
            via_profile = model.model_id in self._profiles_by_model
            provisioned = bool(model.provisioned_regions)
        types = []
        if on_demand:
            types.append("ON_DEMAND")
        elif via_profile:  # AWS says INFERENCE_PROFILE only for models not callable in-Region
            types.append("INFERENCE_PROFILE")
        if provisioned:
            types.append("PROVISIONED")
        return types

    def _model_dict(self, model: ModelRecord, types: list[str]) -> dict[str, Any]:
        return {
            "modelArn": foundation_model_arn(self.region, model.model_id),
            "modelId": model.model_id,
            "modelName": model.name,
            "providerName": model.provider,
            "inputModalities": list(model.input_modalities),
            "outputModalities": list(model.output_modalities),
            "responseStreamingSupported": model.streaming,
            "customizationsSupported": list(model.customizations),
            "inferenceTypesSupported": types,
            "modelLifecycle": {"status": model.status},
        }

    # ----- inference profiles -----

    def list_inference_profiles(self, type_equals: str | None = None) -> list[dict[str, Any]]:
        """InferenceProfileSummary dicts callable from this Region (application profiles: none yet)."""
        if type_equals == "APPLICATION":
            return []
        return [
            self._profile_dict(p)
            for p in sorted(self._profiles.values(), key=lambda p: p.profile_id)
            if not self._region_known or self.region in p.routes
        ]

    def get_inference_profile(self, identifier: str) -> dict[str, Any]:
        """GetInferenceProfile's output for a system-defined profile id or ARN."""
        profile: ProfileRecord | None = None
        if identifier.startswith("arn:"):
            arn = parse_arn(identifier)
            if arn is not None and arn.kind == "inference-profile":
                profile = self._profiles.get(arn.resource)
        else:
            profile = self._profiles.get(identifier)
        if profile is None:
            raise ResourceNotFoundException(PROFILE_NOT_FOUND)
        return self._profile_dict(profile)

    def _profile_arn(self, profile: ProfileRecord) -> str:
        return inference_profile_arn(self.region, self.account_id, profile.profile_id)

    def _destinations(self, profile: ProfileRecord) -> list[str]:
        """Where the profile routes from this Region (from anywhere, if this is not a source Region)."""
        if self.region in profile.routes:
            return list(profile.routes[self.region])
        out: list[str] = []
        for dests in profile.routes.values():
            out += [d for d in dests if d not in out]
        return out

    def _profile_dict(self, profile: ProfileRecord) -> dict[str, Any]:
        dests = self._destinations(profile)
        base = profile.name.split(" ", 1)
        subject = base[1] if len(base) == 2 and base[0].upper() in _GEO_WORDS else profile.name
        if GLOBAL in dests:
            # Global profiles list the source Region's model and a Region-less one (any commercial Region).
            arns = []
            if self.region in profile.routes:
                arns.append(foundation_model_arn(self.region, profile.model_id))
            arns.append(f"arn:aws:bedrock:::foundation-model/{profile.model_id}")
            description = f"Routes requests to {subject} in all commercial AWS Regions."
        else:
            arns = [foundation_model_arn(r, profile.model_id) for r in dests]
            description = f"Routes requests to {subject} in {_joined(dests)}."
        out: dict[str, Any] = {
            "inferenceProfileName": profile.name,
            "description": description,
            "inferenceProfileArn": self._profile_arn(profile),
            "models": [{"modelArn": arn} for arn in arns],
            "inferenceProfileId": profile.profile_id,
            "status": "ACTIVE",
            "type": "SYSTEM_DEFINED",
        }
        if profile.created_at:
            out["createdAt"] = profile.created_at
        if profile.updated_at:
            out["updatedAt"] = profile.updated_at
        return out
