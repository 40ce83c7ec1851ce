"""Test fixtures: real Outcrop servers on loopback, and the real clients users point at them.

Every server here is the installed ``outcrop serve`` command, started as a subprocess on a free
port; nothing inside Outcrop is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REGION = "us-east-1"
ACCESS_KEY = "AKIDOUTCROPTEST00001"
SECRET_KEY = "outcrop-test-secret-key-0123456789abcdef"
API_KEY = "outcrop-test-api-key-1234"


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    ca: Path | None = None  # the certificate to trust when the server speaks https

    def health(self) -> dict[str, Any]:
        context = ssl.create_default_context(cafile=str(self.ca)) if self.ca else None
        with urllib.request.urlopen(f"{self.url}/_outcrop/health", timeout=5, context=context) as response:
            return dict(json.load(response))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    tmp: Path,
    name: str,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    ca: Path | None = None,
) -> Server:
    port = free_port()
    log_path = tmp / f"{name}.log"
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OUTCROP_")},
        # One engine thread: test servers share 2 cores with pytest and the clients, and llama.cpp
        # threads that lose their core stall each other (measured: up to 3x slower, worse with 2 servers).
        "OUTCROP_THREADS": os.environ.get("OUTCROP_TEST_THREADS", "1"),
        # Durable state (guardrails) per server, never in the user's home directory.
        "OUTCROP_STATE_DIR": str(tmp / f"{name}-state"),
        # No embedded S3 server (seconds of start-up, ~160 MB) unless a test needs jobs.
        "OUTCROP_EMBEDDED_S3": "0",
        **(env or {}),
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(BIN / "outcrop"), "serve", "--port", str(port), *(args or [])],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    server = Server(f"{'https' if ca else 'http'}://127.0.0.1:{port}", port, process, log_path, ca)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"outcrop exited with {process.returncode}:\n{server.log()}")
        try:
            if server.health().get("status") == "ok":
                return server
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"outcrop did not become healthy:\n{server.log()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An open-mode server (the default on loopback) on the bundled model."""
    srv = start_server(tmp_path_factory.mktemp("server"), "open")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that verifies SigV4 signatures and bearer API keys."""
    srv = start_server(
        tmp_path_factory.mktemp("auth"),
        "auth",
        env={
            "OUTCROP_ACCESS_KEY_ID": ACCESS_KEY,
            "OUTCROP_SECRET_ACCESS_KEY": SECRET_KEY,
            "OUTCROP_API_KEYS": API_KEY,
        },
    )
    yield srv
    stop_server(srv)


def make_client(
    service: str, url: str, *, key: str = ACCESS_KEY, secret: str = SECRET_KEY, validate: bool = True
) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, parameter_validation=validate, read_timeout=300),
    )


@pytest.fixture(scope="session")
def runtime(server: Server) -> Any:
    return make_client("bedrock-runtime", server.url)


@pytest.fixture(scope="session")
def raw_runtime(server: Server) -> Any:
    """A runtime client with botocore's client-side validation off, so the server's own
    validation is what answers."""
    return make_client("bedrock-runtime", server.url, validate=False)


@pytest.fixture(scope="session")
def bedrock(server: Server) -> Any:
    return make_client("bedrock", server.url)


def aws_runner(url: str) -> Callable[..., Any]:
    """Runs the real AWS CLI against ``url``; returns its parsed JSON output."""
    aws = shutil.which("aws", path=str(BIN)) or "aws"

    def run(args: list[str], *, check: bool = True) -> Any:
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_MAX_ATTEMPTS": "1",
        }
        done = subprocess.run(
            [aws, *args, "--endpoint-url", url, "--output", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        if not check:
            return done
        return json.loads(done.stdout) if done.stdout.strip() else None

    return run


@pytest.fixture(scope="session")
def aws_cli(server: Server) -> Callable[..., Any]:
    """Run the real AWS CLI against the server; returns its parsed JSON output."""
    return aws_runner(server.url)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"text": text}]}
