"""Citations: the answer's sentences matched to spans of the documents that asked to be cited.

Claude on Bedrock cites a document whose block says ``citations: {enabled: true}``: each claim of
the answer carries the span it rests on, located in the document (characters of a text document,
pages of a PDF, chunks of a content document). A small local model cannot be trusted to quote, so
the citing is done here, after the fact, on each sentence of the answer as it completes:

1. a sentence that repeats a stretch of a document word for word (at least ``MIN_QUOTE``
   characters) cites exactly that stretch;
2. otherwise the document's sentences are compared with it by sentence embedding (MiniLM), and
   the closest one cites if it is close enough (``MIN_SIMILARITY``).

Every cited span is a real slice of the document's text, at the offsets reported. A sentence with
no support cites nothing (Claude's answers mix cited and uncited text too).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..conversation import AnswerEvent, Citation, CitationDelta, Conversation, TextDelta
from ..documents.read import Unreadable, extract, pdf_pages, readable_kind, source_text

log = logging.getLogger("outcrop.citations")

MIN_QUOTE = 24  # characters repeated word for word that make a quote
MIN_SIMILARITY = 0.55  # MiniLM cosine similarity a paraphrase needs to cite a sentence
MAX_QUOTE_WORDS = 40  # of a sentence, searched for verbatim stretches (the search is cubic in it)
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")


@dataclass
class Span:
    start: int  # characters into the document's text (or its page / chunk number)
    end: int
    text: str


@dataclass
class Source:
    """A citable document: its place among the request's documents, and its text in pieces."""

    index: int
    title: str
    kind: str  # documentChar | documentPage | documentChunk
    text: str
    units: list[tuple[int, int, int, int]] = field(default_factory=list)  # (start, end, loc start, loc end)
    vectors: Any = None


def sources(conversation: Conversation) -> list[Source]:
    """The documents of the conversation whose citations are enabled, numbered as Bedrock numbers
    documents (every document of the request, in order)."""
    out: list[Source] = []
    index = -1
    for message in conversation.messages:
        for block in message.content:
            doc = block.get("document") if isinstance(block, dict) else None
            if not isinstance(doc, dict):
                continue
            index += 1
            if not (doc.get("citations") or {}).get("enabled"):
                continue
            source = _source(index, doc)
            if source is not None:
                out.append(source)
    return out


def _source(index: int, doc: dict[str, Any]) -> Source | None:
    title = str(doc.get("name") or doc.get("title") or "document")
    raw = doc.get("source") or {}
    pages: list[str] | None = None
    if isinstance(raw.get("content"), list):  # a content document: its chunks are the units
        chunks = [str(p.get("text", "")) for p in raw["content"] if isinstance(p, dict)]
        return _units(Source(index, title, "documentChunk", "\n".join(chunks)), chunks)
    if "text" in raw:
        text = source_text(raw)
    elif "bytes" in raw:
        data = bytes(raw["bytes"])
        kind = readable_kind(doc.get("format"), data)
        if kind is None:
            return None
        try:
            pages = pdf_pages(data) if kind == "pdf" else None
            text = "\n\n".join(pages) if pages is not None else extract(kind, data)
        except Unreadable:
            return None
    else:
        return None
    if pages is not None:
        return _units(Source(index, title, "documentPage", text), pages)
    source = Source(index, title, "documentChar", text)
    source.units = [(m.start(), m.end(), m.start(), m.end()) for m in _sentences(text)]
    return source


def _units(source: Source, parts: list[str]) -> Source:
    """Sentences of each page or chunk, located by the part's number (1-based pages, 0-based chunks)."""
    offset = 0
    first = 1 if source.kind == "documentPage" else 0
    for number, part in enumerate(parts, start=first):
        at = source.text.find(part, offset) if part else -1
        if at < 0:
            continue
        for m in _sentences(part):
            source.units.append((at + m.start(), at + m.end(), number, number + 1))
        offset = at + len(part)
    return source


