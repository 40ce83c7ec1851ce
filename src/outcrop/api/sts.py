"""STS GetCallerIdentity, so that ``aws sts get-caller-identity --endpoint-url …`` and
``boto3.client("sts").get_caller_identity()`` show who a key is here, as users check their setup.

STS speaks AWS's query protocol (a form-encoded POST to ``/``, XML back), not the rest-json of the
Bedrock service models, so this one operation is answered here, signed for service ``sts``.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from ..auth import Identity
from ..config import Settings

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"


def is_sts(method: str, path: str, body: bytes) -> bool:
    if method != "POST" or path != "/":
        return False
    return parse_qs(body.decode("utf-8", errors="replace")).get("Action") == ["GetCallerIdentity"]


def caller_identity(settings: Settings, identity: Identity, request_id: str) -> bytes:
    """GetCallerIdentity's XML: a configured identity is an IAM user; any other key the root."""
    configured = settings.identity(identity.user)
    if configured is not None:
        arn = configured.arn(settings.account_id)
        user_id = "AIDA" + hashlib.sha256(configured.name.encode()).hexdigest()[:17].upper()
    else:
        arn, user_id = f"arn:aws:iam::{settings.account_id}:root", settings.account_id
    return (
        f'<GetCallerIdentityResponse xmlns="{NAMESPACE}"><GetCallerIdentityResult>'
        f"<Arn>{escape(arn)}</Arn><UserId>{escape(user_id)}</UserId><Account>{settings.account_id}</Account>"
        f"</GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        "</GetCallerIdentityResponse>"
    ).encode()


def error(code: str, message: str, request_id: str) -> bytes:
    return (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type><Code>{escape(code)}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
