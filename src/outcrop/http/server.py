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
import errno
import logging
import signal
import socket
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


class _Shutdown:
    """SIGTERM/SIGINT: stop accepting at once, let in-flight requests and streams finish within the
    grace period, then end the rest (streams get an in-stream ServiceUnavailableException); a
    second signal ends them at once."""

    def __init__(self, app: OutcropApp, server: GranianServer, grace: float) -> None:
        self.app = app
        self.server = server
        self.grace = grace
        self.signals = 0
        self.timer: asyncio.Task[None] | None = None

    def signal(self) -> None:
        self.signals += 1
        if self.signals > 1:
            log.warning("Second signal: ending %d request(s) now.", len(self.app.in_flight))
            self.app.abort()
            return
        busy = len(self.app.in_flight)
        if busy:
            log.info("Shutting down: %d request(s) in flight get up to %.0f s to finish.", busy, self.grace)
        else:
            log.info("Shutting down.")
        self.server.stop()  # Granian stops accepting now and waits for the connections in flight
        self.timer = asyncio.ensure_future(self._expire())

    async def _expire(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.app.drained(), self.grace)
            return
        log.warning("Grace period over: ending %d request(s).", len(self.app.in_flight))
        self.app.abort()


class PortTaken(Exception):
    """Something already listens on the address and port Outcrop was asked to serve on."""


def claim_port(host: str, port: int) -> None:
    """Refuse a port another process listens on. Granian binds with SO_REUSEPORT, with which the
    kernel would let a second server bind the same port and split connections between the two;
    a plain bind (SO_REUSEADDR only, so connections left in TIME_WAIT do not count) fails instead."""
    for family, _, _, _, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortTaken(
                        f"{host}:{port} is already in use (another outcrop serve?). Stop it, or choose "
                        "another port with --port."
                    ) from None
                raise PortTaken(f"cannot listen on {host}:{port}: {exc.strerror}") from None


async def run(settings: Settings) -> None:
    claim_port(settings.host, settings.port)
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
    stopping = _Shutdown(app, server, settings.shutdown_grace_seconds)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.signal)
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
    if stopping.timer is not None:
        stopping.timer.cancel()
    services.close()
    log.info("Outcrop stopped.")
    if failed:
        raise SystemExit(1)
