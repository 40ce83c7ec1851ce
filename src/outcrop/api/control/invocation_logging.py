"""Put/Get/DeleteModelInvocationLoggingConfiguration (logs/service.py delivers the records)."""

from __future__ import annotations

from ...jobs.objects import S3Problem
from ...logs.config import LoggingConfig
from ...protocol.errors import ValidationException
from ..registry import Call, Reply, operation

# The object AWS writes to check that it may write to a logging bucket.
PERMISSION_CHECK = "amazon-bedrock-logs-permission-check"


@operation("PutModelInvocationLoggingConfiguration")
async def put_logging_configuration(call: Call) -> Reply:
    """As AWS does, the buckets are checked by writing to them before the configuration is kept."""
    doc = call.params["loggingConfig"]
    config = LoggingConfig.of(doc)
    logs = call.services.invocation_logs
    for destination in (config.s3, config.cloudwatch.large_data if config.cloudwatch else None):
        if destination is None:
            continue
        try:
            objects = await call.services.jobs.s3()
            await objects.put(destination.bucket, destination.key(PERMISSION_CHECK), b"", "text/plain")
        except S3Problem as exc:
            raise ValidationException(
                f"Failed to validate permissions for bucket: {destination.bucket}. Verify the S3 bucket "
                f"policy. ({exc})"
            ) from None
    logs.put(doc)
    logs.flush_soon()
    return Reply({})


@operation("GetModelInvocationLoggingConfiguration")
async def get_logging_configuration(call: Call) -> Reply:
    doc = call.services.invocation_logs.get()
    return Reply({} if doc is None else {"loggingConfig": doc})


@operation("DeleteModelInvocationLoggingConfiguration")
async def delete_logging_configuration(call: Call) -> Reply:
    """Logging stops; records already spooled are still delivered where they were meant to go."""
    call.services.invocation_logs.delete()
    return Reply({})
