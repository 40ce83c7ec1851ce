"""The embedding engine: one MiniLM, loaded on first use, shared by every embedding model.

Loading takes a third of a second and 90 MB, so it happens on the first embedding request
rather than at start-up (servers that never embed never pay). Encoding runs in a worker
thread, one batch at a time: NumPy's matrix products already use the cores, and two batches at
once on a 2-core box would only slow each other (and the text engine) down. For the same reason
NumPy's BLAS runs on the server's ``threads`` only while no text is being generated, and on one
thread while it is (``engines/cores.py``).

Vectors of short texts are kept (``CACHE_TEXTS`` of them, least recently used dropped): guardrails
embed the same sentences for several policies, and a conversation's earlier turns again on
every request.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

from .. import cores
from ..errors import EngineUnavailable
from .minilm import MiniLM
from .projection import project

MODEL_NAME = "all-MiniLM-L6-v2"
CACHE_TEXTS = 4096  # at most ~10 MB: a 384-float vector, its norm and token count, the text
CACHE_MAX_CHARS = 1000  # longer texts (documents sent for embedding) are not kept


@dataclass
class Embedded:
    vectors: NDArray[np.float32]  # (n, dimensions), unit length
    norms: NDArray[np.float32]  # length of each mean-pooled vector before normalisation
    token_counts: list[int]  # WordPiece tokens of each text (without [CLS]/[SEP])

    def raw(self) -> NDArray[np.float32]:
        """The vectors at their pooled length (what ``normalize: false`` returns)."""
        return (self.vectors * self.norms[:, None]).astype(np.float32)


class EmbeddingEngine:
    name = MODEL_NAME

    def __init__(self, threads: int = 2) -> None:
        self.threads = threads
        self._model: MiniLM | None = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._blas: ThreadpoolController | None = None
        self._cache: OrderedDict[str, tuple[NDArray[np.float32], float, int]] = OrderedDict()

    @property
    def native_dimension(self) -> int:
        return self.model().dimension

    def model(self) -> MiniLM:
        with self._load_lock:
            if self._model is None:
                try:
                    self._model = MiniLM()
                except (FileNotFoundError, ImportError) as exc:
                    raise EngineUnavailable(f"The embedding model is not available: {exc}") from None
                self._blas = ThreadpoolController()  # after NumPy has loaded its BLAS
            return self._model

    def token_counts(self, texts: list[str]) -> list[int]:
        model = self.model()
        return [len(model.tokens(t)) for t in texts]

    def truncate(self, text: str, max_tokens: int, *, keep_end: bool = False) -> str:
        """``text`` cut to ``max_tokens`` WordPiece tokens, from the start or the end."""
        model = self.model()
        encoding = model.tokenizer.encode(text, add_special_tokens=False)
        if len(encoding.ids) <= max_tokens:
            return text
        offsets = encoding.offsets
        if keep_end:
            return text[offsets[len(offsets) - max_tokens][0] :]
        return text[: offsets[max_tokens - 1][1]]

    def embed_sync(self, texts: list[str], dimensions: int | None = None) -> Embedded:
        model = self.model()
        vectors = np.zeros((len(texts), model.dimension), dtype=np.float32)
        norms = np.zeros(len(texts), dtype=np.float32)
        counts = [0] * len(texts)
        with self._run_lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
            missing = list(dict.fromkeys(t for t in texts if t not in found))
            if missing:
                assert self._blas is not None
                threads = 1 if cores.generating() else self.threads
                with self._blas.limit(limits=threads, user_api="blas"), cores.Embedding():
                    new_vectors, new_norms = model.encode(missing)
                for text, vector, norm in zip(missing, new_vectors, new_norms, strict=True):
                    found[text] = (vector.copy(), float(norm), len(model.tokens(text)))
            for text, entry in found.items():
                if len(text) <= CACHE_MAX_CHARS:
                    self._cache[text] = entry
                    self._cache.move_to_end(text)
            while len(self._cache) > CACHE_TEXTS:
                self._cache.popitem(last=False)
        for i, text in enumerate(texts):
            vectors[i], norms[i], counts[i] = found[text]
        if dimensions is not None:
            vectors = project(vectors, dimensions)
        return Embedded(vectors, norms, counts)

    async def embed(self, texts: list[str], dimensions: int | None = None) -> Embedded:
        return await asyncio.to_thread(self.embed_sync, texts, dimensions)


_ENGINE: EmbeddingEngine | None = None
_ENGINE_LOCK = threading.Lock()


def embedding_engine() -> EmbeddingEngine:
    """The process's embedding engine (created on first use; weights load on first embed)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = EmbeddingEngine()
        return _ENGINE


def configure_embedding_engine(threads: int) -> None:
    """The server's thread budget, which the embedding model uses while no text is generated."""
    embedding_engine().threads = threads
