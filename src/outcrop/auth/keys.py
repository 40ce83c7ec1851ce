"""Making keys for ``outcrop keys``: shaped like AWS's, so tools that check a key's form accept them.

* SigV4 access keys: an ``AKIA`` id of 20 characters and a 40-character secret, as IAM issues.
* API keys: ``ABSK`` and the base64 of ``BedrockAPIKey-<id>-at-<account>:<secret>``, the form of
  Bedrock's long-term API keys (clients send them as ``Authorization: Bearer …``).
"""

from __future__ import annotations

import base64
import secrets
import string
from dataclasses import dataclass

from ..store.keys import KeyStore

_UPPER = string.ascii_uppercase + string.digits
_SECRET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret: str  # the API key itself, or the SigV4 secret access key: shown once


def _random(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def make_key(store: KeyStore, kind: str, user: str | None, account_id: str, description: str) -> NewKey:
    if kind == "sigv4":
        key_id, secret = "AKIA" + _random(_UPPER, 16), _random(_SECRET, 40)
        store.add(key_id, "sigv4", user, description, secret=secret)
        return NewKey(key_id, secret)
    key_id = "OCAK" + _random(_UPPER, 12)
    inner = f"BedrockAPIKey-{key_id}-at-{account_id}:{secrets.token_urlsafe(32)}"
    api_key = "ABSK" + base64.b64encode(inner.encode()).decode()
    store.add(key_id, "api", user, description, api_key=api_key)
    return NewKey(key_id, api_key)
