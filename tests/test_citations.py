"""Citations: with a document's citations enabled, the answer's sentences carry the spans of the
document they rest on, located as Bedrock locates them (characters, pages, chunks), in Converse,
ConverseStream and Anthropic bodies; every cited span is really in the document."""

from __future__ import annotations

import json
from typing import Any

from fpdf import FPDF

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
TOWER = (
    "The Eiffel Tower is located in Paris, France. It was completed in 1889 for the World's Fair. "
    "The tower is 330 metres tall and made of wrought iron. Gustave Eiffel's company designed and built it."
)
QUESTION = "When was the Eiffel Tower completed and how tall is it? Answer using the document."
SETTINGS = {"maxTokens": 80, "temperature": 0}


def pdf(*pages: str) -> bytes:
    out = FPDF()
    for page in pages:
        out.add_page()
        out.set_font("helvetica", size=12)
        out.multi_cell(0, 10, page)
    return bytes(out.output())


def converse_doc(fmt: str, data: bytes, enabled: bool = True) -> dict[str, Any]:
    return {
        "document": {
            "format": fmt,
            "name": "tower",
            "source": {"bytes": data},
            "citations": {"enabled": enabled},
        }
    }


def messages(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [*blocks, {"text": QUESTION}]}]


def cited(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for b in content if "citationsContent" in b for c in b["citationsContent"]["citations"]]


def test_converse_cites_character_spans_that_are_in_the_document(runtime: Any) -> None:
    response = runtime.converse(
        modelId=MODEL, messages=messages(converse_doc("txt", TOWER.encode())), inferenceConfig=SETTINGS
    )
    content = response["output"]["message"]["content"]
    citations = cited(content)
    assert citations, content
    for citation in citations:
        location = citation["location"]["documentChar"]
        assert location["documentIndex"] == 0 and citation["title"] == "tower"
        assert TOWER[location["start"] : location["end"]] == citation["sourceContent"][0]["text"]
    # The message's text is all there, cited or not.
    text = "".join(
        b.get("text") or "".join(c["text"] for c in b["citationsContent"]["content"]) for b in content
    )
    assert text.strip()


def test_converse_stream_sends_citation_deltas_and_pdfs_cite_pages(runtime: Any) -> None:
    pages = ("A note about lighthouses that has nothing to do with towers.", TOWER)
    stream = runtime.converse_stream(
        modelId=MODEL, messages=messages(converse_doc("pdf", pdf(*pages))), inferenceConfig=SETTINGS
    )
    deltas = [e["contentBlockDelta"]["delta"] for e in stream["stream"] if "contentBlockDelta" in e]
    citations = [d["citation"] for d in deltas if "citation" in d]
    assert citations
    for citation in citations:
        location = citation["location"]["documentPage"]
        assert location["end"] == location["start"] + 1
        page_text = pages[location["start"] - 1]
        assert citation["sourceContent"][0]["text"].strip() in " ".join(page_text.split())


def test_no_citations_unless_asked(runtime: Any) -> None:
    response = runtime.converse(
        modelId=MODEL,
        messages=messages(converse_doc("txt", TOWER.encode(), enabled=False)),
        inferenceConfig=SETTINGS,
    )
    assert not cited(response["output"]["message"]["content"])


def test_anthropic_bodies_cite_text_and_content_documents(runtime: Any) -> None:
    chunks = [{"type": "text", "text": s} for s in ("Unrelated first chunk.", *TOWER.split(". "))]
    for source, kind in (
        ({"type": "text", "media_type": "text/plain", "data": TOWER}, "char_location"),
        ({"type": "content", "content": chunks}, "content_block_location"),
    ):
        body = {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 80,
            "temperature": 0,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": source,
                            "title": "tower",
                            "citations": {"enabled": True},
                        },
                        {"type": "text", "text": QUESTION},
                    ],
                }
            ],
        }
        message = json.loads(runtime.invoke_model(modelId=MODEL, body=json.dumps(body))["body"].read())
        citations = [c for b in message["content"] if b["type"] == "text" for c in b.get("citations", [])]
        assert citations, message["content"]
        for citation in citations:
            assert citation["type"] == kind and citation["document_title"] == "tower"
            if kind == "char_location":
                assert (
                    TOWER[citation["start_char_index"] : citation["end_char_index"]] == citation["cited_text"]
                )
            else:
                block = chunks[citation["start_block_index"]]["text"]
                assert citation["cited_text"] in block
        response = runtime.invoke_model_with_response_stream(modelId=MODEL, body=json.dumps(body))
        events = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
        assert any(e.get("delta", {}).get("type") == "citations_delta" for e in events)


def test_cited_answers_go_back_as_history(runtime: Any) -> None:
    """Blank text between cited sentences joins them (Bedrock refuses blank text blocks sent back),
    and the cited sentences are read as the assistant's words on the next turn."""
    first = messages(converse_doc("txt", TOWER.encode()))
    response = runtime.converse(modelId=MODEL, messages=first, inferenceConfig=SETTINGS)
    content = response["output"]["message"]["content"]
    assert all(b["text"].strip() for b in content if "text" in b)
    follow = [
        *first,
        {"role": "assistant", "content": content},
        {"role": "user", "content": [{"text": "Thanks."}]},
    ]
    assert runtime.converse(modelId=MODEL, messages=follow, inferenceConfig=SETTINGS)["output"]["message"]
