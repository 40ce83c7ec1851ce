"""Application inference profiles: created from a foundation model or a system profile, kept across
restarts, tagged, invocable wherever a model id is taken (boto3, the AWS CLI, Claude Code), and the
usage of each attributed to it."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import REGION, Server, aws_runner, make_client, start_server, stop_server, user

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_ARN = f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}"
SYSTEM_PROFILE_ARN = f"arn:aws:bedrock:{REGION}:123456789012:inference-profile/us.{HAIKU}"


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("profiles")


@pytest.fixture(scope="module")
def profiled(state: Path) -> Iterator[Server]:
    srv = start_server(state, "profiles")
    yield srv
    stop_server(srv)


def create(bedrock: Any, source: str, **extra: Any) -> str:
    name = extra.pop("name", f"team-{uuid.uuid4().hex[:8]}")
    return str(
        bedrock.create_inference_profile(
            inferenceProfileName=name, modelSource={"copyFrom": source}, **extra
        )["inferenceProfileArn"]
    )


def usage(server: Server) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.url}/_outcrop/usage", timeout=5) as response:
        return dict(json.load(response))


def test_create_get_list_and_delete(profiled: Server) -> None:
    bedrock = make_client("bedrock", profiled.url)
    name = f"docs-team-{uuid.uuid4().hex[:6]}"
    arn = create(
        bedrock, HAIKU_ARN, name=name, description="Docs team", tags=[{"key": "team", "value": "docs"}]
    )
    prefix = f"arn:aws:bedrock:{REGION}:123456789012:application-inference-profile/"
    assert arn.startswith(prefix) and len(arn[len(prefix) :]) == 12 and arn[len(prefix) :].isalnum()
    got = bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
    assert got["type"] == "APPLICATION" and got["status"] == "ACTIVE" and got["inferenceProfileName"] == name
    assert got["models"] == [{"modelArn": HAIKU_ARN}] and got["description"] == "Docs team"
    assert (
        bedrock.get_inference_profile(inferenceProfileIdentifier=arn.rsplit("/", 1)[1])["inferenceProfileArn"]
        == arn
    )
    copied = bedrock.get_inference_profile(inferenceProfileIdentifier=create(bedrock, SYSTEM_PROFILE_ARN))
    system = bedrock.get_inference_profile(inferenceProfileIdentifier=f"us.{HAIKU}")
    assert copied["models"] == system["models"]  # a system profile's routes, copied
    pages = bedrock.get_paginator("list_inference_profiles").paginate(typeEquals="APPLICATION")
    listed = [p["inferenceProfileArn"] for page in pages for p in page["inferenceProfileSummaries"]]
    assert arn in listed and copied["inferenceProfileArn"] in listed
    system_listed = bedrock.list_inference_profiles(typeEquals="SYSTEM_DEFINED")["inferenceProfileSummaries"]
    assert all(p["type"] == "SYSTEM_DEFINED" for p in system_listed)
    with pytest.raises(ClientError) as taken:
        create(bedrock, HAIKU_ARN, name=name)
    assert taken.value.response["Error"]["Code"] == "ConflictException"
    token = uuid.uuid4().hex
    assert create(bedrock, HAIKU_ARN, clientRequestToken=token) == create(
        bedrock, HAIKU_ARN, clientRequestToken=token
    )
    with pytest.raises(ClientError) as unknown_source:
        create(bedrock, f"arn:aws:bedrock:{REGION}::foundation-model/acme.nothing-v1:0")
    assert unknown_source.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "team", "value": "docs"}]
    bedrock.tag_resource(resourceARN=arn, tags=[{"key": "cost-center", "value": "42"}])
    bedrock.untag_resource(resourceARN=arn, tagKeys=["team"])
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "cost-center", "value": "42"}]
    bedrock.delete_inference_profile(inferenceProfileIdentifier=arn)
    with pytest.raises(ClientError) as gone:
        bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    runtime = make_client("bedrock-runtime", profiled.url)
    with pytest.raises(ClientError) as invalid:
        runtime.converse(modelId=arn, messages=[user("Hi")])
    assert invalid.value.response["Error"]["Code"] == "ValidationException"


def test_the_arn_is_a_model_id_everywhere_and_usage_is_attributed(profiled: Server) -> None:
    bedrock = make_client("bedrock", profiled.url)
    runtime = make_client("bedrock-runtime", profiled.url)
    arn = create(bedrock, HAIKU_ARN)
    before = usage(profiled)["applicationInferenceProfiles"].get(arn, {"invocations": 0})
    assert before["invocations"] == 0
    said = runtime.converse(modelId=arn, messages=[user("Hi")], inferenceConfig={"maxTokens": 4})
    streamed = list(
        runtime.converse_stream(modelId=arn, messages=[user("Hi")], inferenceConfig={"maxTokens": 4})[
            "stream"
        ]
    )
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 4,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    invoked = runtime.invoke_model(modelId=arn, body=json.dumps(body))
    assert json.loads(invoked["body"].read())["type"] == "message"
    counted = runtime.count_tokens(modelId=arn, input={"converse": {"messages": [user("Hi")]}})
    assert counted["inputTokens"] == said["usage"]["inputTokens"]
    after = usage(profiled)["applicationInferenceProfiles"][arn]
    assert after["invocations"] == 3  # CountTokens is not an invocation
    stream_usage = next(e["metadata"]["usage"] for e in streamed if "metadata" in e)
    assert after["inputTokens"] >= said["usage"]["inputTokens"] + stream_usage["inputTokens"]
    assert after["outputTokens"] >= said["usage"]["outputTokens"] + stream_usage["outputTokens"]
    # The AWS CLI, as users check their setup.
    aws = aws_runner(profiled.url)
    assert (
        aws(["bedrock", "get-inference-profile", "--inference-profile-identifier", arn])["type"]
        == "APPLICATION"
    )


def test_profiles_survive_a_restart(profiled: Server, state: Path) -> None:
    arn = create(make_client("bedrock", profiled.url), HAIKU_ARN)
    again = start_server(state, "profiles-again", env={"OUTCROP_STATE_DIR": str(state / "profiles-state")})
    try:
        got = make_client("bedrock", again.url).get_inference_profile(inferenceProfileIdentifier=arn)
        assert got["inferenceProfileArn"] == arn
    finally:
        stop_server(again)


def test_langchain_reads_the_profile_to_find_its_model(profiled: Server) -> None:
    """ChatBedrockConverse given an application profile ARN asks GetInferenceProfile for the model
    behind it (to pick Claude's request features), then converses through the ARN."""
    import langchain_aws

    arn = create(make_client("bedrock", profiled.url), HAIKU_ARN)
    chat = langchain_aws.ChatBedrockConverse(
        model=arn,
        provider="anthropic",
        endpoint_url=profiled.url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        max_tokens=8,
    )
    reply = chat.invoke("Say hi.")
    assert chat.base_model_id == HAIKU
    assert reply.usage_metadata and reply.usage_metadata["output_tokens"] > 0
    assert usage(profiled)["applicationInferenceProfiles"][arn]["invocations"] == 1
