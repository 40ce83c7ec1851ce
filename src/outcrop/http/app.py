"""The ASGI application: one port for bedrock-runtime and the bedrock control plane.

Order for every request: request id → route (from botocore's models) → authenticate → parse
and validate input → handler → serialise. Every failure becomes an AWS-shaped error; nothing
a client sees is ever a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from ..api import sts
from ..api.registry import Call, Reply, StreamReply, load_handlers
from ..auth import authenticate
from ..engines.errors import SHUTTING_DOWN, EngineError
from ..invocation.errors import aws_error
from ..metrics.service import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ..protocol import eventstream
from ..protocol.errors import (
    TOO_DEEP,
    BedrockError,
    InternalServerException,
    NotImplementedOperation,
    ServiceUnavailableException,
    UnknownOperationException,
    ValidationException,
)
from ..protocol.service_model import Route, find_route
from ..protocol.shapes import parse_input, serialize_output
from ..protocol.validate import payload_limit, validate
from ..services import Services
from .origin import OriginGuard

log = logging.getLogger("outcrop.http")
access_log = logging.getLogger("outcrop.access")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Request bodies: an operation whose payload the service model limits (InvokeModel's body:
# 25,000,000 bytes) is held to that, with AWS's validation message; the rest (Converse with
# documents and images inline, the control plane) to Outcrop's own cap. A body over its limit is
# refused from its Content-Length before a byte is read, or as soon as a chunked one passes it.
MAX_BODY_BYTES = 64 * 1024 * 1024
HEALTH_PATH = "/_outcrop/health"
USAGE_PATH = "/_outcrop/usage"
QUOTAS_PATH = "/_outcrop/quotas"
METRICS_PATH = "/metrics"  # Prometheus's default scrape path


class OutcropApp:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.handlers = load_handlers()
        self.origins = OriginGuard(services.settings)
        self.in_flight: set[asyncio.Task[Any]] = set()  # the tasks serving requests now
        self.aborting = False  # shutting down and out of patience: end what is still running

    async def drained(self) -> None:
        """Return once no request is in flight."""
        while self.in_flight:
            await asyncio.wait(set(self.in_flight))

    def abort(self) -> None:
        """End every request still in flight: streams with an in-stream ServiceUnavailableException,
        others with a 503 if their response has not started."""
        self.aborting = True
        for task in list(self.in_flight):
            task.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        task = asyncio.current_task()
        assert task is not None
        self.in_flight.add(task)
        started_response = False

        async def sending(message: dict[str, Any]) -> None:
            nonlocal started_response
            started_response = True
            await send(message)

        try:
            await self._serve(scope, receive, sending)
        except asyncio.CancelledError:
            if not self.aborting:
                raise
            if not started_response:
                await _send_error(send, ServiceUnavailableException(SHUTTING_DOWN), "-")
        finally:
            self.in_flight.discard(task)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        status = 500
        op_name = "-"
        try:
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
            self.origins.check(scope["method"], headers)
            if scope["path"] == HEALTH_PATH:
                status = await self._health(send, request_id)
                return
            if scope["path"] in (USAGE_PATH, QUOTAS_PATH, METRICS_PATH):
                if not self.services.settings.open_mode:  # usage is the account's business
                    authenticate(
                        self.services.settings, method=scope["method"], scheme=scope.get("scheme", "http"),
                        raw_path=scope["path"], query_string=scope.get("query_string", b"").decode("latin-1"),
                        headers=headers, body=b"",
                    )  # fmt: skip
                status = await self._account_report(send, scope["path"], request_id)
                return
            if scope["method"] == "POST" and scope["path"] == "/":
                status = await self._sts(scope, receive, send, headers, request_id)
                op_name = "GetCallerIdentity" if status == 200 else "-"
                return
            route_match = find_route(scope["method"], scope.get("raw_path") or scope["path"].encode())
            if route_match is None:
                raise UnknownOperationException(f"No operation matches {scope['method']} {scope['path']}")
            route, labels = route_match
            op_name = route.name
            header_map = {k.lower(): v for k, v in headers}
            body = await _read_body(receive, header_map.get("content-length"), _body_limit(route))
            raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
            query_string = scope.get("query_string", b"").decode("latin-1")
            identity = authenticate(
                self.services.settings,
                method=scope["method"],
                scheme=scope.get("scheme", "http"),
                raw_path=raw_path,
                query_string=query_string,
                headers=headers,
                body=body,
            )
            params = parse_input(
                route.operation, labels, parse_qs(query_string, keep_blank_values=True), header_map, body
            )
            validate(route.operation.input_shape, params)
            handler = self.handlers.get(route.name)
            if handler is None:
                raise NotImplementedOperation(f"Outcrop does not implement {route.name} yet.")
            if self.services.policies is not None:
                self.services.policies.operation(identity, route.name, params)
            reply = await handler(Call(route.name, params, request_id, identity, header_map, self.services))
            if isinstance(reply, StreamReply):
                status = route.status
                await self._send_stream(scope, receive, send, route.operation, reply, status, request_id)
            else:
                status = route.status
                await self._send_reply(send, route.operation, reply, status, request_id)
        except BedrockError as exc:
            status = exc.status
            await _send_error(send, exc, request_id)
        except asyncio.CancelledError:
            if self.aborting:  # ended by a shutdown; __call__ answers 503 if it still can
                status = 503
            raise
        except RecursionError:  # a document or schema nested deeper than Python recurses
            log.warning("request %s nested too deeply for recursion", request_id, exc_info=True)
            status = 400
            await _send_error(send, ValidationException(TOO_DEEP), request_id)
        except EngineError as exc:  # an engine failing outside the pipeline (a guardrail's detector)
            error = aws_error(exc)
            status = error.status
            await _send_error(send, error, request_id)
        except Exception:
            log.exception("unhandled error in %s (request %s)", op_name, request_id)
            status = 500
            await _send_error(send, InternalServerException("Internal server error"), request_id)
        finally:
            if scope["path"] != HEALTH_PATH:
                access_log.info(
                    "%s %s %s -> %d in %.0f ms (%s)",
                    scope["method"],
                    scope["path"],
                    op_name,
                    status,
                    (time.perf_counter() - started) * 1000,
                    request_id,
                )

    async def _health(self, send: Send, request_id: str) -> int:
        engines = {
            name: {
                "ready": e.ready,
                "model_path": e.model_path,
                "context_length": e.context_length,
                "generations": e.stats,
                **e.activity(),
            }
            for name, e in self.services.engines.items()
        }
        ready = self.services.ready
        jobs = self.services.jobs.health()
        body = json.dumps(
            {
                "status": "ok" if ready else "loading",
                "models": engines,
                "s3_endpoint": jobs.pop("s3_endpoint"),
                "jobs": jobs,
                "invocation_logs": self.services.invocation_logs.health(),
            }
        ).encode()
        status = 200 if ready else 503
        await _start(send, status, [("content-type", "application/json")], request_id)
        await send({"type": "http.response.body", "body": body})
        return status

    async def _sts(
        self, scope: Scope, receive: Receive, send: Send, headers: list[tuple[str, str]], request_id: str
    ) -> int:
        """STS GetCallerIdentity (api/sts.py): the one query-protocol operation answered here."""
        header_map = {k.lower(): v for k, v in headers}
        limit = (64 * 1024, ValidationException("Request body is too large: the limit is 64 KB."))
        body = await _read_body(receive, header_map.get("content-length"), limit)
        if not sts.is_sts(scope["method"], scope["path"], body):
            raise UnknownOperationException(f"No operation matches {scope['method']} {scope['path']}")
        try:
            identity = authenticate(
                self.services.settings,
                method=scope["method"],
                scheme=scope.get("scheme", "http"),
                raw_path="/",
                query_string=scope.get("query_string", b"").decode("latin-1"),
                headers=headers,
                body=body,
                service_name="sts",
            )
        except BedrockError as exc:
            payload, status = sts.error(exc.code, exc.message, request_id), exc.status
        else:
            payload, status = sts.caller_identity(self.services.settings, identity, request_id), 200
        await _start(
            send, status, [("content-type", "text/xml"), ("content-length", str(len(payload)))], request_id
        )
        await send({"type": "http.response.body", "body": payload})
        return status

    async def _account_report(self, send: Send, path: str, request_id: str) -> int:
        """Usage attributed to each application inference profile (invocations and tokens), or
        what is left of each quota allowance in use."""
        if path == METRICS_PATH:
            await _start(send, 200, [("content-type", METRICS_CONTENT_TYPE)], request_id)
            await send({"type": "http.response.body", "body": self.services.metrics.exposition()})
            return 200
        if path == USAGE_PATH:
            report: dict[str, Any] = {"applicationInferenceProfiles": self.services.profiles.usage()}
        else:
            quotas = self.services.quotas
            report = {"quotas": quotas.report() if quotas else []}
        body = json.dumps(report).encode()
        await _start(send, 200, [("content-type", "application/json")], request_id)
        await send({"type": "http.response.body", "body": body})
        return 200

    async def _send_reply(self, send: Send, op: Any, reply: Reply, status: int, request_id: str) -> None:
        headers, body, _ = serialize_output(op, reply.data)
        body = body or b""
        await _start(send, status, [*headers, *reply.headers, ("content-length", str(len(body)))], request_id)
        await send({"type": "http.response.body", "body": body})

    async def _send_stream(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        op: Any,
        reply: StreamReply,
        status: int,
        request_id: str,
    ) -> None:
        headers, _, _ = serialize_output(op, reply.data)
        headers = [h for h in headers if h[0] != "content-type"]
        headers.append(("content-type", "application/vnd.amazon.eventstream"))
        await _start(send, status, headers + reply.headers, request_id)

        payload = op.output_shape.serialization.get("payload")
        stream_shape = op.output_shape.members[payload] if payload else None

        async def pump() -> None:
            try:
                async for frame in reply.events:
                    await send({"type": "http.response.body", "body": frame, "more_body": True})
            except BedrockError as exc:
                frame = eventstream.stream_exception(stream_shape, exc.code, exc.status, exc.message)
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            except Exception:
                log.exception("stream failed (request %s)", request_id)
                frame = eventstream.exception("internalServerException", "Internal server error")
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

        async def watch_disconnect() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return

        pump_task = asyncio.ensure_future(pump())
        watch_task = asyncio.ensure_future(watch_disconnect())
        try:
            done, _ = await asyncio.wait({pump_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            if not self.aborting:
                raise
            # Shutting down past the grace period: the stream ends with an exception event.
            for task in (pump_task, watch_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            frame = eventstream.stream_exception(
                stream_shape, "ServiceUnavailableException", 503, SHUTTING_DOWN
            )
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            await _close(reply.events)
            return
        if watch_task in done and pump_task not in done:
            log.info("client disconnected mid-stream; stopping generation (request %s)", request_id)
            pump_task.cancel()
        else:
            watch_task.cancel()
        for task in (pump_task, watch_task):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await _close(reply.events)


async def _close(events: Any) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


def _body_limit(route: Route) -> tuple[int, ValidationException]:
    limited = payload_limit(route.operation.input_shape)
    if limited is not None:
        return limited
    mb = MAX_BODY_BYTES // (1024 * 1024)
    return MAX_BODY_BYTES, ValidationException(f"Request body is too large: the limit is {mb} MB.")


async def _read_body(
    receive: Receive, declared: str | None, limited: tuple[int, ValidationException]
) -> bytes:
    limit, too_large = limited
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _start(send: Send, status: int, headers: list[tuple[str, str]], request_id: str) -> None:
    all_headers = [("x-amzn-requestid", request_id), *headers]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in all_headers],
        }
    )


async def _send_error(send: Send, exc: BedrockError, request_id: str) -> None:
    try:
        body = exc.body()
        await _start(send, exc.status, [*exc.headers(), ("content-length", str(len(body)))], request_id)
        await send({"type": "http.response.body", "body": body})
    except Exception:  # the response had already started; nothing more can be said
        log.debug("could not send error for request %s", request_id)
