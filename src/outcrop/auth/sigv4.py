"""SigV4 verification by re-signing the received request with botocore's own signer.

Clients (botocore, the JS SDK's @smithy/signature-v4, the anthropic SDK through botocore) sign
the path as sent, then escape it once more; rebuilding the request from the raw path and the
exact headers the client listed in SignedHeaders gives the same canonical request.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from dataclasses import dataclass

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from ..protocol.errors import (
    BedrockError,
    InvalidSignatureException,
    UnrecognizedClientException,
)

SIGNING_NAME = "bedrock"
_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-fA-F]+)"
)


class IncompleteSignatureException(BedrockError):
    code = "IncompleteSignatureException"
    status = 403


@dataclass(frozen=True)
class SigV4Identity:
    access_key_id: str
    region: str


class _ReSigner(SigV4Auth):
    """botocore's signer, told exactly which headers the client signed."""

    def __init__(self, credentials: Credentials, region: str, signed: list[str], service: str) -> None:
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        header_map = HTTPHeaders()
        for name in self._signed:
            for value in request.headers.get_all(name) or []:
                header_map[name] = value
        return header_map


def parse_authorization(value: str) -> tuple[str, str, str, str, list[str], str]:
    """(access key, date, region, service, signed headers, signature) or an AWS error."""
    match = _AUTH_RE.match(value.strip())
    if not match:
        raise IncompleteSignatureException(
            f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. "
            f"Authorization={value.split(' ', 1)[0]}"
        )
    parts = match["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise IncompleteSignatureException(
            f"Credential should be scoped to a valid region. Credential={match['credential']}"
        )
    key, date, region, service, _ = parts
    return key, date, region, service, match["signed"].lower().split(";"), match["signature"].lower()


def verify(
    *,
    method: str,
    scheme: str,
    raw_path: str,
    query_string: str,
    headers: list[tuple[str, str]],
    body: bytes,
    secrets: dict[str, str],
    now: dt.datetime,
    max_skew_seconds: int,
    service_name: str = SIGNING_NAME,
) -> SigV4Identity:
    """Check one request's SigV4 signature; raise the error AWS gives when it is wrong."""
    lookup: dict[str, list[str]] = {}
    for name, value in headers:
        lookup.setdefault(name.lower(), []).append(value)
    key, _date, region, service, signed, signature = parse_authorization(lookup["authorization"][0])
    secret = secrets.get(key)
    if secret is None:
        raise UnrecognizedClientException("The security token included in the request is invalid.")
    if service != service_name:
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{service_name}'. ")
    amz_date = (lookup.get("x-amz-date") or [""])[0]
    try:
        stamp = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise IncompleteSignatureException(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        ) from None
    skew = dt.timedelta(seconds=max_skew_seconds)
    fmt = "%Y%m%dT%H%M%SZ"
    if stamp < now - skew:
        raise InvalidSignatureException(
            f"Signature expired: {amz_date} is now earlier than {(now - skew).strftime(fmt)} "
            f"({now.strftime(fmt)} - {max_skew_seconds // 60} min.)"
        )
    if stamp > now + skew:
        raise InvalidSignatureException(
            f"Signature not yet current: {amz_date} is still later than {(now + skew).strftime(fmt)} "
            f"({now.strftime(fmt)} + {max_skew_seconds // 60} min.)"
        )
    host = (lookup.get("host") or lookup.get(":authority") or ["localhost"])[0]
    url = f"{scheme}://{host}{raw_path}" + (f"?{query_string}" if query_string else "")
    request = AWSRequest(method=method, url=url, data=body)
    for name in signed:
        # Over HTTP/2 the JS SDK signs the ":authority" pseudo-header, which servers surface as host.
        for value in [host] if name in ("host", ":authority") else lookup.get(name, []):
            request.headers.add_header(name, value)
    request.context["timestamp"] = amz_date
    signer = _ReSigner(Credentials(key, secret), region, signed, service_name)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, signature):
        string_to_sign = signer.string_to_sign(request, canonical)
        raise InvalidSignatureException(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service documentation "
            f"for details.\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
            f"The String-to-Sign should have been\n'{string_to_sign}'\n"
        )
    return SigV4Identity(key, region)
