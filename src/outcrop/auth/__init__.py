"""Who is calling: SigV4, bearer API keys, or open mode (loopback only by default)."""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from ..config import Settings
from ..protocol.errors import AccessDeniedException, MissingAuthenticationTokenException
from ..store.keys import stored_keys
from . import sigv4


@dataclass(frozen=True)
class Identity:
    kind: str  # "sigv4" | "bearer" | "anonymous"
    principal: str
    user: str | None = None  # the configured identity the key belongs to (None: the account's root)


def authenticate(
    settings: Settings,
    *,
    method: str,
    scheme: str,
    raw_path: str,
    query_string: str,
    headers: list[tuple[str, str]],
    body: bytes,
    service_name: str = sigv4.SIGNING_NAME,
) -> Identity:
    authorization = next((v for k, v in headers if k.lower() == "authorization"), None)
    if settings.open_mode:
        # Any well-formed request is served; we still say who it claims to be in the logs.
        if authorization and authorization.startswith("AWS4-HMAC-SHA256"):
            key = sigv4.parse_authorization(authorization)[0]
            return Identity("sigv4", key)
        if authorization and authorization.lower().startswith("bearer "):
            return Identity("bearer", "api-key")
        return Identity("anonymous", "anonymous")
    if authorization is None:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    if authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
        if any(hmac.compare_digest(token, k) for k in settings.api_keys):
            owner = settings.owner_of(token)
            return Identity("bearer", f"api-key:{token[:6]}…", owner.name if owner else None)
        store = stored_keys(settings.state_dir)
        holder = store.api_key_holder(token) if store else None
        if holder is not None and _configured(settings, holder.user):
            return Identity("bearer", f"api-key:{holder.key_id}", holder.user)
        raise AccessDeniedException(
            "Authentication failed: Please make sure your API Key is valid.", framework=True
        )
    secrets = settings.credentials
    user: str | None = None
    key_id = sigv4.parse_authorization(authorization)[0]
    if key_id not in secrets:  # a key made by `outcrop keys`?
        store = stored_keys(settings.state_dir)
        holder = store.sigv4_holder(key_id) if store else None
        if holder is not None and holder.secret and _configured(settings, holder.user):
            secrets, user = {key_id: holder.secret}, holder.user
    identity = sigv4.verify(
        method=method,
        scheme=scheme,
        raw_path=raw_path,
        query_string=query_string,
        headers=headers,
        body=body,
        secrets=secrets,
        now=dt.datetime.now(dt.UTC),
        max_skew_seconds=settings.max_clock_skew_seconds,
        service_name=service_name,
    )
    owner = settings.owner_of(identity.access_key_id)
    return Identity("sigv4", identity.access_key_id, owner.name if owner else user)


def _configured(settings: Settings, user: str | None) -> bool:
    """A stored key's identity must still be configured (None: the account's root)."""
    return user is None or settings.identity(user) is not None
