"""Who may reach a server on loopback from a browser: the DNS-rebinding and cross-site guards.

In open mode any web page the user visits can send requests to ``127.0.0.1``. Two defences:

* **Host.** A page on ``evil.example`` that rebinds its name to 127.0.0.1 still sends
  ``Host: evil.example``; requests whose Host is a name the server does not answer to are
  refused. Those names are ``localhost``, the bind address and ``allowed_hosts`` (``*``: any);
  an IP address is always accepted (rebinding needs a name). The check applies in open mode and
  on a loopback bind; a server that verifies every request's credentials on another address
  accepts any Host unless ``allowed_hosts`` is set.
* **Origin.** Browsers send ``Origin`` on cross-site requests, including the "simple" POSTs that
  need no CORS preflight; a state-changing request from an origin other than the server's own
  (or one in ``allowed_origins``) is refused. Outcrop answers no CORS, so a foreign page cannot
  read any response either.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from ..config import Settings, is_loopback
from ..protocol.errors import AccessDeniedException

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def _host_name(value: str) -> str:
    """``Host``'s name without its port or a trailing dot (``[::1]:8080`` → ``::1``), lower-cased."""
    value = value.strip().lower()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else value[1:]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class OriginGuard:
    def __init__(self, settings: Settings) -> None:
        configured = [h.strip().lower() for h in settings.allowed_hosts if h.strip()]
        guarded = settings.open_mode or is_loopback(settings.host) or bool(configured)
        self.any_host = "*" in configured or not guarded
        self.hosts = {_host_name(h) for h in (*configured, *_LOOPBACK_NAMES, settings.host) if h != "*"}
        self.origins = {o.strip().lower().rstrip("/") for o in settings.allowed_origins if o.strip()}

    def check(self, method: str, headers: Iterable[tuple[str, str]]) -> None:
        """Raise AccessDeniedException for a foreign Host, or a state-changing request from a
        foreign Origin."""
        host = origin = None
        for header, value in headers:
            lowered = header.lower()
            if lowered == "host" and host is None:  # HTTP/2's :authority arrives as host too
                host = value
            elif lowered == "origin":
                origin = value
        served = host is None or self.any_host
        if not served and host is not None:
            name = _host_name(host)
            served = name in self.hosts or _is_address(name)
        if not served:
            raise AccessDeniedException(
                f"Requests for host '{host}' are not served here (DNS-rebinding protection): use "
                "127.0.0.1 or localhost, or add the name to allowed_hosts."
            )
        if origin is None or method.upper() in _SAFE_METHODS:
            return
        parts = urlsplit(origin.strip())
        same_origin = host is not None and parts.netloc.lower() == host.strip().lower()
        if not same_origin and origin.strip().lower().rstrip("/") not in self.origins:
            raise AccessDeniedException(
                f"Cross-origin requests from '{origin}' are refused: Outcrop serves no other web origin."
            )
