"""SigV4 and bearer authentication against a server configured with credentials."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, API_KEY, BIN, SECRET_KEY, Server, make_client, user

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def call_converse(client: Any) -> dict[str, Any]:
    return dict(client.converse(modelId=MODEL, messages=[user("Hi")], inferenceConfig={"maxTokens": 2}))


def error(client: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call_converse(client)
    response = info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def test_valid_signature_runtime_and_control(auth_server: Server) -> None:
    assert call_converse(make_client("bedrock-runtime", auth_server.url))["usage"]["outputTokens"] >= 1
    models = make_client("bedrock", auth_server.url).list_foundation_models()["modelSummaries"]
    assert models


def test_valid_signature_on_stream(auth_server: Server) -> None:
    client = make_client("bedrock-runtime", auth_server.url)
    stream = client.converse_stream(modelId=MODEL, messages=[user("Hi")], inferenceConfig={"maxTokens": 2})
    assert any("metadata" in event for event in stream["stream"])


def test_wrong_secret(auth_server: Server) -> None:
    code, status, message = error(make_client("bedrock-runtime", auth_server.url, secret="not-the-secret"))
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
        "Access Key and signing method. Consult the service documentation for details."
    )


def test_unknown_access_key(auth_server: Server) -> None:
    code, status, message = error(make_client("bedrock-runtime", auth_server.url, key="AKIDUNKNOWN000000000"))
    assert (code, status, message) == (
        "UnrecognizedClientException",
        403,
        "The security token included in the request is invalid.",
    )


def test_expired_signature(auth_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # The one test double: botocore's clock (an outside edge), so the client signs 10 minutes ago.
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: past)
    code, status, message = error(make_client("bedrock-runtime", auth_server.url))
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith(f"Signature expired: {past.strftime('%Y%m%dT%H%M%SZ')} is now earlier than ")
    assert message.endswith(" - 5 min.)")


def test_tampered_body_fails_signature(auth_server: Server) -> None:
    body = json.dumps({"messages": [user("Hi")], "inferenceConfig": {"maxTokens": 2}}).encode()
    path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    request = AWSRequest(
        method="POST", url=f"{auth_server.url}{path}", data=body, headers={"content-type": "application/json"}
    )
    botocore.auth.SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "bedrock", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    conn = http.client.HTTPConnection("127.0.0.1", auth_server.port, timeout=60)
    conn.request("POST", path, body=body.replace(b"Hi", b"Ho"), headers=headers)
    response = conn.getresponse()
    assert response.status == 403
    assert response.getheader("x-amzn-errortype", "").startswith("InvalidSignatureException")
    conn.close()


def test_missing_authentication(auth_server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", auth_server.port, timeout=60)
    conn.request("GET", "/foundation-models")
    response = conn.getresponse()
    body = json.loads(response.read())
    assert response.status == 403
    assert response.getheader("x-amzn-errortype", "").startswith("MissingAuthenticationTokenException")
    assert body == {"Message": "Missing Authentication Token"}
    conn.close()


def bearer(server: Server, token: str) -> tuple[int, dict[str, Any], str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    body = json.dumps({"messages": [user("Hi")], "inferenceConfig": {"maxTokens": 2}})
    conn.request(
        "POST",
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
        body=body,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    response = conn.getresponse()
    result = response.status, json.loads(response.read()), response.getheader("x-amzn-errortype", "")
    conn.close()
    return result


def test_bearer_api_key(auth_server: Server) -> None:
    status, body, _ = bearer(auth_server, API_KEY)
    assert status == 200, body
    assert body["usage"]["outputTokens"] >= 1


def test_bad_bearer_api_key(auth_server: Server) -> None:
    status, body, error_type = bearer(auth_server, "wrong-key")
    assert status == 403
    assert error_type.startswith("AccessDeniedException")
    assert body == {"Message": "Authentication failed: Please make sure your API Key is valid."}


def test_open_mode_accepts_any_well_formed_request(server: Server) -> None:
    client = make_client("bedrock-runtime", server.url, key="anything", secret="whatever")
    assert call_converse(client)["usage"]["outputTokens"] >= 1
    assert bearer(server, "any-token")[0] == 200


def test_refuses_non_loopback_without_credentials(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "outcrop"), "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(BIN), "HOME": str(tmp_path)},
    )
    assert done.returncode == 2
    assert "Refusing to listen on 0.0.0.0 without credentials" in done.stderr
    assert "OUTCROP_ACCESS_KEY_ID" in done.stderr
    assert sys.executable  # the same interpreter's console script was used
