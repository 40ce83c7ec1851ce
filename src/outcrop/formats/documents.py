"""Converse ``document`` blocks: the checks AWS makes, with its messages.

The limits and messages are AWS's (docs/documents.md lists their sources); the detected-type
check mirrors AWS's, which sniffs the bytes rather than trusting ``format``. The text the model
reads is ``documents/read.py``'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..conversation import Message
from ..documents.read import TEXT_FORMATS, Unreadable, detect, extract, source_text
from ..protocol.errors import ValidationException

MAX_DOCUMENTS = 5
MAX_DOCUMENT_BYTES = int(4.5 * 1024 * 1024)
SUPPORTED = "xlsx, txt, pdf, csv, md, doc, html, xls, docx"

TOO_MANY = f"You can't include more than {MAX_DOCUMENTS} documents in a request."
TOO_LARGE = "The maximum document size is 4.5 MB."
DUPLICATE_NAMES = "Messages can't contain duplicate document names."
NEEDS_TEXT = "A text block must be included when using documents. Add a text block and retry your request."
BAD_NAME = (
    "The document file name can only contain alphanumeric characters, whitespace characters, hyphens, "
    "parentheses, and square brackets. The name can't contain more than one consecutive whitespace "
    "character. Check that the file name conforms to these restrictions and retry your request."
)
# Outcrop's own: no maintained PyPI library reads Word 97-2003 binaries without a native tool.
LEGACY_DOC = (
    "Outcrop can't read legacy Word (.doc) documents. Convert the document to docx, pdf or txt and try again."
)

# Underscores are outside the documented set but AWS accepts them (reported from live calls);
# only the ASCII space counts as whitespace (tabs and U+3000 are reported rejected).
_NAME = re.compile(r"[A-Za-z0-9 _\-()\[\]]+")


@dataclass(frozen=True)
class _Found:
    path: str  # messages.<i>.content.<j>, as AWS names positions
    block: dict[str, Any]
    top_level: bool  # directly in a message (not inside a toolResult)


def _documents(messages: Sequence[Message]) -> Iterator[_Found]:
    for i, message in enumerate(messages):
        for j, block in enumerate(message.content):
            if "document" in block:
                yield _Found(f"messages.{i}.content.{j}", block["document"], True)
            for item in (block.get("toolResult") or {}).get("content") or []:
                if isinstance(item, dict) and "document" in item:
                    yield _Found(f"messages.{i}.content.{j}", item["document"], False)


def check_documents(messages: Sequence[Message]) -> None:
    """Raise AWS's ValidationException for the first document rule the request breaks."""
    found = list(_documents(messages))
    if not found:
        return
    if len(found) > MAX_DOCUMENTS:
        raise ValidationException(TOO_MANY)
    names: set[str] = set()
    for doc in found:
        name = str(doc.block.get("name") or "")
        if not _NAME.fullmatch(name) or "  " in name:
            raise ValidationException(BAD_NAME)
        if name in names:
            raise ValidationException(DUPLICATE_NAMES)
        names.add(name)
    for message in messages:
        if any("document" in b for b in message.content) and not any("text" in b for b in message.content):
            raise ValidationException(NEEDS_TEXT)
    for doc in found:
        _check_source(doc)


def _check_source(doc: _Found) -> None:
    source = doc.block.get("source") or {}
    if "s3Location" in source:
        # What Bedrock answers for models that cannot fetch from S3 (all but Nova); Outcrop has no S3.
        raise ValidationException(
            f"The model returned the following errors: {doc.path}.document.source.type: Field required"
        )
    if "bytes" in source:
        data = bytes(source["bytes"])
        if len(data) > MAX_DOCUMENT_BYTES:
            raise ValidationException(TOO_LARGE)
        kind = declared_kind(doc.block.get("format"), data)
        if kind == "doc":
            raise ValidationException(LEGACY_DOC)
        try:
            extract(kind, data)
        except Unreadable as exc:
            raise ValidationException(
                f"The document {doc.block.get('name')} could not be read as {kind}: {exc}"
            ) from None
    elif len(source_text(source).encode()) > MAX_DOCUMENT_BYTES:
        raise ValidationException(TOO_LARGE)


def declared_kind(declared: Any, data: bytes) -> str:
    """The format to read ``data`` as: the declared one, after AWS's detected-type check."""
    detected = detect(data)
    if detected.startswith("mime:"):
        raise ValidationException(
            f"Unsupported MIME type: {detected[5:]}. "
            f"Retry your request with a supported file type: {SUPPORTED}"
        )
    fmt = str(declared or "").lower()
    if not fmt:
        return "txt" if detected == "PLAIN_TEXT" else detected.lower()
    expected = "PLAIN_TEXT" if fmt in TEXT_FORMATS else fmt.upper()
    if detected != expected:
        raise ValidationException(
            f"The detected filetype is {detected}, but the provided filetype was {fmt.upper()}."
        )
    return fmt
