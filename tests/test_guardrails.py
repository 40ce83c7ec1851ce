"""Guardrails end to end: the control plane through boto3 and the AWS CLI, ApplyGuardrail's word and
sensitive-information policies, AWS's validation, and durability across a restart."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT, Server, make_client, start_server, stop_server

BLOCKED_IN = "Sorry, I cannot help with that request."
BLOCKED_OUT = "Sorry, that answer was blocked."


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create(bedrock: Any, **policies: Any) -> dict[str, Any]:
    return dict(
        bedrock.create_guardrail(
            name=unique("test"),
            blockedInputMessaging=BLOCKED_IN,
            blockedOutputsMessaging=BLOCKED_OUT,
            **policies,
        )
    )


def apply(runtime: Any, guardrail_id: str, text: str, source: str = "INPUT", version: str = "DRAFT") -> Any:
    return runtime.apply_guardrail(
        guardrailIdentifier=guardrail_id,
        guardrailVersion=version,
        source=source,
        content=[{"text": {"text": text}}],
    )


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


CACTUS = {"wordPolicyConfig": {"wordsConfig": [{"text": "CACTUS"}]}}


# -- control plane -------------------------------------------------------------------------------


def test_create_get_list_update_version_delete(bedrock: Any) -> None:
    name = unique("lifecycle")
    created = bedrock.create_guardrail(
        name=name,
        description="first",
        blockedInputMessaging=BLOCKED_IN,
        blockedOutputsMessaging=BLOCKED_OUT,
        tags=[{"key": "team", "value": "ml"}],
        **CACTUS,
    )
    gid = created["guardrailId"]
    assert re.fullmatch(r"[a-z0-9]{12}", gid)
    assert created["guardrailArn"] == f"arn:aws:bedrock:us-east-1:123456789012:guardrail/{gid}"
    assert created["version"] == "DRAFT"
    assert isinstance(created["createdAt"], dt.datetime)

    got = bedrock.get_guardrail(guardrailIdentifier=created["guardrailArn"])
    assert got["status"] == "READY" and got["version"] == "DRAFT" and got["name"] == name
    assert got["description"] == "first"
    assert got["wordPolicy"]["words"] == [
        {
            "text": "CACTUS",
            "inputAction": "BLOCK",
            "outputAction": "BLOCK",
            "inputEnabled": True,
            "outputEnabled": True,
        }
    ]
    assert isinstance(got["updatedAt"], dt.datetime)

    updated = bedrock.update_guardrail(
        guardrailIdentifier=gid,
        name=name,
        description="second",
        blockedInputMessaging=BLOCKED_IN,
        blockedOutputsMessaging=BLOCKED_OUT,
        wordPolicyConfig={"wordsConfig": [{"text": "banana"}]},
    )
    assert updated["version"] == "DRAFT" and updated["guardrailId"] == gid

    assert bedrock.create_guardrail_version(guardrailIdentifier=gid, description="v1")["version"] == "1"
    assert bedrock.create_guardrail_version(guardrailIdentifier=gid)["version"] == "2"
    v1 = bedrock.get_guardrail(guardrailIdentifier=gid, guardrailVersion="1")
    assert v1["version"] == "1" and v1["description"] == "v1"
    assert v1["wordPolicy"]["words"][0]["text"] == "banana"

    versions = bedrock.list_guardrails(guardrailIdentifier=gid)["guardrails"]
    assert [v["version"] for v in versions] == ["DRAFT", "1", "2"]
    assert all(v["id"] == gid and v["status"] == "READY" for v in versions)
    paged = bedrock.list_guardrails(guardrailIdentifier=gid, maxResults=2)
    assert len(paged["guardrails"]) == 2 and paged["nextToken"]
    rest = bedrock.list_guardrails(guardrailIdentifier=gid, maxResults=2, nextToken=paged["nextToken"])
    assert [v["version"] for v in rest["guardrails"]] == ["2"] and "nextToken" not in rest
    assert gid in {g["id"] for g in bedrock.list_guardrails()["guardrails"]}
    pages = bedrock.get_paginator("list_guardrails").paginate(PaginationConfig={"PageSize": 1})
    assert gid in {g["id"] for p in pages for g in p["guardrails"]}

    bedrock.delete_guardrail(guardrailIdentifier=gid, guardrailVersion="1")
    assert [v["version"] for v in bedrock.list_guardrails(guardrailIdentifier=gid)["guardrails"]] == [
        "DRAFT",
        "2",
    ]
    assert bedrock.create_guardrail_version(guardrailIdentifier=gid)["version"] == "3"  # never reused
    bedrock.delete_guardrail(guardrailIdentifier=gid)
    with pytest.raises(ClientError) as exc:
        bedrock.get_guardrail(guardrailIdentifier=gid)
    assert error(exc)[0] == "ResourceNotFoundException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_unknown_guardrail_and_version(bedrock: Any) -> None:
    for call in (
        lambda: bedrock.get_guardrail(guardrailIdentifier="zzzzzzzzzzzz"),
        lambda: bedrock.delete_guardrail(guardrailIdentifier="zzzzzzzzzzzz"),
        lambda: bedrock.create_guardrail_version(guardrailIdentifier="zzzzzzzzzzzz"),
        lambda: bedrock.list_guardrails(guardrailIdentifier="zzzzzzzzzzzz"),
        lambda: bedrock.get_guardrail(
            guardrailIdentifier="arn:aws:bedrock:eu-west-1:123456789012:guardrail/zzzzzzzzzzzz"
        ),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc)[0] == "ResourceNotFoundException"
    gid = create(bedrock, **CACTUS)["guardrailId"]
    with pytest.raises(ClientError) as exc:
        bedrock.get_guardrail(guardrailIdentifier=gid, guardrailVersion="7")
    assert error(exc)[0] == "ResourceNotFoundException"


def test_name_conflict(bedrock: Any) -> None:
    name = unique("conflict")
    kwargs = {"name": name, "blockedInputMessaging": "x", "blockedOutputsMessaging": "y", **CACTUS}
    bedrock.create_guardrail(**kwargs)
    with pytest.raises(ClientError) as exc:
        bedrock.create_guardrail(**kwargs)
    assert error(exc)[0] == "ConflictException"
    other = create(bedrock, **CACTUS)["guardrailId"]
    with pytest.raises(ClientError) as exc:
        bedrock.update_guardrail(guardrailIdentifier=other, **kwargs)
    assert error(exc)[0] == "ConflictException"


@pytest.mark.parametrize(
    "policies",
    [
        {"wordPolicyConfig": {}},
        {"wordPolicyConfig": {"wordsConfig": [{"text": "a"}, {"text": "A"}]}},
        {"wordPolicyConfig": {"wordsConfig": [{"text": "   "}]}},
        {"wordPolicyConfig": {"managedWordListsConfig": [{"type": "SWEARING"}]}},
        {"sensitiveInformationPolicyConfig": {}},
        {
            "sensitiveInformationPolicyConfig": {
                "regexesConfig": [{"name": "r", "pattern": "(", "action": "BLOCK"}]
            }
        },
        {"sensitiveInformationPolicyConfig": {"piiEntitiesConfig": [{"type": "EMAIL", "action": "MASK"}]}},
        {
            "sensitiveInformationPolicyConfig": {
                "piiEntitiesConfig": [
                    {"type": "EMAIL", "action": "BLOCK"},
                    {"type": "EMAIL", "action": "NONE"},
                ]
            }
        },
        {
            "sensitiveInformationPolicyConfig": {
                "piiEntitiesConfig": [{"type": "SHOE_SIZE", "action": "BLOCK"}]
            }
        },
        {
            "contentPolicyConfig": {
                "filtersConfig": [
                    {"type": "PROMPT_ATTACK", "inputStrength": "HIGH", "outputStrength": "HIGH"}
                ]
            }
        },
        {"contextualGroundingPolicyConfig": {"filtersConfig": [{"type": "GROUNDING", "threshold": 1.5}]}},
        {"topicPolicyConfig": {"topicsConfig": [{"name": "x", "definition": "y", "type": "ALLOW"}]}},
        {
            "sensitiveInformationPolicyConfig": {
                "regexesConfig": [{"name": "r", "pattern": "(a+)+$", "action": "BLOCK"}]
            }
        },
        {
            "sensitiveInformationPolicyConfig": {
                "regexesConfig": [
                    {"name": "r", "pattern": "a", "action": "BLOCK"},
                    {"name": "r", "pattern": "b", "action": "BLOCK"},
                ]
            }
        },
    ],
)
def test_malformed_policies_are_validation_errors(server: Server, policies: dict[str, Any]) -> None:
    raw = make_client("bedrock", server.url, validate=False)
    with pytest.raises(ClientError) as exc:
        raw.create_guardrail(
            name=unique("bad"), blockedInputMessaging="x", blockedOutputsMessaging="y", **policies
        )
    assert error(exc)[0] == "ValidationException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_missing_messaging_and_bad_name(server: Server) -> None:
    raw = make_client("bedrock", server.url, validate=False)
    with pytest.raises(ClientError) as exc:
        raw.create_guardrail(name="has space", blockedInputMessaging="x", blockedOutputsMessaging="y")
    assert error(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        raw.create_guardrail(name=unique("n"), blockedInputMessaging="x")
    assert error(exc)[0] == "ValidationException"


# -- ApplyGuardrail ------------------------------------------------------------------------------


def test_strands_style_cactus_blocks(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **CACTUS)["guardrailId"]
    out = apply(runtime, gid, "Tell me about the cactus in my garden.")
    assert out["action"] == "GUARDRAIL_INTERVENED"
    assert out["outputs"] == [{"text": BLOCKED_IN}]
    words = out["assessments"][0]["wordPolicy"]
    assert words["customWords"] == [{"match": "CACTUS", "action": "BLOCKED", "detected": True}]
    assert out["usage"]["wordPolicyUnits"] == 1
    assert out["guardrailCoverage"]["textCharacters"] == {"guarded": 38, "total": 38}
    output = apply(runtime, gid, "A CACTUS.", source="OUTPUT")
    assert output["outputs"] == [{"text": BLOCKED_OUT}]
    clean = apply(runtime, gid, "Cactuses are plants.")  # whole words only
    assert clean["action"] == "NONE" and clean["outputs"] == []
    assert "wordPolicy" not in clean["assessments"][0]


def test_profanity_and_detect_only(bedrock: Any, runtime: Any) -> None:
    gid = create(
        bedrock,
        wordPolicyConfig={
            "managedWordListsConfig": [{"type": "PROFANITY"}],
            "wordsConfig": [{"text": "pineapple pizza", "inputAction": "NONE"}],
        },
    )["guardrailId"]
    out = apply(runtime, gid, "What the SHIT is this")
    assert out["action"] == "GUARDRAIL_INTERVENED"
    assert out["assessments"][0]["wordPolicy"]["managedWordLists"] == [
        {"match": "shit", "type": "PROFANITY", "action": "BLOCKED", "detected": True}
    ]
    assert apply(runtime, gid, "Scunthorpe class assassin")["action"] == "NONE"
    detect = apply(runtime, gid, "I like Pineapple   Pizza")
    assert detect["action"] == "NONE" and detect["outputs"] == []
    assert detect["assessments"][0]["wordPolicy"]["customWords"] == [
        {"match": "pineapple pizza", "action": "NONE", "detected": True}
    ]


def test_pii_anonymize_and_block(bedrock: Any, runtime: Any) -> None:
    gid = create(
        bedrock,
        sensitiveInformationPolicyConfig={
            "piiEntitiesConfig": [
                {"type": "EMAIL", "action": "ANONYMIZE"},
                {"type": "PHONE", "action": "ANONYMIZE"},
                {"type": "US_SOCIAL_SECURITY_NUMBER", "action": "BLOCK", "outputAction": "ANONYMIZE"},
                {"type": "CREDIT_DEBIT_CARD_NUMBER", "action": "NONE"},
            ],
            "regexesConfig": [{"name": "ORDER_ID", "pattern": r"ORD-\d{6}", "action": "ANONYMIZE"}],
        },
    )["guardrailId"]
    out = apply(runtime, gid, "Email jane@example.com or call 415-555-0123 about ORD-123456.")
    assert out["action"] == "GUARDRAIL_INTERVENED"
    assert out["outputs"] == [{"text": "Email {EMAIL} or call {PHONE} about {ORDER_ID}."}]
    sip = out["assessments"][0]["sensitiveInformationPolicy"]
    assert {"match": "jane@example.com", "type": "EMAIL", "action": "ANONYMIZED", "detected": True} in sip[
        "piiEntities"
    ]
    assert sip["regexes"] == [
        {
            "name": "ORDER_ID",
            "match": "ORD-123456",
            "regex": r"ORD-\d{6}",
            "action": "ANONYMIZED",
            "detected": True,
        }
    ]
    assert out["usage"]["sensitiveInformationPolicyUnits"] == 1
    assert out["usage"]["sensitiveInformationPolicyFreeUnits"] == 1

    blocked = apply(runtime, gid, "My SSN is 123-45-6789")
    assert blocked["outputs"] == [{"text": BLOCKED_IN}]
    masked = apply(runtime, gid, "My SSN is 123-45-6789", source="OUTPUT")
    assert masked["outputs"] == [{"text": "My SSN is {US_SOCIAL_SECURITY_NUMBER}"}]

    card = apply(runtime, gid, "card 4111 1111 1111 1111, not 4111 1111 1111 1112")
    assert card["action"] == "NONE"
    assert card["assessments"][0]["sensitiveInformationPolicy"]["piiEntities"] == [
        {
            "match": "4111 1111 1111 1111",
            "type": "CREDIT_DEBIT_CARD_NUMBER",
            "action": "NONE",
            "detected": True,
        }
    ]


def test_qualifiers_and_units(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **CACTUS)["guardrailId"]
    out = runtime.apply_guardrail(
        guardrailIdentifier=gid,
        guardrailVersion="DRAFT",
        source="INPUT",
        outputScope="FULL",
        content=[
            {"text": {"text": "cactus facts", "qualifiers": ["grounding_source"]}},
            {"text": {"text": "x" * 2500, "qualifiers": ["guard_content"]}},
        ],
    )
    assert out["action"] == "NONE"
    assert out["usage"]["wordPolicyUnits"] == 3
    assert out["guardrailCoverage"]["textCharacters"] == {"guarded": 2500, "total": 2512}


def test_apply_versions_and_unknown(bedrock: Any, runtime: Any) -> None:
    created = create(bedrock, **CACTUS)
    gid = created["guardrailId"]
    bedrock.create_guardrail_version(guardrailIdentifier=gid)
    bedrock.update_guardrail(
        guardrailIdentifier=gid,
        name=bedrock.get_guardrail(guardrailIdentifier=gid)["name"],
        blockedInputMessaging=BLOCKED_IN,
        blockedOutputsMessaging=BLOCKED_OUT,
        wordPolicyConfig={"wordsConfig": [{"text": "agave"}]},
    )
    assert apply(runtime, created["guardrailArn"], "cactus", version="1")["action"] == "GUARDRAIL_INTERVENED"
    assert apply(runtime, gid, "cactus")["action"] == "NONE"  # DRAFT moved on
    for identifier, version in ((gid, "9"), ("zzzzzzzzzzzz", "DRAFT")):
        with pytest.raises(ClientError) as exc:
            apply(runtime, identifier, "hi", version=version)
        assert error(exc) == (
            "ValidationException",
            "The guardrail identifier or version provided in the request does not exist.",
        )


def test_aws_cli_creates_and_applies(aws_cli: Callable[..., Any]) -> None:
    created = aws_cli(
        [
            "bedrock", "create-guardrail",
            "--name", unique("cli"),
            "--blocked-input-messaging", BLOCKED_IN,
            "--blocked-outputs-messaging", BLOCKED_OUT,
            "--word-policy-config", '{"wordsConfig": [{"text": "CACTUS"}]}',
        ]
    )  # fmt: skip
    out = aws_cli(
        [
            "bedrock-runtime", "apply-guardrail",
            "--guardrail-identifier", created["guardrailId"],
            "--guardrail-version", "DRAFT",
            "--source", "INPUT",
            "--content", '[{"text": {"text": "I love my cactus"}}]',
        ]
    )  # fmt: skip
    assert out["action"] == "GUARDRAIL_INTERVENED" and out["outputs"] == [{"text": BLOCKED_IN}]


def test_survives_restart(tmp_path: Path) -> None:
    env = {"OUTCROP_STATE_DIR": str(tmp_path / "state")}
    first = start_server(tmp_path, "durable-1", env=env)
    try:
        bedrock = make_client("bedrock", first.url)
        gid = create(bedrock, **CACTUS)["guardrailId"]
        bedrock.create_guardrail_version(guardrailIdentifier=gid)
    finally:
        stop_server(first)
    second = start_server(tmp_path, "durable-2", env=env)
    try:
        bedrock = make_client("bedrock", second.url)
        runtime = make_client("bedrock-runtime", second.url)
        assert [v["version"] for v in bedrock.list_guardrails(guardrailIdentifier=gid)["guardrails"]] == [
            "DRAFT",
            "1",
        ]
        assert apply(runtime, gid, "cactus", version="1")["action"] == "GUARDRAIL_INTERVENED"
    finally:
        stop_server(second)
    assert (tmp_path / "state" / "guardrails.sqlite3").exists()


def test_detector_quality_on_the_labelled_set() -> None:
    """The figures published in docs/guardrails.md stay at or above 0.9."""
    spec = importlib.util.spec_from_file_location(
        "guardrail_quality", ROOT / "bench" / "guardrail_quality.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    scores = bench.evaluate()
    assert {k: len(v["cases"]) >= 40 for k, v in bench.load().items()} == {
        "words": True,
        "regexes": True,
        "pii": True,
    }
    for kind, (precision, recall) in scores.items():
        assert precision >= 0.9 and recall >= 0.9, (kind, precision, recall)


# Floors a little under the held-out figures published in docs/guardrails.md: a change that makes a
# model-based detector clearly worse on text it was never tuned on fails here.
HELDOUT_FLOORS = {
    "pii": (0.92, 0.87),
    "topics": (0.83, 0.70),
    "content": (0.92, 0.76),
    "grounding": (0.80, 0.70),
}


def test_model_based_detectors_hold_their_heldout_quality() -> None:
    spec = importlib.util.spec_from_file_location("guardrail_sets", ROOT / "bench" / "guardrail_sets.py")
    assert spec is not None and spec.loader is not None
    sets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sets)
    runs = {"pii": sets.pii, "topics": sets.topics, "content": sets.content, "grounding": sets.grounding}
    for name, (min_precision, min_recall) in HELDOUT_FLOORS.items():
        data = sets._load(name, "heldout")
        assert data is not None and len(data["cases"]) >= 40
        precision, recall, *_ = sets.summary(runs[name](data, []))
        assert precision >= min_precision and recall >= min_recall, (name, precision, recall)
