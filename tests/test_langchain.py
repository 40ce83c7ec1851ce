"""LangChain's Bedrock integrations (langchain-aws) pointed at Outcrop: ChatBedrock, BedrockLLM
and BedrockEmbeddings build each family's native body themselves, so these check that what
Outcrop answers is what their parsers expect."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from conftest import REGION, Server

langchain_aws = pytest.importorskip("langchain_aws")
from langchain_core.messages import HumanMessage, SystemMessage  # noqa: E402


def creds(server: Server) -> dict[str, Any]:
    return {
        "endpoint_url": server.url,
        "region_name": REGION,
        "aws_access_key_id": "AKIDLANGCHAIN",
        "aws_secret_access_key": "langchain-secret",
    }


def cos(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a), np.asarray(b)
    return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))


MESSAGES = [SystemMessage(content="Answer briefly."), HumanMessage(content="What is the capital of France?")]


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("meta.llama3-8b-instruct-v1:0", {"max_gen_len": 16, "temperature": 0}),
        ("us.meta.llama4-scout-17b-instruct-v1:0", {"max_gen_len": 16}),
        ("mistral.mistral-7b-instruct-v0:2", {"max_tokens": 16}),
        ("openai.gpt-oss-20b-1:0", {"max_completion_tokens": 16}),
        ("us.deepseek.r1-v1:0", {"max_tokens": 16}),
    ],
)
def test_chat_bedrock_invoke(server: Server, model: str, kwargs: dict[str, Any]) -> None:
    chat = langchain_aws.ChatBedrock(model_id=model, model_kwargs=kwargs, **creds(server))
    answer = chat.invoke(MESSAGES)
    assert isinstance(answer.content, str) and answer.content.strip()
    usage = answer.usage_metadata
    assert usage is not None and usage["input_tokens"] > 0 and usage["output_tokens"] > 0


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("meta.llama3-8b-instruct-v1:0", {"max_gen_len": 12}),
        ("mistral.mistral-7b-instruct-v0:2", {"max_tokens": 12}),
        ("qwen.qwen3-32b-v1:0", {"max_tokens": 12}),
    ],
)
def test_chat_bedrock_stream(server: Server, model: str, kwargs: dict[str, Any]) -> None:
    chat = langchain_aws.ChatBedrock(model_id=model, model_kwargs=kwargs, streaming=True, **creds(server))
    pieces = [chunk.content for chunk in chat.stream(MESSAGES)]
    assert len(pieces) > 1
    assert "".join(str(p) for p in pieces).strip()


def test_chat_bedrock_nova_goes_through_converse(server: Server) -> None:
    chat = langchain_aws.ChatBedrock(model_id="us.amazon.nova-lite-v1:0", max_tokens=12, **creds(server))
    answer = chat.invoke(MESSAGES)
    assert str(answer.content).strip()


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("amazon.titan-text-express-v1", {"maxTokenCount": 16, "temperature": 0}),
        ("meta.llama3-8b-instruct-v1:0", {"max_gen_len": 16}),
        ("mistral.mixtral-8x7b-instruct-v0:1", {"max_tokens": 16}),
    ],
)
def test_bedrock_llm(server: Server, model: str, kwargs: dict[str, Any]) -> None:
    llm = langchain_aws.BedrockLLM(model_id=model, model_kwargs=kwargs, **creds(server))
    assert llm.invoke("Name a color.").strip()


def test_bedrock_llm_stream_titan(server: Server) -> None:
    llm = langchain_aws.BedrockLLM(
        model_id="amazon.titan-text-lite-v1",
        model_kwargs={"maxTokenCount": 12},
        streaming=True,
        **creds(server),
    )
    pieces = list(llm.stream("Say hello."))
    assert len(pieces) > 1 and "".join(pieces).strip()


@pytest.mark.parametrize(
    ("model", "extra"),
    [
        ("amazon.titan-embed-text-v2:0", {"dimensions": 512, "normalize": True}),
        ("amazon.titan-embed-text-v1", {}),
        ("cohere.embed-english-v3", {}),
        ("cohere.embed-v4:0", {"dimensions": 256}),
    ],
)
def test_bedrock_embeddings(server: Server, model: str, extra: dict[str, Any]) -> None:
    embedder = langchain_aws.BedrockEmbeddings(model_id=model, **extra, **creds(server))
    documents = embedder.embed_documents(
        ["Paris is the capital of France.", "Bananas are yellow fruit.", "The Louvre museum is in Paris."]
    )
    assert len(documents) == 3
    query = embedder.embed_query("Which city is France's capital?")
    assert len(query) == len(documents[0])
    if "dimensions" in extra:
        assert len(query) == extra["dimensions"]
    scores = [cos(query, d) for d in documents]
    assert scores[0] > scores[1] + 0.2
