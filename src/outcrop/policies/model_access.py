"""Model access: which foundation models the account may invoke (Bedrock's "model access" page, or
its Marketplace subscriptions today). A model not enabled is refused after the identity's policies
allowed the call, with the AccessDeniedException AWS gives, whichever id or profile named it."""

from __future__ import annotations

import fnmatch

from ..invocation.hooks import AccessRequest
from ..protocol.errors import AccessDeniedException

NO_ACCESS = "You don't have access to the model with the specified model ID."


class ModelAccess:
    def __init__(self, patterns: list[str]) -> None:
        self.patterns = patterns

    def allows(self, model_id: str) -> bool:
        return any(fnmatch.fnmatchcase(model_id, pattern) for pattern in self.patterns)

    async def __call__(self, request: AccessRequest) -> None:
        """An access hook of the pipeline."""
        if request.ref is not None and not self.allows(request.ref.model_id):
            raise AccessDeniedException(NO_ACCESS)
