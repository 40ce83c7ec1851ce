"""The model catalogue: resolution of ids and ARNs (unit), and the control-plane operations that list
and describe foundation models and inference profiles, through boto3 and the AWS CLI (end to end)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.model import Shape

from outcrop.catalog import Catalog, ModelRef
from outcrop.catalog.pagination import decode_token, encode_token, page
from outcrop.protocol.errors import ResourceNotFoundException, ValidationException

REGION = "us-east-1"
ACCOUNT = "123456789012"
HAIKU_3 = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
INVALID = "The provided model identifier is invalid."

# Ids Claude Code and similar clients send (those the AWS documentation lists).
CLAUDE_PROFILES = [
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "us.anthropic.claude-opus-4-1-20250805-v1:0",
    "us.anthropic.claude-opus-4-20250514-v1:0",
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "us.anthropic.claude-3-5-haiku-20241022-v1:0",
    "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
    "us.anthropic.claude-opus-4-5-20251101-v1:0",
    "us.anthropic.claude-opus-4-6-v1",
    "us.anthropic.claude-sonnet-4-6",
    "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "global.anthropic.claude-haiku-4-5-20251001-v1:0",
    "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "apac.anthropic.claude-sonnet-4-20250514-v1:0",
    "jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "au.anthropic.claude-haiku-4-5-20251001-v1:0",
    "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0",
]

SERVICE = botocore.session.get_session().get_service_model("bedrock")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(REGION, ACCOUNT)


def error_of(call: Callable[..., Any], **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def conforms(shape: Shape, value: Any, path: str = "$") -> list[str]:
    """Where ``value`` breaks botocore's output shape (unknown or missing members, wrong types)."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        problems = [f"{path}.{k}: not in {shape.name}" for k in value if k not in shape.members]
        problems += [f"{path}.{k}: required" for k in shape.required_members if k not in value]
        for key, item in value.items():
            if key in shape.members:
                problems += conforms(shape.members[key], item, f"{path}.{key}")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [p for i, item in enumerate(value) for p in conforms(shape.member, item, f"{path}[{i}]")]
    expected: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "boolean": bool,
        "integer": int,
        "timestamp": (dt.datetime, str),
    }
    want = expected.get(kind)
    if want is not None and not isinstance(value, want):
        return [f"{path}: {type(value).__name__} is not {kind}"]
    return []


def output_member(operation: str, member: str) -> Shape:
    return SERVICE.operation_model(operation).output_shape.members[member]


# ---------------------------------------------------------------- the data


def test_data_files_name_their_sources() -> None:
    for name in ("models.json", "profiles.json"):
        data = json.loads(resources.files("outcrop.catalog").joinpath("data", name).read_text())
        assert data["sources"] and all(s.startswith("https://") for s in data["sources"])


def test_catalog_covers_every_documented_provider_family(catalog: Catalog) -> None:
    providers = {m["providerName"] for m in catalog.list_foundation_models()}
    assert {
        "Amazon",
        "Anthropic",
        "Meta",
        "Mistral AI",
        "Cohere",
        "AI21 Labs",
        "DeepSeek",
        "OpenAI",
        "Qwen",
        "Writer",
        "Stability AI",
        "TwelveLabs",
        "Google",
        "MiniMax",
        "Moonshot AI",
        "NVIDIA",
    } <= providers
    luma = Catalog("us-west-2", ACCOUNT).list_foundation_models(provider="Luma AI")
    assert [m["modelId"] for m in luma] == ["luma.ray-v2:0"]


def test_ids_match_botocores_patterns(catalog: Catalog) -> None:
    model_pattern = re.compile(SERVICE.shape_for("BedrockModelId").metadata["pattern"])
    profile_pattern = re.compile(SERVICE.shape_for("InferenceProfileId").metadata["pattern"])
    for model in Catalog("nowhere-1", ACCOUNT).list_foundation_models():
        assert model_pattern.fullmatch(model["modelId"]), model["modelId"]
    for profile in Catalog("nowhere-1", ACCOUNT).list_inference_profiles():
        assert profile_pattern.fullmatch(profile["inferenceProfileId"]), profile["inferenceProfileId"]
        assert len(profile["inferenceProfileName"]) <= 64


def test_every_profile_routes_to_a_catalogued_model() -> None:
    everywhere = Catalog("nowhere-1", ACCOUNT)
    for profile in everywhere.list_inference_profiles():
        ref = everywhere.resolve(profile["inferenceProfileId"])
        assert ref.profile_id == profile["inferenceProfileId"]
        assert ref.model_id == profile["inferenceProfileId"].split(".", 1)[1]


