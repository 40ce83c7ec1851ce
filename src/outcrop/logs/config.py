"""The model invocation logging configuration, typed (the service model's ``LoggingConfig``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class S3Destination:
    bucket: str
    prefix: str = ""

    @classmethod
    def of(cls, doc: dict[str, Any] | None) -> S3Destination | None:
        if not doc:
            return None
        return cls(str(doc["bucketName"]), str(doc.get("keyPrefix") or "").strip("/"))

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)


@dataclass(frozen=True)
class CloudWatchDestination:
    log_group: str
    role_arn: str
    large_data: S3Destination | None


@dataclass(frozen=True)
class LoggingConfig:
    s3: S3Destination | None
    cloudwatch: CloudWatchDestination | None
    text: bool
    image: bool
    embedding: bool
    video: bool
    audio: bool
    doc: dict[str, Any]  # as put, for GetModelInvocationLoggingConfiguration

    @classmethod
    def of(cls, doc: dict[str, Any]) -> LoggingConfig:
        cw = doc.get("cloudWatchConfig")
        return cls(
            s3=S3Destination.of(doc.get("s3Config")),
            cloudwatch=CloudWatchDestination(
                str(cw["logGroupName"]),
                str(cw["roleArn"]),
                S3Destination.of(cw.get("largeDataDeliveryS3Config")),
            )
            if cw
            else None,
            text=bool(doc.get("textDataDeliveryEnabled")),
            image=bool(doc.get("imageDataDeliveryEnabled")),
            embedding=bool(doc.get("embeddingDataDeliveryEnabled")),
            video=bool(doc.get("videoDataDeliveryEnabled")),
            audio=bool(doc.get("audioDataDeliveryEnabled")),
            doc=doc,
        )

    def buckets(self) -> list[str]:
        """Every bucket the configuration writes to."""
        out = [d.bucket for d in (self.s3, self.cloudwatch.large_data if self.cloudwatch else None) if d]
        return list(dict.fromkeys(out))
