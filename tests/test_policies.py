"""Identity-based policies: the evaluator on its own (IAM's rules), then a server whose identities
have policies, driven by boto3 signing with each identity's keys."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import BIN, REGION, Server, make_client, start_server, stop_server, user
from outcrop.policies.document import PolicyError, parse
from outcrop.policies.evaluate import Decision, decide

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-lite-v1:0"
ACCOUNT = "123456789012"


def allow(**statement: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]}


def decided(document: dict[str, Any], action: str, resource: str, **context: list[str]) -> Decision:
    return decide(parse(document), action, resource, context)


def test_actions_and_resources_match_with_wildcards() -> None:
    policy = allow(Action="bedrock:Invoke*", Resource="arn:aws:bedrock:*::foundation-model/anthropic.*")
    model = f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}"
    assert decided(policy, "bedrock:InvokeModel", model) is Decision.ALLOW
    assert decided(policy, "BEDROCK:invokemodel", model) is Decision.ALLOW  # actions ignore case
    assert decided(policy, "bedrock:ListFoundationModels", model) is Decision.IMPLICIT_DENY
    assert (
        decided(policy, "bedrock:InvokeModel", model.replace("anthropic", "Anthropic"))
        is Decision.IMPLICIT_DENY
    )
    single = allow(
        Action="bedrock:InvokeModel",
        Resource=f"arn:aws:bedrock:{REGION}::foundation-model/amazon.nova-????-v1:0",
    )
    assert (
        decided(single, "bedrock:InvokeModel", f"arn:aws:bedrock:{REGION}::foundation-model/{NOVA}")
        is Decision.ALLOW
    )
    everything_but = allow(NotAction="bedrock:*Guardrail*", NotResource="arn:aws:bedrock:*:*:guardrail/*")
    assert decided(everything_but, "bedrock:InvokeModel", model) is Decision.ALLOW
    assert decided(everything_but, "bedrock:ApplyGuardrail", model) is Decision.IMPLICIT_DENY
    assert (
        decided(everything_but, "bedrock:InvokeModel", f"arn:aws:bedrock:{REGION}:{ACCOUNT}:guardrail/x")
        is Decision.IMPLICIT_DENY
    )


def test_an_explicit_deny_wins() -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "bedrock:InvokeModelWithResponseStream", "Resource": "*"},
        ],
    }
    assert decided(policy, "bedrock:InvokeModel", "x") is Decision.ALLOW
    assert decided(policy, "bedrock:InvokeModelWithResponseStream", "x") is Decision.EXPLICIT_DENY


def test_conditions() -> None:
    tagged = allow(
        Action="*", Resource="*", Condition={"StringEquals": {"aws:ResourceTag/team": ["docs", "ml"]}}
    )
    assert decided(tagged, "a", "r", **{"aws:resourcetag/team": ["ml"]}) is Decision.ALLOW  # keys ignore case
    assert decided(tagged, "a", "r", **{"aws:ResourceTag/team": ["ops"]}) is Decision.IMPLICIT_DENY
    assert decided(tagged, "a", "r") is Decision.IMPLICIT_DENY  # a missing key fails
    not_ops = allow(Action="*", Resource="*", Condition={"StringNotEquals": {"aws:ResourceTag/team": "ops"}})
    assert decided(not_ops, "a", "r") is Decision.ALLOW  # ... except under a negated operator
    if_exists = allow(
        Action="*", Resource="*", Condition={"StringEqualsIfExists": {"aws:ResourceTag/team": "docs"}}
    )
    assert decided(if_exists, "a", "r") is Decision.ALLOW
    assert decided(if_exists, "a", "r", **{"aws:ResourceTag/team": ["ops"]}) is Decision.IMPLICIT_DENY
    via_profile = allow(
        Action="bedrock:InvokeModel",
        Resource="*",
        Condition={
            "ArnLike": {"bedrock:InferenceProfileArn": "arn:aws:bedrock:*:*:application-inference-profile/*"}
        },
    )
    profile = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:application-inference-profile/abcdefabcdef"
    assert (
        decided(via_profile, "bedrock:InvokeModel", "m", **{"bedrock:InferenceProfileArn": [profile]})
        is Decision.ALLOW
    )
    assert decided(via_profile, "bedrock:InvokeModel", "m") is Decision.IMPLICIT_DENY
    no_tags = allow(Action="*", Resource="*", Condition={"Null": {"aws:TagKeys": "true"}})
    assert decided(no_tags, "a", "r") is Decision.ALLOW
    assert decided(no_tags, "a", "r", **{"aws:TagKeys": ["team"]}) is Decision.IMPLICIT_DENY
    only_team = allow(
        Action="*", Resource="*", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}
    )
    assert decided(only_team, "a", "r", **{"aws:TagKeys": ["team"]}) is Decision.ALLOW
    assert decided(only_team, "a", "r", **{"aws:TagKeys": ["team", "owner"]}) is Decision.IMPLICIT_DENY
    any_team = allow(Action="*", Resource="*", Condition={"ForAnyValue:StringLike": {"aws:TagKeys": "te*"}})
    assert decided(any_team, "a", "r", **{"aws:TagKeys": ["owner", "team"]}) is Decision.ALLOW


def test_documents_iam_would_refuse_are_refused() -> None:
    for document, reason in (
        ({"Statement": [{"Effect": "Allow", "Action": "*"}]}, "Resource"),
        ({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}, "Effect"),
        ({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}, "Principal"),
        (allow(Action="*", Resource="*", Condition={"NumericLessThan": {"x": 1}}), "not supported"),
    ):
        with pytest.raises(PolicyError, match=reason):
            parse(document)


# ---- a server with identities ---------------------------------------------------------------

ROOT = ("AKIAROOTEXAMPLE00001", "root-secret")
READER = ("AKIAREADEREXAMPLE001", "reader-secret")
STREAMLESS = ("AKIASTREAMLESS000001", "streamless-secret")
PROFILED = ("AKIAPROFILED00000001", "profiled-secret")
EAST = ("AKIAEASTONLY00000001", "east-secret")
PROFILES_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DocsProfiles",
            "Effect": "Allow",
            "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            "Resource": "arn:aws:bedrock:*:*:application-inference-profile/*",
            "Condition": {"StringEquals": {"aws:ResourceTag/team": "docs"}},
        },
        {
            "Sid": "ModelsThroughProfiles",
            "Effect": "Allow",
            "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            "Resource": "arn:aws:bedrock:*::foundation-model/*",
            "Condition": {
                "ArnLike": {
                    "bedrock:InferenceProfileArn": "arn:aws:bedrock:*:*:application-inference-profile/*"
                }
            },
        },
    ],
}


@pytest.fixture(scope="module")
def governed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("policies")
    (folder / "profiles-only.json").write_text(json.dumps(PROFILES_ONLY))
    streamless = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "bedrock:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "bedrock:InvokeModelWithResponseStream", "Resource": "*"},
        ],
    }
    config = f"""
