"""Converse ``image`` blocks: refused for text-only engines, checked against AWS's limits otherwise.

Whether an image can be used depends on the *served* engine (SmolLM2 cannot see, whatever Bedrock
model the request names), so the caller says ``vision``. The limits are those Bedrock documents for
Converse messages (20 images; 3.75 MB, 8000 x 8000 px each); the messages are what Bedrock returns
(the size one counts base64 bytes, as Bedrock does). docs/vision.md says how a seeing engine plugs in.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..conversation import Message
from ..protocol.errors import ValidationException

MAX_IMAGES = 20
MAX_IMAGE_BASE64_BYTES = 5 * 1024 * 1024  # = 3.75 MB of raw bytes, AWS's documented per-image limit
MAX_IMAGE_SIDE = 8000

TEXT_ONLY = (
    "This model doesn't support the image content block that you provided. Update the content block "
    "and try again."
)
_MODEL = "The model returned the following errors: "
TOO_MANY = f"{_MODEL}messages: too many images: image_count > {MAX_IMAGES}"
WRONG_FORMAT = f"{_MODEL}The provided image does not match the specified image format."
# Pillow's name for each Converse format.
_PILLOW = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP"}


@dataclass(frozen=True)
class _Found:
    path: str  # messages.<i>.content.<j>
    block: dict[str, Any]


def _images(messages: Sequence[Message]) -> Iterator[_Found]:
    for i, message in enumerate(messages):
        for j, block in enumerate(message.content):
            if "image" in block:
                yield _Found(f"messages.{i}.content.{j}", block["image"])
            for item in (block.get("toolResult") or {}).get("content") or []:
                if isinstance(item, dict) and "image" in item:
                    yield _Found(f"messages.{i}.content.{j}", item["image"])


def check_images(messages: Sequence[Message], vision: bool) -> None:
    """Raise AWS's ValidationException for images the served engine cannot take."""
    found = list(_images(messages))
    if not found:
        return
    if not vision:
        raise ValidationException(TEXT_ONLY)
    if len(found) > MAX_IMAGES:
        raise ValidationException(TOO_MANY)
    for image in found:
        _check_image(image)


def _check_image(image: _Found) -> None:
    source = image.block.get("source") or {}
    if "s3Location" in source:
        # Bedrock's answer for models that cannot fetch from S3 (all but Nova); Outcrop has no S3.
        raise ValidationException(f"{_MODEL}{image.path}.image.source.type: Field required")
    data = bytes(source.get("bytes") or b"")
    encoded = len(base64.b64encode(data))
    if encoded > MAX_IMAGE_BASE64_BYTES:
        raise ValidationException(
            f"{_MODEL}{image.path}.image.source.bytes: image exceeds 5 MB maximum: "
            f"{encoded} bytes > {MAX_IMAGE_BASE64_BYTES} bytes"
        )
    width, height = image_size(data, str(image.block.get("format", "")))
    if max(width, height) > MAX_IMAGE_SIDE:
        raise ValidationException(
            f"{_MODEL}{image.path}.image.source.bytes: At least one of the image dimensions exceed max "
            f"allowed size: {MAX_IMAGE_SIDE} pixels"
        )


def image_size(data: bytes, fmt: str) -> tuple[int, int]:
    """Width and height read from the header, after checking the bytes are the declared format.

    Only the header is parsed (no pixel decoding), so a huge or hostile image costs nothing here.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != _PILLOW.get(fmt):
                raise ValidationException(WRONG_FORMAT)
            return img.size
    except Image.DecompressionBombError:
        return MAX_IMAGE_SIDE + 1, MAX_IMAGE_SIDE + 1
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ValidationException(WRONG_FORMAT) from None
