"""Start-up: listen at once (health says 503), load the models, then serve; stop on a signal.

The HTTP server is Granian, embedded in this process and event loop: it serves HTTP/1.1 and
h2c (HTTP/2 with prior knowledge) on one cleartext port. The JS SDK's BedrockRuntimeClient
speaks only HTTP/2 and, for event streams, sends GOAWAY as soon as response headers arrive while
it keeps reading the stream; servers built on the Python ``h2`` library (hypercorn) drop the
connection at that GOAWAY, so streams to the JS SDK died after the first event. Granian's Rust
HTTP stack lets in-flight streams finish, as RFC 9113 §6.8 says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.server.embed import Server as GranianServer

from ..config import Settings
from ..services import Services
from .app import OutcropApp

log = logging.getLogger("outcrop")


class _QuietEmbedWarning(logging.Filter):
    """Granian labels its embedded mode experimental on every start; we pin and test it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "experimental" not in record.getMessage()


async def _load_models(services: Services) -> None:
    loop = asyncio.get_running_loop()
    for name, engine in services.engines.items():
        started = time.perf_counter()
        log.info("Loading model %s …", name)
        with _loading_display(name):
            await loop.run_in_executor(None, engine.load)
        log.info(
            "Model %s ready in %.1f s (%s, context %d tokens, %d threads)",
            name,
            time.perf_counter() - started,
            engine.model_path,
            engine.context_length,
            engine.threads,
        )


@contextlib.contextmanager
def _loading_display(name: str) -> Iterator[None]:
    """A live spinner with elapsed time while weights load, for people at a terminal."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn(f"loading {name}"), TimeElapsedColumn(), transient=True) as bar:
        bar.add_task(name, total=None)
        yield


async def run(settings: Settings) -> None:
    services = Services.build(settings)
    app = OutcropApp(services)
    granian_log = logging.getLogger("granian")
    granian_log.addFilter(_QuietEmbedWarning())
    granian_log.setLevel(logging.WARNING)
    server = GranianServer(
        app,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGINL,  # lifespan is not needed: start-up and shutdown live here
        http=HTTPModes.auto,
        websockets=False,
        log_enabled=False,
        # HTTPS (HTTP/2 by ALPN, or HTTP/1.1) when configured: botocore sends bearer API keys only
        # over https, and some deployments need TLS on the wire.
        ssl_cert=Path(settings.tls_cert).expanduser() if settings.tls_cert else None,
        ssl_key=Path(settings.tls_key).expanduser() if settings.tls_key else None,
        ssl_protocol_min=SSLProtocols.tls12,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.stop)
    serving = asyncio.ensure_future(server.serve())
    log.info(
        "Outcrop listening on %s://%s:%d (auth: %s)",
        "https" if settings.tls_cert else "http",
        settings.host,
        settings.port,
        "open, loopback only" if settings.open_mode else "SigV4 / API keys verified",
    )
    loader = asyncio.ensure_future(_load_models(services))
    done, _ = await asyncio.wait({serving, loader}, return_when=asyncio.FIRST_COMPLETED)
    failed = loader in done and loader.exception() is not None
    if failed:
        log.error("Could not load the model: %s", loader.exception())
        server.stop()
    elif loader in done:
        scheme = "https" if settings.tls_cert else "http"
        log.info("Ready: health at %s://%s:%d/_outcrop/health", scheme, settings.host, settings.port)
    await serving
    if not loader.done():
        loader.cancel()
    services.close()
    log.info("Outcrop stopped.")
    if failed:
        raise SystemExit(1)
