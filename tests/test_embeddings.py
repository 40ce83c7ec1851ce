"""Embeddings with real vectors: Titan Text Embeddings v1/v2, Titan Multimodal and Nova 2
embeddings (text), Cohere Embed v3/v4, through boto3 against the real server; then the NumPy
MiniLM against the cosines sentence-transformers gives, and the dimension projection."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from outcrop.engines.embeddings.engine import EmbeddingEngine
from outcrop.engines.embeddings.projection import matrix, project

TAIL = ", please reformat your input and try again."
TITAN_V2 = "amazon.titan-embed-text-v2:0"
TITAN_V1 = "amazon.titan-embed-text-v1"
COHERE_V3 = "cohere.embed-english-v3"
COHERE_V4 = "cohere.embed-v4:0"

CAT = "The cat sat on the mat."
KITTEN = "A kitten is resting on a rug."
MARKETS = "Stock markets fell sharply after the central bank raised interest rates."


def invoke(runtime: Any, model: str, body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = runtime.invoke_model(modelId=model, body=raw, contentType="application/json", accept="*/*")
    return json.loads(response["body"].read()), response["ResponseMetadata"]["HTTPHeaders"]


def cos(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a), np.asarray(b)
    return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))


def refused(runtime: Any, model: str, body: Any, status: int = 400) -> str:
    with pytest.raises(ClientError) as caught:
        invoke(runtime, model, body)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    return str(caught.value.response["Error"]["Message"])


def titan(runtime: Any, text: str, **fields: Any) -> dict[str, Any]:
    return invoke(runtime, TITAN_V2, {"inputText": text, **fields})[0]


# ---- Titan --------------------------------------------------------------------------------


def test_titan_v2_default_vector(runtime: Any) -> None:
    out, headers = invoke(runtime, TITAN_V2, {"inputText": "hello world"})
    assert set(out) == {"embedding", "inputTextTokenCount", "embeddingsByType"}
    assert len(out["embedding"]) == 1024
    assert out["embeddingsByType"] == {"float": out["embedding"]}
    assert abs(np.linalg.norm(out["embedding"]) - 1) < 1e-4
    assert out["inputTextTokenCount"] == 2
    assert headers["x-amzn-bedrock-input-token-count"] == "2"


@pytest.mark.parametrize("dimensions", [256, 512, 1024])
def test_titan_v2_similar_texts_score_higher(runtime: Any, dimensions: int) -> None:
    vectors = [titan(runtime, t, dimensions=dimensions)["embedding"] for t in (CAT, KITTEN, MARKETS)]
    assert all(len(v) == dimensions for v in vectors)
    close, far = cos(vectors[0], vectors[1]), cos(vectors[0], vectors[2])
    assert close > 0.5
    assert far < 0.25
    assert close - far > 0.4


def test_titan_v2_dimensions_keep_cosines(runtime: Any) -> None:
    """Up-projection is an isometry (512, 1024: exact); 256 is a projection (approximate)."""
    cosines = {}
    for dimensions in (256, 512, 1024):
        a, b = (
            titan(runtime, t, dimensions=dimensions)["embedding"] for t in ("hello world", "hi there world")
        )
        cosines[dimensions] = cos(a, b)
    assert abs(cosines[1024] - 0.734) < 0.01
    assert abs(cosines[512] - cosines[1024]) < 1e-4
    assert abs(cosines[256] - cosines[1024]) < 0.1


def test_titan_v2_binary_and_normalize(runtime: Any) -> None:
    out = titan(runtime, "hello world", dimensions=512, embeddingTypes=["binary", "float"], normalize=False)
    floats, bits = out["embeddingsByType"]["float"], out["embeddingsByType"]["binary"]
    assert len(bits) == 512 and set(bits) <= {0, 1}
    assert bits == [int(x > 0) for x in floats]
    assert out["embedding"] == floats
    assert np.linalg.norm(floats) > 1.5  # not normalised: the pooled vector's own length
    unit = titan(runtime, "hello world", dimensions=512)["embedding"]
    assert cos(floats, unit) > 0.9999


def test_titan_v1_and_multimodal_text(runtime: Any) -> None:
    out, _ = invoke(runtime, TITAN_V1, {"inputText": CAT})
    assert set(out) == {"embedding", "inputTextTokenCount"} and len(out["embedding"]) == 1536
    kitten, _ = invoke(runtime, "amazon.titan-embed-g1-text-02", {"inputText": KITTEN})
    assert cos(out["embedding"], kitten["embedding"]) > 0.5
    mm, _ = invoke(
        runtime,
        "amazon.titan-embed-image-v1",
        {"inputText": CAT, "embeddingConfig": {"outputEmbeddingLength": 384}},
    )
    assert len(mm["embedding"]) == 384


def test_nova_multimodal_embeddings_text(runtime: Any) -> None:
    body = {
        "taskType": "SINGLE_EMBEDDING",
        "singleEmbeddingParams": {
            "embeddingPurpose": "GENERIC_INDEX",
            "embeddingDimension": 1024,
            "text": {"truncationMode": "END", "value": CAT},
        },
    }
    out, _ = invoke(runtime, "amazon.nova-2-multimodal-embeddings-v1:0", body)
    assert out["embeddings"][0]["embeddingType"] == "TEXT"
    assert len(out["embeddings"][0]["embedding"]) == 1024


def test_long_text_is_read_whole(runtime: Any) -> None:
    cats = [
        "Cats are small domesticated carnivorous mammals.",
        "A kitten sleeps most of the day on a warm blanket.",
        "Cats purr when they are content and groom their fur often.",
        "House cats love to chase toy mice and climb scratching posts.",
    ]
    long = " ".join(cats * 20)  # several 256-token windows
    out = titan(runtime, long)
    assert out["inputTextTokenCount"] > 600
    assert (
        cos(out["embedding"], titan(runtime, KITTEN)["embedding"])
        > cos(out["embedding"], titan(runtime, MARKETS)["embedding"]) + 0.3
    )


def test_titan_bad_bodies(raw_runtime: Any) -> None:
    assert refused(raw_runtime, TITAN_V2, {"text": "x"}) == (
        f"Malformed input request: #: required key [inputText] not found#: extraneous key [text] is not permitted{TAIL}"
    )
    assert refused(raw_runtime, TITAN_V2, {"inputText": "x", "dimensions": 100}) == (
        f"Malformed input request: #/dimensions: 100 is not a valid enum value{TAIL}"
    )
    assert refused(
        raw_runtime, TITAN_V2, {"inputText": "x", "embeddingTypes": ["int8"], "normalize": "yes"}
    ) == (
        "Malformed input request: #/embeddingTypes/0: int8 is not a valid enum value#/normalize: expected type: "
        f"Boolean, found: String{TAIL}"
    )
    assert refused(raw_runtime, TITAN_V2, {"inputText": ""}) == (
        f"Malformed input request: #/inputText: expected minLength: 1, actual: 0{TAIL}"
    )
    assert refused(raw_runtime, TITAN_V1, {"inputText": "x", "dimensions": 256}) == (
        f"Malformed input request: #: extraneous key [dimensions] is not permitted{TAIL}"
    )
    message = refused(raw_runtime, TITAN_V2, {"inputText": "word " * 9000})
    assert message.startswith("400 Bad Request: Too many input tokens. Max input tokens: 8192")


# ---- Cohere -------------------------------------------------------------------------------


def test_cohere_v3_floats_and_retrieval(runtime: Any) -> None:
    documents = [
        "Paris is the capital and largest city of France.",
        "Bananas are rich in potassium.",
        "The Pacific is the largest ocean on Earth.",
    ]
    docs, _ = invoke(runtime, COHERE_V3, {"texts": documents, "input_type": "search_document"})
    assert docs["response_type"] == "embeddings_floats"
    assert docs["texts"] == documents
    assert len(docs["id"]) == 36
    assert len(docs["embeddings"]) == 3 and all(len(v) == 1024 for v in docs["embeddings"])
    query, _ = invoke(
        runtime, COHERE_V3, {"texts": ["What is the capital of France?"], "input_type": "search_query"}
    )
    scores = [cos(query["embeddings"][0], d) for d in docs["embeddings"]]
    assert scores.index(max(scores)) == 0
    assert scores[0] > max(scores[1:]) + 0.2


def test_cohere_v3_embedding_types(runtime: Any) -> None:
    body = {
        "texts": [CAT, MARKETS],
        "input_type": "clustering",
        "embedding_types": ["float", "int8", "uint8", "binary", "ubinary"],
    }
    out, _ = invoke(runtime, "cohere.embed-multilingual-v3", body)
    assert out["response_type"] == "embeddings_by_type"
    by = out["embeddings"]
    floats = np.asarray(by["float"])
    assert floats.shape == (2, 1024)
    int8 = np.asarray(by["int8"])
    assert int8.shape == (2, 1024) and int8.min() >= -128 and int8.max() <= 127
    assert (np.asarray(by["uint8"]) == int8 + 128).all()
    assert cos(list(int8[0]), list(floats[0])) > 0.99  # quantisation keeps direction
    ubinary = np.asarray(by["ubinary"])
    assert ubinary.shape == (2, 128) and ubinary.min() >= 0 and ubinary.max() <= 255
    assert (ubinary == np.packbits(floats > 0, axis=1)).all()
    assert (np.asarray(by["binary"]) == ubinary - 128).all()


def test_cohere_v4_dimensions_and_inputs(runtime: Any) -> None:
    out, _ = invoke(runtime, COHERE_V4, {"texts": [CAT], "input_type": "search_document"})
    assert out["response_type"] == "embeddings_by_type"
    assert len(out["embeddings"]["float"][0]) == 1536
    body = {
        "inputs": [{"content": [{"type": "text", "text": KITTEN}]}],
        "input_type": "search_query",
        "output_dimension": 256,
    }
    small, _ = invoke(runtime, COHERE_V4, body)
    assert len(small["embeddings"]["float"][0]) == 256
    cat_small, _ = invoke(
        runtime, COHERE_V4, {"texts": [CAT], "input_type": "search_document", "output_dimension": 256}
    )
    assert cos(small["embeddings"]["float"][0], cat_small["embeddings"]["float"][0]) > 0.5


def test_cohere_truncate(runtime: Any, raw_runtime: Any) -> None:
    long = "word " * 530
    message = refused(raw_runtime, COHERE_V3, {"texts": [long], "input_type": "search_document"})
    assert "512" in message and "truncate" in message
    end, _ = invoke(
        runtime, COHERE_V3, {"texts": [long + MARKETS], "input_type": "search_document", "truncate": "END"}
    )
    start, _ = invoke(
        runtime, COHERE_V3, {"texts": [long + MARKETS], "input_type": "search_document", "truncate": "START"}
    )
    markets, _ = invoke(runtime, COHERE_V3, {"texts": [MARKETS], "input_type": "search_document"})
    # START drops the beginning, so the ending (about markets) survives; END drops it
    assert cos(start["embeddings"][0], markets["embeddings"][0]) > cos(
        end["embeddings"][0], markets["embeddings"][0]
    )


def test_cohere_bad_bodies(raw_runtime: Any) -> None:
    assert refused(raw_runtime, COHERE_V3, {"texts": ["a"]}) == (
        f"Malformed input request: #: required key [input_type] not found{TAIL}"
    )
    assert refused(raw_runtime, COHERE_V3, {"texts": ["a"] * 97, "input_type": "search_query"}) == (
        f"Malformed input request: #/texts: expected maximum item count: 96, found: 97{TAIL}"
    )
    assert refused(raw_runtime, COHERE_V3, {"texts": ["a"], "input_type": "query"}) == (
        f"Malformed input request: #/input_type: query is not a valid enum value{TAIL}"
    )
    assert refused(
        raw_runtime, COHERE_V4, {"texts": ["a"], "input_type": "search_query", "output_dimension": 100}
    ) == (f"Malformed input request: #/output_dimension: 100 is not a valid enum value{TAIL}")
    images = {"images": ["data:image/png;base64,iVBORw0KGgo="], "input_type": "image"}
    assert "text only" in refused(raw_runtime, COHERE_V3, images, status=501)


def test_embedding_models_do_not_stream(raw_runtime: Any) -> None:
    with pytest.raises(ClientError) as caught:
        raw_runtime.invoke_model_with_response_stream(modelId=TITAN_V2, body=json.dumps({"inputText": "x"}))
    assert caught.value.response["Error"]["Message"] == "The model is unsupported for streaming."


# ---- units --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> EmbeddingEngine:
    return EmbeddingEngine()


def test_minilm_matches_sentence_transformers(engine: EmbeddingEngine) -> None:
    """The cosines sentence-transformers computes for all-MiniLM-L6-v2 (docs/embeddings.md)."""
    vectors = engine.embed_sync(
        ["hello world", "hi there world", "I like to eat bananas in the morning"]
    ).vectors
    assert abs(float(vectors[0] @ vectors[1]) - 0.734) < 0.005
    assert abs(float(vectors[0] @ vectors[2]) - 0.145) < 0.005
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_projection_properties() -> None:
    for native, target in ((384, 512), (384, 1024), (384, 1536), (384, 3072)):
        q = matrix(native, target).astype(np.float64)
        assert np.allclose(q.T @ q, np.eye(native), atol=1e-5)  # orthonormal columns: an isometry
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 384)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = project(x, 256)
    assert y.shape == (20, 256) and np.allclose(np.linalg.norm(y, axis=1), 1, atol=1e-5)
    assert np.array_equal(project(x, 1024), project(x, 1024))  # fixed matrices: stable vectors
