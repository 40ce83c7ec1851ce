"""Every non-Anthropic text family over InvokeModel / InvokeModelWithResponseStream, through boto3
against the real server and model: the bodies real programs send (AWS's code examples per
provider), the native response and stream shapes, tool calls, CountTokens, and each family's
bad input with Bedrock's message. Then Converse's per-model refusals, and fast unit tests of
the prompt-markup reader and the schema checker."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from outcrop.catalog import Catalog
from outcrop.formats.capabilities import check_converse, features
from outcrop.formats.prompt_markup import parse_prompt
from outcrop.protocol.errors import ValidationException

TAIL = ", please reformat your input and try again."
METRICS = "amazon-bedrock-invocationMetrics"
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City name", "maxLength": 40}},
    "required": ["city"],
}
# DeepSeek's own chat tokens use FULLWIDTH VERTICAL LINE and LOWER ONE EIGHTH BLOCK.
DEEPSEEK_PROMPT = (
    "<\uff5cbegin\u2581of\u2581sentence\uff5c><\uff5cUser\uff5c>Say hello.<\uff5cAssistant\uff5c><think>\n"
)
DEEPSEEK_CHAT = "<\uff5cbegin\u2581of\u2581sentence\uff5c>Sys<\uff5cUser\uff5c>Hello<\uff5cAssistant\uff5c>"
LLAMA3_PROMPT = (
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer in one short sentence."
    "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
)


def invoke(runtime: Any, model: str, body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = runtime.invoke_model(
        modelId=model, body=raw, contentType="application/json", accept="application/json"
    )
    return json.loads(response["body"].read()), response["ResponseMetadata"]["HTTPHeaders"]


def stream(runtime: Any, model: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = runtime.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))
    chunks = []
    for event in response["body"]:
        assert "chunk" in event, event
        chunks.append(json.loads(event["chunk"]["bytes"]))
    return chunks


def refused(runtime: Any, model: str, body: Any) -> str:
    with pytest.raises(ClientError) as caught:
        invoke(runtime, model, body)
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400, error
    assert error["Error"]["Code"] == "ValidationException"
    return str(error["Error"]["Message"])


def check_metrics(chunk: dict[str, Any]) -> None:
    metrics = chunk[METRICS]
    assert metrics["inputTokenCount"] > 0
    assert metrics["outputTokenCount"] >= 0
    assert metrics["invocationLatency"] >= metrics["firstByteLatency"] >= 0


# ---- Meta Llama ---------------------------------------------------------------------------

LLAMA = "meta.llama3-8b-instruct-v1:0"


def test_llama_invoke_reads_chat_tokens_and_answers(runtime: Any) -> None:
    out, headers = invoke(runtime, LLAMA, {"prompt": LLAMA3_PROMPT, "max_gen_len": 24, "temperature": 0})
    assert set(out) == {"generation", "prompt_token_count", "generation_token_count", "stop_reason"}
    assert out["generation"].strip()
    assert "<|" not in out["generation"]
    assert out["stop_reason"] in ("stop", "length")
    assert 0 < out["generation_token_count"] <= 24
    assert headers["x-amzn-bedrock-input-token-count"] == str(out["prompt_token_count"])
    assert headers["x-amzn-bedrock-output-token-count"] == str(out["generation_token_count"])


def test_llama_max_gen_len_is_honoured_with_length(runtime: Any) -> None:
    out, _ = invoke(
        runtime, "us.meta.llama3-1-8b-instruct-v1:0", {"prompt": "Write a long story.", "max_gen_len": 3}
    )
    assert out["stop_reason"] == "length"
    assert out["generation_token_count"] == 3


def test_llama_stream_chunks(runtime: Any) -> None:
    chunks = stream(runtime, LLAMA, {"prompt": LLAMA3_PROMPT, "max_gen_len": 12, "temperature": 0})
    assert chunks[0]["prompt_token_count"] > 0
    assert all(c["prompt_token_count"] is None for c in chunks[1:])
    assert all(c["stop_reason"] is None for c in chunks[:-1])
    last = chunks[-1]
    assert last["stop_reason"] in ("stop", "length")
    check_metrics(last)
    assert "".join(c["generation"] for c in chunks).strip()


def test_llama4_header_tokens(runtime: Any) -> None:
    prompt = "<|begin_of_text|><|header_start|>user<|header_end|>Say hello.<|eot|><|header_start|>assistant<|header_end|>"
    out, _ = invoke(runtime, "us.meta.llama4-scout-17b-instruct-v1:0", {"prompt": prompt, "max_gen_len": 8})
    assert out["generation"].strip()


def test_llama_bad_bodies(raw_runtime: Any) -> None:
    assert refused(raw_runtime, LLAMA, {"max_tokens": 30}) == (
        f"Malformed input request: #: required key [prompt] not found#: extraneous key [max_tokens] is not permitted{TAIL}"
    )
    assert refused(raw_runtime, LLAMA, {"prompt": "x", "max_gen_len": 0, "temperature": "hot"}) == (
        "Malformed input request: #/max_gen_len: 0 is not greater or equal to 1#/temperature: expected type: "
        f"Number, found: String{TAIL}"
    )
    assert refused(raw_runtime, LLAMA, {"prompt": "x", "top_p": 1.5}) == (
        f"Malformed input request: #/top_p: 1.5 is not less or equal to 1{TAIL}"
    )
    assert refused(raw_runtime, LLAMA, b"{not json") == f"Malformed input request{TAIL}"
    assert refused(raw_runtime, LLAMA, [1, 2]) == (
        f"Malformed input request: #: expected type: JSONObject, found: JSONArray{TAIL}"
    )


# ---- Mistral ------------------------------------------------------------------------------

MISTRAL = "mistral.mistral-7b-instruct-v0:2"
MISTRAL_LARGE = "mistral.mistral-large-2407-v1:0"


def test_mistral_text_completion(runtime: Any) -> None:
    body = {"prompt": "<s>[INST] Name one fruit. [/INST]", "max_tokens": 12, "temperature": 0.5, "top_k": 50}
    out, _ = invoke(runtime, MISTRAL, body)
    assert list(out) == ["outputs"]
    assert out["outputs"][0]["text"].strip()
    assert out["outputs"][0]["stop_reason"] in ("stop", "length")


def test_mistral_stop_sequence(runtime: Any) -> None:
    out, _ = invoke(
        runtime,
        MISTRAL,
        {"prompt": "[INST] Count from 1 to 10 with commas. [/INST]", "max_tokens": 40, "stop": [","]},
    )
    assert "," not in out["outputs"][0]["text"]


def test_mistral_stream(runtime: Any) -> None:
    chunks = stream(
        runtime, "mistral.mixtral-8x7b-instruct-v0:1", {"prompt": "[INST] Hi [/INST]", "max_tokens": 8}
    )
    assert all(c["outputs"][0]["stop_reason"] is None for c in chunks[:-1])
    assert chunks[-1]["outputs"][0]["stop_reason"] in ("stop", "length")
    check_metrics(chunks[-1])


def test_mistral_large_forced_tool_cut_off_keeps_its_arguments_as_written(runtime: Any) -> None:
    body = {
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}],
        "tool_choice": "any",
        "max_tokens": 14,
        "temperature": 0,
    }
    out, _ = invoke(runtime, MISTRAL_LARGE, body)
    choice = out["choices"][0]
    assert choice["stop_reason"] == "length"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    arguments = call["function"]["arguments"]
    assert arguments.startswith("{") and not arguments.rstrip().endswith("}")  # as far as it went


def test_mistral_large_chat_form_with_forced_tool(runtime: Any) -> None:
    body = {
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [
            {
                "type": "function",
                "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER},
            }
        ],
        "tool_choice": "any",
        "max_tokens": 60,
    }
    out, _ = invoke(runtime, MISTRAL_LARGE, body)
    choice = out["choices"][0]
    assert choice["stop_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert len(call["id"]) == 9 and call["id"].isalnum()
    assert call["function"]["name"] == "get_weather"
    assert isinstance(json.loads(call["function"]["arguments"])["city"], str)


def test_mistral_large_chat_stream(runtime: Any) -> None:
    chunks = stream(
        runtime, MISTRAL_LARGE, {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}
    )
    assert chunks[0]["choices"][0]["message"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["stop_reason"] in ("stop", "length")
    check_metrics(chunks[-1])


def test_mistral_bad_bodies(raw_runtime: Any) -> None:
    assert refused(raw_runtime, MISTRAL, {"prompt": "hi", "max_gen_len": 20}) == (
        f"Malformed input request: #: extraneous key [max_gen_len] is not permitted{TAIL}"
    )
    assert refused(raw_runtime, MISTRAL, {"prompt": "hi", "top_k": 500}) == (
        f"Malformed input request: #/top_k: 500 is not less or equal to 200{TAIL}"
    )
    # the chat form is for Mistral Large 2 only: a 7B model refuses messages
    assert "required key [prompt] not found" in refused(
        raw_runtime, MISTRAL, {"messages": [{"role": "user", "content": "x"}]}
    )


# ---- Amazon Titan Text ----------------------------------------------------------------------

TITAN = "amazon.titan-text-express-v1"


def test_titan_text(runtime: Any) -> None:
    body = {
        "inputText": "User: Name a color.\nBot:",
        "textGenerationConfig": {"maxTokenCount": 16, "temperature": 0, "topP": 0.9},
    }
    out, _ = invoke(runtime, TITAN, body)
    assert out["inputTextTokenCount"] > 0
    result = out["results"][0]
    assert result["outputText"].strip()
    assert 0 < result["tokenCount"] <= 16
    assert result["completionReason"] in ("FINISH", "LENGTH")


def test_titan_stream(runtime: Any) -> None:
    chunks = stream(
        runtime,
        "amazon.titan-text-lite-v1",
        {"inputText": "Hello", "textGenerationConfig": {"maxTokenCount": 6}},
    )
    assert all(c["index"] == 0 and c["completionReason"] is None for c in chunks[:-1])
    assert chunks[-1]["completionReason"] in ("FINISH", "LENGTH")
    assert chunks[-1]["totalOutputTextTokenCount"] == chunks[-1][METRICS]["outputTokenCount"]
    check_metrics(chunks[-1])


def test_titan_bad_bodies(raw_runtime: Any) -> None:
    message = refused(
        raw_runtime,
        TITAN,
        {"inputText": "", "textGenerationConfig": {"maxTokenCount": 9000, "max_tokens": 3}},
    )
    assert message == (
        "Malformed input request: #/inputText: expected minLength: 1, actual: 0#/textGenerationConfig: extraneous key "
        f"[max_tokens] is not permitted#/textGenerationConfig/maxTokenCount: 9000 is not less or equal to 8192{TAIL}"
    )
    assert refused(
        raw_runtime,
        "amazon.titan-text-lite-v1",
        {"inputText": "x", "textGenerationConfig": {"maxTokenCount": 4097}},
    ) == (
        f"Malformed input request: #/textGenerationConfig/maxTokenCount: 4097 is not less or equal to 4096{TAIL}"
    )
    assert refused(raw_runtime, TITAN, {"prompt": "hi"}) == (
        f"Malformed input request: #: required key [inputText] not found#: extraneous key [prompt] is not permitted{TAIL}"
    )


# ---- Amazon Nova ----------------------------------------------------------------------------

NOVA = "us.amazon.nova-lite-v1:0"


def test_nova_invoke(runtime: Any) -> None:
    body = {
        "schemaVersion": "messages-v1",
        "system": [{"text": "Answer briefly."}],
        "messages": [{"role": "user", "content": [{"text": "What is the capital of France?"}]}],
        "inferenceConfig": {"max_new_tokens": 16, "temperature": 0, "top_p": 0.9, "top_k": 20},
    }
    out, _ = invoke(runtime, NOVA, body)
    assert out["output"]["message"]["role"] == "assistant"
    assert out["output"]["message"]["content"][0]["text"].strip()
    assert out["stopReason"] in ("end_turn", "max_tokens")
    usage = out["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]


def test_nova_2_spelling_and_stream(runtime: Any) -> None:
    body = {
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
        "inferenceConfig": {"maxTokens": 8, "topP": 0.5},
    }
    chunks = stream(runtime, "global.amazon.nova-2-lite-v1:0", body)
    assert chunks[0] == {"messageStart": {"role": "assistant"}}
    deltas = [c["contentBlockDelta"]["delta"]["text"] for c in chunks if "contentBlockDelta" in c]
    assert "".join(deltas).strip()
    kinds = [next(iter(c)) for c in chunks]
    assert kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert (
        chunks[-1]["metadata"]["usage"]["outputTokens"] == len(deltas)
        or chunks[-1]["metadata"]["usage"]["outputTokens"] > 0
    )
    check_metrics(chunks[-1])


def test_nova_tool_use_invoke_and_stream(runtime: Any) -> None:
    body = {
        "messages": [{"role": "user", "content": [{"text": "What's the weather in Paris?"}]}],
        "inferenceConfig": {"max_new_tokens": 60},
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "get_weather",
                        "description": "Weather",
                        "inputSchema": {"json": WEATHER},
                    }
                }
            ],
            "toolChoice": {"any": {}},
        },
    }
    out, _ = invoke(runtime, NOVA, body)
    assert out["stopReason"] == "tool_use"
    use = out["output"]["message"]["content"][-1]["toolUse"]
    assert use["name"] == "get_weather" and use["toolUseId"].startswith("tooluse_")
    assert isinstance(use["input"]["city"], str)
    chunks = stream(runtime, NOVA, body)
    start = next(c["contentBlockStart"] for c in chunks if "contentBlockStart" in c)
    assert start["start"]["toolUse"]["name"] == "get_weather"
    pieces = [c["contentBlockDelta"]["delta"]["toolUse"]["input"] for c in chunks if "contentBlockDelta" in c]
    assert isinstance(json.loads("".join(pieces))["city"], str)
    assert {"messageStop": {"stopReason": "tool_use"}} in chunks


def test_nova_tool_result_turn(runtime: Any) -> None:
    body = {
        "messages": [
            {"role": "user", "content": [{"text": "Weather in Paris?"}]},
            {
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}}
                ],
            },
            {
                "role": "user",
                "content": [{"toolResult": {"toolUseId": "t1", "content": [{"json": {"c": 21}}]}}],
            },
        ],
        "inferenceConfig": {"max_new_tokens": 10},
        "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": WEATHER}}}]},
    }
    out, _ = invoke(runtime, NOVA, body)
    assert out["stopReason"] in ("end_turn", "max_tokens", "tool_use")


def test_nova_bad_bodies(raw_runtime: Any) -> None:
    ok = [{"role": "user", "content": [{"text": "Hi"}]}]
    assert refused(raw_runtime, NOVA, {"messages": ok, "top_p": 0.5}) == (
        f"Malformed input request: #: extraneous key [top_p] is not permitted{TAIL}"
    )
    assert refused(raw_runtime, NOVA, {"inputText": "hi", "textGenerationConfig": {}}) == (
        "Malformed input request: #: required key [messages] not found#: extraneous key [inputText] is not "
        f"permitted#: extraneous key [textGenerationConfig] is not permitted{TAIL}"
    )
    assert refused(raw_runtime, NOVA, {"messages": ok, "inferenceConfig": {"temperature": 2}}) == (
        f"Malformed input request: #/inferenceConfig/temperature: 2 is not less or equal to 1{TAIL}"
    )
    assert refused(
        raw_runtime, NOVA, {"messages": [{"role": "assistant", "content": [{"text": "Hi"}]}]}
    ).startswith("A conversation must start with a user message.")


# ---- Cohere Command R -----------------------------------------------------------------------

COMMAND_R = "cohere.command-r-v1:0"


def test_cohere_command_r_reads_history_preamble_documents(runtime: Any) -> None:
    body = {
        "message": "And what is its capital?",
        "chat_history": [
            {"role": "USER", "message": "Name a country in Europe."},
            {"role": "CHATBOT", "message": "France."},
        ],
        "preamble": "You answer in one word.",
        "documents": [{"title": "Atlas", "snippet": "Paris is the capital of France."}],
        "max_tokens": 12,
        "temperature": 0,
    }
    out, headers = invoke(runtime, COMMAND_R, body)
    assert out["text"].strip()
    assert out["finish_reason"] in ("COMPLETE", "MAX_TOKENS")
    assert out["chat_history"][-2:] == [
        {"role": "USER", "message": "And what is its capital?"},
        {"role": "CHATBOT", "message": out["text"]},
    ]
    assert out["documents"] == body["documents"]
    _, plain_headers = invoke(runtime, COMMAND_R, {"message": "And what is its capital?", "max_tokens": 1})
    # the history, preamble and documents were all read: the prompt is longer
    assert (
        int(headers["x-amzn-bedrock-input-token-count"])
        > int(plain_headers["x-amzn-bedrock-input-token-count"]) + 20
    )


def test_cohere_stream_events(runtime: Any) -> None:
    chunks = stream(runtime, "cohere.command-r-plus-v1:0", {"message": "Hi", "max_tokens": 8})
    assert chunks[0]["event_type"] == "stream-start" and chunks[0]["is_finished"] is False
    assert {c["event_type"] for c in chunks[1:-1]} <= {"text-generation"}
    end = chunks[-1]
    assert end["event_type"] == "stream-end" and end["is_finished"] is True
    assert end["response"]["text"] == "".join(c.get("text", "") for c in chunks[1:-1])
    check_metrics(end)


def test_cohere_bad_bodies(raw_runtime: Any) -> None:
    assert refused(raw_runtime, COMMAND_R, {"prompt": "Hello"}) == (
        f"Malformed input request: #: required key [message] not found#: extraneous key [prompt] is not permitted{TAIL}"
    )
    assert refused(
        raw_runtime, COMMAND_R, {"message": "x", "chat_history": [{"role": "BOT", "message": "y"}]}
    ) == (f"Malformed input request: #/chat_history/0/role: BOT is not a valid enum value{TAIL}")


# ---- AI21 Jamba -----------------------------------------------------------------------------

JAMBA = "ai21.jamba-1-5-mini-v1:0"


def test_jamba_chat(runtime: Any) -> None:
    body = {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello."},
        ],
        "max_tokens": 12,
        "temperature": 0.4,
        "top_p": 0.9,
    }
    out, _ = invoke(runtime, JAMBA, body)
    assert out["id"].startswith("chatcmpl-")
    assert out["model"] == "jamba-1-5-mini"
    choice = out["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"].strip()
    assert choice["finish_reason"] in ("stop", "length")
    usage = out["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_jamba_documents_are_read_and_stream(runtime: Any) -> None:
    base = {"messages": [{"role": "user", "content": "Summarise."}], "max_tokens": 1}
    _, plain = invoke(runtime, JAMBA, base)
    _, grounded = invoke(
        runtime,
        JAMBA,
        {**base, "documents": [{"content": "The sky is blue because of Rayleigh scattering: " * 8}]},
    )
    assert (
        int(grounded["x-amzn-bedrock-input-token-count"]) > int(plain["x-amzn-bedrock-input-token-count"]) + 5
    )
    chunks = stream(
        runtime,
        "ai21.jamba-1-5-large-v1:0",
        {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6},
    )
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    check_metrics(chunks[-1])


def test_jamba_n_choices(runtime: Any, raw_runtime: Any) -> None:
    out, headers = invoke(
        runtime, JAMBA, {"messages": [{"role": "user", "content": "Name a fruit."}], "max_tokens": 4, "n": 2}
    )
    assert [c["index"] for c in out["choices"]] == [0, 1]
    assert all(c["message"]["content"] for c in out["choices"])
    assert out["usage"]["completion_tokens"] == int(headers["x-amzn-bedrock-output-token-count"])
    with pytest.raises(ClientError) as caught:
        raw_runtime.invoke_model_with_response_stream(
            modelId=JAMBA, body=json.dumps({"messages": [{"role": "user", "content": "Hi"}], "n": 2})
        )
    assert caught.value.response["Error"]["Message"] == "n must be 1 when streaming."


def test_jamba_bad_bodies(raw_runtime: Any) -> None:
    assert refused(raw_runtime, JAMBA, {"messages": [{"role": "bot", "content": "Hi"}], "n": 17}) == (
        f"Malformed input request: #/messages/0/role: bot is not a valid enum value#/n: 17 is not less or equal to 16{TAIL}"
    )
    assert refused(raw_runtime, JAMBA, {"prompt": "hi"}) == (
        f"Malformed input request: #: required key [messages] not found#: extraneous key [prompt] is not permitted{TAIL}"
    )


# ---- DeepSeek, Writer -----------------------------------------------------------------------


def test_deepseek_r1_prompt(runtime: Any) -> None:
    prompt = DEEPSEEK_PROMPT
    out, _ = invoke(
        runtime, "us.deepseek.r1-v1:0", {"prompt": prompt, "max_tokens": 12, "temperature": 0.5, "top_p": 0.9}
    )
    assert list(out) == ["choices"]
    assert out["choices"][0]["text"].strip()
    assert out["choices"][0]["stop_reason"] in ("stop", "length")
    chunks = stream(runtime, "us.deepseek.r1-v1:0", {"prompt": prompt, "max_tokens": 6})
    assert chunks[-1]["choices"][0]["stop_reason"] in ("stop", "length")
    check_metrics(chunks[-1])


def test_deepseek_bad_bodies(raw_runtime: Any) -> None:
    assert refused(
        raw_runtime, "us.deepseek.r1-v1:0", {"prompt": "x", "max_tokens": 40000, "stop": ["a"] * 11}
    ) == (
        "Malformed input request: #/max_tokens: 40000 is not less or equal to 32768#/stop: expected maximum item "
        f"count: 10, found: 11{TAIL}"
    )


def test_writer_prompt_form(runtime: Any) -> None:
    out, _ = invoke(runtime, "us.writer.palmyra-x5-v1:0", {"prompt": "Say hi.", "max_tokens": 6})
    assert out["choices"][0]["text"].strip()


# ---- OpenAI gpt-oss and other chat-completions families -------------------------------------

GPT_OSS = "openai.gpt-oss-20b-1:0"


def test_gpt_oss_chat_completion(runtime: Any) -> None:
    body = {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}],
        "max_completion_tokens": 12,
        "temperature": 0.3,
    }
    out, _ = invoke(runtime, GPT_OSS, body)
    assert out["object"] == "chat.completion"
    assert out["model"] == GPT_OSS
    assert out["choices"][0]["message"]["content"].strip()
    assert out["choices"][0]["finish_reason"] in ("stop", "length")
    assert out["usage"]["completion_tokens"] <= 12


def test_chat_completions_stream_and_tools(runtime: Any) -> None:
    chunks = stream(
        runtime, "qwen.qwen3-32b-v1:0", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6}
    )
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert chunks[-1]["usage"]["completion_tokens"] == chunks[-1][METRICS]["outputTokenCount"]
    body = {
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}],
        "tool_choice": "required",
        "max_tokens": 60,
    }
    out, _ = invoke(runtime, GPT_OSS, body)
    call = out["choices"][0]["message"]["tool_calls"][0]
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    assert isinstance(json.loads(call["function"]["arguments"])["city"], str)
    chunks = stream(runtime, "deepseek.v3-v1:0", body)  # DeepSeek V3 with messages: chat completions
    pieces = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert pieces[0]["function"]["name"] == "get_weather"
    assert isinstance(json.loads("".join(p["function"]["arguments"] for p in pieces))["city"], str)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_response_format_constrains_the_answer(runtime: Any) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 20},
            "country": {"type": "string", "maxLength": 20},
        },
        "required": ["city", "country"],
        "additionalProperties": False,
    }
    body = {
        "messages": [{"role": "user", "content": "Give the capital of France as JSON."}],
        "max_completion_tokens": 60,
        "response_format": {"type": "json_schema", "json_schema": {"name": "place", "schema": schema}},
    }
    out, _ = invoke(runtime, GPT_OSS, body)
    answer = json.loads(out["choices"][0]["message"]["content"])
    assert set(answer) == {"city", "country"}
    jamba = {
        "messages": [{"role": "user", "content": "Describe a cat as JSON."}],
        "max_tokens": 60,
        "response_format": {"type": "json_object"},
    }
    out, _ = invoke(runtime, JAMBA, jamba)
    if out["choices"][0]["finish_reason"] == "stop":
        assert isinstance(json.loads(out["choices"][0]["message"]["content"]), dict)
    else:
        assert out["choices"][0]["message"]["content"].lstrip().startswith("{")


@pytest.mark.parametrize(
    "model",
    [
        "google.gemma-3-4b-it",
        "minimax.minimax-m2",
        "moonshot.kimi-k2-thinking",
        "nvidia.nemotron-nano-9b-v2",
        "mistral.ministral-3-3b-instruct",
    ],
)
def test_other_chat_completions_families(runtime: Any, model: str) -> None:
    out, _ = invoke(runtime, model, {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
    assert out["choices"][0]["message"]["role"] == "assistant"


def test_chat_completions_bad_bodies(raw_runtime: Any) -> None:
    assert refused(raw_runtime, GPT_OSS, {"messages": [], "foo": 1}) == (
        f"Malformed input request: #: extraneous key [foo] is not permitted#/messages: expected minimum item count: 1, found: 0{TAIL}"
    )
    assert refused(
        raw_runtime, GPT_OSS, {"messages": [{"role": "user", "content": "x"}], "temperature": 3}
    ) == (f"Malformed input request: #/temperature: 3 is not less or equal to 2{TAIL}")


# ---- across families ------------------------------------------------------------------------


def test_count_tokens_for_native_bodies(runtime: Any) -> None:
    for model, body in [
        (LLAMA, {"prompt": LLAMA3_PROMPT}),
        (TITAN, {"inputText": "Hello there"}),
        (COMMAND_R, {"message": "Hello there", "preamble": "Be kind."}),
    ]:
        counted = runtime.count_tokens(modelId=model, input={"invokeModel": {"body": json.dumps(body)}})[
            "inputTokens"
        ]
        _, headers = invoke(runtime, model, {**body, **({"max_gen_len": 1} if model == LLAMA else {})})
        assert counted == int(headers["x-amzn-bedrock-input-token-count"])


def test_models_outcrop_does_not_serve_are_501(raw_runtime: Any) -> None:
    for model in (
        "stability.sd3-5-large-v1:0",
        "amazon.nova-canvas-v1:0",
        "amazon.rerank-v1:0",
        "amazon.nova-sonic-v1:0",
    ):
        with pytest.raises(ClientError) as caught:
            invoke(raw_runtime, model, {"prompt": "x"})
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_streaming_body_error_is_a_plain_400(raw_runtime: Any) -> None:
    with pytest.raises(ClientError) as caught:
        raw_runtime.invoke_model_with_response_stream(modelId=LLAMA, body=json.dumps({"max_tokens": 1}))
    assert caught.value.response["Error"]["Code"] == "ValidationException"


# ---- Converse: what each model refuses --------------------------------------------------------


def converse_refusal(runtime: Any, model: str, **fields: Any) -> str:
    with pytest.raises(ClientError) as caught:
        runtime.converse(modelId=model, **fields)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    return str(caught.value.response["Error"]["Message"])


USER = [{"role": "user", "content": [{"text": "Hi"}]}]
TOOLS = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": WEATHER}}}]}


def test_converse_refuses_what_the_model_cannot_do(runtime: Any) -> None:
    assert converse_refusal(runtime, TITAN, messages=USER, system=[{"text": "Be kind."}]) == (
        "This model doesn't support system messages. Try again without a system message or use a model that "
        "supports system messages."
    )
    assert converse_refusal(runtime, "us.deepseek.r1-v1:0", messages=USER, toolConfig=TOOLS) == (
        "This model doesn't support tool use."
    )
    assert converse_refusal(
        runtime, LLAMA, messages=USER, toolConfig={**TOOLS, "toolChoice": {"any": {}}}
    ).startswith("This model doesn't support")
    image = {"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}}
    assert converse_refusal(
        runtime, "amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": "?"}, image]}]
    ) == ("This model doesn't support the image field for user messages. Remove image and try again.")


def test_converse_works_for_every_family(runtime: Any) -> None:
    for model in (LLAMA, MISTRAL, TITAN, NOVA, COMMAND_R, JAMBA, GPT_OSS, "us.deepseek.r1-v1:0"):
        out = runtime.converse(modelId=model, messages=USER, inferenceConfig={"maxTokens": 4})
        assert out["usage"]["outputTokens"] <= 4, model


def test_capability_check_units() -> None:
    catalog = Catalog("us-east-1", "123456789012")
    titan = catalog.resolve(TITAN)
    with pytest.raises(ValidationException, match="system messages"):
        check_converse(titan, {"system": [{"text": "x"}], "messages": USER})
    check_converse(titan, {"messages": USER})
    mixtral = catalog.resolve("mistral.mixtral-8x7b-instruct-v0:1")
    assert features(mixtral)["systemPrompts"] is False
    command = catalog.resolve(COMMAND_R)
    check_converse(command, {"messages": USER, "toolConfig": TOOLS})
    with pytest.raises(ValidationException, match="streaming mode"):
        check_converse(command, {"messages": USER, "toolConfig": TOOLS}, streaming=True)
    llama = catalog.resolve("meta.llama3-1-70b-instruct-v1:0")
    with pytest.raises(ValidationException, match=r"toolConfig\.toolChoice\.tool field"):
        check_converse(
            llama, {"messages": USER, "toolConfig": {**TOOLS, "toolChoice": {"tool": {"name": "x"}}}}
        )
    nova = catalog.resolve("amazon.nova-pro-v1:0")
    check_converse(
        nova, {"messages": USER, "toolConfig": {**TOOLS, "toolChoice": {"any": {}}}}, streaming=True
    )
    result = {
        "toolResult": {"toolUseId": "t", "content": [{"image": {"format": "png", "source": {"bytes": b""}}}]}
    }
    check_converse(nova, {"messages": [{"role": "user", "content": [result]}]})
    gpt = catalog.resolve(GPT_OSS)
    with pytest.raises(ValidationException, match="image field"):
        check_converse(gpt, {"messages": [{"role": "user", "content": [result]}]})


# ---- units: prompt markup -----------------------------------------------------------------------


def turns(prompt: str) -> tuple[list[str], list[tuple[str, str]]]:
    parsed = parse_prompt(prompt)
    return parsed.system, [(m.role, m.content[0]["text"]) for m in parsed.messages]


def test_prompt_markup_of_each_family() -> None:
    assert turns(LLAMA3_PROMPT) == (
        ["Answer in one short sentence."],
        [("user", "What is the capital of France?")],
    )
    assert turns("<s>[INST] What is 2+2? [/INST] 4</s>[INST] And 3+3? [/INST]") == (
        [],
        [("user", "What is 2+2?"), ("assistant", "4"), ("user", "And 3+3?")],
    )
    assert turns("<<SYS>> Be kind <</SYS>>\n[INST] q [/INST]") == (["Be kind"], [("user", "q")])
    assert turns(DEEPSEEK_CHAT) == (["Sys"], [("user", "Hello")])
    assert turns("\n<|begin_of_sentence|><|User|>Hi<|Assistant|>\n\n") == ([], [("user", "Hi")])
    assert turns("User: hello\nBot:") == ([], [("user", "hello")])
    assert turns(
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    ) == (
        ["S"],
        [("user", "U")],
    )
    assert turns("<|start|>user<|message|>U<|end|><|start|>assistant\n\n") == ([], [("user", "U")])
    assert turns("Just a question") == ([], [("user", "Just a question")])
    # a trailing assistant turn with text is a prefill the model continues
    assert turns(
        "<|start_header_id|>user<|end_header_id|>Hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>Hel"
    )[1][-1] == ("assistant", "Hel")
