"""Guardrails inside inference: Converse, ConverseStream, InvokeModel and
InvokeModelWithResponseStream with a guardrail created through the control plane, on the real
model. Output checks use regexes that any English answer matches (a vowel, a word), so they are
certain to fire whatever the small model writes."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, REGION, SECRET_KEY, Server
from test_guardrails import BLOCKED_IN, BLOCKED_OUT, create, error

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
LLAMA = "meta.llama3-8b-instruct-v1:0"
VERSION = "bedrock-2023-05-31"
CACTUS = {"wordPolicyConfig": {"wordsConfig": [{"text": "cactus"}]}}
# Input only: the model, asked about a cactus, may well say "cactus" back.
CACTUS_IN = {"wordPolicyConfig": {"wordsConfig": [{"text": "cactus", "outputEnabled": False}]}}
NOT_FOUND = "The guardrail identifier or version provided in the request does not exist."


def _output_regex(action: str, pattern: str = r"[A-Za-z]+", name: str = "word") -> dict[str, Any]:
    """A regex that acts on output only: every English answer has a word (and a vowel)."""
    return {
        "sensitiveInformationPolicyConfig": {
            "regexesConfig": [
                {
                    "name": name,
                    "pattern": pattern,
                    "action": action,
                    "inputEnabled": False,
                    "outputEnabled": True,
                }
            ]
        }
    }


def _converse(runtime: Any, gid: str, text: str, trace: str = "enabled", **extra: Any) -> Any:
    return runtime.converse(
        modelId=MODEL,
        messages=[{"role": "user", "content": [{"text": text}]}],
        inferenceConfig={"maxTokens": 24, "temperature": 0},
        guardrailConfig={"guardrailIdentifier": gid, "guardrailVersion": "DRAFT", "trace": trace},
        **extra,
    )


# -- Converse -------------------------------------------------------------------------------------


def test_converse_blocked_input_never_reaches_the_model(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **CACTUS)["guardrailId"]
    out = _converse(runtime, gid, "Tell me about my cactus.")
    assert out["stopReason"] == "guardrail_intervened"
    assert out["output"]["message"]["content"] == [{"text": BLOCKED_IN}]
    assert out["usage"] == {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}
    trace = out["trace"]["guardrail"]
    assert trace["actionReason"] == "Guardrail blocked."
    assert "outputAssessments" not in trace
    words = trace["inputAssessment"][gid]["wordPolicy"]["customWords"]
    assert words == [{"match": "cactus", "action": "BLOCKED", "detected": True}]


def test_converse_passes_clean_input_and_reports_none(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **CACTUS_IN)["guardrailId"]
    out = _converse(runtime, gid, "Say hello.")
    assert out["stopReason"] in ("end_turn", "max_tokens")
    assert out["usage"]["inputTokens"] > 0 and out["usage"]["outputTokens"] > 0
    trace = out["trace"]["guardrail"]
    assert trace["actionReason"] == "No action."
    assert set(trace["inputAssessment"][gid]) == {"invocationMetrics"}
    assert len(trace["outputAssessments"][gid]) == 1
    # trace disabled: no trace member at all
    assert "trace" not in _converse(runtime, gid, "Say hello.", trace="disabled")


def test_converse_blocked_output_never_reaches_the_client(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **_output_regex("BLOCK"))["guardrailId"]
    out = _converse(runtime, gid, "Write one sentence about the sea.", trace="enabled_full")
    assert out["stopReason"] == "guardrail_intervened"
    assert out["output"]["message"]["content"] == [{"text": BLOCKED_OUT}]
    assert out["usage"]["outputTokens"] > 0  # the model did run
    trace = out["trace"]["guardrail"]
    regexes = trace["outputAssessments"][gid][0]["sensitiveInformationPolicy"]["regexes"]
    assert regexes and all(r["action"] == "BLOCKED" and r["detected"] for r in regexes)
    assert trace["modelOutput"] and trace["modelOutput"][0].strip()  # enabled_full shows what was withheld
    plain = _converse(runtime, gid, "Write one sentence about the sea.")
    assert "modelOutput" not in plain["trace"]["guardrail"]  # plain "enabled" never hands it out


def test_converse_masks_output(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **_output_regex("ANONYMIZE", r"[aeiouAEIOU]", "vowel"))["guardrailId"]
    out = _converse(runtime, gid, "Write one sentence about the sea.")
    assert out["stopReason"] == "guardrail_intervened"
    text = out["output"]["message"]["content"][0]["text"]
    assert "{vowel}" in text and not any(v in text.replace("{vowel}", "") for v in "aeiouAEIOU")
    assert out["trace"]["guardrail"]["actionReason"] == "Guardrail masked."


def test_guard_content_limits_what_is_assessed(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **CACTUS_IN)["guardrailId"]
    messages = [
        {
            "role": "user",
            "content": [
                {"text": "My cactus is thirsty."},
                {"guardContent": {"text": {"text": "Is watering once a week enough?"}}},
            ],
        }
    ]
    config = {"guardrailIdentifier": gid, "guardrailVersion": "DRAFT", "trace": "enabled"}
    out = runtime.converse(
        modelId=MODEL, messages=messages, inferenceConfig={"maxTokens": 8}, guardrailConfig=config
    )
    assert out["stopReason"] != "guardrail_intervened"
    coverage = out["trace"]["guardrail"]["inputAssessment"][gid]["invocationMetrics"]["guardrailCoverage"]
    assert coverage["textCharacters"]["guarded"] == len("Is watering once a week enough?")
    messages[0]["content"][1] = {"guardContent": {"text": {"text": "Is my cactus ok?"}}}
    out = runtime.converse(
        modelId=MODEL, messages=messages, inferenceConfig={"maxTokens": 8}, guardrailConfig=config
    )
    assert out["stopReason"] == "guardrail_intervened"


def test_converse_masks_input_before_the_model(bedrock: Any, runtime: Any) -> None:
    pii = {
        "sensitiveInformationPolicyConfig": {"piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"}]}
    }
    gid = create(bedrock, **pii)["guardrailId"]
    greedy = {"maxTokens": 8, "temperature": 0.0}
    plain = runtime.converse(
        modelId=MODEL,
        messages=[{"role": "user", "content": [{"text": "Mail {EMAIL} now."}]}],
        inferenceConfig=greedy,
    )
    sent = [{"role": "user", "content": [{"text": "Mail jane.doe@example.com now."}]}]
    out = runtime.converse(
        modelId=MODEL,
        messages=sent,
        inferenceConfig=greedy,
        guardrailConfig={"guardrailIdentifier": gid, "guardrailVersion": "DRAFT", "trace": "enabled"},
    )
    entities = out["trace"]["guardrail"]["inputAssessment"][gid]["sensitiveInformationPolicy"]["piiEntities"]
    assert entities == [
        {"match": "jane.doe@example.com", "type": "EMAIL", "action": "ANONYMIZED", "detected": True}
    ]
    # The model read the masked text: greedy decoding of the same prompt gives the same answer.
    assert out["output"]["message"]["content"] == plain["output"]["message"]["content"]
    # Usage bills the request as sent, as Bedrock does.
    counted = runtime.count_tokens(modelId=MODEL, input={"converse": {"messages": sent}})["inputTokens"]
    assert out["usage"]["inputTokens"] == counted


def test_unknown_guardrail_and_half_config(bedrock: Any, runtime: Any, raw_runtime: Any) -> None:
    for config in (
        {"guardrailIdentifier": "zzzzzzzzzzzz", "guardrailVersion": "DRAFT"},
        {"guardrailIdentifier": create(bedrock, **CACTUS)["guardrailId"], "guardrailVersion": "7"},
    ):
        with pytest.raises(ClientError) as exc:
            runtime.converse(
                modelId=MODEL,
                messages=[{"role": "user", "content": [{"text": "hi"}]}],
                guardrailConfig=config,
            )
        assert error(exc) == ("ValidationException", NOT_FOUND)
    with pytest.raises(ClientError) as exc:
        raw_runtime.converse(
            modelId=MODEL,
            messages=[{"role": "user", "content": [{"text": "hi"}]}],
            guardrailConfig={"guardrailIdentifier": "abc"},
        )
    assert error(exc)[0] == "ValidationException"


# -- ConverseStream -------------------------------------------------------------------------------


def _stream(runtime: Any, gid: str, text: str, mode: str = "sync") -> list[dict[str, Any]]:
    out = runtime.converse_stream(
        modelId=MODEL,
        messages=[{"role": "user", "content": [{"text": text}]}],
        inferenceConfig={"maxTokens": 24, "temperature": 0},
        guardrailConfig={
            "guardrailIdentifier": gid,
            "guardrailVersion": "DRAFT",
            "trace": "enabled",
            "streamProcessingMode": mode,
        },
    )
    return list(out["stream"])


def _text(events: list[dict[str, Any]]) -> str:
    return "".join(
        e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e
    )


def test_stream_blocked_input(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **CACTUS)["guardrailId"]
    events = _stream(runtime, gid, "cactus please")
    assert _text(events) == BLOCKED_IN
    assert (
        next(e for e in events if "messageStop" in e)["messageStop"]["stopReason"] == "guardrail_intervened"
    )
    metadata = events[-1]["metadata"]
    assert metadata["usage"]["totalTokens"] == 0
    assert metadata["trace"]["guardrail"]["inputAssessment"][gid]["wordPolicy"]["customWords"][0]["detected"]


def test_stream_sync_blocks_output_before_it_is_sent(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **_output_regex("BLOCK"))["guardrailId"]
    events = _stream(runtime, gid, "Write one sentence about the sea.")
    assert _text(events) == BLOCKED_OUT  # nothing the model wrote got through
    assert (
        next(e for e in events if "messageStop" in e)["messageStop"]["stopReason"] == "guardrail_intervened"
    )
    assessments = events[-1]["metadata"]["trace"]["guardrail"]["outputAssessments"][gid]
    assert assessments[-1]["sensitiveInformationPolicy"]["regexes"][0]["action"] == "BLOCKED"


def test_stream_sync_masks_and_async_does_not(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **_output_regex("ANONYMIZE", r"[aeiouAEIOU]", "vowel"))["guardrailId"]
    text = _text(_stream(runtime, gid, "Write one sentence about the sea."))
    assert "{vowel}" in text and not any(v in text.replace("{vowel}", "") for v in "aeiouAEIOU")
    events = _stream(runtime, gid, "Write one sentence about the sea.", mode="async")
    # AWS: no masking in asynchronous mode; the intervention is still reported
    assert "{vowel}" not in _text(events) and any(v in _text(events) for v in "aeiou")
    assert (
        next(e for e in events if "messageStop" in e)["messageStop"]["stopReason"] == "guardrail_intervened"
    )


def test_stream_async_sends_text_then_stops_when_a_check_behind_it_blocks(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **_output_regex("BLOCK"))["guardrailId"]
    prompt = [{"role": "user", "content": [{"text": "Write a long story about a lighthouse keeper."}]}]
    inference = {"maxTokens": 200, "temperature": 0}
    plain = runtime.converse(modelId=MODEL, messages=prompt, inferenceConfig=inference)
    whole = plain["output"]["message"]["content"][0]["text"]
    assert plain["usage"]["outputTokens"] == 200 and len(whole) > 400, "the answer runs past one batch"
    config = {"guardrailIdentifier": gid, "guardrailVersion": "DRAFT", "streamProcessingMode": "async"}
    events = list(
        runtime.converse_stream(
            modelId=MODEL, messages=prompt, inferenceConfig=inference, guardrailConfig=config
        )["stream"]
    )
    sent = _text(events)
    # The first batch went out before its check; the block stopped the rest (no blocked message:
    # the client already has text), and the generation was cut short.
    assert len(sent) >= 200 and whole.startswith(sent) and BLOCKED_OUT not in sent
    assert (
        next(e for e in events if "messageStop" in e)["messageStop"]["stopReason"] == "guardrail_intervened"
    )
    assert events[-1]["metadata"]["usage"]["outputTokens"] < 200


# -- InvokeModel ----------------------------------------------------------------------------------


def _claude(text: str, **extra: Any) -> bytes:
    body = {
        "anthropic_version": VERSION,
        "max_tokens": 24,
        "temperature": 0,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }
    return json.dumps(body).encode()


def test_invoke_model_blocked_input(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **CACTUS)["guardrailId"]
    out = runtime.invoke_model(
        modelId=MODEL,
        body=_claude("my cactus"),
        guardrailIdentifier=gid,
        guardrailVersion="DRAFT",
        trace="ENABLED",
    )
    headers = out["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-guardrailaction"] == "INTERVENED"
    assert headers["x-amzn-bedrock-input-token-count"] == "0"
    body = json.loads(out["body"].read())
    assert body["content"] == [{"type": "text", "text": BLOCKED_IN}]
    assert body["amazon-bedrock-guardrailAction"] == "INTERVENED"
    trace = body["amazon-bedrock-trace"]["guardrail"]
    assert trace["actionReason"] == "Guardrail blocked."
    assert trace["input"][gid]["wordPolicy"]["customWords"][0]["match"] == "cactus"


def test_invoke_model_masks_output_and_reports_none_when_clean(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **_output_regex("ANONYMIZE", r"[aeiouAEIOU]", "vowel"))["guardrailId"]
    out = runtime.invoke_model(
        modelId=MODEL,
        body=_claude("Write a sentence about the sea."),
        guardrailIdentifier=gid,
        guardrailVersion="DRAFT",
    )
    body = json.loads(out["body"].read())
    assert body["amazon-bedrock-guardrailAction"] == "INTERVENED"
    assert "amazon-bedrock-trace" not in body  # no trace header
    assert "{vowel}" in body["content"][0]["text"]
    clean = create(bedrock, **CACTUS_IN)["guardrailId"]
    out = runtime.invoke_model(
        modelId=MODEL,
        body=_claude("Say hi."),
        guardrailIdentifier=clean,
        guardrailVersion="DRAFT",
        trace="ENABLED",
    )
    body = json.loads(out["body"].read())
    assert body["amazon-bedrock-guardrailAction"] == "NONE"
    assert body["amazon-bedrock-trace"]["guardrail"]["actionReason"] == "No action."


def test_invoke_model_input_tags_limit_what_is_assessed(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **CACTUS_IN)["guardrailId"]
    tag = "amazon-bedrock-guardrails-guardContent_abc"
    config = {"amazon-bedrock-guardrailConfig": {"tagSuffix": "abc"}}
    safe = _claude(f"My cactus asks: <{tag}>what is two plus two?</{tag}>", **config)
    out = runtime.invoke_model(modelId=MODEL, body=safe, guardrailIdentifier=gid, guardrailVersion="DRAFT")
    assert json.loads(out["body"].read())["amazon-bedrock-guardrailAction"] == "NONE"
    caught = _claude(f"Hello: <{tag}>is my cactus ok?</{tag}>", **config)
    out = runtime.invoke_model(modelId=MODEL, body=caught, guardrailIdentifier=gid, guardrailVersion="DRAFT")
    assert json.loads(out["body"].read())["amazon-bedrock-guardrailAction"] == "INTERVENED"
    with pytest.raises(ClientError) as exc:  # the config without a guardrail
        runtime.invoke_model(modelId=MODEL, body=safe)
    assert error(exc)[0] == "ValidationException"


def test_invoke_model_other_family_blocked_output(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **_output_regex("BLOCK"))["guardrailId"]
    body = json.dumps({"prompt": "Write a sentence about the sea.", "max_gen_len": 24, "temperature": 0})
    out = runtime.invoke_model(
        modelId=LLAMA, body=body, guardrailIdentifier=gid, guardrailVersion="DRAFT", trace="ENABLED"
    )
    answer = json.loads(out["body"].read())
    assert answer["generation"] == BLOCKED_OUT
    assert answer["amazon-bedrock-guardrailAction"] == "INTERVENED"
    assert answer["amazon-bedrock-trace"]["guardrail"]["outputs"][0][gid]["sensitiveInformationPolicy"]
    assert "modelOutput" not in answer["amazon-bedrock-trace"]["guardrail"]


def _chunks(out: Any) -> list[dict[str, Any]]:
    return [json.loads(e["chunk"]["bytes"]) for e in out["body"]]


def test_invoke_stream_puts_action_and_trace_on_the_last_chunk(bedrock: Any, runtime: Any) -> None:
    gid = create(bedrock, **_output_regex("BLOCK"))["guardrailId"]
    out = runtime.invoke_model_with_response_stream(
        modelId=MODEL,
        body=_claude("Write a sentence about the sea."),
        guardrailIdentifier=gid,
        guardrailVersion="DRAFT",
        trace="ENABLED",
    )
    chunks = _chunks(out)
    text = "".join(c["delta"].get("text", "") for c in chunks if c["type"] == "content_block_delta")
    assert text == BLOCKED_OUT
    assert chunks[-1]["type"] == "message_stop"
    assert chunks[-1]["amazon-bedrock-guardrailAction"] == "INTERVENED"
    assert chunks[-1]["amazon-bedrock-trace"]["guardrail"]["outputs"]
    assert all("amazon-bedrock-guardrailAction" not in c for c in chunks[:-1])

    blocked = create(bedrock, **CACTUS)["guardrailId"]
    out = runtime.invoke_model_with_response_stream(
        modelId=LLAMA,
        body=json.dumps({"prompt": "cactus", "max_gen_len": 8}),
        guardrailIdentifier=blocked,
        guardrailVersion="DRAFT",
    )
    chunks = _chunks(out)
    assert "".join(c.get("generation", "") for c in chunks) == BLOCKED_IN
    assert chunks[-1]["amazon-bedrock-guardrailAction"] == "INTERVENED"
    out = runtime.invoke_model_with_response_stream(
        modelId=MODEL, body=_claude("cactus"), guardrailIdentifier=blocked, guardrailVersion="DRAFT"
    )
    chunks = _chunks(out)
    assert chunks[0]["type"] == "message_start"
    assert chunks[0]["message"]["usage"]["input_tokens"] == 0
    text = "".join(c["delta"].get("text", "") for c in chunks if c["type"] == "content_block_delta")
    assert text == BLOCKED_IN
    assert (
        chunks[-1]["type"] == "message_stop" and chunks[-1]["amazon-bedrock-guardrailAction"] == "INTERVENED"
    )


# -- Strands --------------------------------------------------------------------------------------


def test_strands_sees_guardrail_intervened_and_redacts(
    server: Server, bedrock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    strands = pytest.importorskip("strands")
    from strands.models import BedrockModel
    from strands.types.exceptions import MaxTokensReachedException

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    gid = create(bedrock, **CACTUS_IN)["guardrailId"]
    model = BedrockModel(
        model_id=MODEL,
        endpoint_url=server.url,
        region_name=REGION,
        max_tokens=32,
        temperature=0,
        guardrail_id=gid,
        guardrail_version="DRAFT",
        guardrail_redact_output=True,
    )
    agent = strands.Agent(model=model, callback_handler=None)
    result = agent("How often should I water my cactus?")
    assert result.stop_reason == "guardrail_intervened"
    assert agent.messages[0]["content"] == [{"text": "[User input redacted.]"}]
    assert agent.messages[-1]["content"] == [{"text": "[Assistant output redacted.]"}]

    clean = strands.Agent(model=model, callback_handler=None)
    with contextlib.suppress(MaxTokensReachedException):  # the small model may ramble: not a block
        assert clean("Say hello.").stop_reason == "end_turn"
    assert clean.messages[0]["content"] == [{"text": "Say hello."}]
