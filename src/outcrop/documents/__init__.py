"""Documents a client attaches (Converse document blocks, Anthropic PDFs): their text for the model."""

from .read import document_text

__all__ = ["document_text"]
