"""Converse documents and images end to end: a PDF and a DOCX made here whose text must reach the
model (token counts, and a question only the document answers), AWS's document and image rules,
and the text-only refusal of images. Pure extraction and vision-limit checks run without a server."""

from __future__ import annotations

import io
from typing import Any

import docx
import openpyxl
import pytest
import xlwt
from botocore.exceptions import ClientError
from fpdf import FPDF
from PIL import Image

from outcrop.conversation import Message
from outcrop.documents import document_text, read
from outcrop.formats import documents, images
from outcrop.protocol.errors import ValidationException

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
FACT = "The secret code of the lighthouse is MARMALADE."
QUESTION = "What is the secret code of the lighthouse? Answer with the code only."
SMALL = {"maxTokens": 16, "temperature": 0}


def make_pdf(*lines: str) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 10, "\n".join(lines))
    return bytes(pdf.output())


def make_docx(*lines: str) -> bytes:
    document = docx.Document()
    for line in lines:
        document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_png(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, fmt)
    return out.getvalue()


def doc(name: str, fmt: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"document": {"name": name, "format": fmt, "source": {"bytes": data}, **extra}}


def ask(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [*blocks, {"text": QUESTION}]}]


def count(runtime: Any, messages: list[dict[str, Any]]) -> int:
    return int(runtime.count_tokens(modelId=MODEL, input={"converse": {"messages": messages}})["inputTokens"])


