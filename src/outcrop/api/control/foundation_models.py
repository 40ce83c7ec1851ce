"""ListFoundationModels and GetFoundationModel, answered from the catalogue."""

from __future__ import annotations

from ..registry import Call, Reply, operation


@operation("ListFoundationModels")
async def list_foundation_models(call: Call) -> Reply:
    params = call.params
    models = call.services.catalog.list_foundation_models(
        provider=params.get("byProvider"),
        customization_type=params.get("byCustomizationType"),
        output_modality=params.get("byOutputModality"),
        inference_type=params.get("byInferenceType"),
    )
    return Reply({"modelSummaries": models})


@operation("GetFoundationModel")
async def get_foundation_model(call: Call) -> Reply:
    details = call.services.catalog.get_foundation_model(call.params["modelIdentifier"])
    return Reply({"modelDetails": details})
