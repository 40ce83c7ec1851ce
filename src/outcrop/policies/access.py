"""Who may do what, when identities have policies: each operation is authorized with the IAM
action AWS uses for it, on the resources AWS checks, against the caller's identity-based policies;
a refusal is AWS's 403 in AWS's words.

* Runtime invocations (Converse, ConverseStream, InvokeModel, its stream, CountTokens, and the
  invocations of async and batch jobs) are checked by the pipeline's access hook: the inference
  profile, then the foundation model it reaches.
* Every other operation is checked before its handler runs (``operation``): ``bedrock:<Operation>``
  (StartAsyncInvoke is InvokeModel's, checked by the pipeline) on the resource its identifier names,
  or ``*`` for operations on no resource (lists, creates of guardrails and jobs).

Request context keys: ``aws:username``, ``aws:PrincipalArn``, ``bedrock:InferenceProfileArn``
(a call through a profile), ``aws:ResourceTag/<key>`` (an application profile's tags),
``aws:RequestTag/<key>`` and ``aws:TagKeys`` (tags a request sets or removes). Keys configured
outside any identity act as the account's root user (allowed everything).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..auth import Identity
from ..catalog.arns import foundation_model_arn, inference_profile_arn
from ..guardrails import ids
from ..invocation.call import RUNTIME_OPERATIONS
from ..invocation.hooks import AccessRequest
from ..jobs.records import job_arn
from ..protocol.errors import AccessDeniedException
from .document import Statement, parse
from .evaluate import Decision, decide

if TYPE_CHECKING:
    from ..services import Services

# Checked by the pipeline (its access hook) rather than before the handler.
BY_THE_PIPELINE = frozenset({*RUNTIME_OPERATIONS, "StartAsyncInvoke"})


def refusal(user_arn: str, action: str, resource: str, decision: Decision) -> AccessDeniedException:
    why = (
        "with an explicit deny in an identity-based policy"
        if decision is Decision.EXPLICIT_DENY
        else f"because no identity-based policy allows the {action} action"
    )
    return AccessDeniedException(
        f"User: {user_arn} is not authorized to perform: {action} on resource: {resource} {why}"
    )


class Policies:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.statements: dict[str, tuple[Statement, ...]] = {
            i.name: tuple(s for document in i.policies for s in parse(document))
            for i in services.settings.identities
        }

    def check(
        self, identity: Identity, action: str, resources: Sequence[str], context: dict[str, list[str]]
    ) -> None:
        settings = self.services.settings
        configured = settings.identity(identity.user)
        if configured is None:
            if identity.user:  # a job's submitter no longer configured: nothing allows it any more
                user_arn = f"arn:aws:iam::{settings.account_id}:user/{identity.user}"
                raise refusal(user_arn, action, resources[0] if resources else "*", Decision.IMPLICIT_DENY)
            return
        user_arn = configured.arn(settings.account_id)
        base = {"aws:username": [configured.name], "aws:PrincipalArn": [user_arn], **context}
        for resource in resources:
            decision = decide(
                self.statements[configured.name], action, resource, base | self._tags_of(resource)
            )
            if decision is not Decision.ALLOW:
                raise refusal(user_arn, action, resource, decision)

    def _tags_of(self, resource: str) -> dict[str, list[str]]:
        if ":application-inference-profile/" not in resource:
            return {}
        doc = self.services.profiles.find(resource)
        return {f"aws:ResourceTag/{t['key']}": [t["value"]] for t in (doc or {}).get("tags", [])}

    async def __call__(self, request: AccessRequest) -> None:
        """The pipeline's access hook."""
        profile = request.ref.profile_arn if request.ref else None
        context = {"bedrock:InferenceProfileArn": [profile]} if profile else {}
        self.check(request.identity, request.action, request.resources, context)

    def operation(self, identity: Identity, operation: str, params: dict[str, Any]) -> None:
        """Any other operation, before its handler runs."""
        if operation in BY_THE_PIPELINE:
            return
        context: dict[str, list[str]] = {}
        tags = params.get("tags")
        if isinstance(tags, list) and tags:
            context["aws:TagKeys"] = [t["key"] for t in tags]
            context.update({f"aws:RequestTag/{t['key']}": [t["value"]] for t in tags})
        if isinstance(params.get("tagKeys"), list):
            context["aws:TagKeys"] = list(params["tagKeys"])
        self.check(identity, f"bedrock:{operation}", [self._resource(operation, params)], context)

    def _resource(self, operation: str, params: dict[str, Any]) -> str:
        settings = self.services.settings
        region, account = settings.region, settings.account_id
        for member in ("resourceARN", "invocationArn"):
            if member in params:
                return str(params[member])
        if "guardrailIdentifier" in params:
            identifier = str(params["guardrailIdentifier"])
            return identifier if identifier.startswith("arn:") else ids.arn(region, account, identifier)
        if "jobIdentifier" in params:
            identifier = str(params["jobIdentifier"])
            return (
                identifier
                if identifier.startswith("arn:")
                else job_arn(region, account, "model-invocation-job", identifier)
            )
        if "inferenceProfileIdentifier" in params:
            identifier = str(params["inferenceProfileIdentifier"])
            if identifier.startswith("arn:"):
                return identifier
            if self.services.profiles.find(identifier) is not None:
                return self.services.profiles.arn(identifier)
            return inference_profile_arn(region, account, identifier)
        if "modelIdentifier" in params:
            identifier = str(params["modelIdentifier"])
            return identifier if identifier.startswith("arn:") else foundation_model_arn(region, identifier)
        if operation == "CreateInferenceProfile":
            return f"arn:aws:bedrock:{region}:{account}:application-inference-profile/*"
        return "*"