def refused(client: Any, messages: list[dict[str, Any]], **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        client.converse(modelId=MODEL, messages=messages, inferenceConfig={"maxTokens": 4}, **kwargs)
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Message"])


# ----- the document's text reaches the model -----


@pytest.mark.parametrize("fmt,make", [("pdf", make_pdf), ("docx", make_docx)])
def test_document_text_is_what_the_model_reads(runtime: Any, fmt: str, make: Any) -> None:
    """The extracted text costs exactly what the same text sent as a text document costs."""
    lines = [FACT, "The keeper arrives every Tuesday at dawn with fresh oil for the lamp."]
    without = count(runtime, ask())
    as_file = count(runtime, ask(doc("notes", fmt, make(*lines))))
    as_text = count(runtime, ask({"document": {"name": "notes", "source": {"text": "\n".join(lines)}}}))
    assert as_file == as_text
    assert as_file - without >= 25  # the two sentences (about 30 tokens) plus a header
    response = runtime.converse(
        modelId=MODEL, messages=ask(doc("notes", fmt, make(*lines))), inferenceConfig=SMALL
    )
    assert response["usage"]["inputTokens"] == as_file


@pytest.mark.parametrize("fmt,make", [("pdf", make_pdf), ("docx", make_docx)])
def test_only_the_document_holds_the_answer(runtime: Any, fmt: str, make: Any) -> None:
    # Stable at temperature 0 on the default model; without the document it invents another code.
    response = runtime.converse(
        modelId=MODEL, messages=ask(doc("notes", fmt, make(FACT))), inferenceConfig=SMALL
    )
    assert "MARMALADE" in response["output"]["message"]["content"][0]["text"].upper()


def test_document_in_a_tool_result_reaches_the_model(runtime: Any) -> None:
    tool = {"toolSpec": {"name": "fetch_notes", "inputSchema": {"json": {"type": "object"}}}}
    use = {"toolUse": {"toolUseId": "tooluse_1", "name": "fetch_notes", "input": {}}}

    def history(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"role": "user", "content": [{"text": "Read my notes."}]},
            {"role": "assistant", "content": [use]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_1", "content": content}}]},
        ]

    def tokens(content: list[dict[str, Any]]) -> int:
        converse = {"messages": history(content), "toolConfig": {"tools": [tool]}}
        return int(runtime.count_tokens(modelId=MODEL, input={"converse": converse})["inputTokens"])

    assert tokens([{"text": "ok"}, doc("notes", "pdf", make_pdf(FACT))]) - tokens([{"text": "ok"}]) >= 10


def test_streaming_takes_documents_too(runtime: Any) -> None:
    stream = runtime.converse_stream(
        modelId=MODEL, messages=ask(doc("notes", "docx", make_docx(FACT))), inferenceConfig=SMALL
    )
    events = list(stream["stream"])
    assert events[-1]["metadata"]["usage"]["inputTokens"] == count(
        runtime, ask(doc("notes", "docx", make_docx(FACT)))
    )


# ----- AWS's document rules -----


def test_more_than_five_documents(runtime: Any) -> None:
    blocks = [doc(f"part {i}", "txt", b"some text") for i in range(6)]
    assert refused(runtime, ask(*blocks)) == "You can't include more than 5 documents in a request."


@pytest.mark.parametrize("name", ["report.pdf", "a  b", "John's notes", "r\u00e9sum\u00e9", "tab\there"])
def test_document_names(runtime: Any, name: str) -> None:
    assert refused(runtime, ask(doc(name, "txt", b"text"))) == documents.BAD_NAME


def test_names_aws_accepts(runtime: Any) -> None:
    blocks = [doc("Q3 report (final) [v2]", "txt", b"a"), doc("notes_2024-01", "txt", b"b")]
    runtime.count_tokens(modelId=MODEL, input={"converse": {"messages": ask(*blocks)}})


def test_duplicate_names_and_missing_text(runtime: Any) -> None:
    twice = ask(doc("notes", "txt", b"a"), doc("notes", "txt", b"b"))
    assert refused(runtime, twice) == "Messages can't contain duplicate document names."
    alone = [{"role": "user", "content": [doc("notes", "txt", b"a")]}]
    assert refused(runtime, alone) == (
        "A text block must be included when using documents. Add a text block and retry your request."
    )


def test_bytes_must_be_the_declared_format(runtime: Any) -> None:
    assert refused(runtime, ask(doc("notes", "pdf", b"just text"))) == (
        "The detected filetype is PLAIN_TEXT, but the provided filetype was PDF."
    )
    assert refused(runtime, ask(doc("notes", "docx", make_pdf(FACT)))) == (
        "The detected filetype is PDF, but the provided filetype was DOCX."
    )
    assert refused(runtime, ask(doc("notes", "pdf", make_png(2, 2)))) == (
        "Unsupported MIME type: image/png. Retry your request with a supported file type: "
        "xlsx, txt, pdf, csv, md, doc, html, xls, docx"
    )


def test_oversized_document(runtime: Any) -> None:
    big = b"word " * (documents.MAX_DOCUMENT_BYTES // 5 + 1)
    assert refused(runtime, ask(doc("notes", "txt", big))) == "The maximum document size is 4.5 MB."


def test_s3_sources_and_legacy_doc_are_refused(runtime: Any) -> None:
    s3 = {
        "document": {
            "name": "notes",
            "format": "pdf",
            "source": {"s3Location": {"uri": "s3://bucket/notes.pdf"}},
        }
    }
    assert refused(runtime, ask(s3)) == (
        "The model returned the following errors: messages.0.content.0.document.source.type: Field required"
    )
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64 + "WordDocument".encode("utf-16-le")
    assert refused(runtime, ask(doc("notes", "doc", ole))) == documents.LEGACY_DOC


def test_unreadable_pdf_is_a_400_not_a_500(runtime: Any) -> None:
    message = refused(runtime, ask(doc("notes", "pdf", b"%PDF-1.7\n garbage")))
    assert message.startswith("The document notes could not be read as pdf")


# ----- images on the text-only default model -----


def test_images_are_refused_by_a_text_only_model(runtime: Any) -> None:
    image = {"image": {"format": "png", "source": {"bytes": make_png(8, 8)}}}
    assert refused(runtime, ask(image)) == images.TEXT_ONLY
    with pytest.raises(ClientError) as info:
        runtime.converse_stream(modelId=MODEL, messages=ask(image))
    assert info.value.response["Error"]["Message"] == images.TEXT_ONLY


def test_text_only_refusal_comes_before_image_limits(raw_runtime: Any) -> None:
    """As on AWS, a model that cannot see refuses any image, even one that breaks the limits."""
    oversized = {"image": {"format": "jpeg", "source": {"bytes": make_png(8001, 1)}}}
    assert refused(raw_runtime, ask(oversized)) == images.TEXT_ONLY
    tool = {"toolSpec": {"name": "snap", "inputSchema": {"json": {"type": "object"}}}}
    in_result = [
        {"role": "user", "content": [{"text": "Take a picture."}]},
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "tooluse_2", "name": "snap", "input": {}}}],
        },
        {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_2", "content": [oversized]}}]},
    ]
    assert refused(raw_runtime, in_result, toolConfig={"tools": [tool]}) == images.TEXT_ONLY