def test_dicts_match_the_service_models_output_shapes(catalog: Catalog) -> None:
    summaries = output_member("ListFoundationModels", "modelSummaries")
    assert conforms(summaries, catalog.list_foundation_models()) == []
    details = output_member("GetFoundationModel", "modelDetails")
    assert conforms(details, catalog.get_foundation_model(SONNET_45)) == []
    profiles = output_member("ListInferenceProfiles", "inferenceProfileSummaries")
    assert conforms(profiles, catalog.list_inference_profiles()) == []
    get_profile = SERVICE.operation_model("GetInferenceProfile").output_shape
    assert get_profile is not None
    assert conforms(get_profile, catalog.get_inference_profile(CLAUDE_PROFILES[0])) == []


# ---------------------------------------------------------------- resolve


def test_resolve_foundation_model_id(catalog: Catalog) -> None:
    ref = catalog.resolve(HAIKU_3)
    assert isinstance(ref, ModelRef)
    assert (ref.requested, ref.model_id, ref.provider, ref.profile_id) == (
        HAIKU_3,
        HAIKU_3,
        "Anthropic",
        None,
    )
    assert ref.input_modalities == ("TEXT", "IMAGE") and ref.output_modalities == ("TEXT",)
    assert ref.streaming is True
    assert ref.names() == [HAIKU_3]
    assert ref.capabilities["toolUse"] is True
    assert (ref.context_window, ref.max_output_tokens) == (200000, 4096)


def test_resolve_foundation_model_arn(catalog: Catalog) -> None:
    arn = f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0"
    ref = catalog.resolve(arn)
    assert ref.model_id == "amazon.titan-embed-text-v2:0"
    assert ref.output_modalities == ("EMBEDDING",) and ref.streaming is False
    assert ref.names() == [arn, "amazon.titan-embed-text-v2:0"]


@pytest.mark.parametrize("profile_id", CLAUDE_PROFILES)
def test_resolve_documented_claude_profiles(catalog: Catalog, profile_id: str) -> None:
    ref = catalog.resolve(profile_id)
    assert ref.profile_id == profile_id
    assert ref.model_id == profile_id.split(".", 1)[1]
    assert ref.provider == "Anthropic" and "TEXT" in ref.output_modalities


def test_resolve_profile_id_and_arn_give_the_same_model(catalog: Catalog) -> None:
    profile = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{profile}"
    by_id, by_arn = catalog.resolve(profile), catalog.resolve(arn)
    assert by_id.model_id == by_arn.model_id == "anthropic.claude-haiku-4-5-20251001-v1:0"
    assert by_id.profile_arn == arn
    assert by_id.names() == [profile, by_id.model_id, arn]
    assert by_arn.names() == [arn, by_arn.model_id, profile]


def test_resolve_accepts_other_regions_and_partitions(catalog: Catalog) -> None:
    assert catalog.resolve("arn:aws:bedrock:eu-west-1::foundation-model/" + HAIKU_3).model_id == HAIKU_3
    govcloud = "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:inference-profile/us-gov." + SONNET_45
    assert catalog.resolve(govcloud).model_id == SONNET_45


@pytest.mark.parametrize(
    "identifier",
    [
        "",
        "claude",
        "anthropic.claude-nope-v9:0",
        "us.anthropic.claude-nope-v9:0",
        HAIKU_3 + "x",
        HAIKU_3.upper(),
        "xx.anthropic.claude-3-haiku-20240307-v1:0",
        f"arn:aws:bedrock:{REGION}:{ACCOUNT}:foundation-model/{HAIKU_3}",  # account on a foundation model
        f"arn:aws:bedrock:{REGION}::inference-profile/us.{HAIKU_3}",  # profile ARN without account
        f"arn:aws:bedrock:{REGION}:{ACCOUNT}:application-inference-profile/abcdef123456",
        f"arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/abcdef123456",
        f"arn:aws:s3:::bucket/{HAIKU_3}",
        f"arn:aws:bedrock:{REGION}::foundation-model/",
        "arn:aws:bedrock",
        "not a model at all",
    ],
)
def test_resolve_rejects_garbage(catalog: Catalog, identifier: str) -> None:
    with pytest.raises(ValidationException) as info:
        catalog.resolve(identifier)
    assert info.value.message == INVALID
    assert info.value.status == 400