# The account may use Anthropic's and Amazon's models only (Bedrock's model access).
model_access = ["anthropic.*", "amazon.*"]

[auth]
api_keys = ["root-api-key"]

[[auth.credentials]]
access_key_id = "{ROOT[0]}"
secret_access_key = "{ROOT[1]}"

[[identities]]
name = "reader"
access_keys = [{{ access_key_id = "{READER[0]}", secret_access_key = "{READER[1]}" }}]
policies = [{{ Version = "2012-10-17", Statement = [{{ Effect = "Allow", Action = "bedrock:InvokeModel", Resource = "arn:aws:bedrock:*::foundation-model/anthropic.*" }}] }}]

[[identities]]
name = "streamless"
access_keys = [{{ access_key_id = "{STREAMLESS[0]}", secret_access_key = "{STREAMLESS[1]}" }}]
policy_files = ["streamless.json"]

[[identities]]
name = "east-only"
access_keys = [{{ access_key_id = "{EAST[0]}", secret_access_key = "{EAST[1]}" }}]
policies = [{{ Version = "2012-10-17", Statement = [{{ Effect = "Allow", Action = "bedrock:InvokeModel", Resource = ["arn:aws:bedrock:*:*:inference-profile/*", "arn:aws:bedrock:us-east-1::foundation-model/*"] }}] }}]

