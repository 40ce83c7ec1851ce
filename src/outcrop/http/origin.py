"""Who may reach a server on loopback from a browser: the DNS-rebinding and cross-site guards.

In open mode any web page the user visits can send requests to ``127.0.0.1``. Two defences:

* **Host.** A page on ``evil.example`` that rebinds its name to 127.0.0.1 still sends
  ``Host: evil.example``; requests whose Host is not a name the server answers to are refused.
  On a loopback bind those names are ``localhost``, ``127.0.0.1``, ``::1`` and the bind address;
  ``allowed_hosts`` adds more (``*``: any). A server bound to another address verifies every
  request's credentials and accepts any Host unless ``allowed_hosts`` says otherwise.
* **Origin.** Browsers send ``Origin`` on cross-site requests, including the "simple" POSTs that
  need no CORS preflight; a state-changing request from a foreign origin is refused. Outcrop
  answers no CORS, so a foreign page cannot read any response either.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from ..config import Settings, is_loopback
from ..protocol.errors import AccessDeniedException

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def _host_name(value: str) -> str:
    """``Host``'s name without its port (``[::1]:8080`` → ``::1``), lower-cased."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


class OriginGuard:
    def __init__(self, settings: Settings) -> None:
        configured = [h.strip().lower() for h in settings.allowed_hosts if h.strip()]
        self.any_host = "*" in configured or (not configured and not is_loopback(settings.host))
        self.hosts = {_host_name(h) for h in (*configured, *_LOOPBACK_NAMES, settings.host) if h != "*"}

    def check(self, method: str, headers: Iterable[tuple[str, str]]) -> None:
        """Raise AccessDeniedException for a foreign Host, or a state-changing request from a
        foreign Origin."""
        host = origin = None
        for name, value in headers:
            lowered = name.lower()
            if lowered in ("host", ":authority") and host is None:
                host = value
            elif lowered == "origin":
                origin = value
        if host is not None and not self.any_host and _host_name(host) not in self.hosts:
            raise AccessDeniedException(
                f"Requests for host '{host}' are not served here (DNS-rebinding protection): use "
                "127.0.0.1 or localhost, or add the name to allowed_hosts."
            )
        if origin is None or method.upper() in _SAFE_METHODS:
            return
        parts = urlsplit(origin.strip())
        same_origin = host is not None and parts.netloc.lower() == host.strip().lower()
        if not same_origin:
            raise AccessDeniedException(
                f"Cross-origin requests from '{origin}' are refused: Outcrop serves no other web origin."
            )
