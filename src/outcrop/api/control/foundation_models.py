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


@operation("GetFoundationModelAvailability")
async def get_foundation_model_availability(call: Call) -> Reply:
    """Whether the account may use a model: its entitlement follows the model access setting
    (``model_access``); agreements and authorization are always in place locally."""
    services = call.services
    details = services.catalog.get_foundation_model(call.params["modelId"])
    model_id = details["modelId"]
    enabled = services.model_access is None or services.model_access.allows(model_id)
    available = "AVAILABLE" if details.get("inferenceTypesSupported") else "NOT_AVAILABLE"
    return Reply(
        {
            "modelId": model_id,
            "agreementAvailability": {"status": "AVAILABLE"},
            "authorizationStatus": "AUTHORIZED",
            "entitlementAvailability": "AVAILABLE" if enabled else "NOT_AVAILABLE",
            "regionAvailability": available,
        }
    )
