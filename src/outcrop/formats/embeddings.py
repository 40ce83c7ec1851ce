"""Embedding models' InvokeModel bodies: Titan Text Embeddings v1/v2, Titan Multimodal
Embeddings (text), Nova 2 Multimodal Embeddings (text), Cohere Embed v3/v4.

Every one is answered by the same local sentence model (``engines/embeddings``), mapped to the
dimension the Bedrock model promises (``projection.py`` says how similarity is kept):

* Titan Text Embeddings v1: ``inputText`` → ``embedding`` (1536), ``inputTextTokenCount``.
* Titan Text Embeddings v2: ``inputText``, ``dimensions`` (1024/512/256), ``normalize``,
  ``embeddingTypes`` → ``embedding``, ``inputTextTokenCount``, ``embeddingsByType``.
* Titan Multimodal Embeddings (text only): ``inputText``,
  ``embeddingConfig.outputEmbeddingLength`` (1024/384/256) → ``embedding``.
* Nova 2 Multimodal Embeddings (text only): ``taskType: SINGLE_EMBEDDING``,
  ``singleEmbeddingParams`` (``embeddingDimension`` 3072/1024/384/256) → ``embeddings[]``.
* Cohere Embed v3: ``texts``, ``input_type``, ``truncate``, ``embedding_types`` (1024) →
  ``embeddings`` (a list, or by type), ``id``, ``response_type``, ``texts``.
* Cohere Embed v4: also ``inputs``, ``output_dimension`` (1536/1024/512/256), ``max_tokens``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ..catalog import ModelRef
from ..protocol.errors import NotImplementedOperation, ValidationException
from . import body_schema as s
from .codec import request_uuid

IMAGES_UNSUPPORTED = (
    "Outcrop's embedding model reads text only; image, audio and video inputs are not supported."
)
TITAN_MAX_TOKENS = 8192
COHERE_V3_MAX_TOKENS = 512
_COHERE_TYPES = ["float", "int8", "uint8", "binary", "ubinary"]


@dataclass
class EmbedRequest:
    texts: list[str]
    dimensions: int
    style: str  # titan-v1 | titan-v2 | titan-mm | nova-mm | cohere-v3 | cohere-v4
    normalize: bool = True
    types: list[str] = field(default_factory=lambda: ["float"])
    options: dict[str, Any] = field(default_factory=dict)


Truncator = Callable[[str, int, bool], str]


class Embedded(Protocol):
    """What an embedding engine returns for a request's texts."""

    vectors: NDArray[np.float32]  # (n, dimensions), unit length
    token_counts: list[int]

    def raw(self) -> NDArray[np.float32]: ...


Counter = Callable[[list[str]], list[int]]


def _too_many_tokens(count: int, limit: int) -> ValidationException:
    return ValidationException(
        "400 Bad Request: Too many input tokens. Max input tokens: "
        f"{limit}, request input token count: {count}"
    )


TITAN_V1 = s.obj({"inputText": s.STRING}, ("inputText",))
TITAN_V2 = s.obj(
    {
        "inputText": {"type": "string", "minLength": 1, "maxLength": 50000},
        "dimensions": {"type": "integer", "enum": [256, 512, 1024]},
        "normalize": s.BOOLEAN,
        "embeddingTypes": {
            "type": "array",
            "items": {"type": "string", "enum": ["float", "binary"]},
            "minItems": 1,
        },
    },
    ("inputText",),
)
TITAN_MM = s.obj(
    {
        "inputText": {"type": "string", "maxLength": 100000},
        "inputImage": s.STRING,
        "embeddingConfig": s.obj({"outputEmbeddingLength": {"type": "integer", "enum": [256, 384, 1024]}}),
    }
)
NOVA_MM = s.obj(
    {
        "schemaVersion": s.STRING,
        "taskType": {"type": "string", "enum": ["SINGLE_EMBEDDING", "SEGMENTED_EMBEDDING"]},
        "singleEmbeddingParams": s.obj(
            {
                "embeddingPurpose": s.STRING,
                "embeddingDimension": {"type": "integer", "enum": [256, 384, 1024, 3072]},
                "text": s.obj(
                    {
                        "truncationMode": {"type": "string", "enum": ["START", "END", "NONE"]},
                        "value": s.STRING,
                    },
                    ("value",),
                ),
                "image": s.OPEN_OBJECT,
                "audio": s.OPEN_OBJECT,
                "video": s.OPEN_OBJECT,
            },
            ("embeddingPurpose",),
        ),
    },
    ("taskType",),
)
_COHERE_COMMON: dict[str, s.Schema] = {
    "texts": {"type": "array", "items": {"type": "string"}, "maxItems": 96},
    "images": {"type": "array", "items": s.STRING},
    "input_type": {
        "type": "string",
        "enum": ["search_document", "search_query", "classification", "clustering", "image"],
    },
    "embedding_types": {"type": "array", "items": {"type": "string", "enum": _COHERE_TYPES}, "minItems": 1},
}
COHERE_V3 = s.obj(
    {**_COHERE_COMMON, "truncate": {"type": "string", "enum": ["NONE", "START", "END"]}}, ("input_type",)
)
COHERE_V4 = s.obj(
    {
        **_COHERE_COMMON,
        "inputs": {"type": "array", "items": s.OPEN_OBJECT, "maxItems": 96},
        "truncate": {"type": "string", "enum": ["NONE", "LEFT", "RIGHT"]},
        "output_dimension": {"type": "integer", "enum": [256, 512, 1024, 1536]},
        "max_tokens": s.integer(1, 128000),
    },
    ("input_type",),
)


