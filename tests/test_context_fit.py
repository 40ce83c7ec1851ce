"""Requests bigger than the served model's window, on every API and family, against the real server.

AWS's own document-understanding examples (Claude, Nova, Llama, Mistral, Cohere, DeepSeek: one
18-page PDF in a Converse document block, about 9K tokens of text) are answered by Bedrock, whose
models read 32K-300K tokens; a default install must answer them too. The PDF here is made in the
test (fpdf2) with the same size and shape; the request is the examples' own.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from fpdf import FPDF

from conftest import Server, make_client, start_server, stop_server

# The examples' model ids (awsdocs/aws-doc-sdk-examples, python/.../bedrock-runtime/models/*/document_understanding.py).
EXAMPLE_MODELS = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "amazon.nova-lite-v1:0",
    "us.meta.llama3-1-8b-instruct-v1:0",
    "mistral.mistral-large-2402-v1:0",
    "cohere.command-r-plus-v1:0",
    "us.deepseek.r1-v1:0",
]
QUESTION = "Briefly compare the models described in this document"
VOCABULARY = (
    "model service card customers responsible intended use accuracy fairness robustness safety "
    "privacy latency throughput evaluation benchmark dataset training multimodal text image video "
    "document reasoning context window tokens prompt output guardrail deployment region governance "
    "transparency limitation mitigation feedback performance testing retrieval agents workflow"
)
WORDS = VOCABULARY.split()


def service_cards_pdf(pages: int = 18, seed: int = 7) -> bytes:
    """An 18-page PDF of about 42,000 characters of English-like text, like the examples' PDF."""
    rng = random.Random(seed)
    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    for page in range(pages):
        pdf.add_page()
        pdf.multi_cell(
            0, 5, f"Section {page + 1}: Model card {chr(65 + page % 4)}", new_x="LMARGIN", new_y="NEXT"
        )
        for _ in range(5):
            sentences = []
            for _ in range(4):
                words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
                words.insert(rng.randrange(len(words)), f"{rng.uniform(0, 100):.1f}%")
                words.insert(
                    rng.randrange(len(words)),
                    f"({rng.choice('ABCDEFGH')}{rng.choice('XYZQ')}-{rng.randint(100, 9999)})",
                )
                sentences.append(" ".join(words).capitalize() + ".")
            pdf.multi_cell(0, 5, " ".join(sentences), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return service_cards_pdf()


def document_request(pdf: bytes, model: str) -> dict[str, Any]:
    return {
        "modelId": model,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": QUESTION},
                    {
                        "document": {
                            "format": "pdf",
                            "name": "Amazon Nova Service Cards",
                            "source": {"bytes": pdf},
                        }
                    },
                ],
            }
        ],
        "inferenceConfig": {"maxTokens": 24, "temperature": 0.3},
    }


def fit_header(headers: dict[str, str]) -> tuple[int, int]:
    read, sent = headers["x-outcrop-context-fit"].split(" tokens read")[0].split(" of ")
    return int(read), int(sent)


@pytest.mark.parametrize("model", EXAMPLE_MODELS)
def test_aws_document_examples_are_answered(runtime: Any, server: Server, pdf: bytes, model: str) -> None:
    request = document_request(pdf, model)
    response = runtime.converse(**request)
    text = response["output"]["message"]["content"]
    assert any(block.get("text", "").strip() for block in text), response
    served = server.health()["models"]["smollm2-135m"]["context_length"]
    usage = response["usage"]["inputTokens"]
    assert usage > served, "the document is bigger than the served model's window"
    read, sent = fit_header(response["ResponseMetadata"]["HTTPHeaders"])
    assert sent == usage and read <= 2048
    counted = runtime.count_tokens(modelId=model, input={"converse": {"messages": request["messages"]}})[
        "inputTokens"
    ]
    assert counted == usage, "CountTokens equals what the same request bills"


def test_a_document_stream_is_fitted_the_same_way(runtime: Any, pdf: bytes) -> None:
    response = runtime.converse_stream(**document_request(pdf, "amazon.nova-lite-v1:0"))
    events = list(response["stream"])
    usage = events[-1]["metadata"]["usage"]["inputTokens"]
    read, sent = fit_header(response["ResponseMetadata"]["HTTPHeaders"])
    assert sent == usage > read and events[-2]["messageStop"]["stopReason"] in ("end_turn", "max_tokens")


