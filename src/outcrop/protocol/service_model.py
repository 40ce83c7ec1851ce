"""Routes and shapes of the two Bedrock services, read from botocore's service models.

Nothing here is hand-copied: adding an operation to Outcrop means writing its handler, and the
path, method, status code and input/output shapes come from the same JSON files the clients use.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel

SERVICES = ("bedrock-runtime", "bedrock")


@dataclass(frozen=True)
class Route:
    service: str
    operation: OperationModel
    method: str
    segments: tuple[str, ...]
    status: int

    @property
    def name(self) -> str:
        return str(self.operation.name)

    def match(self, segments: list[str]) -> dict[str, str] | None:
        """Match already-decoded path segments; returns the URI labels or None."""
        labels: dict[str, str] = {}
        for i, template in enumerate(self.segments):
            if template.startswith("{") and template.endswith("+}"):
                if i >= len(segments):
                    return None
                labels[template[1:-2]] = "/".join(segments[i:])
                return labels
            if i >= len(segments):
                return None
            if template.startswith("{") and template.endswith("}"):
                if segments[i] == "":
                    return None
                labels[template[1:-1]] = segments[i]
            elif template != segments[i]:
                return None
        return labels if len(segments) == len(self.segments) else None


def split_path(raw_path: bytes | str) -> list[str]:
    """Split on raw '/' first, then percent-decode each segment.

    botocore and the JS SDK send model ids as ``...v1%3A0`` and ARNs with ``%2F``; the anthropic
    clients send a raw ``:``. Decoding before splitting would cut an ARN in two.
    """
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else raw_path
    path = path.split("?", 1)[0]
    return [unquote(part) for part in path.strip("/").split("/")] if path.strip("/") else []


@functools.cache
def service_model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


@functools.cache
def routes() -> tuple[Route, ...]:
    found: list[Route] = []
    for service in SERVICES:
        model = service_model(service)
        for op_name in model.operation_names:
            op = model.operation_model(op_name)
            uri = op.http["requestUri"].split("?", 1)[0]
            segments = tuple(part for part in uri.strip("/").split("/") if part)
            found.append(
                Route(service, op, op.http["method"], segments, int(op.http.get("responseCode", 200)))
            )
    # Literal segments beat labels when two templates could both match.
    found.sort(key=lambda r: tuple(1 if s.startswith("{") else 0 for s in r.segments))
    return tuple(found)


def find_route(method: str, raw_path: bytes | str) -> tuple[Route, dict[str, str]] | None:
    """The operation a request addresses, or None (path unknown or method not allowed)."""
    segments = split_path(raw_path)
    for route in routes():
        if route.method != method:
            continue
        labels = route.match(segments)
        if labels is not None:
            return route, labels
    return None