# ----- pure pieces: extraction and the limits a seeing engine would apply -----


def test_spreadsheets_html_and_text_are_extracted() -> None:
    book = openpyxl.Workbook()
    book.active.append(["city", "temp"])
    book.active.append(["Paris", 21])
    xlsx = io.BytesIO()
    book.save(xlsx)
    legacy = xlwt.Workbook()
    sheet = legacy.add_sheet("Cities")
    for col, value in enumerate(["Oslo", 5]):
        sheet.write(0, col, value)
    xls = io.BytesIO()
    legacy.save(xls)
    html = b"<html><head><style>p{}</style></head><body><h1>Title</h1><p>A &amp; B</p><script>x()</script></body></html>"
    assert (
        document_text(doc("t", "xlsx", xlsx.getvalue())) == "[Document: t]\nSheet: Sheet\ncity,temp\nParis,21"
    )
    assert document_text(doc("t", "xls", xls.getvalue())) == "[Document: t]\nSheet: Cities\nOslo,5"
    assert document_text(doc("t", "html", html)) == "[Document: t]\nTitle\nA & B"
    assert document_text(doc("t", "csv", b"\xef\xbb\xbfa,b\n1,2\n")) == "[Document: t]\na,b\n1,2"
    assert document_text(doc("t", "md", b"# Head", context="ctx")) == "[Document: t]\n[Context: ctx]\n# Head"


def test_office_zip_bombs_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    monkeypatch.setattr(read, "MAX_UNZIPPED_BYTES", 10_000)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\x00" * 10_001)
    with pytest.raises(ValidationException, match="inflates past"):
        documents.check_documents([Message("user", [{"text": "q"}, doc("bomb", "docx", out.getvalue())])])


def vision_check(*blocks: dict[str, Any]) -> str:
    with pytest.raises(ValidationException) as info:
        images.check_images([Message("user", [{"text": "q"}, *blocks])], vision=True)
    return info.value.message


def image(fmt: str, data: bytes) -> dict[str, Any]:
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def test_vision_limits() -> None:
    images.check_images([Message("user", [image("webp", make_png(4, 4, "WEBP"))])], vision=True)
    assert vision_check(image("jpeg", make_png(4, 4))) == images.WRONG_FORMAT
    assert vision_check(image("png", b"not an image")) == images.WRONG_FORMAT
    assert vision_check(image("png", make_png(8001, 2))) == (
        "The model returned the following errors: messages.0.content.1.image.source.bytes: "
        "At least one of the image dimensions exceed max allowed size: 8000 pixels"
    )
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (4 * 1024 * 1024)
    assert vision_check(image("png", big)) == (
        "The model returned the following errors: messages.0.content.1.image.source.bytes: "
        "image exceeds 5 MB maximum: 5592416 bytes > 5242880 bytes"
    )
    assert vision_check(*[image("png", make_png(2, 2))] * 21) == images.TOO_MANY
