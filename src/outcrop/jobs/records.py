"""What Outcrop keeps of an async invocation and a batch job: typed, and turned to and from the
JSON document the store holds and the members the API answers with."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import string
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..catalog.arns import partition

_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_id() -> str:
    """12 lowercase alphanumerics, as AWS's async-invoke and model-invocation-job ids."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Listed(Protocol):
    submit_time: dt.datetime
    status: str


Listed = TypeVar("Listed", bound=_Listed)


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A timestamp a client sent, in UTC (one without a zone is taken as UTC)."""
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


def listing(items: list[Listed], params: dict[str, Any]) -> list[Listed]:
    """The list operations' shared filters (submitTimeAfter/Before, statusEquals) and order
    (by submission time, newest first unless sortOrder says Ascending)."""
    after, before = utc(params.get("submitTimeAfter")), utc(params.get("submitTimeBefore"))
    status = params.get("statusEquals")
    kept = [
        i for i in items
        if (after is None or i.submit_time > after) and (before is None or i.submit_time < before)
        and (status is None or i.status == status)
    ]  # fmt: skip
    kept.sort(key=lambda i: i.submit_time, reverse=params.get("sortOrder", "Descending") == "Descending")
    return kept


def job_arn(region: str, account: str, kind: str, job_id: str) -> str:
    return f"arn:{partition(region)}:bedrock:{region}:{account}:{kind}/{job_id}"


def _to_doc(value: Any) -> dict[str, Any]:
    doc = dataclasses.asdict(value)
    for key, item in doc.items():
        if isinstance(item, dt.datetime):
            doc[key] = item.isoformat()
    return doc


def _from_doc(cls: Any, doc: dict[str, Any]) -> Any:
    hints = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, item in doc.items():
        if key not in hints:
            continue
        if isinstance(item, str) and key.endswith(("_time", "_modified", "expiration")):
            item = dt.datetime.fromisoformat(item)
        values[key] = item
    return cls(**values)


@dataclass
class AsyncInvoke:
    id: str
    arn: str
    model_id: str  # as the client sent it
    model_arn: str  # the foundation model's ARN
    model_input: dict[str, Any]
    output_config: dict[str, Any]  # outputDataConfig, echoed back
    identity: dict[str, str]  # who asked (kind, principal): the invocation runs as them
    submit_time: dt.datetime
    last_modified: dt.datetime
    status: str = "InProgress"  # InProgress | Completed | Failed
    end_time: dt.datetime | None = None
    failure: str | None = None
    token: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return _to_doc(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AsyncInvoke:
        return _from_doc(cls, doc)

    def summary(self) -> dict[str, Any]:
        """GetAsyncInvoke's members (and a ListAsyncInvokes summary's)."""
        out: dict[str, Any] = {
            "invocationArn": self.arn,
            "modelArn": self.model_arn,
            "status": self.status,
            "submitTime": self.submit_time,
            "lastModifiedTime": self.last_modified,
            "outputDataConfig": self.output_config,
        }
        if self.token:
            out["clientRequestToken"] = self.token
        if self.failure is not None:
            out["failureMessage"] = self.failure
        if self.end_time is not None:
            out["endTime"] = self.end_time
        return out


@dataclass
class BatchJob:
    id: str
    arn: str
    name: str
    model_id: str
    role_arn: str
    input_config: dict[str, Any]
    output_config: dict[str, Any]
    invocation_type: str  # InvokeModel | Converse
    timeout_hours: int
    identity: dict[str, str]  # who created it: its records run as them
    submit_time: dt.datetime
    last_modified: dt.datetime
    job_expiration: dt.datetime
    status: str = "Submitted"
    message: str | None = None
    end_time: dt.datetime | None = None
    token: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    vpc_config: dict[str, Any] | None = None
    total: int | None = None  # records in the input, once read
    processed: int = 0
    success: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def to_doc(self) -> dict[str, Any]:
        return _to_doc(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> BatchJob:
        return _from_doc(cls, doc)

    @property
    def finished(self) -> bool:
        return self.status in ("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired")

    def summary(self) -> dict[str, Any]:
        """GetModelInvocationJob's members (and a ListModelInvocationJobs summary's)."""
        out: dict[str, Any] = {
            "jobArn": self.arn,
            "jobName": self.name,
            "modelId": self.model_id,
            "roleArn": self.role_arn,
            "status": self.status,
            "submitTime": self.submit_time,
            "lastModifiedTime": self.last_modified,
            "inputDataConfig": self.input_config,
            "outputDataConfig": self.output_config,
            "timeoutDurationInHours": self.timeout_hours,
            "jobExpirationTime": self.job_expiration,
            "modelInvocationType": self.invocation_type,
            "processedRecordCount": self.processed,
            "successRecordCount": self.success,
            "errorRecordCount": self.errors,
        }
        if self.total is not None:
            out["totalRecordCount"] = self.total
        if self.token:
            out["clientRequestToken"] = self.token
        if self.message:
            out["message"] = self.message
        if self.end_time is not None:
            out["endTime"] = self.end_time
        if self.vpc_config:
            out["vpcConfig"] = self.vpc_config
        return out