# ---------------------------------------------------------------- Region behaviour (unit)


def test_inference_types_follow_the_region(catalog: Catalog) -> None:
    types = {m["modelId"]: m["inferenceTypesSupported"] for m in catalog.list_foundation_models()}
    assert types[HAIKU_3] == ["ON_DEMAND"]
    assert types[SONNET_45] == ["INFERENCE_PROFILE"]
    assert types["anthropic.claude-3-haiku-20240307-v1:0:200k"] == ["PROVISIONED"]
    assert "luma.ray-v2:0" not in types  # documented only in us-west-2


def test_profiles_listed_are_those_callable_from_the_region(catalog: Catalog) -> None:
    here = {p["inferenceProfileId"] for p in catalog.list_inference_profiles()}
    assert "us.anthropic.claude-3-haiku-20240307-v1:0" in here
    assert "global.anthropic.claude-sonnet-4-5-20250929-v1:0" in here
    assert not any(p.startswith(("eu.", "apac.", "jp.", "au.", "us-gov.")) for p in here)
    eu = {p["inferenceProfileId"] for p in Catalog("eu-west-1", ACCOUNT).list_inference_profiles()}
    assert "eu.anthropic.claude-sonnet-4-5-20250929-v1:0" in eu
    assert not any(p.startswith("us.") for p in eu)


def test_profile_models_are_the_destination_regions(catalog: Catalog) -> None:
    profile = catalog.get_inference_profile("us.anthropic.claude-3-haiku-20240307-v1:0")
    assert [m["modelArn"] for m in profile["models"]] == [
        f"arn:aws:bedrock:{r}::foundation-model/{HAIKU_3}" for r in ("us-east-1", "us-west-2")
    ]
    assert profile["inferenceProfileArn"] == (
        f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
    )
    glob = catalog.get_inference_profile("global." + SONNET_45)
    assert [m["modelArn"] for m in glob["models"]] == [
        f"arn:aws:bedrock:{REGION}::foundation-model/{SONNET_45}",
        f"arn:aws:bedrock:::foundation-model/{SONNET_45}",
    ]


def test_unknown_region_sees_the_whole_catalogue() -> None:
    local = Catalog("local", ACCOUNT)
    assert len(local.list_foundation_models()) > len(Catalog(REGION, ACCOUNT).list_foundation_models())
    assert {p["inferenceProfileId"].split(".")[0] for p in local.list_inference_profiles()} >= {
        "us",
        "eu",
        "apac",
        "global",
        "jp",
        "au",
        "ca",
        "us-gov",
    }


def test_catalog_get_errors(catalog: Catalog) -> None:
    with pytest.raises(ValidationException) as model_error:
        catalog.get_foundation_model("anthropic.claude-nope-v9:0")
    assert model_error.value.message == "Could not find model with identifier anthropic.claude-nope-v9:0"
    with pytest.raises(ResourceNotFoundException) as profile_error:
        catalog.get_inference_profile("us.anthropic.claude-nope-v9:0")
    assert profile_error.value.status == 404


def test_pagination_tokens_round_trip_and_reject_garbage() -> None:
    assert decode_token(encode_token(7)) == 7
    items = list(range(12))
    first, token = page(items, 5, None)
    second, token2 = page(items, 5, token)
    third, token3 = page(items, 5, token2)
    assert first + second + third == items and token3 is None
    assert page(items, None, None) == (items, None)
    for bad in ("nope", "e30", encode_token(13), "eyJ2IjoxLCJvZmZzZXQiOi0xfQ"):
        with pytest.raises(ValidationException):
            page(items, 5, bad)


# ---------------------------------------------------------------- end to end: foundation models


def test_list_foundation_models(bedrock: Any) -> None:
    out = bedrock.list_foundation_models()
    models = out["modelSummaries"]
    ids = [m["modelId"] for m in models]
    assert len(ids) == len(set(ids)) > 100
    assert {
        HAIKU_3,
        SONNET_45,
        "amazon.titan-embed-text-v2:0",
        "meta.llama3-1-8b-instruct-v1:0",
        "amazon.nova-pro-v1:0",
        "openai.gpt-oss-120b-1:0",
    } <= set(ids)
    haiku = next(m for m in models if m["modelId"] == HAIKU_3)
    assert haiku == {
        "modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU_3}",
        "modelId": HAIKU_3,
        "modelName": "Claude 3 Haiku",
        "providerName": "Anthropic",
        "inputModalities": ["TEXT", "IMAGE"],
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": True,
        "customizationsSupported": [],
        "inferenceTypesSupported": ["ON_DEMAND"],
        "modelLifecycle": {"status": "ACTIVE"},
    }


