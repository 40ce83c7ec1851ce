"""The wire: routing from botocore's models, percent-decoding, errors, request ids, h2c, framing."""

from __future__ import annotations

import http.client
import json
from typing import Any

import httpx
from botocore.eventstream import EventStreamBuffer

from conftest import Server
from outcrop.protocol import eventstream

MODEL_PATH = "anthropic.claude-3-haiku-20240307-v1%3A0"


def raw(
    server: Server, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request(method, path, body=body, headers={"content-type": "application/json", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    result = response.status, {k.lower(): v for k, v in response.getheaders()}, data
    conn.close()
    return result


def converse_body(text: str = "Hi", max_tokens: int = 3) -> bytes:
    return json.dumps(
        {
            "messages": [{"role": "user", "content": [{"text": text}]}],
            "inferenceConfig": {"maxTokens": max_tokens},
        }
    ).encode()


def test_percent_encoded_model_id(server: Server) -> None:
    status, headers, body = raw(server, "POST", f"/model/{MODEL_PATH}/converse", converse_body())
    assert status == 200, body
    assert headers["x-amzn-requestid"]
    assert json.loads(body)["usage"]["outputTokens"] >= 1


def test_raw_colon_model_id_as_anthropic_clients_send(server: Server) -> None:
    status, _, body = raw(
        server, "POST", "/model/anthropic.claude-3-haiku-20240307-v1:0/converse", converse_body()
    )
    assert status == 200, body


def test_profile_arn_with_encoded_slash(server: Server) -> None:
    arn = "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0"
    status, _, body = raw(server, "POST", f"/model/{arn}/converse", converse_body())
    assert status == 200, body


def test_malformed_json_is_a_serialization_error(server: Server) -> None:
    status, headers, body = raw(server, "POST", f"/model/{MODEL_PATH}/converse", b"{not json")
    assert status == 400
    assert headers["x-amzn-errortype"].split(":")[0] == "SerializationException"
    assert headers["x-amzn-requestid"]
    assert "Message" in json.loads(body)


def test_wrong_json_type_is_a_serialization_error(server: Server) -> None:
    status, headers, _ = raw(server, "POST", f"/model/{MODEL_PATH}/converse", b'{"messages": "hello"}')
    assert status == 400
    assert headers["x-amzn-errortype"].startswith("SerializationException:")


def test_unknown_path(server: Server) -> None:
    status, headers, body = raw(server, "GET", "/no/such/operation")
    assert status == 404
    assert headers["x-amzn-errortype"].startswith("UnknownOperationException")
    assert headers["x-amzn-requestid"]
    assert b"Traceback" not in body


def test_operation_outcrop_does_not_serve_yet_is_explicit(server: Server) -> None:
    status, headers, body = raw(server, "GET", "/model-customization-jobs")
    assert status == 501
    assert headers["x-amzn-errortype"].startswith("NotImplementedException")
    assert b"ListModelCustomizationJobs" in body


def test_health(server: Server) -> None:
    status, headers, body = raw(server, "GET", "/_outcrop/health")
    assert status == 200
    assert headers["x-amzn-requestid"]
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["models"]["smollm2-135m"]["context_length"] > 0


def test_h2c_prior_knowledge_on_the_same_port(server: Server) -> None:
    with httpx.Client(http1=False, http2=True, timeout=60) as client:
        response = client.post(f"{server.url}/model/{MODEL_PATH}/converse", content=converse_body())
    assert response.http_version == "HTTP/2"
    assert response.status_code == 200
    assert response.headers["x-amzn-requestid"]


def test_stream_frames_decode_with_botocore(server: Server) -> None:
    status, headers, body = raw(
        server, "POST", f"/model/{MODEL_PATH}/converse-stream", converse_body("Hello", 5)
    )
    assert status == 200
    assert headers["content-type"] == "application/vnd.amazon.eventstream"
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    messages = list(buffer)
    assert next(m.headers[":event-type"] for m in messages) == "messageStart"
    for message in messages:
        assert message.headers[":message-type"] == "event"
        assert message.headers[":content-type"] == "application/json"
        payload: dict[str, Any] = json.loads(message.payload)
        assert "p" in payload  # AWS's padding field


def test_encoder_round_trip_through_botocore_decoder() -> None:
    frames = eventstream.event("messageStart", {"role": "assistant"}) + eventstream.exception(
        "throttlingException", "Too many requests"
    )
    buffer = EventStreamBuffer()
    buffer.add_data(frames)
    first, second = list(buffer)
    assert first.headers == {
        ":event-type": "messageStart",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(first.payload) == {"role": "assistant"}
    assert second.headers[":message-type"] == "exception"
    assert second.headers[":exception-type"] == "throttlingException"
