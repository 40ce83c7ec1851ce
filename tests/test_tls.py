"""HTTPS on Outcrop's port, so boto3 can use Bedrock API keys (botocore sends bearer tokens only
over https) exactly as against AWS: AWS_BEARER_TOKEN_BEDROCK plus a trusted CA bundle."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import API_KEY, REGION, Server, start_server, stop_server, user

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    srv = start_server(
        tmp,
        "tls",
        env={"OUTCROP_TLS_CERT": str(cert), "OUTCROP_TLS_KEY": str(key), "OUTCROP_API_KEYS": API_KEY},
        ca=cert,
    )
    yield srv
    stop_server(srv)


def bearer_client(server: Server, token: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", token)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return boto3.Session().client(
        "bedrock-runtime",
        endpoint_url=server.url,
        region_name=REGION,
        verify=str(server.ca),
        config=Config(retries={"max_attempts": 1}),
    )


def test_boto3_with_a_bedrock_api_key_over_https(tls_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    assert tls_server.url.startswith("https://")
    client = bearer_client(tls_server, API_KEY, monkeypatch)
    response = client.converse(modelId=MODEL, messages=[user("Hi")], inferenceConfig={"maxTokens": 3})
    assert response["usage"]["outputTokens"] >= 1
    request_headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert request_headers["x-outcrop-served-model"] == "smollm2-135m"
    stream = client.converse_stream(modelId=MODEL, messages=[user("Hi")], inferenceConfig={"maxTokens": 3})
    assert any("metadata" in event for event in stream["stream"])


def test_wrong_api_key_over_https(tls_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    client = bearer_client(tls_server, "not-the-key", monkeypatch)
    with pytest.raises(ClientError) as info:
        client.converse(modelId=MODEL, messages=[user("Hi")], inferenceConfig={"maxTokens": 3})
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"


def test_tls_needs_both_files(tmp_path: Path) -> None:
    from outcrop.config import ConfigError, load_settings

    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(ConfigError, match="both a certificate and its key"):
        load_settings(env={"OUTCROP_TLS_CERT": str(cert)})