[[identities]]
name = "docs-app"
access_keys = [{{ access_key_id = "{PROFILED[0]}", secret_access_key = "{PROFILED[1]}" }}]
policy_files = ["profiles-only.json"]
"""
    (folder / "streamless.json").write_text(json.dumps(streamless))
    (folder / "outcrop.toml").write_text(config)
    srv = start_server(folder, "governed", args=["--config", str(folder / "outcrop.toml")])
    yield srv
    stop_server(srv)


def runtime_as(server: Server, key: tuple[str, str]) -> Any:
    return make_client("bedrock-runtime", server.url, key=key[0], secret=key[1])


def refused(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert (
        error["Code"] == "AccessDeniedException"
        and caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    )
    return str(error["Message"])


def test_an_identity_may_do_what_its_policy_allows(governed: Server) -> None:
    reader = runtime_as(governed, READER)
    reader.converse(modelId=HAIKU, messages=[user("Hi")], inferenceConfig={"maxTokens": 2})
    message = refused(lambda: reader.converse(modelId=NOVA, messages=[user("Hi")]))
    assert message == (
        f"User: arn:aws:iam::{ACCOUNT}:user/reader is not authorized to perform: bedrock:InvokeModel on resource: "
        f"arn:aws:bedrock:{REGION}::foundation-model/{NOVA} because no identity-based policy allows the "
        "bedrock:InvokeModel action"
    )
    streamed = refused(lambda: reader.converse_stream(modelId=HAIKU, messages=[user("Hi")]))
    assert "bedrock:InvokeModelWithResponseStream" in streamed
    # A system profile: the profile is checked first (the reader's policy names foundation models only).
    profile = refused(lambda: reader.converse(modelId=f"us.{HAIKU}", messages=[user("Hi")]))
    assert f"inference-profile/us.{HAIKU}" in profile


def test_a_cross_region_profile_needs_its_model_in_every_region_it_routes_to(governed: Server) -> None:
    """AWS's documented requirement: the policy must allow the foundation model in each
    destination Region of a cross-Region profile, not only the caller's."""
    east = runtime_as(governed, EAST)
    east.converse(modelId=HAIKU, messages=[user("Hi")], inferenceConfig={"maxTokens": 2})
    message = refused(lambda: east.converse(modelId=f"us.{HAIKU}", messages=[user("Hi")]))
    assert f"on resource: arn:aws:bedrock:us-west-2::foundation-model/{HAIKU} because" in message


def test_an_explicit_deny_is_said_so(governed: Server) -> None:
    streamless = runtime_as(governed, STREAMLESS)
    streamless.converse(modelId=NOVA, messages=[user("Hi")], inferenceConfig={"maxTokens": 2})
    message = refused(lambda: streamless.converse_stream(modelId=NOVA, messages=[user("Hi")]))
    assert message.endswith("with an explicit deny in an identity-based policy")


def test_profiles_scoped_by_tag_and_models_only_through_them(governed: Server) -> None:
    root = make_client("bedrock", governed.url, key=ROOT[0], secret=ROOT[1])
    source = {"copyFrom": f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}"}
    docs = root.create_inference_profile(
        inferenceProfileName="docs-profile", modelSource=source, tags=[{"key": "team", "value": "docs"}]
    )["inferenceProfileArn"]
    ml = root.create_inference_profile(
        inferenceProfileName="ml-profile", modelSource=source, tags=[{"key": "team", "value": "ml"}]
    )["inferenceProfileArn"]
    app = runtime_as(governed, PROFILED)
    app.converse(modelId=docs, messages=[user("Hi")], inferenceConfig={"maxTokens": 2})
    assert ml in refused(lambda: app.converse(modelId=ml, messages=[user("Hi")]))
    direct = refused(lambda: app.converse(modelId=HAIKU, messages=[user("Hi")]))
    assert f"foundation-model/{HAIKU}" in direct
    # An id that names no model is authorized first, as IAM does: 403 for this caller, 400 for root.
    unknown = "us.anthropic.claude-opus-5-5"
    assert f"inference-profile/{unknown} because" in refused(
        lambda: app.converse(modelId=unknown, messages=[user("Hi")])
    )
    with pytest.raises(ClientError) as invalid:
        runtime_as(governed, ROOT).converse(modelId=unknown, messages=[user("Hi")])
    assert invalid.value.response["Error"]["Message"] == "The provided model identifier is invalid."
    # Retagging the ml profile for docs opens it: tags are read at each call.
    root.tag_resource(resourceARN=ml, tags=[{"key": "team", "value": "docs"}])
    app.converse(modelId=ml, messages=[user("Hi")], inferenceConfig={"maxTokens": 2})


