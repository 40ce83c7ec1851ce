"""Quotas: the counting rule on its own (a clock the test turns), then a server with quotas of every
kind driven by boto3, whose standard and adaptive retry modes absorb a burst just over a quota and
give up, as on AWS, under sustained overload."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import BIN, REGION, Server, make_client, start_server, stop_server, user
from outcrop.auth import Identity
from outcrop.catalog import Catalog
from outcrop.config import QuotaRule, Settings
from outcrop.invocation.hooks import AdmissionRequest
from outcrop.invocation.record import InvocationRecord
from outcrop.protocol.errors import ThrottlingException
from outcrop.quotas.burndown import output_weight
from outcrop.quotas.service import TOO_MANY_REQUESTS, TOO_MANY_TOKENS, TOO_MANY_TOKENS_PER_DAY, Quotas

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
MICRO = "amazon.nova-micro-v1:0"
LLAMA = "meta.llama3-8b-instruct-v1:0"
MISTRAL = "mistral.mistral-7b-instruct-v0:2"
NOVA = "amazon.nova-lite-v1:0"
COHERE = "cohere.command-r-v1:0"
ROOT = ("AKIAQUOTAROOT0000001", "quota-root-secret")
ALICE = ("AKIAQUOTAALICE000001", "alice-secret")
BOB = ("AKIAQUOTABOB00000001", "bob-secret")


class Clock:
    """The quota service's clock, turned by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def admission(
    model_id: str, request_id: str, *, tokens: int, max_tokens: int | None, who: str | None = None
) -> AdmissionRequest:
    ref = Catalog(REGION, "123456789012").resolve(model_id)
    return AdmissionRequest(
        request_id, "api", Identity("sigv4", "k", who), "Converse", ref, "m", tokens, max_tokens
    )


def finished(request_id: str, *, input_tokens: int, output_tokens: int) -> InvocationRecord:
    return InvocationRecord(
        request_id, "Converse", Identity("sigv4", "k"), "api", HAIKU, dt.datetime.now(dt.UTC),
        input_tokens=input_tokens, output_tokens=output_tokens,
    )  # fmt: skip


def test_tokens_are_reserved_then_settled_and_refill_continuously() -> None:
    clock = Clock()
    quotas = Quotas(Settings(quotas=[QuotaRule(models=[HAIKU], tokens_per_minute=600)]), clock)
    asyncio.run(quotas(admission(HAIKU, "a", tokens=100, max_tokens=400)))  # 500 reserved
    with pytest.raises(ThrottlingException, match=re.escape(TOO_MANY_TOKENS)):
        asyncio.run(quotas(admission(HAIKU, "b", tokens=100, max_tokens=100)))  # 200 > 100 left
    asyncio.run(quotas.settle(finished("a", input_tokens=100, output_tokens=20)))  # used 120: 480 back
    asyncio.run(quotas(admission(HAIKU, "b", tokens=100, max_tokens=100)))
    assert quotas.report()[0]["tokensPerMinute"] == {"limit": 600, "available": 280}
    clock.now += 6  # a tenth of a minute: 60 tokens back, no waiting for the minute to turn
    assert quotas.report()[0]["tokensPerMinute"]["available"] == 340
    clock.now += 600
    assert quotas.report()[0]["tokensPerMinute"]["available"] == 600  # never above the quota


def test_requests_per_minute_and_the_order_of_refusals() -> None:
    clock = Clock()
    rule = QuotaRule(models=["*"], requests_per_minute=2, tokens_per_minute=10_000, tokens_per_day=1_000)
    quotas = Quotas(Settings(quotas=[rule]), clock)
    for n in range(2):
        asyncio.run(quotas(admission(LLAMA, f"r{n}", tokens=10, max_tokens=10)))
    with pytest.raises(ThrottlingException, match=re.escape(TOO_MANY_REQUESTS)):
        asyncio.run(quotas(admission(LLAMA, "r2", tokens=10, max_tokens=10)))
    # Another model has its own allowance (quotas are per model), and a day's worth runs out too.
    with pytest.raises(ThrottlingException, match=re.escape(TOO_MANY_TOKENS_PER_DAY)):
        asyncio.run(quotas(admission(MISTRAL, "m", tokens=500, max_tokens=600)))
    clock.now += 30  # one request back
    asyncio.run(quotas(admission(LLAMA, "r3", tokens=10, max_tokens=10)))


