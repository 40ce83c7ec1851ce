"""Binary framing of ``application/vnd.amazon.eventstream`` messages.

The AWS/Smithy encoder (``smithy-aws-event-stream``) needs Python 3.12+, and botocore only
ships the decoder, so the encoder lives here; the tests decode every frame with botocore's
own ``EventStreamBuffer`` to prove the framing is what clients parse.

Frame: total length (u32) | headers length (u32) | prelude CRC32 | headers | payload | message CRC32.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

_STRING = 7


def _encode_headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name = name.encode()
        raw_value = value.encode()
        out += struct.pack("!B", len(raw_name)) + raw_name
        out += struct.pack("!BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    raw_headers = _encode_headers(headers)
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    prelude += struct.pack("!I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + raw_headers + payload
    return message + struct.pack("!I", zlib.crc32(message) & 0xFFFFFFFF)


_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def padding(size_so_far: int) -> str:
    """AWS pads each Converse stream payload with a ``p`` field so that frame sizes do not
    reveal token lengths; clients ignore it. Same idea: round the payload up to 64-byte steps."""
    return _PADDING[: 1 + (-size_so_far) % 61]


def event(event_type: str, body: dict[str, Any], *, pad: bool = False) -> bytes:
    """One ``:message-type: event`` frame with a JSON payload."""
    if pad:
        body = {**body, "p": padding(len(json.dumps(body, separators=(",", ":"))))}
    return encode_message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(body, separators=(",", ":")).encode(),
    )


def exception(exception_type: str, message: str, **fields: Any) -> bytes:
    """An error inside an already-started stream (``:message-type: exception``)."""
    return encode_message(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps({"message": message, **fields}).encode(),
    )


def stream_exception(stream_shape: Any, code: str, status: int, message: str) -> bytes:
    """An AWS error as an in-stream exception the operation's event union can carry.

    Each streaming operation models a few exception members (ConverseStream: validation,
    throttling, serviceUnavailable, internalServer, modelStreamError). Any other error becomes
    ``modelStreamErrorException`` with the original status and message, as Bedrock reports
    model failures mid-stream, so clients always get a code they can parse.
    """
    name = code[0].lower() + code[1:]
    if stream_shape is not None and name in stream_shape.members:
        return exception(name, message)
    return exception("modelStreamErrorException", message, originalStatusCode=status, originalMessage=message)
