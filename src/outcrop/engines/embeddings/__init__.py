"""Sentence embeddings for Bedrock's embedding models (Titan Text Embeddings, Cohere Embed)."""

from .engine import Embedded, EmbeddingEngine, embedding_engine

__all__ = ["Embedded", "EmbeddingEngine", "embedding_engine"]
