"""An ``outcrop serve`` of a benchmark's own: a free port, a state directory (and home) of its
own, no ``OUTCROP_*`` settings from the caller's environment but those given, and ready (model
loaded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from request_overhead import free_port, wait_for

BIN = Path(sys.executable).parent


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]  # for its resident memory (bench/soak.py)


@contextmanager
def outcrop(threads: int = 2, **settings: str) -> Iterator[Served]:
    """The server while it runs; ``settings``: extra environment (``OUTCROP_MODEL_PATH=…``)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as state:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OUTCROP_")},
            "OUTCROP_STATE_DIR": state,
            "HOME": state,  # no configuration from the user's home
            "OUTCROP_THREADS": str(threads),
            "OUTCROP_EMBEDDED_S3": "0",  # no S3 server beside the measurement unless a bench asks
            **settings,
        }
        proc = subprocess.Popen(
            [str(BIN / "outcrop"), "serve", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(f"{url}/_outcrop/health")
            ready(f"{url}/_outcrop/health")
            yield Served(url, proc)
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def ready(url: str, timeout: float = 300) -> None:
    """Until health says the model has loaded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if json.load(response).get("status") == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the model did not load")
