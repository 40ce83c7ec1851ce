"""What a web page in the user's browser can do to a server on loopback: nothing.

The requests are the ones a browser would send: a DNS-rebound name in ``Host``, a foreign
``Origin`` on a "simple" POST (no preflight), a CORS preflight. Sent raw with httpx, since only a
browser sends them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from conftest import Server, make_client, start_server, stop_server

CONVERSE = "/model/amazon.nova-lite-v1:0/converse"
BODY = json.dumps(
    {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 1}}
)


def send(server: Server, method: str, path: str, **headers: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        content = BODY if method == "POST" else None
        return client.request(
            method, path, content=content, headers={"content-type": "text/plain", **headers}
        )


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.headers.get("x-amzn-errortype", "").split(":")[0]


def test_a_rebound_host_name_is_refused(server: Server) -> None:
    for method, path in (("GET", "/foundation-models"), ("POST", CONVERSE), ("GET", "/_outcrop/health")):
        response = send(server, method, path, host="evil.example")
        assert code(response) == (403, "AccessDeniedException"), (method, path)
        assert "evil.example" in response.json()["message"]
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", "localhost"):
        assert send(server, "GET", "/foundation-models", host=host).status_code == 200, host


def test_a_foreign_origin_cannot_invoke(server: Server) -> None:
    response = send(server, "POST", CONVERSE, origin="http://evil.example")
    assert code(response) == (403, "AccessDeniedException")
    assert send(server, "POST", CONVERSE, origin="null").status_code == 403
    same = send(
        server,
        "POST",
        CONVERSE,
        origin=f"http://127.0.0.1:{server.port}",
        **{"content-type": "application/json"},
    )
    assert same.status_code == 200, same.text


def test_no_cors(server: Server) -> None:
    preflight = send(
        server,
        "OPTIONS",
        CONVERSE,
        origin="http://evil.example",
        **{"access-control-request-method": "POST", "access-control-request-headers": "content-type"},
    )
    read = send(server, "GET", "/foundation-models", origin="http://evil.example")
    assert read.status_code == 200, "reading is not state-changing: the browser itself keeps the answer"
    for response in (preflight, read):
        assert not any(name.lower().startswith("access-control-") for name in response.headers)


def test_allowed_hosts_adds_names(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "hosts", env={"OUTCROP_ALLOWED_HOSTS": "outcrop.internal"})
    try:
        assert send(srv, "GET", "/foundation-models", host="outcrop.internal:8080").status_code == 200
        assert send(srv, "GET", "/foundation-models", host="evil.example").status_code == 403
        runtime: Any = make_client("bedrock-runtime", srv.url)  # real clients send 127.0.0.1:port
        assert runtime.converse(
            modelId="amazon.nova-lite-v1:0",
            messages=[{"role": "user", "content": [{"text": "hi"}]}],
            inferenceConfig={"maxTokens": 1},
        )
    finally:
        stop_server(srv)


def test_open_mode_guards_any_bind_and_allowed_origins_add_pages(tmp_path: Path) -> None:
    """Open mode on every address (0.0.0.0 here) still refuses rebound names; an IP address as Host
    cannot be a rebinding and is answered; a page origin in allowed_origins may POST."""
    srv = start_server(
        tmp_path,
        "open-any",
        env={"OUTCROP_AUTH_MODE": "open", "OUTCROP_ALLOWED_ORIGINS": "http://localhost:3000"},
        args=["--host", "0.0.0.0"],
    )
    try:
        assert code(send(srv, "GET", "/foundation-models", host="evil.example")) == (
            403,
            "AccessDeniedException",
        )
        assert send(srv, "GET", "/foundation-models", host="10.1.2.3:8080").status_code == 200
        assert send(srv, "GET", "/foundation-models", host="localhost.").status_code == 200
        json_body = {"content-type": "application/json"}
        assert send(srv, "POST", CONVERSE, origin="http://localhost:3000", **json_body).status_code == 200
        assert send(srv, "POST", CONVERSE, origin="http://localhost:3001", **json_body).status_code == 403
    finally:
        stop_server(srv)