def style_of(ref: ModelRef) -> str | None:
    model = ref.model_id
    if model.startswith(("amazon.titan-embed-text-v1", "amazon.titan-embed-g1-text")):
        return "titan-v1"
    if model.startswith("amazon.titan-embed-text-v2"):
        return "titan-v2"
    if model.startswith("amazon.titan-embed-image"):
        return "titan-mm"
    if model.startswith("amazon.nova-2-multimodal-embeddings"):
        return "nova-mm"
    if model.startswith(("cohere.embed-english-v3", "cohere.embed-multilingual-v3")):
        return "cohere-v3"
    if model.startswith("cohere.embed-v4"):
        return "cohere-v4"
    return None


def parse(raw: bytes, ref: ModelRef, count: Counter, truncate: Truncator) -> EmbedRequest:
    """Check and read an embedding body; ``count``/``truncate`` measure and cut texts in tokens."""
    style = style_of(ref)
    if style is None:
        raise NotImplementedOperation(f"Outcrop does not serve InvokeModel bodies for {ref.model_id} yet.")
    body = s.load_body(raw)
    if style == "titan-v1":
        s.check(body, TITAN_V1)
        request = EmbedRequest([body["inputText"]], 1536, style)
    elif style == "titan-v2":
        s.check(body, TITAN_V2)
        request = EmbedRequest(
            [body["inputText"]],
            body.get("dimensions", 1024),
            style,
            normalize=body.get("normalize", True),
            types=list(dict.fromkeys(body.get("embeddingTypes") or ["float"])),
        )
    elif style == "titan-mm":
        s.check(body, TITAN_MM)
        if "inputImage" in body:
            raise NotImplementedOperation(IMAGES_UNSUPPORTED)
        if "inputText" not in body:
            raise s.malformed(["#: required key [inputText] not found"])
        length = (body.get("embeddingConfig") or {}).get("outputEmbeddingLength", 1024)
        request = EmbedRequest([body["inputText"]], length, style)
    elif style == "nova-mm":
        s.check(body, NOVA_MM)
        params = body.get("singleEmbeddingParams")
        if body["taskType"] != "SINGLE_EMBEDDING" or params is None:
            raise NotImplementedOperation("Outcrop serves Nova embeddings' SINGLE_EMBEDDING task only.")
        if "text" not in params:
            raise NotImplementedOperation(IMAGES_UNSUPPORTED)
        request = EmbedRequest([params["text"]["value"]], params.get("embeddingDimension", 3072), style)
    else:
        request = _cohere(body, style)
    _fit(request, count, truncate)
    return request


def _cohere(body: Any, style: str) -> EmbedRequest:
    s.check(body, COHERE_V3 if style == "cohere-v3" else COHERE_V4)
    if body.get("images"):
        raise NotImplementedOperation(IMAGES_UNSUPPORTED)
    texts = list(body.get("texts") or [])
    for item in body.get("inputs") or []:
        for part in item.get("content") or []:
            if isinstance(part, dict) and part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            else:
                raise NotImplementedOperation(IMAGES_UNSUPPORTED)
    if "texts" not in body and "inputs" not in body:
        raise s.malformed(["#: required key [texts] not found"])
    if not texts:
        raise s.malformed(["#/texts: expected minimum item count: 1, found: 0"])
    dimension = 1024 if style == "cohere-v3" else body.get("output_dimension", 1536)
    explicit = "embedding_types" in body
    types = list(dict.fromkeys(body.get("embedding_types") or ["float"]))
    options = {
        "by_type": explicit or style == "cohere-v4",
        "truncate": body.get("truncate", "NONE" if style == "cohere-v3" else "RIGHT"),
        "max_tokens": body.get("max_tokens"),
        "texts": texts,
    }
    return EmbedRequest(texts, dimension, style, types=types, options=options)