def test_unset_max_tokens_reserves_the_models_maximum_and_claude_4_output_costs_five() -> None:
    assert output_weight("anthropic.claude-sonnet-4-5-20250929-v1:0") == 5
    assert output_weight("anthropic.claude-3-7-sonnet-20250219-v1:0") == 5
    assert output_weight(HAIKU) == 1 and output_weight(NOVA) == 1
    clock = Clock()
    quotas = Quotas(Settings(quotas=[QuotaRule(tokens_per_minute=100_000)]), clock)
    asyncio.run(quotas(admission(HAIKU, "h", tokens=10, max_tokens=None)))
    assert quotas.report()[0]["tokensPerMinute"]["available"] == 100_000 - 10 - 4096  # Haiku's 4,096
    sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    asyncio.run(quotas(admission(sonnet, "s", tokens=10, max_tokens=1000)))
    asyncio.run(quotas.settle(finished("s", input_tokens=10, output_tokens=100)))
    report = {r["modelId"]: r for r in quotas.report()}
    assert report[sonnet]["tokensPerMinute"]["available"] == 100_000 - 10 - 500


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("quotas")
    allow_all = '{ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "*", Resource = "*" }] }'
    (folder / "outcrop.toml").write_text(f"""
[[auth.credentials]]
access_key_id = "{ROOT[0]}"
secret_access_key = "{ROOT[1]}"

[[identities]]
name = "alice"
access_keys = [{{ access_key_id = "{ALICE[0]}", secret_access_key = "{ALICE[1]}" }}]
policies = [{allow_all}]

[[identities]]
name = "bob"
access_keys = [{{ access_key_id = "{BOB[0]}", secret_access_key = "{BOB[1]}" }}]
policies = [{allow_all}]

[[quotas]]
models = ["{LLAMA}"]
requests_per_minute = 2

[[quotas]]
models = ["{MISTRAL}"]
tokens_per_day = 100

[[quotas]]
models = ["{HAIKU}", "{MICRO}"]
tokens_per_minute = 60000

[[quotas]]
models = ["{NOVA}"]
profiles = ["*"]
requests_per_minute = 1

[[quotas]]
models = ["{COHERE}"]
per_identity = true
requests_per_minute = 1
""")
    # Every request is cut to 256 tokens for the served model (docs/configuration.md, "Context
    # fitting"): quotas count what was sent, and the test's large requests stay quick to answer.
    srv = start_server(
        folder, "quotas", env={"OUTCROP_CONTEXT_LENGTH": "1024", "OUTCROP_FIT_TOKENS": "256"},
        args=["--config", str(folder / "outcrop.toml")],
    )  # fmt: skip
    yield srv
    stop_server(srv)


def client(
    server: Server, key: tuple[str, str] = ROOT, service: str = "bedrock-runtime", **retries: Any
) -> Any:
    return boto3.client(
        service, endpoint_url=server.url, region_name=REGION, aws_access_key_id=key[0],
        aws_secret_access_key=key[1], config=Config(retries=retries or {"max_attempts": 1}, read_timeout=120),
    )  # fmt: skip


def throttled(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    assert response["Error"]["Code"] == "ThrottlingException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    return str(response["Error"]["Message"])


def say(runtime: Any, model: str, text: str = "Hi", **kwargs: Any) -> dict[str, Any]:
    return dict(
        runtime.converse(modelId=model, messages=[user(text)], inferenceConfig={"maxTokens": 1}, **kwargs)
    )


def test_requests_per_minute(limited: Server) -> None:
    runtime = client(limited)
    say(runtime, LLAMA)
    say(runtime, LLAMA)
    assert throttled(lambda: say(runtime, LLAMA)) == "Too many requests, please wait before trying again."
    # A stream is refused before it starts: a plain 429, not an event in the stream.
    assert throttled(lambda: runtime.converse_stream(modelId=LLAMA, messages=[user("Hi")]))
    say(runtime, "meta.llama3-70b-instruct-v1:0")  # another model: no quota
    # The AWS CLI says it as it says AWS's.
    done = subprocess.run(
        [str(BIN / "aws"), "bedrock-runtime", "converse", "--model-id", LLAMA, "--messages",
         json.dumps([user("Hi")]), "--endpoint-url", limited.url],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "AWS_ACCESS_KEY_ID": ROOT[0], "AWS_SECRET_ACCESS_KEY": ROOT[1],
             "AWS_DEFAULT_REGION": REGION, "AWS_MAX_ATTEMPTS": "1"},
    )  # fmt: skip
    assert done.returncode != 0
    assert "An error occurred (ThrottlingException) when calling the Converse operation" in done.stderr
    assert "Too many requests, please wait before trying again." in done.stderr


