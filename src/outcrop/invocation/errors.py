"""Engine errors said the way AWS says them: the one place engines' failures become Bedrock's errors.

A model still loading is ModelNotReadyException where the service model lists it, else
ServiceUnavailableException.
"""

from __future__ import annotations

from ..engines.errors import (
    ContextOverflow,
    EngineBusy,
    EngineError,
    EngineFailed,
    EngineInternal,
    EngineLoading,
    EngineTimeout,
)
from ..protocol.errors import (
    BedrockError,
    InternalServerException,
    ModelErrorException,
    ModelNotReadyException,
    ModelTimeoutException,
    ServiceUnavailableException,
    ThrottlingException,
    ValidationException,
)

TOO_LONG = "Input is too long for requested model."
NOT_A_TEXT_MODEL = (
    "This action doesn't support the model that you provided. Try again with a supported text or chat model."
)
NO_STREAMING = "The model is unsupported for streaming."


# The operations whose service model lists ModelNotReadyException (429, which the AWS SDKs retry):
# a model still loading is that for them; for the rest (CountTokens) ServiceUnavailableException.
NOT_READY_OPERATIONS = frozenset(
    {"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"}
)
NOT_READY = (
    "The model specified in the request is not ready to serve inference requests: it is still loading. "
    "Try again shortly."
)


def aws_error(error: EngineError, operation: str | None = None) -> BedrockError:
    """``operation``: the Bedrock operation that met the error (it decides how a loading model is said)."""
    if isinstance(error, EngineLoading) and operation in NOT_READY_OPERATIONS:
        return ModelNotReadyException(NOT_READY)
    if isinstance(error, EngineBusy):
        return ThrottlingException(error.message)
    if isinstance(error, EngineTimeout):
        return ModelTimeoutException(error.message)
    if isinstance(error, EngineFailed):
        return ModelErrorException(error.message)
    if isinstance(error, EngineInternal):
        return InternalServerException("Internal server error")
    if isinstance(error, ContextOverflow):
        return ValidationException(TOO_LONG)
    return ServiceUnavailableException(error.message)  # EngineLoading, EngineUnavailable
