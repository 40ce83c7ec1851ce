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
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.server.embed import Server as GranianServer

from ..config import Settings, is_loopback
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
            await _in_daemon_thread(loop, engine.load)
        log.info(
            "Model %s ready in %.1f s (%s, context %d tokens, %d threads)",
            name,
            time.perf_counter() - started,
            engine.model_path,
            engine.context_length,
            engine.threads,
        )


def _in_daemon_thread(loop: asyncio.AbstractEventLoop, work: Callable[[], None]) -> asyncio.Future[None]:
    """Run ``work`` in a daemon thread: a model still loading never holds up an exit (the
    default executor's threads are joined when the loop closes, so a second Ctrl-C would wait)."""
    done: asyncio.Future[None] = loop.create_future()

    def settle(exc: BaseException | None) -> None:
        if done.done():
            return
        if exc is None:
            done.set_result(None)
        else:
            done.set_exception(exc)

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the awaiting side, whatever it was
            loop.call_soon_threadsafe(settle, exc)
        else:
            loop.call_soon_threadsafe(settle, None)

    threading.Thread(target=run, name="model-loader", daemon=True).start()
    return done


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


def bind_address(host: str) -> str:
    """The IP address to listen on (the HTTP server takes only addresses: ``localhost`` resolves)."""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise PortTaken(f"cannot listen on {host}: {exc.strerror or exc}") from None
    return str(found[0][4][0])


def claim_port(host: str, port: int) -> IO[str] | None:
    """Refuse a port another process listens on, or is about to. Granian binds with SO_REUSEPORT,
    with which the kernel would let a second server bind the same port and split connections
    between the two; a plain bind (SO_REUSEADDR only, so connections left in TIME_WAIT do not
    count) fails instead. A lock file held for the process's life covers two servers starting at
    the same moment. Returns the lock, to keep open."""
    lock = _lock(host, port)
    try:
        for family, _, _, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            _probe(family, address, host, port)
    except PortTaken:
        if lock is not None:
            lock.close()
        raise
    return lock


def _probe(family: int, address: Any, host: str, port: int) -> None:
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortTaken(_in_use(host, port)) from None
        raise PortTaken(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _in_use(host: str, port: int) -> str:
    advice = "Stop it, or choose another port with --port."
    return f"{host}:{port} is already in use (another outcrop serve?). {advice}"


def _lock(host: str, port: int) -> IO[str] | None:
    try:
        import fcntl
    except ImportError:  # not a POSIX system: the bind probe alone
        return None
    path = Path(tempfile.gettempdir()) / f"outcrop-{host.replace(':', '_')}-{port}.lock"
    try:
        handle = open(path, "a")  # noqa: SIM115 - held open for the life of the process
    except OSError:  # another user's lock file in a shared temporary directory: the probe alone
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise PortTaken(_in_use(host, port)) from None
    return handle


async def run(settings: Settings) -> None:
    address = bind_address(settings.host)
    port_lock = claim_port(address, settings.port)
    services = Services.build(settings)
    app = OutcropApp(services)
    granian_log = logging.getLogger("granian")
    granian_log.addFilter(_QuietEmbedWarning())
    granian_log.setLevel(logging.WARNING)
    server = GranianServer(
        app,
        address=address,
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
    if settings.open_mode:
        auth = "open, loopback only" if is_loopback(settings.host) else "open to anyone who can reach it"
    else:
        auth = "SigV4 / API keys verified"
    log.info(
        "Outcrop listening on %s://%s:%d (auth: %s)",
        "https" if settings.tls_cert else "http",
        settings.host,
        settings.port,
        auth,
    )
    loader = asyncio.ensure_future(_load_models(services))
    jobs = asyncio.ensure_future(services.jobs.start())  # S3 and unfinished jobs, in the background
    delivery = asyncio.ensure_future(services.invocation_logs.run())  # invocation logs, every few seconds
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
    if not jobs.done():
        jobs.cancel()
    delivery.cancel()
    await services.invocation_logs.close()  # what was spooled, delivered if S3 still answers
    if stopping.timer is not None:
        stopping.timer.cancel()
    services.close()
    if port_lock is not None:
        port_lock.close()
    log.info("Outcrop stopped.")
    if failed:
        raise SystemExit(1)