def test_tokens_per_day(limited: Server) -> None:
    runtime = client(limited)
    text = "word " * 50
    billed = runtime.count_tokens(modelId=MISTRAL, input={"converse": {"messages": [user(text)]}})[
        "inputTokens"
    ]
    assert 50 < billed < 100  # 100 a day: one such request fits, a second does not
    say(runtime, MISTRAL, text)
    message = throttled(lambda: say(runtime, MISTRAL, text))
    assert message == "Too many tokens per day, please wait before trying again."


def test_each_application_profile_has_its_own_allowance(limited: Server) -> None:
    control = client(limited, service="bedrock")
    source = {"copyFrom": f"arn:aws:bedrock:{REGION}::foundation-model/{NOVA}"}
    first, second = (
        control.create_inference_profile(inferenceProfileName=name, modelSource=source)["inferenceProfileArn"]
        for name in ("team-a", "team-b")
    )
    runtime = client(limited)
    say(runtime, first)
    say(runtime, second)
    assert throttled(lambda: say(runtime, first))
    say(runtime, NOVA)  # not through a profile: the rule does not apply


def test_each_identity_has_its_own_allowance(limited: Server) -> None:
    alice, bob = client(limited, ALICE), client(limited, BOB)
    say(alice, COHERE)
    assert throttled(lambda: say(alice, COHERE))
    say(bob, COHERE)


def sized(runtime: Any, model: str, tokens: int) -> str:
    """A text whose request bills close to ``tokens`` input tokens (CountTokens says exactly)."""
    text = "word " * tokens
    billed = runtime.count_tokens(modelId=model, input={"converse": {"messages": [user(text)]}})[
        "inputTokens"
    ]
    return "word " * (tokens - (billed - tokens))


@pytest.mark.parametrize("mode, model", [("standard", HAIKU), ("adaptive", MICRO)])
def test_a_burst_just_over_the_quota_is_absorbed_by_retries_and_overload_is_not(
    limited: Server, mode: str, model: str
) -> None:
    """60,000 tokens a minute (1,000 a second): one request takes nearly all of it, the next
    needs about two seconds of refill, which boto3's retries (max_attempts=6, as users set it for
    Bedrock) wait out; a request that needs most of a minute gives up as AWS's would."""
    plain = client(limited)
    drain, medium = sized(plain, model, 59_000), sized(plain, model, 3_000)
    retrying = client(limited, mode=mode, max_attempts=6)
    assert say(retrying, model, drain)["ResponseMetadata"]["RetryAttempts"] == 0
    answer = say(retrying, model, medium)
    assert answer["ResponseMetadata"]["RetryAttempts"] >= 1  # throttled, then let through
    assert answer["usage"]["inputTokens"] > 2_900
    default_retries = client(limited, mode=mode)  # three attempts
    with pytest.raises(ClientError) as caught:
        say(default_retries, model, drain)
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert "reached max retries: 2" in str(caught.value)
    assert "Too many tokens, please wait before trying again." in str(caught.value)


def test_quota_allowances_are_reported(limited: Server) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    say(client(limited), LLAMA.replace("8b", "70b"))
    signed = AWSRequest(method="GET", url=f"{limited.url}/_outcrop/quotas")
    SigV4Auth(Credentials(*ROOT), "bedrock", REGION).add_auth(signed)
    request = urllib.request.Request(signed.url, headers=dict(signed.headers.items()))
    with urllib.request.urlopen(request, timeout=5) as response:
        report = json.load(response)["quotas"]
    llama = next(q for q in report if q["modelId"] == LLAMA)
    assert llama["requestsPerMinute"]["limit"] == 2 and llama["quota"].startswith(LLAMA)
    assert not any(q["modelId"].endswith("70b-instruct-v1:0") for q in report)  # no rule, no allowance


def test_quotas_are_off_by_default(server: Server) -> None:
    runtime = make_client("bedrock-runtime", server.url)
    for _ in range(3):
        say(runtime, LLAMA)
    with urllib.request.urlopen(f"{server.url}/_outcrop/quotas", timeout=5) as response:
        assert json.load(response) == {"quotas": []}


def test_a_quota_without_a_limit_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[[quotas]]\nmodels = ["*"]\n')
    with pytest.raises(
        RuntimeError, match="quota 1: set requests_per_minute, tokens_per_minute or tokens_per_day"
    ):
        start_server(tmp_path, "bad", args=["--config", str(tmp_path / "bad.toml")])