def _sentences(text: str) -> list[re.Match[str]]:
    return [m for m in _SENTENCE.finditer(text) if len(m.group().strip()) > 2]


def _embed(texts: list[str]) -> Any:
    from ..engines.embeddings.engine import embedding_engine

    return embedding_engine().embed_sync(texts).vectors


def cite(sentence: str, documents: list[Source]) -> Citation | None:
    """The best support for ``sentence`` in ``documents``, or None."""
    claim = sentence.strip()
    if len(claim) < 8 or not documents:
        return None
    for source in documents:
        quote = _quote(claim, source)
        if quote is not None:
            return quote
    try:
        vector = _embed([claim])[0]
        for source in documents:
            if source.units and source.vectors is None:
                source.vectors = _embed([source.text[s:e].strip() for s, e, _, _ in source.units])
    except Exception:  # no embedding model (or it failed): only verbatim quotes cite
        log.warning("citations: the embedding model is not available; citing verbatim quotes only")
        return None
    best: tuple[float, Source, tuple[int, int, int, int]] | None = None
    for source in documents:
        if not source.units or source.vectors is None:
            continue
        scores = source.vectors @ vector
        i = int(np.argmax(scores))
        if best is None or scores[i] > best[0]:
            best = (float(scores[i]), source, source.units[i])
    if best is None or best[0] < MIN_SIMILARITY:
        return None
    _, source, (start, end, loc_start, loc_end) = best
    return _citation(source, start, end, loc_start, loc_end)


def _quote(claim: str, source: Source) -> Citation | None:
    """The longest stretch of ``claim`` found word for word in the document, if long enough."""
    words = claim.split()[:MAX_QUOTE_WORDS]
    for size in range(len(words), 0, -1):
        for first in range(len(words) - size + 1):
            piece = " ".join(words[first : first + size]).strip(" ,;:")
            if len(piece) < MIN_QUOTE:
                continue
            at = source.text.find(piece)
            if at >= 0:
                if source.kind == "documentChar" or not source.units:
                    return _citation(source, at, at + len(piece), at, at + len(piece))
                before = [u for u in source.units if u[0] <= at] or source.units[:1]
                page = before[-1]  # the page or chunk the quote starts in
                return _citation(source, at, at + len(piece), page[2], page[3])
    return None


def _citation(source: Source, start: int, end: int, loc_start: int, loc_end: int) -> Citation:
    return Citation(source.index, source.title, source.kind, loc_start, loc_end, source.text[start:end])


def wants_citations(conversation: Conversation) -> bool:
    """Whether any document of the conversation asks to be cited (cheap: nothing is read)."""
    return any(
        isinstance(block.get("document"), dict)
        and ((block["document"].get("citations") or {}).get("enabled"))
        for message in conversation.messages
        for block in message.content
        if isinstance(block, dict)
    )


async def with_citations(
    events: AsyncIterator[AnswerEvent], conversation: Conversation
) -> AsyncIterator[AnswerEvent]:
    """The answer's events, with a ``CitationDelta`` after each text sentence a document supports
    (the documents are read in a worker thread, not on the event loop)."""
    documents = await asyncio.to_thread(sources, conversation)
    pending = ""
    async for event in events:
        if not isinstance(event, TextDelta):
            if pending:
                found = await asyncio.to_thread(cite, pending, documents)
                if found is not None:
                    yield CitationDelta(found, pending)
                pending = ""
            yield event
            continue
        yield event
        pending += event.text
        while True:
            match = re.search(r"[.!?](?:\s|$)|\n", pending)
            if match is None or (match.end() == len(pending) and not pending.endswith(("\n", " "))):
                break
            sentence, pending = pending[: match.end()], pending[match.end() :]
            found = await asyncio.to_thread(cite, sentence, documents)
            if found is not None:
                yield CitationDelta(found, sentence)
