"""AWS-shaped errors.

Every failure a client can see is one of these: botocore, the JS SDK and the anthropic SDK
read the code from the ``x-amzn-ErrorType`` header (falling back to ``__type`` in the body)
and the text from the JSON ``message``, so raising the right class is all a handler does.
"""

from __future__ import annotations

import json


class BedrockError(Exception):
    """An error rendered the way AWS renders it for rest-json services."""

    code = "InternalServerException"
    status = 500
    # Errors raised by AWS's request framework (before the service runs) carry a different
    # namespace in x-amzn-ErrorType and a capitalised "Message" key, as captured from Bedrock.
    framework = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        framework: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if framework is not None:
            self.framework = framework
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def headers(self) -> list[tuple[str, str]]:
        namespace = "com.amazon.coral.service" if self.framework else "com.amazon.bedrock"
        return [
            ("content-type", "application/json"),
            ("x-amzn-errortype", f"{self.code}:http://internal.amazon.com/coral/{namespace}/"),
        ]

    def body(self) -> bytes:
        return json.dumps({"Message" if self.framework else "message": self.message}).encode()


class ValidationException(BedrockError):
    code = "ValidationException"
    status = 400


# A request nested deeper than Python's recursion allows (JSON documents, tool schemas): refused,
# never a server error.
TOO_DEEP = "The request is nested too deeply."


class SerializationException(BedrockError):
    """The body is not parseable JSON, or a member has the wrong JSON type."""

    code = "SerializationException"
    status = 400
    framework = True


class AccessDeniedException(BedrockError):
    code = "AccessDeniedException"
    status = 403


class UnrecognizedClientException(BedrockError):
    code = "UnrecognizedClientException"
    status = 403
    framework = True


class InvalidSignatureException(BedrockError):
    code = "InvalidSignatureException"
    status = 403
    framework = True


class MissingAuthenticationTokenException(BedrockError):
    code = "MissingAuthenticationTokenException"
    status = 403
    framework = True


class ResourceNotFoundException(BedrockError):
    code = "ResourceNotFoundException"
    status = 404


class UnknownOperationException(BedrockError):
    code = "UnknownOperationException"
    status = 404
    framework = True


class ModelTimeoutException(BedrockError):
    code = "ModelTimeoutException"
    status = 408


class ConflictException(BedrockError):
    code = "ConflictException"
    status = 409


class ModelErrorException(BedrockError):
    code = "ModelErrorException"
    status = 424


class ModelNotReadyException(BedrockError):
    code = "ModelNotReadyException"
    status = 429


class ThrottlingException(BedrockError):
    code = "ThrottlingException"
    status = 429


class InternalServerException(BedrockError):
    code = "InternalServerException"
    status = 500


class NotImplementedOperation(BedrockError):
    """An operation in the service model that Outcrop does not serve yet (documented)."""

    code = "NotImplementedException"
    status = 501


class ServiceUnavailableException(BedrockError):
    code = "ServiceUnavailableException"
    status = 503
