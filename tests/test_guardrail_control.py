"""Guardrail control plane beyond CRUD: the status life cycle clients poll, and tags."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from test_guardrails import CACTUS, create, error


def _statuses(bedrock: Any, gid: str, version: str = "DRAFT", timeout: float = 60) -> list[str]:
    """Poll GetGuardrail as Terraform and CDK do, until READY or FAILED."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = bedrock.get_guardrail(guardrailIdentifier=gid, guardrailVersion=version)["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("READY", "FAILED"):
            return seen
        time.sleep(0.05)
    return seen


def test_status_goes_through_creating_updating_versioning_to_ready(bedrock: Any) -> None:
    topics = {
        "topicPolicyConfig": {
            "topicsConfig": [
                {
                    "name": "Investment advice",
                    "definition": "Recommendations about which stocks, funds or crypto assets to buy or sell.",
                    "examples": ["Should I buy Tesla shares?"],
                    "type": "DENY",
                }
            ]
        }
    }
    gid = create(bedrock, **topics)["guardrailId"]
    assert _statuses(bedrock, gid) in (["CREATING", "READY"], ["READY"])
    listed = bedrock.list_guardrails(guardrailIdentifier=gid)["guardrails"]
    assert [g["status"] for g in listed] == ["READY"]

    bedrock.update_guardrail(
        guardrailIdentifier=gid,
        name=f"renamed-{gid}",
        blockedInputMessaging="no",
        blockedOutputsMessaging="no",
        **CACTUS,
    )
    assert _statuses(bedrock, gid) in (["UPDATING", "READY"], ["READY"])
    version = bedrock.create_guardrail_version(guardrailIdentifier=gid)["version"]
    assert _statuses(bedrock, gid, version) in (["VERSIONING", "READY"], ["READY"])


def test_tag_untag_list(bedrock: Any) -> None:
    created = create(bedrock, **CACTUS, tags=[{"key": "team", "value": "search"}])
    arn = created["guardrailArn"]
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "team", "value": "search"}]
    bedrock.tag_resource(
        resourceARN=arn, tags=[{"key": "team", "value": "ads"}, {"key": "cost-centre", "value": "42"}]
    )
    assert sorted(
        (t["key"], t["value"]) for t in bedrock.list_tags_for_resource(resourceARN=arn)["tags"]
    ) == [
        ("cost-centre", "42"),
        ("team", "ads"),
    ]
    bedrock.untag_resource(resourceARN=arn, tagKeys=["team", "absent"])
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "cost-centre", "value": "42"}]


def test_tag_errors(bedrock: Any) -> None:
    arn = create(bedrock, **CACTUS)["guardrailArn"]
    missing = arn.rsplit("/", 1)[0] + "/zzzzzzzzzzzz"
    with pytest.raises(ClientError) as exc:
        bedrock.list_tags_for_resource(resourceARN=missing)
    assert error(exc) == ("ResourceNotFoundException", f"The resource {missing} was not found.")
    with pytest.raises(ClientError) as exc:
        bedrock.tag_resource(resourceARN=arn, tags=[{"key": "aws:owner", "value": "x"}])
    assert error(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        bedrock.tag_resource(resourceARN=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(40)])
        bedrock.tag_resource(resourceARN=arn, tags=[{"key": f"j{i}", "value": "v"} for i in range(20)])
    assert error(exc)[0] == "TooManyTagsException"
    assert len(bedrock.list_tags_for_resource(resourceARN=arn)["tags"]) == 40
    with pytest.raises(ClientError) as exc:
        bedrock.tag_resource(resourceARN=arn, tags=[{"key": "bad key!", "value": "v"}])
    assert error(exc)[0] == "ValidationException"