def _fit(request: EmbedRequest, count: Counter, truncate: Truncator) -> None:
    """Apply each model's input limit: Titan refuses more than 8192 tokens; Cohere v3 refuses
    more than 512 unless ``truncate`` says which end to drop; v4 cuts at ``max_tokens``."""
    counts = count(request.texts)
    request.options["token_counts"] = counts
    if request.style in ("titan-v1", "titan-v2"):
        if counts[0] > TITAN_MAX_TOKENS:
            raise _too_many_tokens(counts[0], TITAN_MAX_TOKENS)
        return
    if request.style == "cohere-v3":
        mode = request.options["truncate"]
        for i, n in enumerate(counts):
            if n <= COHERE_V3_MAX_TOKENS:
                continue
            if mode == "NONE":
                raise ValidationException(
                    f"invalid request: text at index {i} has {n} tokens, more than the model's maximum "
                    f"of {COHERE_V3_MAX_TOKENS}; set truncate to START or END to cut it"
                )
            request.texts[i] = truncate(request.texts[i], COHERE_V3_MAX_TOKENS, mode == "START")
    elif request.style == "cohere-v4" and request.options.get("max_tokens"):
        limit = int(request.options["max_tokens"])
        keep_end = request.options["truncate"] == "LEFT"
        for i, n in enumerate(counts):
            if n > limit:
                if request.options["truncate"] == "NONE":
                    raise ValidationException(
                        f"invalid request: text at index {i} has {n} tokens, more than max_tokens ({limit})"
                    )
                request.texts[i] = truncate(request.texts[i], limit, keep_end)


# ---- responses --------------------------------------------------------------------------


def _floats(vector: NDArray[np.float32]) -> list[float]:
    return [float(x) for x in vector.astype(np.float64)]


def _int8(vectors: NDArray[np.float32]) -> NDArray[np.int64]:
    """Scalar quantisation: each vector scaled so its largest component is ±127."""
    scale = np.maximum(np.abs(vectors).max(axis=1, keepdims=True), 1e-12)
    return np.clip(np.rint(vectors / scale * 127.0), -128, 127).astype(np.int64)


def _ubinary(vectors: NDArray[np.float32]) -> NDArray[np.int64]:
    """One bit per dimension (1 = positive), packed eight to a byte, most significant first."""
    return np.packbits(vectors > 0, axis=1).astype(np.int64)


def cohere_types(vectors: NDArray[np.float32], types: list[str]) -> dict[str, list[list[Any]]]:
    out: dict[str, list[list[Any]]] = {}
    for kind in types:
        if kind == "float":
            out[kind] = [_floats(v) for v in vectors]
        elif kind == "int8":
            out[kind] = _int8(vectors).tolist()
        elif kind == "uint8":
            out[kind] = (_int8(vectors) + 128).tolist()
        elif kind == "ubinary":
            out[kind] = _ubinary(vectors).tolist()
        elif kind == "binary":
            out[kind] = (_ubinary(vectors) - 128).tolist()
    return out


def render(request: EmbedRequest, embedded: Embedded) -> dict[str, Any]:
    vectors = embedded.vectors if request.normalize else embedded.raw()
    tokens = sum(request.options.get("token_counts") or embedded.token_counts)
    if request.style in ("titan-v1", "titan-mm"):
        return {"embedding": _floats(vectors[0]), "inputTextTokenCount": tokens}
    if request.style == "titan-v2":
        by_type: dict[str, list[Any]] = {}
        for kind in request.types:
            by_type[kind] = _floats(vectors[0]) if kind == "float" else [int(x > 0) for x in vectors[0]]
        return {
            "embedding": _floats(vectors[0]),
            "inputTextTokenCount": tokens,
            "embeddingsByType": by_type,
        }
    if request.style == "nova-mm":
        return {"embeddings": [{"embeddingType": "TEXT", "embedding": _floats(vectors[0])}]}
    out: dict[str, Any] = {"id": request_uuid(), "texts": request.options["texts"]}
    if request.options["by_type"]:
        out["embeddings"] = cohere_types(vectors, request.types)
        out["response_type"] = "embeddings_by_type"
    else:
        out["embeddings"] = [_floats(v) for v in vectors]
        out["response_type"] = "embeddings_floats"
    return out