@pytest.mark.parametrize("provider", ["Anthropic", "anthropic", "Mistral AI", "mistral", "Meta", "amazon"])
def test_list_by_provider(bedrock: Any, provider: str) -> None:
    models = bedrock.list_foundation_models(byProvider=provider)["modelSummaries"]
    assert models
    wanted = provider.lower()
    assert all(wanted in (m["providerName"].lower(), m["modelId"].split(".")[0]) for m in models)


def test_list_by_provider_nobody(bedrock: Any) -> None:
    assert bedrock.list_foundation_models(byProvider="Nobody")["modelSummaries"] == []


@pytest.mark.parametrize("modality", ["TEXT", "IMAGE", "EMBEDDING"])
def test_list_by_output_modality(bedrock: Any, modality: str) -> None:
    models = bedrock.list_foundation_models(byOutputModality=modality)["modelSummaries"]
    assert models and all(modality in m["outputModalities"] for m in models)


def test_list_by_customization_type(bedrock: Any) -> None:
    models = bedrock.list_foundation_models(byCustomizationType="FINE_TUNING")["modelSummaries"]
    assert "amazon.titan-image-generator-v2:0" in {m["modelId"] for m in models}
    assert all("FINE_TUNING" in m["customizationsSupported"] for m in models)
    pretraining = bedrock.list_foundation_models(byCustomizationType="CONTINUED_PRE_TRAINING")[
        "modelSummaries"
    ]
    assert pretraining and all("CONTINUED_PRE_TRAINING" in m["customizationsSupported"] for m in pretraining)


@pytest.mark.parametrize("inference_type", ["ON_DEMAND", "PROVISIONED"])
def test_list_by_inference_type(bedrock: Any, inference_type: str) -> None:
    models = bedrock.list_foundation_models(byInferenceType=inference_type)["modelSummaries"]
    assert models and all(inference_type in m["inferenceTypesSupported"] for m in models)


def test_list_filters_combine(bedrock: Any) -> None:
    models = bedrock.list_foundation_models(byProvider="Amazon", byOutputModality="EMBEDDING")[
        "modelSummaries"
    ]
    assert "amazon.titan-embed-text-v2:0" in {m["modelId"] for m in models}
    assert all(m["providerName"] == "Amazon" and "EMBEDDING" in m["outputModalities"] for m in models)


def test_get_foundation_model_by_id_and_arn(bedrock: Any) -> None:
    listed = {m["modelId"]: m for m in bedrock.list_foundation_models()["modelSummaries"]}
    by_id = bedrock.get_foundation_model(modelIdentifier=SONNET_45)["modelDetails"]
    by_arn = bedrock.get_foundation_model(modelIdentifier=listed[SONNET_45]["modelArn"])["modelDetails"]
    assert by_id == by_arn == listed[SONNET_45]
    assert by_id["inferenceTypesSupported"] == ["INFERENCE_PROFILE"]


def test_get_unknown_foundation_model(bedrock: Any) -> None:
    code, status, message = error_of(
        bedrock.get_foundation_model, modelIdentifier="anthropic.claude-nope-v9:0"
    )
    assert (code, status) == ("ValidationException", 400)
    assert message == "Could not find model with identifier anthropic.claude-nope-v9:0"


def test_get_foundation_model_with_a_profile_id_is_not_a_model(bedrock: Any) -> None:
    code, status, _ = error_of(bedrock.get_foundation_model, modelIdentifier="us." + SONNET_45)
    assert (code, status) == ("ValidationException", 400)


# ---------------------------------------------------------------- end to end: inference profiles


def all_profiles(bedrock: Any, **kwargs: Any) -> list[dict[str, Any]]:
    return list(bedrock.list_inference_profiles(**kwargs)["inferenceProfileSummaries"])


