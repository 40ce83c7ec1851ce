"""Engine errors said the way AWS says them: the one place engines' failures become Bedrock's errors.

A loading model (no Bedrock equivalent) is ServiceUnavailableException, as Outcrop has always answered.
"""

from __future__ import annotations

from ..engines.errors import (
    ContextOverflow,
    EngineBusy,
    EngineError,
    EngineFailed,
    EngineInternal,
    EngineTimeout,
)
from ..protocol.errors import (
    BedrockError,
    InternalServerException,
    ModelErrorException,
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


def aws_error(error: EngineError) -> BedrockError:
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