# ---- every InvokeModel family, on a server whose window is small --------------------------------


@pytest.fixture(scope="module")
def small_window(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The bundled model served with a 2K window and a 384-token fit budget (both settings), so each
    family's fitting costs a fraction of a second of prefill."""
    srv = start_server(
        tmp_path_factory.mktemp("small-window"),
        "small-window",
        env={"OUTCROP_CONTEXT_LENGTH": "2048", "OUTCROP_FIT_TOKENS": "384", "OUTCROP_PARALLEL": "1"},
    )
    yield srv
    stop_server(srv)


def long_text() -> str:
    rng = random.Random(3)
    return "BEGINNING. " + " ".join(rng.choice(WORDS) for _ in range(4000)) + " THE END."


def family_bodies(pdf: bytes) -> dict[str, dict[str, Any]]:
    text = long_text()
    ask = f"{text}\n\nWhat is this about?"
    return {
        "anthropic.claude-3-haiku-20240307-v1:0": {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 8,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": base64.b64encode(pdf).decode(),
                            },
                        },
                        {"type": "text", "text": QUESTION},
                    ],
                }
            ],
        },
        "amazon.nova-lite-v1:0": {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"text": QUESTION},
                        {
                            "document": {
                                "format": "pdf",
                                "name": "cards",
                                "source": {"bytes": base64.b64encode(pdf).decode()},
                            }
                        },
                    ],
                }
            ],
            "inferenceConfig": {"maxTokens": 8},
        },
        "meta.llama3-8b-instruct-v1:0": {"prompt": ask, "max_gen_len": 8},
        "mistral.mistral-7b-instruct-v0:2": {"prompt": f"<s>[INST] {ask} [/INST]", "max_tokens": 8},
        "cohere.command-r-v1:0": {
            "message": "What is this about?",
            "documents": [{"title": "notes", "snippet": text}],
            "max_tokens": 8,
        },
        "amazon.titan-text-express-v1": {"inputText": ask, "textGenerationConfig": {"maxTokenCount": 8}},
        "ai21.jamba-1-5-mini-v1:0": {"messages": [{"role": "user", "content": ask}], "max_tokens": 8},
        "deepseek.r1-v1:0": {"prompt": ask, "max_tokens": 8},
        "openai.gpt-oss-20b-1:0": {"messages": [{"role": "user", "content": ask}], "max_tokens": 8},
    }


def test_every_family_answers_a_request_bigger_than_the_served_window(
    small_window: Server, pdf: bytes
) -> None:
    runtime = make_client("bedrock-runtime", small_window.url)
    for model, body in family_bodies(pdf).items():
        raw = json.dumps(body).encode()
        response = runtime.invoke_model(modelId=model, body=raw)
        headers = response["ResponseMetadata"]["HTTPHeaders"]
        json.loads(response["body"].read())
        read, sent = fit_header(headers)
        assert read <= 384 < 2048 < sent, model
        assert int(headers["x-amzn-bedrock-input-token-count"]) == sent, model
        counted = runtime.count_tokens(modelId=model, input={"invokeModel": {"body": raw}})["inputTokens"]
        assert counted == sent, model
        stream = runtime.invoke_model_with_response_stream(modelId=model, body=raw)
        chunks = [json.loads(event["chunk"]["bytes"]) for event in stream["body"]]
        assert chunks[-1]["amazon-bedrock-invocationMetrics"]["inputTokenCount"] == sent, model


WEATHER_TOOL = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Get the weather for a city.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 20}},
                "required": ["city"],
            }
        },
    }
}


@pytest.mark.parametrize("choice", [None, {"auto": {}}, {"any": {}}, {"tool": {"name": "get_weather"}}])
def test_converse_count_tokens_matches_billing_for_every_tool_choice(runtime: Any, choice: Any) -> None:
    tools: dict[str, Any] = {"tools": [WEATHER_TOOL]}
    if choice is not None:
        tools["toolChoice"] = choice
    request = {
        "messages": [{"role": "user", "content": [{"text": "What is the weather in Oslo?"}]}],
        "toolConfig": tools,
    }
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    counted = runtime.count_tokens(modelId=model, input={"converse": request})["inputTokens"]
    response = runtime.converse(
        modelId=model, inferenceConfig={"maxTokens": 24, "temperature": 0.0}, **request
    )
    assert response["usage"]["inputTokens"] == counted