def test_list_inference_profiles(bedrock: Any) -> None:
    profiles = all_profiles(bedrock)
    ids = {p["inferenceProfileId"] for p in profiles}
    assert set(CLAUDE_PROFILES[:11]) <= ids
    assert all(p["type"] == "SYSTEM_DEFINED" and p["status"] == "ACTIVE" for p in profiles)
    haiku = next(p for p in profiles if p["inferenceProfileId"] == "us." + HAIKU_3)
    assert haiku["inferenceProfileName"] == "US Anthropic Claude 3 Haiku"
    assert haiku["createdAt"] == dt.datetime(2024, 9, 30, tzinfo=dt.UTC)
    assert haiku["description"] == "Routes requests to Anthropic Claude 3 Haiku in us-east-1 and us-west-2."


def test_list_inference_profiles_type_filter(bedrock: Any) -> None:
    assert all_profiles(bedrock, typeEquals="SYSTEM_DEFINED") == all_profiles(bedrock)
    assert all_profiles(bedrock, typeEquals="APPLICATION") == []


def test_inference_profile_pages_collect_everything_once(bedrock: Any) -> None:
    everything = all_profiles(bedrock)
    seen: list[str] = []
    kwargs: dict[str, Any] = {"maxResults": 5}
    pages = 0
    while True:
        out = bedrock.list_inference_profiles(**kwargs)
        assert len(out["inferenceProfileSummaries"]) <= 5
        seen += [p["inferenceProfileId"] for p in out["inferenceProfileSummaries"]]
        pages += 1
        if "nextToken" not in out:
            break
        kwargs["nextToken"] = out["nextToken"]
    assert pages == -(-len(everything) // 5)
    assert len(seen) == len(set(seen)) == len(everything)
    assert seen == [p["inferenceProfileId"] for p in everything]


def test_inference_profile_paginator(bedrock: Any) -> None:
    paginator = bedrock.get_paginator("list_inference_profiles")
    ids = [
        p["inferenceProfileId"]
        for page_ in paginator.paginate(PaginationConfig={"PageSize": 7})
        for p in page_["inferenceProfileSummaries"]
    ]
    assert ids == [p["inferenceProfileId"] for p in all_profiles(bedrock)]


def test_inference_profile_bad_token(bedrock: Any) -> None:
    code, status, _ = error_of(bedrock.list_inference_profiles, nextToken="not-a-token-we-issued")
    assert (code, status) == ("ValidationException", 400)


def test_get_inference_profile_by_id_and_arn(bedrock: Any) -> None:
    listed = {p["inferenceProfileId"]: p for p in all_profiles(bedrock)}
    profile_id = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    by_id = bedrock.get_inference_profile(inferenceProfileIdentifier=profile_id)
    by_arn = bedrock.get_inference_profile(
        inferenceProfileIdentifier=listed[profile_id]["inferenceProfileArn"]
    )
    for out in (by_id, by_arn):
        out.pop("ResponseMetadata")
        assert out == listed[profile_id]
    assert by_id["models"] == [
        {"modelArn": f"arn:aws:bedrock:{r}::foundation-model/{SONNET_45}"}
        for r in ("us-east-1", "us-east-2", "us-west-2")
    ]


def test_get_unknown_inference_profile(bedrock: Any) -> None:
    for identifier in (
        "us.anthropic.claude-nope-v9:0",
        f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/nope",
    ):
        code, status, message = error_of(bedrock.get_inference_profile, inferenceProfileIdentifier=identifier)
        assert (code, status, message) == (
            "ResourceNotFoundException",
            404,
            "The specified inference profile does not exist.",
        )


# ---------------------------------------------------------------- end to end: the AWS CLI


def test_cli_list_and_get_foundation_models(aws_cli: Callable[[list[str]], Any]) -> None:
    listed = aws_cli(["bedrock", "list-foundation-models", "--by-provider", "anthropic"])["modelSummaries"]
    assert listed and all(m["providerName"] == "Anthropic" for m in listed)
    got = aws_cli(["bedrock", "get-foundation-model", "--model-identifier", SONNET_45])["modelDetails"]
    assert got == next(m for m in listed if m["modelId"] == SONNET_45)


def test_cli_lists_profiles_across_pages(aws_cli: Callable[[list[str]], Any], bedrock: Any) -> None:
    out = aws_cli(["bedrock", "list-inference-profiles", "--page-size", "4"])
    ids = [p["inferenceProfileId"] for p in out["inferenceProfileSummaries"]]
    assert ids == [p["inferenceProfileId"] for p in all_profiles(bedrock)]
    got = aws_cli(["bedrock", "get-inference-profile", "--inference-profile-identifier", "us." + HAIKU_3])
    assert got["inferenceProfileId"] == "us." + HAIKU_3
