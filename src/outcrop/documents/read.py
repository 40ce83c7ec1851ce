"""Document bytes → the text a text-only model reads: what the bytes are, and their text.

Bedrock passes documents to models that parse them natively; a local text model can only use
their text, so each document is extracted once (well-kept libraries: pypdf, python-docx,
openpyxl, xlrd, the stdlib HTML parser). The checks AWS makes on documents (limits, names, the
declared format against the detected one) are the Converse format's: ``formats/documents.py``.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

# Office files are zip archives: refuse ones that would inflate past this (decompression bombs).
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
TEXT_FORMATS = frozenset({"txt", "csv", "md", "html"})


def document_text(block: dict[str, Any]) -> str:
    """What the model reads for a ``{"document": ...}`` block: a header naming it, then its text.

    Never raises: requests are checked when parsed (``formats/documents.py``); a document that
    cannot be read says so instead of failing the request.
    """
    doc = block.get("document", block)
    name = str(doc.get("name") or "document")
    source = doc.get("source") or {}
    if "bytes" in source:
        data = bytes(source["bytes"])
        kind = readable_kind(doc.get("format"), data)
        try:
            text = extract(kind, data) if kind else "(This document could not be read.)"
        except Unreadable:
            text = "(This document could not be read.)"
    elif "text" in source or "content" in source:
        text = source_text(source)
    else:
        text = "(This document is stored in Amazon S3, which Outcrop cannot read.)"
    header = f"[Document: {name}]"
    if doc.get("context"):
        header += f"\n[Context: {doc['context']}]"
    return f"{header}\n{text.strip()}"


def readable_kind(declared: Any, data: bytes) -> str | None:
    """The format to read ``data`` as (declared, else detected), or None when the two disagree."""
    detected = detect(data)
    if detected.startswith("mime:"):
        return None
    fmt = str(declared or "").lower()
    if not fmt:
        return "txt" if detected == "PLAIN_TEXT" else detected.lower()
    expected = "PLAIN_TEXT" if fmt in TEXT_FORMATS else fmt.upper()
    return fmt if detected == expected else None


def source_text(source: dict[str, Any]) -> str:
    if "text" in source:
        return str(source["text"])
    parts = source.get("content") or []
    return "\n".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))


# ----- what the bytes are -----


_IMAGES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def detect(data: bytes) -> str:
    """PDF | DOCX | XLSX | DOC | XLS | PLAIN_TEXT, or ``mime:<type>`` for anything else."""
    if b"%PDF-" in data[:1024]:
        return "PDF"
    for magic, mime in _IMAGES.items():
        if data.startswith(magic):
            return f"mime:{mime}"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "mime:image/webp"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, ValueError):
            return "mime:application/zip"
        if any(n.startswith("word/") for n in names):
            return "DOCX"
        if any(n.startswith("xl/") for n in names):
            return "XLSX"
        return "mime:application/zip"
    if data.startswith(_OLE):
        if "WordDocument".encode("utf-16-le") in data:
            return "DOC"
        if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
            return "XLS"
        return "mime:application/x-ole-storage"
    if b"\x00" in data[:8192]:
        return "mime:application/octet-stream"
    return "PLAIN_TEXT"


# ----- extraction -----


class Unreadable(Exception):
    """The bytes are of the declared type but the library cannot read them."""


@lru_cache(maxsize=8)
def extract(kind: str, data: bytes) -> str:
    """Text of a document; cached because a request's prompt is rendered more than once."""
    try:
        if kind == "pdf":
            return _pdf(data)
        if kind in ("docx", "xlsx"):
            _check_unzipped_size(data)
            return _docx(data) if kind == "docx" else _xlsx(data)
        if kind == "xls":
            return _xls(data)
        if kind == "doc":
            raise Unreadable("legacy Word documents are not read")
        text = data.decode("utf-8-sig", errors="replace")
        return _html(text) if kind == "html" else text
    except Unreadable:
        raise
    except Exception as exc:  # each library has its own error classes; all mean "unreadable"
        raise Unreadable(f"{type(exc).__name__}: {exc}") from exc


def _check_unzipped_size(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if sum(info.file_size for info in archive.infolist()) > MAX_UNZIPPED_BYTES:
            raise Unreadable(f"the archive inflates past {MAX_UNZIPPED_BYTES // 2**20} MB")


def _pdf(data: bytes) -> str:
    return "\n\n".join(pdf_pages(data)).strip()


def pdf_pages(data: bytes) -> list[str]:
    """Each page's text, in order (citations locate spans by page)."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("the PDF is encrypted")
        return [(page.extract_text() or "").strip() for page in reader.pages]
    except Unreadable:
        raise
    except Exception as exc:  # pypdf's own errors on a damaged file
        raise Unreadable(f"the PDF could not be read: {exc}") from None


def _docx(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(lines)


def _rows_csv(rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        values = ["" if v is None else int(v) if isinstance(v, float) and v.is_integer() else v for v in row]
        if any(str(v) for v in values):
            writer.writerow(values)
    return out.getvalue()


def _xlsx(data: bytes) -> str:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheets = book.worksheets
        return "\n".join(f"Sheet: {s.title}\n{_rows_csv(s.iter_rows(values_only=True))}" for s in sheets)
    finally:
        book.close()


def _xls(data: bytes) -> str:
    import xlrd

    book = xlrd.open_workbook(file_contents=data)
    return "\n".join(
        f"Sheet: {sheet.name}\n{_rows_csv(tuple(c.value for c in row) for row in sheet.get_rows())}"
        for sheet in book.sheets()
    )


class _TextOfHtml(HTMLParser):
    """Visible text of an HTML page: scripts and styles dropped, block elements on new lines."""

    _SKIP = frozenset({"script", "style", "head", "template", "noscript"})
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def _html(text: str) -> str:
    parser = _TextOfHtml()
    parser.feed(text)
    parser.close()
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)