def test_keys_outside_identities_are_the_accounts_root(governed: Server) -> None:
    root = runtime_as(governed, ROOT)
    root.converse(modelId=NOVA, messages=[user("Hi")], inferenceConfig={"maxTokens": 2})


def test_a_policy_iam_would_refuse_stops_the_server_at_start(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(
        '[[identities]]\nname = "x"\napi_keys = ["k1"]\npolicies = [{ Statement = [{ Effect = "Allow", Action = "*" }] }]\n'
    )
    with pytest.raises(
        RuntimeError, match="identity 'x', policy 1: Statement\\[0\\]: exactly one of Resource"
    ):
        start_server(tmp_path, "bad", args=["--config", str(tmp_path / "bad.toml")])


def test_every_other_operation_is_authorized_with_its_own_action(governed: Server) -> None:
    reader_control = make_client("bedrock", governed.url, key=READER[0], secret=READER[1])
    message = refused(lambda: reader_control.list_foundation_models())
    assert "perform: bedrock:ListFoundationModels on resource: *" in message
    guardrail = refused(lambda: reader_control.get_guardrail(guardrailIdentifier="abcdefabcdef"))
    assert (
        f"bedrock:GetGuardrail on resource: arn:aws:bedrock:{REGION}:{ACCOUNT}:guardrail/abcdefabcdef"
        in guardrail
    )
    profile = refused(lambda: reader_control.get_inference_profile(inferenceProfileIdentifier=f"us.{HAIKU}"))
    assert f"on resource: arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/us.{HAIKU}" in profile
    # The streamless identity may do anything in bedrock:* (but stream): the control plane too.
    allowed = make_client("bedrock", governed.url, key=STREAMLESS[0], secret=STREAMLESS[1])
    assert allowed.list_foundation_models()["modelSummaries"]
    # An async invocation is InvokeModel's permission on the model, checked when submitted.
    reader = runtime_as(governed, READER)
    submitted = refused(
        lambda: reader.start_async_invoke(
            modelId=NOVA,
            modelInput={"messages": [{"role": "user", "content": [{"text": "Hi"}]}]},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bucket-x/out"}},
        )
    )
    assert f"bedrock:InvokeModel on resource: arn:aws:bedrock:{REGION}::foundation-model/{NOVA}" in submitted


def test_sts_get_caller_identity_says_who_a_key_is(governed: Server) -> None:
    def sts_as(key: tuple[str, str]) -> Any:
        return boto3.client("sts", endpoint_url=governed.url, region_name=REGION,
                            aws_access_key_id=key[0], aws_secret_access_key=key[1])  # fmt: skip

    reader = sts_as(READER).get_caller_identity()
    assert reader["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/reader" and reader["Account"] == ACCOUNT
    assert reader["UserId"].startswith("AIDA")
    assert sts_as(ROOT).get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    with pytest.raises(ClientError) as wrong:
        sts_as((READER[0], "not-the-secret")).get_caller_identity()
    assert wrong.value.response["Error"]["Code"] == "InvalidSignatureException"
    done = subprocess.run(
        [str(BIN / "aws"), "sts", "get-caller-identity", "--endpoint-url", governed.url, "--output", "json"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "AWS_ACCESS_KEY_ID": STREAMLESS[0], "AWS_SECRET_ACCESS_KEY": STREAMLESS[1],
             "AWS_DEFAULT_REGION": REGION},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/streamless"


def test_usage_needs_a_key_when_the_server_verifies(governed: Server) -> None:
    import urllib.error
    import urllib.request

    url = f"{governed.url}/_outcrop/usage"
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(url, timeout=5)
    assert anonymous.value.code == 403
    signed = urllib.request.Request(url, headers={"Authorization": "Bearer root-api-key"})
    with urllib.request.urlopen(signed, timeout=5) as response:
        assert "applicationInferenceProfiles" in json.load(response)


def test_models_the_account_has_no_access_to_are_refused(governed: Server) -> None:
    root = runtime_as(governed, ROOT)
    llama = "meta.llama3-8b-instruct-v1:0"
    message = refused(lambda: root.converse(modelId=llama, messages=[user("Hi")]))
    assert message == "You don't have access to the model with the specified model ID."
    # Through a profile too: access is the foundation model's.
    refused(lambda: root.converse(modelId="us.meta.llama3-1-8b-instruct-v1:0", messages=[user("Hi")]))
    # An identity's policy is read first: a call it does not allow says so instead.
    reader = runtime_as(governed, READER)
    assert "is not authorized to perform" in refused(
        lambda: reader.converse(modelId=llama, messages=[user("Hi")])
    )
    control = make_client("bedrock", governed.url, key=ROOT[0], secret=ROOT[1])
    assert (
        control.get_foundation_model_availability(modelId=llama)["entitlementAvailability"] == "NOT_AVAILABLE"
    )
    haiku = control.get_foundation_model_availability(modelId=HAIKU)
    assert haiku["entitlementAvailability"] == "AVAILABLE" and haiku["regionAvailability"] == "AVAILABLE"
    assert haiku["authorizationStatus"] == "AUTHORIZED"


def keys(governed: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """`outcrop keys …` on the governed server's configuration and state directory."""
    folder = governed.log_path.parent
    env = {**os.environ, "OUTCROP_STATE_DIR": str(folder / "governed-state")}
    return subprocess.run(
        [str(BIN / "outcrop"), "keys", *args, "--config", str(folder / "outcrop.toml")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def test_keys_made_at_run_time_act_for_their_identity_until_revoked(governed: Server) -> None:
    import urllib.error
    import urllib.request

    made = keys(governed, "create", "--user", "reader", "--kind", "sigv4", "--description", "laptop")
    assert made.returncode == 0, made.stderr
    pair = dict(line.split("=", 1) for line in made.stdout.split())
    key = (pair["AWS_ACCESS_KEY_ID"], pair["AWS_SECRET_ACCESS_KEY"])
    assert key[0].startswith("AKIA") and len(key[0]) == 20 and len(key[1]) == 40
    reader = runtime_as(governed, key)
    reader.converse(modelId=HAIKU, messages=[user("Hi")], inferenceConfig={"maxTokens": 2})
    assert "user/reader is not authorized" in refused(
        lambda: reader.converse(modelId=NOVA, messages=[user("Hi")])
    )

    api = keys(governed, "create")  # an API key for the account's root
    token = api.stdout.strip().split("=", 1)[1]
    assert token.startswith("ABSK")
    usage = urllib.request.Request(
        f"{governed.url}/_outcrop/usage", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(usage, timeout=5) as response:
        assert response.status == 200
    store = (governed.log_path.parent / "governed-state" / "keys.sqlite").read_bytes()
    assert token.encode() not in store  # kept as a digest only
    listed = keys(governed, "list").stdout
    assert key[0] in listed and "reader" in listed and "laptop" in listed and token not in listed

    for key_id in (key[0], next(line.split()[0] for line in listed.splitlines() if " api " in line)):
        assert keys(governed, "revoke", key_id).returncode == 0
    with pytest.raises(ClientError) as gone:
        reader.converse(modelId=HAIKU, messages=[user("Hi")], inferenceConfig={"maxTokens": 2})
    assert gone.value.response["Error"]["Code"] == "UnrecognizedClientException"
    with pytest.raises(urllib.error.HTTPError) as refused_key:
        urllib.request.urlopen(usage, timeout=5)
    assert refused_key.value.code == 403
    assert "revoked" in keys(governed, "list").stdout
    assert keys(governed, "create", "--user", "nobody").returncode == 2
